//! End-to-end tests of `forget`, the vault lock and legal holds through the
//! real binary. Time is driven with `COFFER_NOW` (read by these commands
//! only, and only in a `test-clock` build), so locks can be taken past their
//! grace period.

use crate::common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

/// A vault with `n` snapshots of one directory, each with a different
/// `data/version.txt`; returns the ids (oldest first) and each one's text.
struct Fixture {
    env: Env,
    src: PathBuf,
    ids: Vec<String>,
    content: BTreeMap<String, String>,
}

fn fixture(kind: Kind, name: &str, n: usize) -> Fixture {
    let env = Env::new(kind, name);
    let src = env.path("src");
    write(&src.join("big.bin"), &noise(7, 300_000));
    env.init();
    let mut ids = Vec::new();
    let mut content = BTreeMap::new();
    for i in 0..n {
        let text = format!("version {i}\n");
        write(&src.join("version.txt"), text.as_bytes());
        let id = env.backup(&[&src]);
        content.insert(id.clone(), text);
        ids.push(id);
    }
    Fixture {
        env,
        src,
        ids,
        content,
    }
}

impl Fixture {
    fn snapshot_ids(&self) -> Vec<String> {
        let v = self.env.json(&["snapshots"]);
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// `check` passes and every remaining snapshot restores its own content.
    fn check_and_restore_all(&self) {
        self.env.ok(&["check", "--read-data"]);
        for id in self.snapshot_ids() {
            let out = self.env.path(&format!("restore-{}", &id[..8]));
            self.env.restore(&id, &out);
            let root = out.join(self.src.strip_prefix("/").unwrap());
            assert_eq!(
                std::fs::read_to_string(root.join("version.txt")).unwrap(),
                self.content[&id],
                "snapshot {id} restored other content"
            );
            assert_eq!(
                std::fs::read(root.join("big.bin")).unwrap(),
                noise(7, 300_000)
            );
        }
    }

    /// Runs with `COFFER_NOW` set.
    fn run_at(&self, now: Timestamp, args: &[&str]) -> Output {
        require_test_clock();
        self.env
            .cmd(args)
            .env("COFFER_NOW", now.to_string())
            .output()
            .unwrap()
    }

    fn ok_at(&self, now: Timestamp, args: &[&str]) -> String {
        let o = self.run_at(now, args);
        assert!(
            o.status.success(),
            "coffer {args:?} at {now} failed ({:?})\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

fn lock_args(d: &'static str) -> Vec<&'static str> {
    vec![
        "vault",
        "lock",
        "--min-retention-days",
        "7",
        "--max-retention-days",
        "30",
        "--changeable-for-days",
        d,
    ]
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// The ids a forget plan (`--json`) removes, and each item by id.
fn plan_of(v: &Value) -> (Vec<String>, BTreeMap<String, Value>) {
    let items = v["plan"]["items"].as_array().unwrap();
    let removed = items
        .iter()
        .filter(|i| i["keep"] == false)
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let by_id = items
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i.clone()))
        .collect();
    (removed, by_id)
}

fn reasons(item: &Value) -> Vec<String> {
    item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn fails_with(o: &Output, code: i32, needle: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
    assert!(
        stderr(o).contains(needle),
        "stderr lacks `{needle}`: {}",
        stderr(o)
    );
}

#[test]
fn forget_dry_run_shows_the_same_plan_and_deletes_nothing() {
    let f = fixture(Kind::Local, "forget", 5);
    let before = f.env.vault_files();
    let dry = f.env.json(&["forget", "--keep-last", "2", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let (dry_removed, by_id) = plan_of(&dry);
    assert_eq!(dry_removed.len(), 3);
    let mut expect: Vec<String> = f.ids[..3].to_vec();
    expect.sort();
    let mut got = dry_removed.clone();
    got.sort();
    assert_eq!(got, expect);
    assert_eq!(reasons(&by_id[&f.ids[4]]), vec!["last 1 of 2"]);
    assert_eq!(reasons(&by_id[&f.ids[0]]), vec!["not kept by any rule"]);
    assert_eq!(f.env.vault_files(), before, "a dry run wrote or deleted");
    // The human table explains each snapshot.
    let text = f.env.ok(&["forget", "--keep-last", "2", "--dry-run"]);
    assert!(text.contains("last 2 of 2"), "{text}");
    assert!(text.contains("remove "), "{text}");
    assert!(
        text.contains("dry run: would remove 3 of 5 snapshots"),
        "{text}"
    );
    // The real run removes exactly what the dry run showed.
    let real = f.env.json(&["forget", "--keep-last", "2"]);
    let (real_removed, _) = plan_of(&real);
    assert_eq!(real_removed, dry_removed);
    let mut removed: Vec<String> = real["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    removed.sort();
    assert_eq!(removed, expect);
    let mut left = f.snapshot_ids();
    left.sort();
    let mut kept = f.ids[3..].to_vec();
    kept.sort();
    assert_eq!(left, kept);
    f.check_and_restore_all();
}

#[test]
fn forget_by_id_and_usage_errors() {
    let f = fixture(Kind::Local, "forget-usage", 3);
    fails_with(&f.env.run(&["forget"]), 2, "retention policy");
    fails_with(
        &f.env.run(&["forget", "--keep-last", "1", &f.ids[0]]),
        2,
        "not both",
    );
    fails_with(
        &f.env.run(&["forget", "--keep-daily", "0"]),
        2,
        "keeps no snapshot",
    );
    fails_with(
        &f.env
            .run(&["forget", "--keep-last", "1", "--group-by", "colour"]),
        2,
        "--group-by",
    );
    fails_with(
        &f.env
            .run(&["forget", "--keep-last", "1", "--time-zone", "Mars/Olympus"]),
        2,
        "--time-zone",
    );
    // By id (prefix): exactly that one goes.
    let v = f.env.json(&["forget", &f.ids[1][..10]]);
    assert_eq!(v["removed"], serde_json::json!([f.ids[1]]));
    assert_eq!(f.snapshot_ids().len(), 2);
    // Grouping by nothing puts the two left in one group.
    let v = f
        .env
        .json(&["forget", "--keep-daily", "5", "--group-by", "", "--dry-run"]);
    let items = v["plan"]["items"].as_array().unwrap();
    assert!(items.iter().all(|i| i["group"] == ""));
    f.check_and_restore_all();
}

#[test]
fn held_snapshot_survives_every_forget() {
    let f = fixture(Kind::Local, "hold", 3);
    let held = &f.ids[0];
    let v = f
        .env
        .json(&["snapshot", "hold", &held[..8], "--reason", "audit 2026-17"]);
    assert_eq!(v["new"], true);
    assert_eq!(v["snapshot"], held.as_str());
    let again = f.env.json(&["snapshot", "hold", &held[..8]]);
    assert_eq!(again["new"], false);
    assert_eq!(again["reason"], "audit 2026-17");
    let holds = f.env.json(&["snapshot", "holds"]);
    assert_eq!(holds.as_array().unwrap().len(), 1);
    assert!(f.env.ok(&["snapshot", "holds"]).contains("audit 2026-17"));

    // A policy keeps it, saying why.
    let v = f.env.json(&["forget", "--keep-last", "1"]);
    let (removed, by_id) = plan_of(&v);
    assert_eq!(removed, vec![f.ids[1].clone()]);
    assert!(reasons(&by_id[held]).contains(&"held".to_string()));
    // Named, it is refused (exit 1), also when bypassing governance.
    let o = f.env.run(&["forget", &held[..8]]);
    fails_with(&o, 1, "legal hold");
    assert!(stderr(&o).contains(&format!("coffer snapshot release {}", &held[..8])));
    fails_with(
        &f.env.run(&["forget", &held[..8], "--bypass-governance"]),
        1,
        "legal hold",
    );
    assert!(f.snapshot_ids().contains(held));

    // Released, it can go.
    let r = f.env.json(&["snapshot", "release", &held[..8]]);
    assert_eq!(r["snapshot"], held.as_str());
    fails_with(
        &f.env.run(&["snapshot", "release", &held[..8]]),
        1,
        "not found",
    );
    f.env.ok(&["forget", &held[..8]]);
    assert_eq!(f.snapshot_ids(), vec![f.ids[2].clone()]);
    f.check_and_restore_all();
}

#[test]
fn governance_lock_blocks_young_snapshots_unless_bypassed() {
    let f = fixture(Kind::Local, "governance", 4);
    let now = Timestamp::now();
    // The positional vault overrides --vault / COFFER_VAULT.
    let o = f
        .env
        .cmd(&[
            "vault",
            "lock",
            &f.env.vault,
            "--min-retention-days",
            "7",
            "--max-retention-days",
            "30",
            "--json",
        ])
        .env("COFFER_VAULT", "/nonexistent/elsewhere")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["lock"]["mode"], "governance");
    let st = f.env.json(&["vault", "lock-status"]);
    assert_eq!(st["lock"]["policy"]["min_retention_days"], 7);
    assert_eq!(st["changeable"], true);

    // A retention below the lock's minimum is refused with a clear message.
    let o = f.env.run(&["forget", "--delete-after-days", "1"]);
    fails_with(&o, 1, "below the minimum retention of 7 days");
    assert!(stderr(&o).contains("--bypass-governance"), "{}", stderr(&o));

    // keep-last has no duration: the lock keeps the young snapshots.
    let v = f.env.json(&["forget", "--keep-last", "1"]);
    let (removed, by_id) = plan_of(&v);
    assert!(removed.is_empty(), "{v}");
    assert!(reasons(&by_id[&f.ids[0]])
        .iter()
        .any(|r| r.starts_with("locked (governance) until")));
    let o = f.env.run(&["forget", &f.ids[0][..8]]);
    fails_with(&o, 1, "--bypass-governance");
    assert_eq!(f.snapshot_ids().len(), 4);

    // --bypass-governance removes them.
    let v = f
        .env
        .json(&["forget", "--keep-last", "3", "--bypass-governance"]);
    assert_eq!(v["removed"], serde_json::json!([f.ids[0]]));
    // Once they are older than the minimum, no bypass is needed.
    let later = now + days(8);
    let out = f.ok_at(later, &["forget", "--keep-last", "2", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["removed"], serde_json::json!([f.ids[1]]));

    // An admin can remove a governance lock at any time.
    assert!(f
        .env
        .ok(&["vault", "unlock"])
        .contains("removed the governance lock"));
    assert_eq!(f.env.json(&["vault", "lock-status"])["lock"], Value::Null);
    fails_with(&f.env.run(&["vault", "unlock"]), 1, "vault lock");
    f.check_and_restore_all();
}

#[test]
fn compliance_lock_cannot_be_bypassed_nor_removed_after_its_grace_period() {
    let f = fixture(Kind::Local, "compliance", 3);
    let now = Timestamp::now();
    // D < 3 is refused and writes nothing.
    let before = f.env.vault_files();
    fails_with(&f.env.run(&lock_args("2")), 2, "at least 3 days");
    assert_eq!(f.env.vault_files(), before);

    // During the grace period the lock can be removed and set again.
    f.ok_at(now, &lock_args("3"));
    let t1 = now + days(1);
    assert!(f
        .ok_at(t1, &["vault", "unlock"])
        .contains("removed the compliance lock"));
    let t2 = t1 + SignedDuration::from_mins(1);
    let out = f.ok_at(t2, &lock_args("3"));
    assert!(out.contains("compliance lock"), "{out}");
    let st: Value =
        serde_json::from_str(&f.ok_at(t2, &["vault", "lock-status", "--json"])).unwrap();
    assert_eq!(st["lock"]["mode"], "compliance");
    assert_eq!(st["changeable"], true);

    // Young snapshots stay, even with --bypass-governance.
    let v: Value = serde_json::from_str(&f.ok_at(
        t2,
        &[
            "forget",
            "--keep-last",
            "1",
            "--bypass-governance",
            "--json",
        ],
    ))
    .unwrap();
    let (removed, by_id) = plan_of(&v);
    assert!(removed.is_empty(), "{v}");
    assert!(reasons(&by_id[&f.ids[0]])
        .iter()
        .any(|r| r.starts_with("locked (compliance) until")));
    let o = f.run_at(t2, &["forget", &f.ids[0][..8], "--bypass-governance"]);
    fails_with(&o, 1, "cannot be overridden");
    let o = f.run_at(
        t2,
        &["forget", "--delete-after-days", "1", "--bypass-governance"],
    );
    fails_with(&o, 1, "cannot be bypassed");

    // After the grace period (3 days after t2) nobody can change or remove it.
    let t3 = t2 + days(4);
    let o = f.run_at(t3, &["vault", "unlock"]);
    fails_with(&o, 1, "only until");
    let o = f.run_at(
        t3,
        &[
            "vault",
            "lock",
            "--min-retention-days",
            "1",
            "--max-retention-days",
            "30",
        ],
    );
    fails_with(&o, 1, "nobody can change it now");
    let st: Value =
        serde_json::from_str(&f.ok_at(t3, &["vault", "lock-status", "--json"])).unwrap();
    assert_eq!(st["changeable"], false);
    assert_eq!(f.snapshot_ids().len(), 3);

    // Once older than the minimum, the policy removes them.
    let t4 = now + days(8);
    let v: Value =
        serde_json::from_str(&f.ok_at(t4, &["forget", "--keep-last", "1", "--json"])).unwrap();
    assert_eq!(v["removed"].as_array().unwrap().len(), 2);
    assert_eq!(f.snapshot_ids(), vec![f.ids[2].clone()]);
    f.check_and_restore_all();
}

#[test]
fn s3_forget_with_hold_and_lock() {
    let f = fixture(Kind::S3, "retention", 3);
    f.env
        .ok(&["snapshot", "hold", &f.ids[0][..8], "--reason", "legal"]);
    let lock = [
        "vault",
        "lock",
        "--min-retention-days",
        "7",
        "--max-retention-days",
        "30",
    ];
    // Garage does not enforce object lock: refused unless --software-only.
    let o = f.env.run(&lock);
    fails_with(&o, 1, "the store does not enforce object lock");
    let mut soft = lock.to_vec();
    soft.push("--software-only");
    f.env.ok(&soft);
    let st = f.env.json(&["vault", "lock-status"]);
    assert_eq!(st["enforcement"], "coffer-only");
    let dry = f.env.json(&[
        "forget",
        "--keep-last",
        "1",
        "--bypass-governance",
        "--dry-run",
    ]);
    let (dry_removed, _) = plan_of(&dry);
    assert_eq!(dry_removed, vec![f.ids[1].clone()]);
    assert_eq!(f.snapshot_ids().len(), 3);
    let v = f
        .env
        .json(&["forget", "--keep-last", "1", "--bypass-governance"]);
    assert_eq!(v["removed"], serde_json::json!([f.ids[1]]));
    let mut left = f.snapshot_ids();
    left.sort();
    let mut expect = vec![f.ids[0].clone(), f.ids[2].clone()];
    expect.sort();
    assert_eq!(left, expect);
    f.check_and_restore_all();
}

#[test]
fn damaged_lock_record_is_named_by_check_and_stops_forget() {
    let f = fixture(Kind::Local, "damaged-lock", 2);
    f.env.ok(&lock_args("3"));
    f.env.ok(&["check"]);
    let dir = std::path::Path::new(&f.env.vault).join("locks");
    let rec = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&rec).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x40;
    std::fs::write(&rec, b).unwrap();
    let o = f.env.run(&["check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let name = rec.file_name().unwrap().to_str().unwrap();
    assert!(out.contains(&format!("locks/{name}")), "{out}");
    // Forget refuses to guess which lock is in force.
    let o = f.env.run(&["forget", "--keep-last", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("locks/"), "{}", stderr(&o));
}

/// Issue 14: each acting command records one audit entry with its real
/// result (a forget a lock refused is an error with the reason), the
/// entries hold no secret, and a state directory that cannot be written
/// only warns.
#[test]
fn issue14_audit_records_every_cli_action_with_its_real_result() {
    let f = fixture(Kind::Local, "audit", 2);
    let env = &f.env;
    let state = env.path("state");
    let user = format!("cli:{}", coffer_sources::username());
    let e = audit_entries(&state);
    assert_eq!(e.len(), 3, "init and two backups: {e:?}");
    assert_eq!(e[0]["action"], "vault.init", "{e:?}");
    assert!(e.iter().all(|e| e["result"] == "ok"
        && e["actor"] == user.as_str()
        && e["target"] == env.vault.as_str()));
    assert!(e[1..].iter().all(|e| e["action"] == "backup"), "{e:?}");
    // The one entry written since the last call: its action and result.
    let mut seen = e.len();
    let mut next = |action: &str, result: &str| -> Value {
        let all = audit_entries(&state);
        let new = all[seen..].to_vec();
        seen = all.len();
        assert_eq!(new.len(), 1, "one entry for {action}: {new:?}");
        assert_eq!(new[0]["action"], action, "{new:?}");
        assert_eq!(new[0]["result"], result, "{new:?}");
        assert_eq!(new[0]["actor"], user.as_str(), "{new:?}");
        new[0].clone()
    };
    // A backup that fails is an error with the reason.
    let o = env.run(&["backup", env.path("no-such-dir").to_str().unwrap()]);
    assert!(!o.status.success());
    let e = next("backup", "error");
    assert!(e["error"].as_str().unwrap().contains("no-such-dir"), "{e}");
    // Dry runs and reads are not recorded.
    env.ok(&["snapshots"]);
    env.ok(&["prune", "--dry-run"]);
    env.ok(&["forget", "--keep-last", "1", "--dry-run"]);

    env.restore(&f.ids[0], &env.path("r"));
    assert_eq!(next("restore", "ok")["target"], f.ids[0].as_str());
    env.ok(&["snapshot", "hold", &f.ids[0][..8], "--reason", "case 7"]);
    next("snapshot.hold", "ok");
    env.ok(&["snapshot", "release", &f.ids[0][..8]]);
    next("snapshot.release", "ok");
    let o = env.run(&["snapshot", "release", &f.ids[0][..8]]);
    assert_eq!(o.status.code(), Some(1));
    next("snapshot.release", "error");

    // A governance lock refuses a young snapshot's forget: exit 1, and the
    // trail says error with the lock's reason (it used to say ok).
    env.ok(&[
        "vault",
        "lock",
        "--min-retention-days",
        "7",
        "--max-retention-days",
        "30",
    ]);
    next("vault.lock", "ok");
    let o = env.run(&["forget", &f.ids[1][..8]]);
    fails_with(&o, 1, "--bypass-governance");
    let e = next("forget", "error");
    let why = e["error"].as_str().unwrap();
    assert!(why.contains("--bypass-governance"), "{e}");
    assert!(stderr(&o).contains(why), "the reason is what the user saw");
    assert!(!stderr(&o).contains("error: error:"), "{}", stderr(&o));
    assert_eq!(f.snapshot_ids().len(), 2);
    env.ok(&["vault", "unlock"]);
    next("vault.unlock", "ok");
    let o = env.run(&["vault", "unlock"]);
    assert_eq!(o.status.code(), Some(1));
    next("vault.unlock", "error");
    env.ok(&["forget", &f.ids[1][..8]]);
    next("forget", "ok");
    env.ok(&["prune"]);
    next("prune", "ok");

    // Key slots: the trail names the slot, never the key.
    let k2 = env.path("second.key");
    let v = env.json(&["key", "add", "--new-key-file", k2.to_str().unwrap()]);
    next("key.add", "ok");
    let slot = v["id"].as_str().unwrap()[..8].to_string();
    env.ok(&["key", "remove", &slot]);
    assert_eq!(next("key.remove", "ok")["target"], slot.as_str());

    // Copy into a second vault.
    let dst = env.path("copy-vault");
    let dkey = env.path("copy.key");
    let (d, dk) = (dst.to_str().unwrap(), dkey.to_str().unwrap());
    let o = env
        .cmd(&["init"])
        .env("COFFER_VAULT", d)
        .env("COFFER_KEY_FILE", dk)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    next("vault.init", "ok");
    env.ok(&["copy", "--all", "--to", d, "--to-key-file", dk]);
    let e = next("copy", "ok");
    assert!(e["target"].as_str().unwrap().ends_with(d), "{e}");

    // WAL prune (no WAL here: nothing to delete, or a clear error).
    let o = env.run(&["pg", "wal-prune"]);
    next("wal.prune", if o.status.success() { "ok" } else { "error" });

    // Tokens: by name, never the token.
    let o = env
        .cmd(&["token", "create", "--role", "viewer", "--name", "t1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert_eq!(next("token.create", "ok")["target"], "t1 (viewer)");
    env.ok(&["token", "revoke", "t1"]);
    next("token.revoke", "ok");
    let o = env.run(&["token", "revoke", "t1"]);
    assert_eq!(o.status.code(), Some(2));
    let e = next("token.revoke", "error");
    assert!(
        e["error"].as_str().unwrap().contains("no active token"),
        "{e}"
    );

    let log = std::fs::read_to_string(state.join("audit.log")).unwrap();
    assert!(!log.contains(&token) && !log.contains(&token[4..]));
    for k in [&env.key, &k2, &dkey] {
        let k = std::fs::read_to_string(k).unwrap();
        assert!(!log.contains(k.trim()), "a key is in the audit log");
    }
    let n = audit_entries(&state).len();

    // A state directory that cannot be written: the action succeeds and
    // warns; nothing is recorded.
    let o = env
        .cmd(&["snapshot", "hold", &f.ids[0][..8]])
        .env("COFFER_STATE_DIR", f.src.join("version.txt"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: the audit trail did not record `snapshot.hold`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(audit_entries(&state).len(), n);
}
