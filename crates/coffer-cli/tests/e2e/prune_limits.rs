//! Issue 17: prune's limits end to end with the real binary. Repacked packs
//! on a vault with S3 Object Lock (moto) get the retention their newest
//! snapshot needs; a cold storage class's minimum storage duration holds
//! young packs back (moto); `--max-repack-percent` defers the rest; bad
//! values are refused; a `[[prune]]` run that cannot start in its start
//! window is EXPIRED.

use crate::common::*;
use crate::object_lock::{moto_bucket, Moto};
use jiff::{SignedDuration, Timestamp};
use std::path::Path;
use std::process::Command;

/// A command on a moto vault, with moto's credentials.
fn moto_cmd(m: &Moto, args: &[&str]) -> Command {
    let mut c = m.env.cmd(args);
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("COFFER_S3_ENDPOINT");
    c
}

fn ok_json(mut c: Command, what: &str) -> serde_json::Value {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// The packs of a moto vault.
fn pack_set(m: &Moto) -> std::collections::BTreeSet<String> {
    m.objects()
        .into_iter()
        .filter(|o| o.starts_with("packs/"))
        .collect()
}

/// Writes `s1` (a big and a small file) and `s2` (the same small file).
fn two_sources(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let s1 = env.path("s1");
    write(&s1.join("big"), &noise(1, 3_000_000));
    write(&s1.join("small"), &noise(2, 400_000));
    let s2 = env.path("s2");
    write(&s2.join("small"), &noise(2, 400_000));
    (s1, s2)
}

#[test]
fn issue17_prune_on_an_object_lock_vault_gives_repacked_packs_their_snapshots_retention() {
    let (bucket, _) = moto_bucket(true);
    let m = Moto::new(&bucket, "");
    let (s1_dir, s2_dir) = two_sources(&m.env);
    m.ok(&["init"]);
    let v = m.json(&[
        "vault",
        "lock",
        "--min-retention-days",
        "1",
        "--max-retention-days",
        "60",
    ]);
    assert_eq!(v["enforcement"], "store+coffer", "{v}");
    let s1 = m.backup(&s1_dir);

    // The second snapshot comes from a rule with delete_after_days = 40:
    // its retain_until needs its blobs kept 40 days, far beyond the write
    // default (the lock's 1 day plus a day of slack).
    let config = m.env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"

[[vault]]
name = "main"
url = "{url}"
key_file = "{key}"

[[source]]
name = "small"
kind = "files"
paths = ["{src}"]

[[plan]]
name = "p"

[[plan.rule]]
name = "keep"
vault = "main"
sources = ["small"]
schedule = "0 3 * * *"
retention = {{ delete_after_days = 40 }}
"#,
            state = m.env.path("state").display(),
            url = m.env.vault,
            key = Path::new(&m.env.key).display(),
            src = s2_dir.display(),
        ),
    )
    .unwrap();
    let t0 = Timestamp::now();
    let mut c = moto_cmd(&m, &["--json", "plan", "run", "p/keep"]);
    c.env("COFFER_CONFIG", &config)
        .env_remove("COFFER_STATE_DIR");
    ok_json(c, "plan run p/keep");
    let snaps = m.json(&["snapshots"]);
    let s2 = snaps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] != s1.as_str())
        .unwrap_or_else(|| panic!("no second snapshot: {snaps:#}"));
    assert!(s2["retain_until"].is_string(), "{s2:#}");

    // Forget the first (only the governance lock protects it), then prune:
    // the pack of the big and the small file is mostly unused and repacked.
    m.ok(&["forget", &s1[..8], "--bypass-governance"]);
    let before = pack_set(&m);
    let r = ok_json(moto_cmd(&m, &["prune", "--json"]), "prune");
    assert!(r["packs_repacked"].as_u64().unwrap() >= 1, "{r:#}");
    assert!(
        r["packs_retention_extended"].as_u64().unwrap() >= 1,
        "{r:#}"
    );
    let new: Vec<String> = pack_set(&m).difference(&before).cloned().collect();
    assert!(!new.is_empty(), "{r:#}");
    // Every new pack holds blobs of the second snapshot only: it must be
    // retained until that snapshot's need, 40 days after it was made.
    let need = t0 + SignedDuration::from_hours(24 * 40) - SignedDuration::from_mins(5);
    for p in &new {
        let h = m.head(p);
        let r = h
            .retention
            .unwrap_or_else(|| panic!("{p} has no object lock retention"));
        assert!(
            r.until >= need,
            "{p} retained only until {}, the snapshot needs {need}",
            r.until
        );
    }
    m.ok(&["check", "--read-data"]);
    let out = m.env.path("restored");
    m.ok(&[
        "restore",
        s2["id"].as_str().unwrap(),
        "--target",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        std::fs::read(out.join(s2_dir.strip_prefix("/").unwrap()).join("small")).unwrap(),
        noise(2, 400_000)
    );
}

#[test]
fn issue17_prune_does_not_repack_young_packs_of_a_cold_class() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "&storage_class=GLACIER_IR");
    let (s1_dir, s2_dir) = two_sources(&m.env);
    m.ok(&["init"]);
    let s1 = m.backup(&s1_dir);
    m.backup(&s2_dir);
    m.ok(&["forget", &s1[..8]]);
    let data_packs = m.data_packs();
    for p in &data_packs {
        assert_eq!(
            m.head(p).storage_class.as_deref(),
            Some("GLACIER_IR"),
            "{p}"
        );
    }
    let before = pack_set(&m);

    // The data pack is young: kept, and said so (report field + CLI line).
    let r = ok_json(moto_cmd(&m, &["prune", "--json"]), "prune");
    let skip = &r["min_storage_skipped"];
    assert_eq!(skip["class"], "GLACIER_IR", "{r:#}");
    assert_eq!(skip["min_days"], 90, "{r:#}");
    assert!(skip["packs"].as_u64().unwrap() >= 1, "{r:#}");
    let next: Timestamp = skip["next_eligible"].as_str().unwrap().parse().unwrap();
    assert!(
        next > Timestamp::now() + SignedDuration::from_hours(24 * 89),
        "{r:#}"
    );
    let after = pack_set(&m);
    for p in &data_packs {
        if before.contains(p) {
            assert!(
                after.contains(p),
                "young GLACIER_IR pack {p} was repacked: {r:#}"
            );
        }
    }
    let o = moto_cmd(&m, &["prune"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("skipped:") && text.contains("GLACIER_IR") && text.contains("90 days"),
        "{text}"
    );
    // Its job's details say the same.
    let mut c = m.env.cmd(&[]);
    c.env("COFFER_STATE_DIR", m.env.path("state"));
    let jobs = list_jobs(c, Some("prune"));
    assert!(
        jobs.iter().any(
            |j| j["details"]["min_storage_skipped"]["class"] == "GLACIER_IR"
                && j["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("GLACIER_IR"))
        ),
        "{jobs:#?}"
    );

    // With every snapshot forgotten the pack is unused, and deleted at
    // once despite its age (its early-deletion charge is owed either way).
    let all = m.json(&["snapshots"]);
    for s in all.as_array().unwrap() {
        m.ok(&["forget", &s["id"].as_str().unwrap()[..8]]);
    }
    let r = ok_json(moto_cmd(&m, &["prune", "--json"]), "prune");
    assert!(r["min_storage_skipped"].is_null(), "{r:#}");
    assert!(pack_set(&m).is_empty(), "{r:#}");
}

#[test]
fn issue17_max_repack_percent_defers_the_rest_and_bad_values_are_refused() {
    let env = Env::new(Kind::Local, "prune-max");
    env.init();
    // Three mostly-unused data packs of about the same size.
    let mut first = Vec::new();
    for i in 0..3u64 {
        let a = env.path(&format!("a{i}"));
        write(&a.join("big"), &noise(10 + i, 2_000_000));
        write(&a.join("small"), &noise(20 + i, 200_000));
        let b = env.path(&format!("b{i}"));
        write(&b.join("small"), &noise(20 + i, 200_000));
        first.push(env.backup(&[&a]));
        env.backup(&[&b]);
    }
    for id in &first {
        env.ok(&["forget", &id[..8]]);
    }
    let r = env.json(&["prune", "--max-repack-percent", "40"]);
    assert_eq!(r["packs_repack_deferred"], 2, "{r:#}");
    assert!(r["repack_budget"].as_u64().unwrap() > 0, "{r:#}");
    // Two old packs (about 2.2 MB each) and the new small one are left:
    // 60% fits one of them.
    let o = env.run(&["prune", "--dry-run", "--max-repack-percent", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("deferred: 1 pack to repack"), "{text}");
    env.ok(&["check"]);
    let r = env.json(&["prune"]);
    assert_eq!(r["packs_repack_deferred"], 0, "{r:#}");
    assert!(r["packs_repacked"].as_u64().unwrap() >= 1, "{r:#}");
    env.ok(&["check", "--read-data"]);

    // Bad input: exit 2, nothing changed.
    let before = env.vault_files();
    for bad in ["101", "-1"] {
        let o = env.run(&["prune", &format!("--max-repack-percent={bad}")]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("is not a percentage"), "{}", stderr(&o));
    }
    assert_eq!(env.vault_files(), before);

    // In the configuration: errors at file:line:column.
    let config = env.path("bad.toml");
    std::fs::write(
        &config,
        "[[vault]]\nname = \"main\"\nurl = \"vault\"\nkey_file = \"vault.key\"\n\n[[prune]]\nname = \"weekly\"\nvault = \"main\"\nschedule = \"@daily\"\nmax_repack_percent = 150\nstart_window = \"0s\"\n",
    )
    .unwrap();
    let o = env
        .cmd(&["config", "check"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    let file = config.display().to_string();
    assert!(
        e.contains(&format!(
            "{file}:10:22: prune `weekly`: max_repack_percent = 150 is not a percentage"
        )),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "{file}:11:16: start_window must be longer than zero"
        )),
        "{e}"
    );
}

/// A `[[prune]]` run whose scheduled time passed while the daemon was down,
/// longer ago than its start window, is recorded EXPIRED and not run (as a
/// rule's run is). Waits for the next minute boundary (up to a minute).
#[test]
fn issue17_a_prune_that_cannot_start_in_its_start_window_is_expired() {
    let env = Env::new(Kind::Local, "prune-window");
    env.init();
    let state = env.path("state");
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        "state_dir = \"state\"\n\n[[vault]]\nname = \"main\"\nurl = \"vault\"\nkey_file = \"vault.key\"\n\n[[prune]]\nname = \"minutely\"\nvault = \"main\"\nschedule = \"* * * * *\"\nstart_window = \"1s\"\ncompletion_window = \"1h\"\n",
    )
    .unwrap();
    let jobs = || {
        let mut c = env.cmd(&[]);
        c.env("COFFER_STATE_DIR", &state);
        list_jobs(c, Some("prune"))
    };
    // The first start records the task as seen (no backfill), and stops
    // before the next minute.
    let secs_into_minute = || Timestamp::now().as_second().rem_euclid(60);
    while secs_into_minute() > 45 {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let d = serve_cmd(&env, &config).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, log) = stop_serve(d);
    assert_eq!(code, Some(0), "{log}");
    assert!(jobs().is_empty(), "{:#?}", jobs());
    // Down over the next minute boundary, past its 1s window.
    let minute = |t: Timestamp| t.as_second().div_euclid(60);
    let stopped = minute(Timestamp::now());
    while minute(Timestamp::now()) == stopped || secs_into_minute() < 3 {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let d = serve_cmd(&env, &config).spawn().unwrap();
    wait_until("an EXPIRED prune job", 20, || {
        jobs().iter().any(|j| j["state"] == "EXPIRED")
    });
    let (code, log) = stop_serve(d);
    assert_eq!(code, Some(0), "{log}");
    let j = jobs()
        .into_iter()
        .find(|j| j["state"] == "EXPIRED")
        .unwrap();
    assert_eq!(j["rule"], "minutely");
    assert_eq!(j["vault"], "main");
    assert!(
        j["reason"]
            .as_str()
            .is_some_and(|r| r.contains("start window (1s)")),
        "{j:#}"
    );
    assert!(
        j["started_at"].is_null(),
        "an expired run does not start: {j:#}"
    );
}
