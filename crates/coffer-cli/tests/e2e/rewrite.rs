//! End-to-end tests of `coffer rewrite` (issue 17: erasure): a file backed
//! up in several snapshots is rewritten out of them, `restore` and `ls` no
//! longer show it, and after `prune` its bytes are gone from the vault;
//! `--dry-run` changes nothing; a legal hold, a compliance lock, a stream
//! snapshot, an unknown id and bad options are refused with nothing
//! changed.

use crate::common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

/// Size of the secret: incompressible, so the packs shrink by about this
/// much once prune removes it.
const SECRET: usize = 3_000_000;

/// A vault with two snapshots of `src/` (tagged `t1`), both holding
/// `src/private/secret.bin`.
struct Fixture {
    env: Env,
    src: PathBuf,
    ids: Vec<String>,
}

fn fixture(name: &str) -> Fixture {
    let env = Env::new(Kind::Local, name);
    let src = env.path("src");
    write(&src.join("keep.txt"), b"keep me\n");
    write(&src.join("docs/report.txt"), &noise(5, 20_000));
    write(&src.join("private/secret.bin"), &noise(1717, SECRET));
    write(&src.join("private/notes.txt"), b"notes\n");
    env.init();
    let mut ids = Vec::new();
    for i in 0..2 {
        write(&src.join("keep.txt"), format!("keep me {i}\n").as_bytes());
        let v = env.json(&["backup", "--tag", "t1", src.to_str().unwrap()]);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    Fixture { env, src, ids }
}

fn pack_bytes(env: &Env) -> u64 {
    env.vault_files()
        .iter()
        .filter(|(p, _)| p.starts_with("packs/"))
        .map(|(_, b)| b.len() as u64)
        .sum()
}

fn snapshots(env: &Env) -> Vec<Value> {
    env.json(&["snapshots"]).as_array().unwrap().clone()
}

fn fails_with(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&o.stdout),
    );
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
}

#[test]
fn issue17_rewrite_erases_a_file_and_prune_removes_its_bytes() {
    let f = fixture("rewrite");
    let env = &f.env;
    let state = env.path("state");
    let secret_path = f.src.join("private/secret.bin");
    let before_snaps = snapshots(env);
    let audited = audit_entries(&state).len();

    // The dry run lists what would go and changes nothing.
    let vault_before = env.vault_files();
    let dry = env.json(&[
        "rewrite",
        &f.ids[0][..8],
        &f.ids[1],
        "--exclude",
        "secret.bin",
        "--dry-run",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert!(dry["rewritten"].is_null(), "{dry:#}");
    let items = dry["plan"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["action"], "rewrite", "{item:#}");
        assert_eq!(item["removed"][0]["path"], secret_path.to_str().unwrap());
        assert_eq!(item["files"], 1);
        assert_eq!(item["bytes"], SECRET as u64);
    }
    let text = env.ok(&["rewrite", "latest", "--exclude", "secret.bin", "--dry-run"]);
    assert!(
        text.contains(&format!("- {}", secret_path.display()))
            && text.contains("dry run: would rewrite 1"),
        "{text}"
    );
    assert_eq!(env.vault_files(), vault_before);
    assert_eq!(
        audit_entries(&state).len(),
        audited,
        "a dry run is not audited"
    );

    // The real run replaces both snapshots.
    let real = env.json(&[
        "rewrite",
        &f.ids[0][..8],
        &f.ids[1],
        "--exclude",
        "secret.bin",
    ]);
    let rewritten = real["rewritten"].as_array().unwrap();
    assert_eq!(rewritten.len(), 2, "{real:#}");
    assert!(rewritten
        .iter()
        .all(|r| r["forgotten"] == true && r["bytes"] == SECRET as u64));
    let after = snapshots(env);
    assert_eq!(after.len(), 2);
    for (old, new) in before_snaps.iter().zip(&after) {
        // Same time, host, tags, paths; the original recorded.
        for k in ["time", "hostname", "username", "tags", "paths", "source"] {
            assert_eq!(old[k], new[k], "{k}");
        }
        assert_eq!(new["rewritten_from"], old["id"]);
        assert!(!f.ids.contains(&new["id"].as_str().unwrap().to_string()));
    }
    let e = audit_entries(&state);
    assert_eq!(e.len(), audited + 1, "{e:?}");
    assert_eq!(e[audited]["action"], "rewrite");
    assert_eq!(e[audited]["result"], "ok");

    // Restore and ls no longer show it; everything else is as it was.
    let out = env.path("restored");
    env.restore("latest", &out);
    let root = out.join(f.src.strip_prefix("/").unwrap());
    assert!(!root.join("private/secret.bin").exists());
    // The source without the secret (its directory's mtime as backed up).
    let private = f.src.join("private");
    let mtime = std::fs::metadata(&private).unwrap().modified().unwrap();
    std::fs::remove_file(&secret_path).unwrap();
    std::fs::File::open(&private)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_same_tree(&f.src, &root);
    let ls = env.ok(&["ls", "latest"]);
    assert!(
        !ls.contains("secret.bin") && ls.contains("notes.txt"),
        "{ls}"
    );
    let ls = env.ok(&["ls", &after[0]["id"].as_str().unwrap()[..8]]);
    assert!(!ls.contains("secret.bin"), "{ls}");

    // After prune the secret's bytes are gone from the packs.
    let packs = pack_bytes(env);
    env.ok(&["prune"]);
    let freed = packs - pack_bytes(env);
    assert!(
        freed >= SECRET as u64,
        "prune freed {freed} bytes of {packs}, less than the secret's {SECRET}"
    );
    assert!(pack_bytes(env) < 200_000, "{}", pack_bytes(env));
    env.ok(&["check", "--read-data"]);

    // Rewriting again: nothing matches now, nothing changes.
    let vault_before = env.vault_files();
    let text = env.ok(&["rewrite", "--all", "--exclude", "secret.bin"]);
    assert!(text.contains("nothing matches, left alone"), "{text}");
    assert_eq!(env.vault_files(), vault_before);
}

#[test]
fn issue17_rewrite_is_refused_under_a_hold_or_a_compliance_lock() {
    let f = fixture("rewrite-refused");
    let env = &f.env;
    let state = env.path("state");
    env.ok(&["snapshot", "hold", &f.ids[0][..8], "--reason", "case 7"]);
    let before = env.vault_files();
    let audited = audit_entries(&state).len();
    let o = env.run(&[
        "rewrite",
        &f.ids[0][..8],
        &f.ids[1][..8],
        "--exclude",
        "*.bin",
    ]);
    fails_with(
        &o,
        1,
        &[
            "legal hold",
            "case 7",
            "coffer snapshot release",
            &f.ids[0][..8],
        ],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing changed"));
    assert_eq!(
        env.vault_files(),
        before,
        "nothing written for either snapshot"
    );
    let e = audit_entries(&state);
    assert_eq!(e.len(), audited + 1);
    assert_eq!(e[audited]["action"], "rewrite");
    assert_eq!(e[audited]["result"], "error");
    assert!(
        e[audited]["error"].as_str().unwrap().contains("legal hold"),
        "{e:?}"
    );
    env.ok(&["snapshot", "release", &f.ids[0][..8]]);

    env.ok(&[
        "vault",
        "lock",
        "--min-retention-days",
        "7",
        "--max-retention-days",
        "30",
        "--changeable-for-days",
        "3",
    ]);
    let before = env.vault_files();
    let o = env.run(&[
        "rewrite",
        "latest",
        "--exclude",
        "*.bin",
        "--bypass-governance",
        "--json",
    ]);
    fails_with(
        &o,
        1,
        &[
            "locked (compliance) until",
            "wait until",
            "cannot be overridden",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["plan"]["items"][0]["refusal"].is_string(), "{v:#}");
    assert!(v["rewritten"].as_array().unwrap().is_empty(), "{v:#}");
    assert_eq!(env.vault_files(), before);
}

#[test]
fn issue17_rewrite_refuses_streams_unknown_ids_and_bad_options() {
    let f = fixture("rewrite-bad");
    let env = &f.env;
    let stream = {
        let mut c = env.cmd(&["backup", "--stdin", "--stdin-name", "dump.sql", "--json"]);
        c.stdin(std::fs::File::open(f.src.join("keep.txt")).unwrap());
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let before = env.vault_files();
    let o = env.run(&["rewrite", &stream[..8], "--exclude", "dump.sql"]);
    fails_with(
        &o,
        1,
        &["stdin snapshot", "not a file tree", "coffer forget"],
    );
    // With --all a stream is left alone, said so.
    let text = env.ok(&["rewrite", "--all", "--exclude", "nothing-matches-this"]);
    assert!(
        text.contains("a stdin snapshot (one stream, not a file tree), left alone"),
        "{text}"
    );
    let o = env.run(&["rewrite", "deadbeef", "--exclude", "x"]);
    fails_with(&o, 1, &["deadbeef", "not found"]);
    let o = env.run(&["rewrite", "latest"]);
    fails_with(&o, 2, &["--exclude GLOB"]);
    let o = env.run(&["rewrite", "--exclude", "x"]);
    fails_with(&o, 2, &["--all"]);
    let o = env.run(&["rewrite", "latest", "--exclude", "a["]);
    fails_with(&o, 2, &["bad pattern `a[`"]);
    let missing = env.path("no-such-list.txt");
    let o = env.run(&[
        "rewrite",
        "latest",
        "--exclude-file",
        missing.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no-such-list.txt"), "{}", stderr(&o));
    // Everything excluded: refused, forget it instead.
    let o = env.run(&["rewrite", &f.ids[1][..8], "--exclude", "/*"]);
    fails_with(&o, 1, &["empty snapshot", "coffer forget"]);
    assert_eq!(env.vault_files(), before);
}
