//! Base backups by files from the daemon's plans (issue 18): one
//! `postgres-base` source with `method = "files"` and two rules, a daily
//! full and a 4-hourly incremental (`pg_backup_type`), each run once with
//! `coffer plan run` against a throwaway archiving cluster; the second
//! snapshot is an incremental whose parent is the first, and the jobs'
//! details and events say which type was done (and the fallback of an
//! incremental with no parent).
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries; nothing is skipped.

use std::path::Path;

use serde_json::Value;

use crate::common::pg::*;
use crate::common::BIN;

/// `coffer.toml`: the vault, the source of the cluster on `port` read from
/// `data`, and the plan `pg` with its rules `full` and `incr`.
fn config(vault: &Path, key: &Path, data: &Path, port: u16, state: &Path) -> String {
    format!(
        r#"state_dir = "{state}"

[[vault]]
name = "main"
url = "{vault}"
key_file = "{key}"

[[source]]
name = "db"
kind = "postgres-base"
url = "postgres://postgres@127.0.0.1:{port}/"
method = "files"
pgdata = "{data}"
archive_timeout = "2m"

[[plan]]
name = "pg"

[[plan.rule]]
name = "full"
vault = "main"
sources = ["db"]
schedule = "0 1 * * *"
pg_backup_type = "full"

[[plan.rule]]
name = "incr"
vault = "main"
sources = ["db"]
schedule = "0 */4 * * *"
pg_backup_type = "incr"
"#,
        state = state.display(),
        vault = vault.display(),
        key = key.display(),
        data = data.display(),
    )
}

/// `coffer --json ARGS` as the postgres user with `COFFER_CONFIG=cfg`:
/// standard output as JSON (exit 0).
fn coffer_json(cfg: &Path, args: &[&str]) -> Value {
    let o = as_pg(BIN)
        .arg("--json")
        .args(args)
        .env("COFFER_CONFIG", cfg)
        .env_remove("COFFER_STATE_DIR")
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "coffer {args:?} failed: {}",
        out_text(&o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("coffer {args:?}: not JSON ({e}): {}", out_text(&o)))
}

/// `coffer plan run RULE`: its one backup job, COMPLETED, with its events
/// (from `jobs show`).
fn run_rule(cfg: &Path, rule: &str) -> (Value, Vec<String>) {
    let v = coffer_json(cfg, &["plan", "run", rule]);
    let jobs = v.as_array().expect("a list of jobs");
    assert_eq!(jobs.len(), 1, "{v:#}");
    let job = jobs[0].clone();
    assert_eq!(job["state"], "COMPLETED", "{job:#}");
    let id = job["id"].as_i64().unwrap().to_string();
    let shown = coffer_json(cfg, &["jobs", "show", &id]);
    let events = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["level"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    (job, events)
}

fn snapshot(vault: &Path, key: &Path, id: &str) -> Value {
    let o = coffer_pg(vault, key, &["snapshots", "--json"]);
    let v: Value = serde_json::from_str(&ok(o, "snapshots")).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .cloned()
        .unwrap_or_else(|| panic!("snapshot {id} not in {v:#}"))
}

/// A daily full and a 4-hourly incremental rule on one source: the
/// incremental's parent is the full, it reads only what changed, and the
/// jobs say the types; an incremental rule run first falls back to full
/// and says so in a warning event.
#[test]
fn issue18_pg_plan_daily_full_then_incremental_by_files() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data = s.path("data");
    let port = free_port();
    archiving_cluster(&mut s, &vault, &key, &data, port, "");
    psql(port, "create table t (batch int, i int, pad text)");
    psql(
        port,
        "insert into t select 1, g, repeat(md5(g::text), 8) from generate_series(1, 20000) g",
    );
    let cfg = s.path("coffer.toml");
    std::fs::write(&cfg, config(&vault, &key, &data, port, &s.path("state"))).unwrap();
    let checked = coffer_json(&cfg, &["config", "check"]);
    assert_eq!(checked["valid"], true, "{checked:#}");
    assert_eq!(checked["sources"][0]["method"], "files", "{checked:#}");
    assert_eq!(checked["sources"][0]["backup_type"], "full", "{checked:#}");
    let rules = &checked["plans"][0]["rules"];
    assert_eq!(
        (&rules[0]["pg_backup_type"], &rules[1]["pg_backup_type"]),
        (&"full".into(), &"incr".into()),
        "{checked:#}"
    );
    // --connect tries what the backup needs: the backup functions, WAL
    // archiving, the data directory readable here.
    let connected = coffer_json(&cfg, &["config", "check", "--connect"]);
    let db = connected["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "db")
        .unwrap_or_else(|| panic!("no check of source db: {connected:#}"));
    assert_eq!(db["ok"], true, "{db:#}");
    let detail = db["detail"].as_str().unwrap();
    assert!(
        detail.contains("pg_backup_start(text, boolean) allowed")
            && detail.contains("archive_mode = on")
            && detail.contains(&format!("data directory {} readable", data.display())),
        "{detail}"
    );

    // The incremental rule with no backup by files yet: a full, said.
    let (first, events) = run_rule(&cfg, "pg/incr");
    let pg = &first["details"]["pg_backup"];
    assert_eq!(pg["backup_type"], "full", "{first:#}");
    assert_eq!(pg["backup_type_requested"], "incr", "{first:#}");
    assert!(pg["fallback"].is_string(), "{first:#}");
    assert!(
        events
            .iter()
            .any(|e| e.contains("by files, incr requested")),
        "the job says what it runs: {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("warning incr backup requested, full taken: ")),
        "{events:#?}"
    );

    psql(
        port,
        "insert into t select 2, g, 'two' from generate_series(1, 20000) g",
    );
    psql(port, "checkpoint");
    let (full, events) = run_rule(&cfg, "pg/full");
    let pg = &full["details"]["pg_backup"];
    assert_eq!(pg["backup_type"], "full", "{full:#}");
    assert!(pg.get("fallback").is_none(), "{full:#}");
    assert!(
        events
            .iter()
            .any(|e| e == "info base backup by files: full backup"),
        "{events:#?}"
    );
    let full_id = full["snapshot_ids"][0].as_str().unwrap().to_string();
    let full_snap = snapshot(&vault, &key, &full_id);
    assert_eq!(full_snap["source"]["details"]["backup_type"], "full");
    assert_eq!(full_snap["source"]["details"]["layout"], "files");

    psql(
        port,
        "insert into t select 3, g, 'three' from generate_series(1, 100) g",
    );
    psql(port, "checkpoint");
    let (incr, events) = run_rule(&cfg, "pg/incr");
    let pg = &incr["details"]["pg_backup"];
    assert_eq!(pg["backup_type"], "incr", "{incr:#}");
    assert_eq!(pg["parent"].as_str(), Some(full_id.as_str()), "{incr:#}");
    assert!(pg.get("fallback").is_none(), "{incr:#}");
    assert!(
        events.iter().any(|e| e.ends_with(&format!(
            "base backup by files: incr backup against parent {}",
            &full_id[..8]
        ))),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| e.starts_with("warning")),
        "{events:#?}"
    );
    let incr_id = incr["snapshot_ids"][0].as_str().unwrap();
    let snap = snapshot(&vault, &key, incr_id);
    assert_eq!(snap["parent"].as_str(), Some(full_id.as_str()), "{snap:#}");
    assert_eq!(snap["source"]["details"]["backup_type"], "incr", "{snap:#}");
    assert!(
        snap["tags"].as_array().is_some_and(|t| t
            .iter()
            .any(|x| x.as_str().is_some_and(|x| x.contains("incr")))),
        "the snapshot carries its rule's tag: {snap:#}"
    );
    let summary = &snap["summary"];
    let unmodified = summary["files_unmodified"].as_u64().unwrap();
    let changed = summary["files_changed"].as_u64().unwrap();
    assert!(
        unmodified > 10 * changed.max(1),
        "an incremental reads only what changed: {summary}"
    );
}
