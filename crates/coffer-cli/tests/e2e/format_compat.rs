//! Vaults written by each released format version stay readable.
//!
//! - tests/fixtures/vault-v1 was written by coffer 0.1.0 (format 1) from
//!   /tmp/coffer-fixture-v1/src: hello.txt, numbers.txt (`seq 1 100000`) and
//!   sub/link -> ../hello.txt.
//! - tests/fixtures/vault-v2 (format 2, key epochs) was written from
//!   /tmp/coffer-fixture-v2/src: snapshot tagged `v2-epoch0` of before.txt
//!   ("hello coffer v2, epoch 0") and numbers.txt (`seq 1 50000`) with a
//!   second key slot (`revoked.key`); then `coffer key rotate`, which
//!   revoked that slot (kept in `revoked-slot/`, as a copy put back would
//!   be); then snapshot `v2-epoch1` with after.txt ("hello coffer v2,
//!   epoch 1") added. `key` opens epoch 1.
//! - tests/fixtures/vault-v2-full (format 2) holds every object kind of the
//!   format: it was written by `scripts/make-fixture-vault.sh` (which says
//!   what it writes, in order), and its `expected/` holds the bytes that
//!   restore and wal-fetch must give back.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture's directory tree (the tests that write work on a copy).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Runs coffer on `vault` with `key`, with private data and state dirs.
fn coffer(vault: &Path, key: &Path, scratch: &Path, args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("COFFER_VAULT", vault)
        .env("COFFER_KEY_FILE", key)
        .env("XDG_DATA_HOME", scratch.join("xdg"))
        .env("COFFER_STATE_DIR", scratch.join("state"))
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_PASSWORD_FILE")
        .output()
        .unwrap()
}

fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn format_v1_fixture_checks_and_restores() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vault-v1");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(BIN)
            .args(args)
            .env("COFFER_VAULT", fixture.join("vault"))
            .env("COFFER_KEY_FILE", fixture.join("key"))
            .env("XDG_DATA_HOME", dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["check", "--read-data"]);
    let snaps: serde_json::Value = serde_json::from_str(&run(&["snapshots", "--json"])).unwrap();
    assert_eq!(snaps[0]["hostname"], "fixture");
    assert_eq!(snaps[0]["tags"][0], "v1");
    let out = dir.path().join("out");
    run(&["restore", "latest", "--target", out.to_str().unwrap()]);
    let r = out.join("tmp/coffer-fixture-v1/src");
    assert_eq!(
        std::fs::read_to_string(r.join("hello.txt")).unwrap(),
        "hello coffer v1\n"
    );
    let numbers: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        std::fs::read_to_string(r.join("numbers.txt")).unwrap(),
        numbers
    );
    assert_eq!(
        std::fs::read_link(r.join("sub/link")).unwrap(),
        Path::new("../hello.txt")
    );
}

#[test]
fn format_v2_fixture_reads_both_epochs_and_not_for_the_revoked_key() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixture");
    copy_tree(&fixture("vault-v2"), &fx);
    let (vault, key, revoked) = (fx.join("vault"), fx.join("key"), fx.join("revoked.key"));
    let run = |key: &Path, args: &[&str]| coffer(&vault, key, dir.path(), args);
    ok(run(&key, &["check", "--read-data"]), "check");
    let snaps: serde_json::Value =
        serde_json::from_str(&ok(run(&key, &["snapshots", "--json"]), "snapshots")).unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    let numbers: String = (1..=50_000).map(|i| format!("{i}\n")).collect();
    for (tag, files) in [("v2-epoch0", 2), ("v2-epoch1", 3)] {
        let out = dir.path().join(tag);
        let args = [
            "restore",
            "latest",
            "--tag",
            tag,
            "--target",
            out.to_str().unwrap(),
        ];
        ok(run(&key, &args), tag);
        let r = out.join("tmp/coffer-fixture-v2/src");
        assert_eq!(std::fs::read_dir(&r).unwrap().count(), files, "{tag}");
        assert_eq!(
            std::fs::read_to_string(r.join("numbers.txt")).unwrap(),
            numbers
        );
        assert_eq!(
            std::fs::read_to_string(r.join("before.txt")).unwrap(),
            "hello coffer v2, epoch 0\n"
        );
    }
    // The revoked key opens nothing.
    let o = run(&revoked, &["snapshots"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // Its slot put back opens epoch 0, which reads nothing of epoch 1 (the
    // index objects of epoch 1 already stop a restore), and writes nothing.
    for e in std::fs::read_dir(fx.join("revoked-slot")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), vault.join("keys").join(e.file_name())).unwrap();
    }
    let out = dir.path().join("revoked-epoch1");
    let args = [
        "restore",
        "latest",
        "--tag",
        "v2-epoch1",
        "--target",
        out.to_str().unwrap(),
    ];
    let o = run(&revoked, &args);
    assert!(!o.status.success(), "the revoked key restored epoch 1");
    assert!(stderr(&o).contains("newer key epoch"), "{}", stderr(&o));
    assert!(!out.join("tmp/coffer-fixture-v2/src/after.txt").exists());
    let src = dir.path().join("src");
    write(&src.join("x"), b"x");
    let o = run(&revoked, &["backup", src.to_str().unwrap()]);
    assert!(!o.status.success(), "an old epoch's key wrote");
    assert!(stderr(&o).contains("rotated to epoch 1"), "{}", stderr(&o));
}

#[test]
fn format_v1_fixture_rotates_into_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixture");
    copy_tree(&fixture("vault-v1"), &fx);
    let (vault, key) = (fx.join("vault"), fx.join("key"));
    let run = |args: &[&str]| coffer(&vault, &key, dir.path(), args);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(run(&["key", "rotate", "--json"]), "rotate")).unwrap();
    assert_eq!(stats["generation"], 1, "{stats}");
    assert_eq!(stats["upgraded_format"], true, "{stats}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vault.join("config")).unwrap()).unwrap();
    assert_eq!(config["version"], 2);
    let src = dir.path().join("src");
    write(&src.join("new.txt"), b"after the upgrade");
    ok(run(&["backup", src.to_str().unwrap()]), "backup");
    ok(run(&["check", "--read-data"]), "check");
    let out = dir.path().join("out");
    ok(
        run(&[
            "restore",
            "latest",
            "--tag",
            "v1",
            "--target",
            out.to_str().unwrap(),
        ]),
        "restore v1",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("tmp/coffer-fixture-v1/src/hello.txt")).unwrap(),
        "hello coffer v1\n"
    );
}

/// The object directories of format 2 (docs/format.md's layout), each of
/// which the full fixture holds at least one object of.
const FORMAT_2_KINDS: [&str; 12] = [
    "config",
    "keys",
    "index",
    "packs",
    "snapshots",
    "epochs",
    "copymap",
    "wal",
    "sessions",
    "prune",
    "locks",
    "holds",
];

fn has_object(p: &Path) -> bool {
    if p.is_file() {
        return true;
    }
    std::fs::read_dir(p)
        .map(|d| d.flatten().any(|e| has_object(&e.path())))
        .unwrap_or(false)
}

#[test]
fn format_v2_full_fixture_reads_every_object_kind() {
    let dir = tempfile::tempdir().unwrap();
    let fx = dir.path().join("fixture");
    copy_tree(&fixture("vault-v2-full"), &fx);
    let (vault, key, expected) = (fx.join("vault"), fx.join("key"), fx.join("expected"));
    for kind in FORMAT_2_KINDS {
        assert!(has_object(&vault.join(kind)), "the fixture holds no {kind}");
    }
    let run = |args: &[&str]| coffer(&vault, &key, dir.path(), args);
    ok(run(&["check", "--read-data"]), "check");

    // Snapshots: the four kept ones, as they were listed when written.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(run(&["snapshots", "--json"]), "snapshots")).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(expected.join("snapshots.json")).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s["id"], s["tags"]))
            .collect()
    };
    assert_eq!(ids(&listed), ids(&written));

    // Files snapshots of both key epochs and the copied one restore.
    let numbers: String = (1..=20_000).map(|i| format!("{i}\n")).collect();
    let hello = "hello coffer, format 2 with every object kind\n";
    for tag in ["files", "after-rotate", "copied"] {
        let snap = written
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["tags"][0] == tag)
            .unwrap();
        let out = dir.path().join(tag);
        let args = [
            "restore",
            "latest",
            "--tag",
            tag,
            "--target",
            out.to_str().unwrap(),
        ];
        ok(run(&args), tag);
        let root = out.join(snap["paths"][0].as_str().unwrap().trim_start_matches('/'));
        let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
        if tag == "copied" {
            assert_eq!(read("copied.txt"), "copied from another vault\n");
            continue;
        }
        assert_eq!(read("hello.txt"), hello);
        assert_eq!(read("numbers.txt"), numbers);
        assert_eq!(
            std::fs::read_link(root.join("sub/link")).unwrap(),
            Path::new("../hello.txt")
        );
        assert_eq!(root.join("after.txt").exists(), tag == "after-rotate");
    }
    let stream = dir.path().join("stream.txt");
    let args = [
        "restore",
        "latest",
        "--tag",
        "stream",
        "--to-file",
        stream.to_str().unwrap(),
    ];
    ok(run(&args), "restore stream");
    assert_eq!(
        std::fs::read(&stream).unwrap(),
        std::fs::read(expected.join("stream.txt")).unwrap()
    );

    // WAL: each archived file gives back its bytes; one never pushed is missing.
    for e in std::fs::read_dir(expected.join("wal")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let dest = dir.path().join(format!("fetched-{name}"));
        ok(run(&["wal-fetch", &name, dest.to_str().unwrap()]), &name);
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            std::fs::read(e.path()).unwrap()
        );
    }
    let missing = dir.path().join("missing");
    let o = run(&[
        "wal-fetch",
        "000000010000000000000009",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!missing.exists());

    // The vault lock and the legal hold are in force.
    let lock: serde_json::Value =
        serde_json::from_str(&ok(run(&["vault", "lock-status", "--json"]), "lock-status")).unwrap();
    assert_eq!(lock["lock"]["mode"], "governance", "{lock}");
    assert_eq!(lock["lock"]["policy"]["max_retention_days"], 3650, "{lock}");
    let holds: serde_json::Value =
        serde_json::from_str(&ok(run(&["snapshot", "holds", "--json"]), "holds")).unwrap();
    let files_id = written.as_array().unwrap()[0]["id"].clone();
    assert_eq!(holds[0]["snapshot"], files_id, "{holds}");
    assert_eq!(holds[0]["reason"], "fixture: every object kind");
    let o = run(&["forget", "latest", "--tag", "files"]);
    assert_eq!(o.status.code(), Some(1), "a held snapshot was forgotten");
    assert!(stderr(&o).contains("legal hold"), "{}", stderr(&o));

    // The prune plan that waited for the killed backup's session (stale now)
    // runs its delete phase; everything kept still reads.
    ok(run(&["prune"]), "prune");
    assert!(
        !has_object(&vault.join("prune")),
        "the prune plan is still waiting"
    );
    ok(run(&["check", "--read-data"]), "check after prune");
    ok(
        run(&[
            "restore",
            "latest",
            "--tag",
            "files",
            "--target",
            dir.path().join("again").to_str().unwrap(),
        ]),
        "restore after prune",
    );
}
