//! Vaults written by each released format version stay readable.
//! tests/fixtures/vault-v1 was written by coffer 0.1.0 (format 1) from
//! /tmp/coffer-fixture-v1/src: hello.txt, numbers.txt (`seq 1 100000`) and
//! sub/link -> ../hello.txt.

mod common;
use common::*;
use std::path::Path;

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
