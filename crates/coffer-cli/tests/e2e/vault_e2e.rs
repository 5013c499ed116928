//! End-to-end tests of the vault engine through the real binary, each run
//! against a local directory and against the Garage S3 server.

mod hostile;
mod rotate;
mod trust_keys;
use crate::common::*;
use rotate::issue14_key_rotate_revokes_what_is_not_kept;
use std::path::{Path, PathBuf};
use std::process::Stdio;

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn local() {
                super::$name(super::Kind::Local, stringify!($name));
            }
            #[test]
            fn s3() {
                super::$name(super::Kind::S3, stringify!($name));
            }
        }
    };
}

both!(issue14_key_rotate_revokes_what_is_not_kept);
both!(roundtrip_keeps_every_kind_of_entry);
fn roundtrip_keeps_every_kind_of_entry(kind: Kind, name: &str) {
    let env = Env::new(kind, name);
    let src = env.path("src");
    rich_tree(&src);
    env.init();
    let id = env.backup(&[&src]);
    let out = env.path("out");
    env.restore(&id[..8], &out);
    let restored = out.join(src.strip_prefix("/").unwrap());
    assert_same_tree(&src, &restored);
    // The sparse file came back sparse.
    use std::os::unix::fs::MetadataExt;
    let blocks = std::fs::metadata(restored.join("sparse.img"))
        .unwrap()
        .blocks();
    assert!(
        blocks * 512 < 1 << 20,
        "sparse file restored with {blocks} blocks"
    );
    env.ok(&["check", "--read-data"]);
}

both!(incremental_backup_skips_unchanged_files);
fn incremental_backup_skips_unchanged_files(kind: Kind, name: &str) {
    let env = Env::new(kind, name);
    let src = env.path("src");
    for i in 0..20 {
        write(&src.join(format!("f{i}")), &noise(i, 100_000));
    }
    env.init();
    let first = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(first["summary"]["files_new"], 20);
    let second = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(second["summary"]["files_unmodified"], 20);
    assert_eq!(
        second["summary"]["bytes_read"], 0,
        "unchanged files must not be read"
    );
    assert_eq!(second["parent"], first["id"]);
    write(&src.join("f3"), &noise(99, 100_000));
    let third = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(third["summary"]["files_changed"], 1);
    assert_eq!(third["summary"]["files_unmodified"], 19);
    assert_eq!(third["summary"]["bytes_read"], 100_000);
    let diff = env.json(&[
        "diff",
        first["id"].as_str().unwrap(),
        third["id"].as_str().unwrap(),
    ]);
    let changes = diff["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "M" && c["path"].as_str().unwrap().ends_with("/f3")),
        "{changes:?}"
    );
    let out = env.path("out");
    env.restore("latest", &out);
    assert_same_tree(&src, &out.join(src.strip_prefix("/").unwrap()));
}

both!(four_concurrent_backups_all_restore);
fn four_concurrent_backups_all_restore(kind: Kind, name: &str) {
    let env = Env::new(kind, name);
    env.init();
    let srcs: Vec<_> = (0..4u64)
        .map(|i| {
            let s = env.path(&format!("src{i}"));
            for j in 0..10u64 {
                // Shared and private data, so writers race on the same chunks.
                write(&s.join(format!("shared{j}")), &noise(j, 300_000));
                write(
                    &s.join(format!("own{j}")),
                    &noise(1000 * (i + 1) + j, 300_000),
                );
            }
            s
        })
        .collect();
    let children: Vec<_> = srcs
        .iter()
        .map(|s| {
            env.cmd(&["backup", "--json", s.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let ids: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    env.ok(&["check", "--read-data"]);
    for (id, src) in ids.iter().zip(&srcs) {
        let out = env.path(&format!("out-{}", &id[..8]));
        env.restore(id, &out);
        assert_same_tree(src, &out.join(src.strip_prefix("/").unwrap()));
    }
}

both!(stdin_backup_restores_the_stream);
fn stdin_backup_restores_the_stream(kind: Kind, name: &str) {
    let env = Env::new(kind, name);
    env.init();
    let data = noise(7, 5_000_000);
    let mut child = env
        .cmd(&[
            "backup",
            "--stdin",
            "--stdin-name",
            "dump.sql",
            "--tag",
            "db",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["source"]["kind"], "stdin");
    let out = env.path("out");
    env.ok(&[
        "restore",
        "latest",
        "--tag",
        "db",
        "--target",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(out.join("dump.sql")).unwrap(), data);
}

#[test]
fn default_vault_needs_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("docs");
    write(&src.join("x.txt"), b"x");
    let xdg = dir.path().join("xdg");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("XDG_DATA_HOME", &xdg)
            .env_remove("COFFER_VAULT")
            .env_remove("COFFER_KEY_FILE")
            .env_remove("COFFER_PASSWORD")
            .output()
            .unwrap()
    };
    let o = run(&["backup", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = xdg.join("coffer/keys/default.key");
    let err = stderr(&o);
    assert!(
        err.contains(&xdg.join("coffer/vaults/default").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains(&key.display().to_string()) && err.contains("safe"),
        "{err}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The second run finds vault and key by itself.
    let o = run(&["backup", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["snapshots", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn wrong_password_or_key_file_is_refused_and_writes_nothing() {
    let env = Env::new(Kind::Local, "wrong");
    let src = env.path("src");
    write(&src.join("a"), b"a");
    env.init();
    env.backup(&[&src]);
    let before = env.vault_files();
    // A key file of another vault.
    let other = env.path("other.key");
    let o = env
        .cmd(&["key", "list"])
        .env("COFFER_KEY_FILE", &other)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("other.key") && stderr(&o).contains("No such file"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &other,
        "coffer-key-file-v1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    for args in [
        vec!["backup", src.to_str().unwrap()],
        vec!["snapshots"],
        vec!["check"],
    ] {
        let o = env
            .cmd(&args)
            .env("COFFER_KEY_FILE", &other)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains("does not open vault"), "{}", stderr(&o));
    }
    // A wrong password on a vault with a password slot.
    let pw = env.path("pw");
    std::fs::write(&pw, "right horse battery\n").unwrap();
    env.ok(&["key", "add", "--new-password-file", pw.to_str().unwrap()]);
    let before_pw = env.vault_files();
    assert!(before_pw.len() == before.len() + 1);
    let o = env
        .cmd(&["backup", src.to_str().unwrap()])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "wrong horse")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not open vault"), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("wrong horse"),
        "the password must never be printed"
    );
    assert_eq!(
        env.vault_files(),
        before_pw,
        "a refused command wrote to the vault"
    );
    // The right password works.
    let o = env
        .cmd(&["snapshots"])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "right horse battery")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn init_refuses_an_existing_vault_and_backup_a_missing_path() {
    let env = Env::new(Kind::Local, "init");
    env.init();
    let before = env.vault_files();
    let o = env.run(&["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(env.vault_files(), before);
    let missing = env.path("does-not-exist");
    let o = env.run(&["backup", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does-not-exist"), "{}", stderr(&o));
    assert_eq!(env.vault_files(), before);
    // A vault that is not there.
    let o = env
        .cmd(&["snapshots"])
        .env("COFFER_VAULT", env.path("nowhere"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("coffer init"), "{}", stderr(&o));
    // Usage errors exit 2.
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(2));
    let o = env.run(&["check", "--read-data-subset", "200%"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unreadable_file_is_skipped_with_a_warning_and_exit_3() {
    let env = Env::new(Kind::Local, "unreadable");
    let src = env.path("src");
    write(&src.join("ok.txt"), b"fine");
    write(&src.join("secret.txt"), b"locked");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        src.join("secret.txt"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    env.init();
    let mut cmd = env.cmd(&["backup", "--json", src.to_str().unwrap()]);
    if is_root() {
        // root reads everything: run the backup as nobody, on files nobody owns.
        for p in [
            env.dir.path().to_path_buf(),
            src.clone(),
            src.join("ok.txt"),
        ] {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        }
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        chown_r(Path::new(&env.vault));
        std::os::unix::fs::chown(&env.key, Some(65534), Some(65534)).unwrap();
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "backup",
            "--json",
            src.to_str().unwrap(),
        ])
        .env("COFFER_VAULT", &env.vault)
        .env("COFFER_KEY_FILE", &env.key)
        .env("XDG_DATA_HOME", env.path("xdg"));
        cmd = c;
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("secret.txt"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["id"].is_string(), "the snapshot must be saved");
    let ls = env.ok(&["ls", "latest"]);
    assert!(ls.contains("ok.txt") && !ls.contains("secret.txt"), "{ls}");
}

fn chown_r(p: &Path) {
    std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path());
        }
    }
}

#[test]
fn key_slots_add_list_remove_and_rotation() {
    let env = Env::new(Kind::Local, "keys");
    env.init();
    let list = env.json(&["key", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let first = list[0]["id"].as_str().unwrap().to_string();
    // The last slot cannot go.
    let o = env.run(&["key", "remove", &first[..8]]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("last"), "{}", stderr(&o));
    // Rotation: add a new key file, remove the old slot with it.
    let new_key = env.path("new.key");
    let added = env.json(&[
        "key",
        "add",
        "--new-key-file",
        new_key.to_str().unwrap(),
        "--label",
        "rotated",
    ]);
    assert!(new_key.exists());
    let o = env
        .cmd(&["key", "remove", &first[..8]])
        .env("COFFER_KEY_FILE", &new_key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The old key no longer opens the vault; the new one does.
    assert_eq!(env.run(&["snapshots"]).status.code(), Some(1));
    let o = env
        .cmd(&["key", "list", "--json"])
        .env("COFFER_KEY_FILE", &new_key)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["id"], added["id"]);
    assert_eq!(v[0]["label"], "rotated");
}

#[test]
fn filters_ls_excludes_includes_and_dry_run() {
    let env = Env::new(Kind::Local, "filters");
    let src = env.path("src");
    write(&src.join("keep.txt"), b"1");
    write(&src.join("skip.log"), b"2");
    write(&src.join("cache/big"), b"3");
    write(&src.join("sub/deep.txt"), b"4");
    let exf = env.path("excludes");
    std::fs::write(&exf, "# comment\ncache\n").unwrap();
    env.init();
    let before = env.vault_files();
    let v = env.json(&["backup", "--dry-run", src.to_str().unwrap()]);
    assert!(v["id"].is_null());
    assert_eq!(env.vault_files(), before, "--dry-run wrote to the vault");
    env.ok(&[
        "backup",
        "--exclude",
        "*.log",
        "--exclude-file",
        exf.to_str().unwrap(),
        "--tag",
        "a,b",
        "--host",
        "h1",
        src.to_str().unwrap(),
    ]);
    let ls = env.ok(&["ls", "latest"]);
    assert!(ls.contains("keep.txt") && ls.contains("deep.txt"));
    assert!(!ls.contains("skip.log") && !ls.contains("cache"), "{ls}");
    env.ok(&[
        "backup",
        "--include",
        "*.log",
        "--host",
        "h2",
        src.to_str().unwrap(),
    ]);
    let ls = env.ok(&["ls", "latest"]);
    assert!(ls.contains("skip.log") && !ls.contains("keep.txt"), "{ls}");
    assert_eq!(
        env.json(&["snapshots", "--host", "h1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.json(&["snapshots", "--tag", "a"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.json(&["snapshots", "--tag", "a,c"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let p = src.to_str().unwrap();
    assert_eq!(
        env.json(&["snapshots", "--path", p])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Restore a subset.
    let out = env.path("out");
    env.ok(&[
        "restore",
        "latest",
        "--host",
        "h1",
        "--include",
        "deep.txt",
        "--target",
        out.to_str().unwrap(),
    ]);
    let r = out.join(src.strip_prefix("/").unwrap());
    assert!(r.join("sub/deep.txt").exists());
    assert!(!r.join("keep.txt").exists());
    // ls of a sub path, long form.
    let ls = env.ok(&["ls", "latest", &format!("{p}/sub"), "--host", "h1", "-l"]);
    assert!(ls.contains("deep.txt"), "{ls}");
}

/// Unmounts a file system when dropped, so a failing test leaves no mount.
struct Mounted(PathBuf);

impl Mounted {
    /// Mounts a tmpfs of `size` (as mount's `size=` option) at `dir`.
    fn tmpfs(dir: &Path, size: &str) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "coffer-test"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mount -t tmpfs failed: the test needs to mount a tmpfs"
        );
        Mounted(dir.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn one_file_system_keeps_mount_points_but_not_what_is_mounted() {
    assert!(
        is_root(),
        "this test mounts a tmpfs and needs root; run the suite as root (CI does)"
    );
    let env = Env::new(Kind::Local, "one-fs");
    let src = env.path("src");
    write(&src.join("here.txt"), b"on the root file system");
    let mnt = src.join("mnt");
    let _guard = Mounted::tmpfs(&mnt, "1m");
    write(&mnt.join("inside.txt"), b"on the tmpfs");
    env.init();
    let p = src.to_str().unwrap();
    env.ok(&["backup", "--one-file-system", p]);
    let ls = env.ok(&["ls", "latest"]);
    assert!(ls.contains("here.txt") && ls.contains("mnt"), "{ls}");
    assert!(
        !ls.contains("inside.txt"),
        "-x crossed into the tmpfs: {ls}"
    );
    env.ok(&["backup", "-x", p]);
    assert!(!env.ok(&["ls", "latest"]).contains("inside.txt"));
    env.ok(&["backup", p]);
    assert!(env.ok(&["ls", "latest"]).contains("inside.txt"));
}

/// A local vault on a file system that fills up during a backup: packs are
/// staged in the vault's `.tmp/` as they fill, so the write that fails is
/// one of those. The backup fails naming the full disk, leaves no staged
/// file behind, the vault stays sound, the earlier snapshot restores, and
/// once there is room again the next backup works.
#[test]
fn full_local_disk_fails_the_backup_and_leaves_the_vault_sound() {
    assert!(
        is_root(),
        "this test mounts a small tmpfs and needs root; run the suite as root (CI does)"
    );
    let mut env = Env::new(Kind::Local, "full-disk");
    let mnt = env.path("small");
    let _guard = Mounted::tmpfs(&mnt, "4m");
    env.vault = mnt.join("vault").to_string_lossy().into_owned();
    env.init();
    let src = env.path("src");
    write(&src.join("a.txt"), b"small, and saved first");
    let first = env.backup(&[&src]);
    // 12 MiB that do not compress, on a 4 MiB file system.
    write(&src.join("big.bin"), &noise(7, 12 << 20));
    let o = env.run(&["backup", src.to_str().unwrap()]);
    assert!(!o.status.success(), "a backup onto a full disk must fail");
    let err = stderr(&o);
    assert!(err.to_lowercase().contains("no space left"), "{err}");
    let staged: Vec<String> = std::fs::read_dir(mnt.join("vault/.tmp"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("stage-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(staged.is_empty(), "staged files left behind: {staged:?}");
    env.ok(&["check", "--read-data"]);
    let out = env.path("out");
    env.restore(&first, &out);
    let restored = out.join(src.strip_prefix("/").unwrap()).join("a.txt");
    assert_eq!(std::fs::read(&restored).unwrap(), b"small, and saved first");
    let st = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m", mnt.to_str().unwrap()])
        .status()
        .expect("run mount");
    assert!(st.success(), "remounting the tmpfs larger failed");
    env.ok(&["backup", src.to_str().unwrap()]);
    env.ok(&["check"]);
}

/// A restore skips setting the owner and mode a new file already has; in a
/// setgid target new files would take the directory's group, so there the
/// owner is still set and the files keep the group they had.
#[test]
fn restore_into_a_setgid_directory_keeps_the_recorded_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert!(
        is_root(),
        "this test changes a directory's group and needs root; run the suite as root (CI does)"
    );
    let env = Env::new(Kind::Local, "setgid");
    let src = env.path("src");
    write(&src.join("plain.txt"), b"owned by root:root");
    std::fs::set_permissions(
        src.join("plain.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    env.init();
    let snap = env.backup(&[&src]);
    let target = env.path("shared");
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::chown(&target, None, Some(65534)).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o2775)).unwrap();
    env.restore(&snap, &target);
    let f = target
        .join(src.strip_prefix("/").unwrap())
        .join("plain.txt");
    let m = std::fs::metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0), "{}", f.display());
    assert_eq!(m.mode() & 0o7777, 0o644);
}

/// A closed standard output ends a listing quietly, as `ls | head` expects:
/// exit 0 and nothing on standard error (it was a panic, exit 101, with a
/// backtrace under RUST_BACKTRACE). Read one line, then close the pipe, in
/// a loop, so the write that finds it closed comes at different points.
#[test]
fn closed_stdout_ends_a_listing_quietly() {
    use std::io::{BufRead, BufReader};
    let env = Env::new(Kind::Local, "closed-pipe");
    env.init();
    let src = env.path("src");
    for i in 0..3000 {
        write(&src.join(format!("f{i}")), format!("{i}").as_bytes());
    }
    env.backup(&[&src]);
    for round in 0..20 {
        let args: &[&str] = if round % 2 == 0 {
            &["ls", "latest"]
        } else {
            &["--json", "ls", "latest"]
        };
        let mut child = env
            .cmd(args)
            .env("RUST_BACKTRACE", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The reader is dropped here: the pipe is closed.
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).is_empty(), "round {round}: {}", stderr(&out));
    }
}
