//! Command sources end to end: output stored with its restore command, and
//! a failed or killed command writing no snapshot.

use super::*;

#[test]
fn issue3_command_output_is_stored_with_its_restore_command() {
    let env = Env::new(Kind::Local, "cmd");
    env.init();
    let out = env.path("restored");
    let restore_cmd = format!("cat > '{}'", out.display());
    let v = backup_json(
        &env,
        &[
            "--command",
            "printf 'head\\n'; head -c 3000000 /dev/zero | tr '\\0' x; echo progress >&2",
            "--name",
            "blob",
            "--restore-command",
            &restore_cmd,
        ],
    );
    assert_eq!(v["source"]["kind"], "command");
    let d = &v["source"]["details"];
    assert!(d["command"].as_str().unwrap().starts_with("printf"));
    assert_eq!(d["exit_status"], "0");
    assert_eq!(d["restore_command"], restore_cmd.as_str());
    assert_eq!(v["paths"][0], "blob");
    let id = v["id"].as_str().unwrap();
    let mut want = b"head\n".to_vec();
    want.extend(std::iter::repeat_n(b'x', 3_000_000));

    let file = env.path("blob.out");
    env.ok(&["restore", id, "--to-file", file.to_str().unwrap()]);
    assert_eq!(std::fs::read(&file).unwrap(), want);
    // --to-file - writes to standard output.
    let mut c = env
        .cmd(&["restore", id, "--to-file", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    c.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(got, want);
    env.ok(&["restore", id, "--run-restore-command"]);
    assert_eq!(std::fs::read(&out).unwrap(), want);
    let other = env.path("other");
    env.ok(&[
        "restore",
        id,
        "--restore-command",
        &format!("cat > '{}'", other.display()),
    ]);
    assert_eq!(std::fs::read(&other).unwrap(), want);
    // A restore command that fails is reported.
    let o = env.run(&["restore", id, "--restore-command", "exit 7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("exited with status 7"),
        "{}",
        stderr(&o)
    );
    // A command snapshot is not a database dump.
    let o = env.run(&["restore", id, "--postgres", &format!("{PG}/x")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("command snapshot"), "{}", stderr(&o));
    // --command without --name is a usage error.
    let o = env.run(&["backup", "--command", "true"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn issue3_command_failure_or_kill_writes_no_snapshot() {
    let env = Env::new(Kind::Local, "cmd-fail");
    env.init();
    let o = env.run(&[
        "backup",
        "--command",
        "echo partial; echo 'it broke' >&2; exit 3",
        "--name",
        "x",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "command `echo partial",
            "exited with status 3",
            "it broke",
            "no snapshot was written",
        ],
        &[],
    );
    let o = env.run(&[
        "backup",
        "--command",
        "head -c 50M /dev/urandom; kill -9 $$",
        "--name",
        "killed",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["killed by signal 9", "no snapshot was written"],
        &[],
    );
    // The chunks of the killed run are unreferenced, not damage.
    let report = env.json(&["check"]);
    assert!(
        report["unreferenced_packs"].as_u64().unwrap() > 0,
        "{report}"
    );
    // And --stdin still works beside the new sources.
    let mut c = env
        .cmd(&["backup", "--stdin", "--stdin-name", "s.txt", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"]["kind"], "stdin");
}
