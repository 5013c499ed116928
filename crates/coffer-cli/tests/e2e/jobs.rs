//! `coffer jobs list | show` against a catalog filled through the library.

use coffer_server::catalog::{
    Catalog, EventLevel, JobCounters, JobId, JobKind, JobOutcome, NewJob, Trigger, STALE_REASON,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

fn coffer(state_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(crate::common::BIN);
    c.args(args)
        .env_remove("COFFER_STATE_DIR")
        .env_remove("COFFER_VAULT")
        .stdin(Stdio::null());
    if let Some(d) = state_dir {
        c.arg("--state-dir").arg(d);
    }
    c.output().unwrap()
}

fn ok(state_dir: &Path, args: &[&str]) -> String {
    let o = coffer(Some(state_dir), args);
    assert!(
        o.status.success(),
        "coffer {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        crate::common::stderr(&o)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(state_dir: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&ok(state_dir, &a)).unwrap()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect()
}

struct Jobs {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    completed: JobId,
    failed: JobId,
    running: JobId,
    aborted: JobId,
    created: JobId,
}

/// A catalog with one job in each of five states, created over three days.
fn fill() -> Jobs {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let now = Timestamp::now();
    let t = Arc::new(Mutex::new(now - SignedDuration::from_hours(72)));
    let clock = t.clone();
    let c = Catalog::open(&dir)
        .unwrap()
        .with_clock(move || *clock.lock().unwrap());
    let at = |ago_minutes: i64| *t.lock().unwrap() = now - SignedDuration::from_mins(ago_minutes);
    let job = |kind, plan: &str, rule: &str, source: Option<&str>| NewJob {
        plan: Some(plan.into()),
        rule: Some(rule.into()),
        source: source.map(Into::into),
        vault: Some("main".into()),
        scheduled_at: Some("2026-03-01T02:00:00Z".parse().unwrap()),
        ..NewJob::new(kind, Trigger::Schedule)
    };

    at(72 * 60);
    let completed = c
        .create_job(&job(JobKind::Backup, "daily", "nightly", Some("etc")))
        .unwrap();
    c.start_job(completed).unwrap();
    at(72 * 60 - 2);
    c.finish_job(
        completed,
        &JobOutcome::completed(
            JobCounters {
                bytes_read: 3 << 20,
                bytes_added: 2 << 20,
                bytes_stored: 1 << 20,
                files_new: 10,
                files_changed: 2,
                files_unmodified: 100,
                warnings: 0,
            },
            vec!["0123456789abcdef0123456789abcdef".into()],
        ),
    )
    .unwrap();

    at(120);
    let failed = c
        .create_job(&job(JobKind::Backup, "daily", "nightly", Some("db")))
        .unwrap();
    c.start_job(failed).unwrap();
    c.record_event(failed, EventLevel::Warning, "slow server")
        .unwrap();
    c.finish_job(
        failed,
        &JobOutcome::failed("pg_dump: connection to 127.0.0.1:5432 refused"),
    )
    .unwrap();

    at(60);
    let running = c
        .create_job(&job(JobKind::Prune, "weekly", "prune", None))
        .unwrap();
    c.start_job(running).unwrap();

    at(30);
    let mut copy = job(JobKind::Copy, "daily", "offsite", Some("etc"));
    copy.destination_vault = Some("remote".into());
    let aborted = c.create_job(&copy).unwrap();
    c.start_job(aborted).unwrap();
    c.finish_job(aborted, &JobOutcome::aborted(STALE_REASON))
        .unwrap();

    at(0);
    let created = c
        .create_job(&NewJob::new(JobKind::RestoreTest, Trigger::Cli))
        .unwrap();
    Jobs {
        _tmp: tmp,
        dir,
        completed,
        failed,
        running,
        aborted,
        created,
    }
}

#[test]
fn list_filters_and_json() {
    let j = fill();
    let d = &j.dir;
    let all = json(d, &["jobs", "list"]);
    assert_eq!(
        ids(&all),
        [
            j.created.0,
            j.aborted.0,
            j.running.0,
            j.failed.0,
            j.completed.0
        ]
    );
    let states: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["CREATED", "ABORTED", "RUNNING", "FAILED", "COMPLETED"]
    );
    let done = &all[4];
    assert_eq!(done["kind"], "backup");
    assert_eq!(done["plan"], "daily");
    assert_eq!(done["rule"], "nightly");
    assert_eq!(done["source"], "etc");
    assert_eq!(done["vault"], "main");
    assert_eq!(done["trigger"], "schedule");
    assert_eq!(done["bytes_added"], 2 << 20);
    assert_eq!(done["files_unmodified"], 100);
    assert_eq!(done["scheduled_at"], "2026-03-01T02:00:00.000Z");
    assert_eq!(done["duration_seconds"], 120.0);
    assert_eq!(done["snapshot_ids"][0], "0123456789abcdef0123456789abcdef");
    assert_eq!(all[1]["reason"], STALE_REASON);
    assert_eq!(all[1]["destination_vault"], "remote");
    assert_eq!(
        all[3]["error"],
        "pg_dump: connection to 127.0.0.1:5432 refused"
    );
    assert!(all[0]["started_at"].is_null());

    let f = |args: &[&str]| {
        let mut a = vec!["jobs", "list"];
        a.extend_from_slice(args);
        ids(&json(d, &a))
    };
    assert_eq!(f(&["--state", "failed,ABORTED"]), [j.aborted.0, j.failed.0]);
    assert_eq!(
        f(&["--state", "RUNNING", "--state", "CREATED"]),
        [j.created.0, j.running.0]
    );
    assert_eq!(f(&["--kind", "backup"]), [j.failed.0, j.completed.0]);
    assert_eq!(
        f(&["--kind", "restore-test,prune"]),
        [j.created.0, j.running.0]
    );
    assert_eq!(
        f(&["--plan", "daily"]),
        [j.aborted.0, j.failed.0, j.completed.0]
    );
    assert_eq!(
        f(&["--plan", "daily", "--rule", "nightly"]),
        [j.failed.0, j.completed.0]
    );
    assert_eq!(f(&["--source", "etc"]), [j.aborted.0, j.completed.0]);
    assert_eq!(
        f(&["--since", "24h"]),
        [j.created.0, j.aborted.0, j.running.0, j.failed.0]
    );
    assert_eq!(
        f(&["--since", "90m"]),
        [j.created.0, j.aborted.0, j.running.0]
    );
    assert_eq!(f(&["--limit", "2"]), [j.created.0, j.aborted.0]);
    assert_eq!(f(&["--limit", "0"]).len(), 5);
    assert!(f(&["--source", "nothing"]).is_empty());

    // The state directory from the environment.
    let o = Command::new(crate::common::BIN)
        .args(["jobs", "list", "--json"])
        .env("COFFER_STATE_DIR", d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::common::stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ids(&v).len(), 5);
}

#[test]
fn list_human_table() {
    let j = fill();
    let out = ok(&j.dir, &["jobs", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    for col in [
        "KIND",
        "STATE",
        "PLAN/RULE",
        "SOURCE",
        "CREATED (UTC)",
        "DURATION",
        "ADDED",
        "NOTE",
    ] {
        assert!(lines[0].contains(col), "{out}");
    }
    let row = |id: JobId| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no row for job {id}:\n{out}"))
    };
    let failed = row(j.failed);
    assert!(
        failed.contains("backup") && failed.contains("FAILED"),
        "{failed}"
    );
    assert!(
        failed.contains("daily/nightly") && failed.contains("db"),
        "{failed}"
    );
    assert!(
        failed.contains("pg_dump: connection to 127.0.0.1:5432 refused"),
        "{failed}"
    );
    let done = row(j.completed);
    assert!(
        done.contains("COMPLETED") && done.contains("2.0 MiB"),
        "{done}"
    );
    assert!(
        done.contains("2m 00s") && done.contains("snapshot 01234567"),
        "{done}"
    );
    assert!(row(j.aborted).contains("killed or crashed"), "{out}");
    assert!(row(j.created).contains("restore-test"), "{out}");
    assert!(out.contains("5 jobs in "), "{out}");
    assert!(out.contains("catalog.sqlite"), "{out}");

    let out = ok(&j.dir, &["jobs", "list", "--limit", "2"]);
    assert!(
        out.contains("2 jobs in ") && out.contains("--limit 0 shows all"),
        "{out}"
    );
}

#[test]
fn show_prints_every_event() {
    let j = fill();
    let v = json(&j.dir, &["jobs", "show", &j.failed.to_string()]);
    assert_eq!(v["id"], j.failed.0);
    assert_eq!(v["state"], "FAILED");
    let events = v["events"].as_array().unwrap();
    let states: Vec<&Value> = events.iter().map(|e| &e["state"]).collect();
    assert_eq!(
        states,
        [
            &Value::from("CREATED"),
            &Value::from("RUNNING"),
            &Value::Null,
            &Value::from("FAILED")
        ]
    );
    assert_eq!(events[2]["level"], "warning");
    assert_eq!(events[2]["message"], "slow server");
    assert_eq!(events[3]["level"], "error");
    assert_eq!(
        events[3]["message"],
        "failed: pg_dump: connection to 127.0.0.1:5432 refused"
    );
    assert!(events.iter().all(|e| e["job_id"] == j.failed.0));

    // `job-N` is accepted too.
    let out = ok(&j.dir, &["jobs", "show", &format!("job-{}", j.completed)]);
    assert!(
        out.starts_with(&format!("job {}: backup COMPLETED\n", j.completed)),
        "{out}"
    );
    for want in [
        "plan/rule:   daily/nightly",
        "source:      etc",
        "vault:       main",
        "trigger:     schedule",
        "scheduled:   2026-03-01T02:00:00.000Z",
        "(took 2m 00s)",
        "3.0 MiB read, 2.0 MiB added, 1.0 MiB stored",
        "10 new, 2 changed, 100 unmodified",
        "snapshots:   0123456789abcdef0123456789abcdef",
        "events:",
        "CREATED    backup job created for daily/nightly (trigger: schedule)",
        "RUNNING    started on ",
        "COMPLETED  completed",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let out = ok(&j.dir, &["jobs", "show", &j.aborted.to_string()]);
    assert!(out.contains("vault:       main -> remote"), "{out}");
    assert!(
        out.contains(&format!("reason:      {STALE_REASON}")),
        "{out}"
    );
    let out = ok(&j.dir, &["jobs", "show", &j.running.to_string()]);
    assert!(out.contains("running for:"), "{out}");
}

#[test]
fn errors_name_the_job_and_the_catalog() {
    let j = fill();
    let o = coffer(Some(&j.dir), &["jobs", "show", "999"]);
    assert_eq!(o.status.code(), Some(1));
    let err = crate::common::stderr(&o);
    assert!(err.contains("job 999 not found"), "{err}");
    assert!(
        err.contains(&j.dir.join("catalog.sqlite").display().to_string()),
        "{err}"
    );
    let o = coffer(Some(&j.dir), &["jobs", "show", "999", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("job 999 not found"));

    for args in [
        &["jobs", "show", "abc"][..],
        &["jobs", "list", "--state", "done"],
        &["jobs", "list", "--kind", "snapshot"],
        &["jobs", "list", "--since", "yesterday"],
    ] {
        let o = coffer(Some(&j.dir), args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            crate::common::stderr(&o)
        );
    }
    let err = crate::common::stderr(&coffer(Some(&j.dir), &["jobs", "list", "--state", "done"]));
    assert!(err.contains("COMPLETED"), "{err}");
}

#[test]
fn missing_catalog_is_an_empty_list_and_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing-here");
    let v = json(&dir, &["jobs", "list"]);
    assert_eq!(v, Value::Array(vec![]));
    let o = coffer(Some(&dir), &["jobs", "list"]);
    assert!(o.status.success());
    let err = crate::common::stderr(&o);
    assert!(
        err.contains("no job catalog at") && err.contains("nothing-here"),
        "{err}"
    );
    let o = coffer(Some(&dir), &["jobs", "show", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::common::stderr(&o).contains("no job catalog at"));
    assert!(!dir.exists(), "a reader created the state directory");
}
