//! Issue 14 (vault integrity, keys): a vault that lost its `config` is never
//! initialized again, damaged key slots lock nobody out, a password file
//! reads the same for every command, and local vault secrets are private.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The mode bits of `p`.
fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// What the refusal of a location without `config` must say: what is
/// missing and how to get it back, never "run init".
fn assert_lost_config_message(err: &str) {
    assert!(
        err.contains("`config` object is missing")
            && err.contains("coffer copy")
            && err.contains("versioning"),
        "{err}"
    );
    assert!(!err.contains("created vault"), "{err}");
    assert!(!err.contains("create it with `coffer init`"), "{err}");
}

#[test]
fn issue14_default_vault_without_config_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("docs");
    write(&src.join("x.txt"), b"old data");
    let xdg = dir.path().join("xdg");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("XDG_DATA_HOME", &xdg)
            .env("HOME", dir.path())
            .env_remove("COFFER_VAULT")
            .env_remove("COFFER_KEY_FILE")
            .env_remove("COFFER_PASSWORD")
            .env_remove("COFFER_PASSWORD_FILE")
            .output()
            .unwrap()
    };
    let o = run(&["backup", src.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vault = xdg.join("coffer/vaults/default");
    let key = xdg.join("coffer/keys/default.key");
    let config = std::fs::read(vault.join("config")).unwrap();
    std::fs::remove_file(vault.join("config")).unwrap();
    let files = |d: &Path| {
        let mut v: Vec<_> = walkdir(d);
        v.sort();
        v
    };
    let before = files(&vault);
    // The automatic init of the default vault refuses, with or without the key file.
    for hide_key in [false, true] {
        let hidden = dir.path().join("default.key.away");
        if hide_key {
            std::fs::rename(&key, &hidden).unwrap();
        }
        let o = run(&["backup", src.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_lost_config_message(&stderr(&o));
        let o = run(&["init"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_lost_config_message(&stderr(&o));
        assert_eq!(files(&vault), before, "a refused init wrote to the vault");
        if hide_key {
            assert!(!key.exists(), "a refused init made a new key file");
            std::fs::rename(&hidden, &key).unwrap();
        }
    }
    // Commands that open it say the same.
    let o = run(&["snapshots"]);
    assert_eq!(o.status.code(), Some(1));
    assert_lost_config_message(&stderr(&o));
    // With `config` back, the old snapshot restores.
    std::fs::write(vault.join("config"), &config).unwrap();
    let out = dir.path().join("out");
    let o = run(&["restore", "latest", "--target", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(out.join(src.strip_prefix("/").unwrap()).join("x.txt")).unwrap(),
        b"old data"
    );
}

/// Every file below `d`, relative.
fn walkdir(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                stack.push(e);
            } else {
                out.push(e.strip_prefix(d).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn issue14_vault_path_without_config_is_not_initialized() {
    let env = Env::new(Kind::Local, "lost-config");
    let src = env.path("src");
    write(&src.join("a"), b"precious");
    env.init();
    let id = env.backup(&[&src]);
    let config_path = Path::new(&env.vault).join("config");
    let config = std::fs::read(&config_path).unwrap();
    std::fs::remove_file(&config_path).unwrap();
    let before = env.vault_files();
    let o = env.run(&["snapshots"]);
    assert_eq!(o.status.code(), Some(1));
    assert_lost_config_message(&stderr(&o));
    let o = env.run(&["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert_lost_config_message(&stderr(&o));
    // Not with a new key file either, and that key file is not made.
    let new_key = env.path("new.key");
    let o = env
        .cmd(&["init"])
        .env("COFFER_KEY_FILE", &new_key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_lost_config_message(&stderr(&o));
    assert!(!new_key.exists(), "a refused init made a key file");
    let o = env.run(&["backup", src.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_lost_config_message(&stderr(&o));
    assert_eq!(
        env.vault_files(),
        before,
        "a refused command wrote to the vault"
    );
    // `config` put back: everything is as it was.
    std::fs::write(&config_path, &config).unwrap();
    let out = env.path("out");
    env.restore(&id[..8], &out);
    assert_same_tree(&src, &out.join(src.strip_prefix("/").unwrap()));
    env.ok(&["check"]);
}

#[test]
fn issue14_local_config_and_key_slots_are_private() {
    let env = Env::new(Kind::Local, "perms");
    env.init();
    let pw = env.path("pw");
    std::fs::write(&pw, "a password\n").unwrap();
    env.ok(&["key", "add", "--new-password-file", pw.to_str().unwrap()]);
    let root = Path::new(&env.vault);
    assert_eq!(mode(root), 0o700, "vault root");
    assert_eq!(mode(&root.join("config")), 0o600, "config");
    assert_eq!(mode(&root.join("keys")), 0o700, "keys/");
    assert_eq!(mode(&root.join(".tmp")), 0o700, ".tmp/");
    let slots: Vec<_> = std::fs::read_dir(root.join("keys")).unwrap().collect();
    assert_eq!(slots.len(), 2);
    for s in slots {
        let p = s.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn issue14_a_password_added_from_a_file_opens_from_the_same_file() {
    let env = Env::new(Kind::Local, "pwfile");
    env.init();
    // Trailing newlines beyond the one a file ends with are the password's.
    for (i, content) in ["two words\n\n", "crlf\r\n", "no newline", "  spaced \n"]
        .into_iter()
        .enumerate()
    {
        let f = env.path(&format!("pw{i}"));
        std::fs::write(&f, content).unwrap();
        env.ok(&["key", "add", "--new-password-file", f.to_str().unwrap()]);
        let o = env
            .cmd(&["snapshots", "--password-file", f.to_str().unwrap()])
            .env_remove("COFFER_KEY_FILE")
            .output()
            .unwrap();
        assert!(o.status.success(), "{content:?}: {}", stderr(&o));
    }
    // The first file's password is "two words\n": without that newline it
    // opens nothing.
    let o = env
        .cmd(&["snapshots"])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "two words")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = env
        .cmd(&["snapshots"])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "two words\n")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // An empty file is a usage error, naming the file.
    let empty = env.path("empty");
    std::fs::write(&empty, "\n").unwrap();
    let o = env.run(&["key", "add", "--new-password-file", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
}

#[test]
fn issue14_a_damaged_key_slot_is_skipped_with_a_warning() {
    let env = Env::new(Kind::Local, "badslot");
    let src = env.path("src");
    write(&src.join("a"), b"a");
    env.init();
    env.backup(&[&src]);
    let keys = Path::new(&env.vault).join("keys");
    let good = std::fs::read_dir(&keys)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let slot: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    // One slot that does not parse, and one whose Argon2id asks for 4 GiB.
    let garbage = keys.join("a".repeat(64));
    std::fs::write(&garbage, "{ damaged").unwrap();
    let mut huge = slot.clone();
    huge["kind"] = "password".into();
    huge["kdf"] = serde_json::json!({"m_kib": 4u32 << 20, "t": 3, "p": 1});
    let huge_path = keys.join("b".repeat(64));
    std::fs::write(&huge_path, serde_json::to_vec(&huge).unwrap()).unwrap();
    let o = env.run(&["snapshots", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for p in [&garbage, &huge_path] {
        let name = format!("keys/{}", p.file_name().unwrap().to_str().unwrap());
        assert!(err.contains(&name) && err.contains("warning"), "{err}");
    }
    assert!(err.contains("2 GiB"), "{err}");
    // A password opens nothing, and says which slots were skipped, quickly
    // (the 4 GiB slot is refused before any work).
    let o = env
        .cmd(&["snapshots"])
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "anything")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&"b".repeat(64)), "{}", stderr(&o));
    // The damaged slot can be removed.
    env.ok(&["key", "remove", &"a".repeat(8)]);
    assert!(!garbage.exists());
}
