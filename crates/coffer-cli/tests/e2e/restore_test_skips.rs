//! Issue 16, end to end: what restore tests and verifications do when there
//! is nothing to test yet, and checks that could not run.
//!
//! - The daemon's first minute: a backup rule, a restore test and a
//!   verification of one source, all `@every` the same interval, come due at
//!   once; the test and the verification wait (PENDING) for the first
//!   backup, then pass; no RESTORE_TEST_FAILED is raised.
//! - `coffer restore-test run` / `coffer verify` with no snapshot yet: a
//!   SKIPPED job saying why (exit 1 for the test: nothing was shown to
//!   restore; exit 0 for the verification: the vault is sound).
//! - A files restore test of names that are not UTF-8 passes.
//! - pg_amcheck missing: its check is SKIPPED with the reason, the test
//!   still SUCCESSFUL.
//! - The RTO metric is current as soon as a restore test ends (a test run
//!   from the command line next to a running daemon).

use crate::common::*;
use crate::metrics::http_get;
use coffer_server::catalog::{Catalog, EventName, JobId};
use coffer_server::records::SourceHealth;
use serde_json::Value;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;

/// A config with one vault, the given extra top-level text (before the
/// vault), sources, rules of plan `p` and other entries.
struct Setup {
    env: Env,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, head: &str, rest: &str) -> Setup {
        let env = Env::new(Kind::Local, name);
        env.init();
        std::fs::create_dir_all(env.path("scratch")).unwrap();
        let config = env.path("coffer.toml");
        let text = format!(
            r#"
state_dir = "state"
{head}

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

{rest}
"#
        );
        std::fs::write(&config, text).unwrap();
        Setup { env, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env_remove("COFFER_STATE_DIR");
        c
    }

    fn jobs(&self, kind: &str) -> Vec<Value> {
        list_jobs(self.cmd(&[]), Some(kind))
    }

    /// `--json restore-test run NAME`: exit code and JSON.
    fn run_test(&self, name: &str) -> (Option<i32>, Value) {
        let o = self
            .cmd(&["--json", "restore-test", "run", name])
            .output()
            .unwrap();
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "restore-test run {name}: not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            )
        });
        (o.status.code(), v)
    }

    fn catalog(&self) -> Catalog {
        Catalog::open(&self.env.path("state")).unwrap()
    }

    fn events(&self, name: EventName) -> u64 {
        self.catalog()
            .event_counts()
            .unwrap()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |x| x.1)
    }
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {v:#}"))
}

fn job_states(jobs: &[Value]) -> Vec<&str> {
    jobs.iter().map(|j| j["state"].as_str().unwrap()).collect()
}

const DOCS: &str = r#"
[[source]]
name = "docs"
kind = "files"
paths = ["data"]
rto = "1h"
"#;

#[test]
fn issue16_first_minute_tests_and_verifies_the_first_backup_and_raises_no_failure() {
    let s = Setup::new(
        "first-minute",
        "",
        &format!(
            r#"{DOCS}
[[plan]]
name = "p"
[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 4s"
start_window = "1h"
completion_window = "2h"

[[restore_test]]
name = "docs-rt"
schedule = "@every 4s"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"

[[verify]]
name = "v"
vault = "main"
schedule = "@every 4s"
"#
        ),
    );
    write(&s.env.path("data/a.txt"), b"alpha");
    write(&s.env.path("data/sub/b.bin"), &noise(5, 400_000));
    let daemon = serve_cmd(&s.env, &s.config).spawn().unwrap();
    wait_until("a COMPLETED restore test and verification", 90, || {
        let done = |kind: &str| {
            s.jobs(kind)
                .iter()
                .any(|j| j["state"] == "COMPLETED" && j["trigger"] != "cli")
        };
        done("restore-test") && done("verify")
    });
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    let backups = s.jobs("backup");
    let tests = s.jobs("restore-test");
    let verifies = s.jobs("verify");
    // No restore test failed, and none was raised to the sinks as failed.
    assert!(!job_states(&tests).contains(&"FAILED"), "{tests:#?}\n{log}");
    assert_eq!(s.events(EventName::RestoreTestFailed), 0, "{log}");
    assert_eq!(s.events(EventName::VerifyFailed), 0, "{log}");
    // The first of each (oldest: the list is newest first) waited for the
    // first backup and started after it ended, saying so.
    let first_backup = backups.last().unwrap();
    assert_eq!(first_backup["state"], "COMPLETED", "{backups:#?}");
    let backup_id = first_backup["id"].as_i64().unwrap();
    let catalog = s.catalog();
    for (kind, jobs) in [("restore-test", &tests), ("verify", &verifies)] {
        let first = jobs.last().unwrap();
        assert_eq!(first["state"], "COMPLETED", "{kind}: {jobs:#?}\n{log}");
        let id = JobId(first["id"].as_i64().unwrap());
        let events = catalog.job_events(id).unwrap();
        let pending = events
            .iter()
            .find(|e| e.state.map(|s| s.as_str()) == Some("PENDING"))
            .unwrap_or_else(|| panic!("{kind} job {id} never waited: {events:#?}\n{log}"));
        assert!(
            pending.message.contains(&format!(
                "waits for backup job {backup_id}, the first backup"
            )),
            "{pending:#?}"
        );
        assert!(
            first["started_at"].as_str().unwrap() >= first_backup["finished_at"].as_str().unwrap(),
            "{kind} started before the first backup ended: {first:#}\n{first_backup:#}"
        );
    }
    assert!(log.contains("PENDING"), "{log}");
    // It tested the first backup's snapshot.
    let d = &tests.last().unwrap()["details"];
    assert_eq!(d["validation"], "SUCCESSFUL", "{d:#}");
    assert_eq!(
        Some(d["snapshot"].as_str().unwrap()),
        first_backup["snapshot_ids"][0].as_str(),
        "{d:#}\n{first_backup:#}"
    );
}

#[test]
fn issue16_nothing_to_test_or_verify_is_skipped_with_the_reason() {
    let s = Setup::new(
        "nothing-yet",
        "",
        &format!(
            r#"{DOCS}
[[plan]]
name = "p"
[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs"]
schedule = "0 2 * * *"

[[restore_test]]
name = "docs-rt"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
"#
        ),
    );
    write(&s.env.path("data/a.txt"), b"alpha");
    let (code, v) = s.run_test("docs-rt");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["state"], "SKIPPED", "{v:#}");
    assert_eq!(v["validation"], "SKIPPED", "{v:#}");
    let why = v["error"].as_str().unwrap();
    assert!(
        why.contains("holds no snapshot of source `docs`")
            && why.contains("nothing to test")
            && why.contains("first backup is due at")
            && why.contains("02:00:00 UTC (rule p/nightly)"),
        "{why}"
    );
    assert!(v["restore_seconds"].is_null(), "{v:#}");
    assert_eq!(s.events(EventName::RestoreTestFailed), 0);
    assert_eq!(s.events(EventName::RestoreTestSkipped), 1);
    // Human output says so too.
    let o = s.cmd(&["restore-test", "run", "docs-rt"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("SKIPPED: vault `main` holds no snapshot"),
        "{out}"
    );

    // A verification of the empty vault: SKIPPED, exit 0, and no status.
    let o = s
        .cmd(&["--json", "verify", "main", "--read-data"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "SKIPPED", "{v:#}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("holds no snapshots yet: nothing to verify"),
        "{v:#}"
    );
    let o = s.cmd(&["verify", "main"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("SKIPPED: vault `main` holds no snapshots yet"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(s.events(EventName::VerifyPassed), 0);
    assert_eq!(s.events(EventName::VerifySkipped), 2);
    assert!(coffer_server::verify::last_status(&s.catalog(), "main")
        .unwrap()
        .is_none());

    // After a backup both run for real.
    let o = s.cmd(&["plan", "run", "p/nightly"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = s.run_test("docs-rt");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["state"], "COMPLETED", "{v:#}");
    let o = s.cmd(&["--json", "verify", "main"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "COMPLETED", "{v:#}");
}

#[test]
fn issue16_files_restore_test_of_names_that_are_not_utf8_passes() {
    let s = Setup::new(
        "rt-bytes",
        "",
        &format!(
            r#"{DOCS}
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["docs"]
schedule = "@daily"

[[restore_test]]
name = "bytes"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
sample_live = 3
"#
        ),
    );
    let data = s.env.path("data");
    let odd = OsStr::from_bytes(b"r\xe9sum\xe9-\xff.txt");
    let dir = data.join(OsStr::from_bytes(b"\xc3\x28-dir"));
    write(&data.join(odd), b"latin-1 name");
    write(&dir.join(odd), b"nested");
    write(&dir.join("plain.txt"), b"plain");
    let o = s.cmd(&["plan", "run", "p/r"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = s.run_test("bytes");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
    let cmp = check(&v, "compare files");
    assert_eq!(cmp["status"], "PASSED", "{v:#}");
    assert!(cmp["detail"].as_str().unwrap().contains("3 files"), "{v:#}");
    assert_eq!(
        check(&v, "sample 3 live files")["status"],
        "PASSED",
        "{v:#}"
    );
}

/// A directory with links to every PostgreSQL client and server tool but
/// pg_amcheck: the source's `bin_dir` (tools are looked for there alone;
/// PATH alone cannot hide pg_amcheck, which coffer also looks for in
/// /usr/lib/postgresql/*/bin).
fn pg_bin_without_amcheck(into: &std::path::Path) -> PathBuf {
    let real = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql (Debian)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_amcheck").exists())
        .max()
        .expect("a PostgreSQL bin directory with pg_amcheck");
    let dir = into.join("pgbin");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&real).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "pg_amcheck" {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

fn psql(db: &str, sql: &str) {
    let o = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .args(["-d", db, "-c", sql])
        .output()
        .expect("psql (install the PostgreSQL client)");
    assert!(
        o.status.success(),
        "psql on 127.0.0.1:5432 (is PostgreSQL running with trust auth for postgres?): {}",
        stderr(&o)
    );
}

#[test]
fn issue16_missing_pg_amcheck_is_skipped_not_passed() {
    let db = format!("rt16_{}_{:08x}", std::process::id(), rand::random::<u32>());
    psql("postgres", &format!("create database {db}"));
    psql(
        &db,
        "create table t (id int primary key); insert into t select generate_series(1, 20)",
    );
    let env_dir = tempfile::tempdir().unwrap();
    let bin = pg_bin_without_amcheck(env_dir.path());
    let s = Setup::new(
        "rt-amcheck",
        "",
        &format!(
            r#"
[[source]]
name = "app"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:5432/{db}"
bin_dir = "{bin}"

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["app"]
schedule = "@daily"

[[restore_test]]
name = "amcheck16"
schedule = "@daily"
vault = "main"
sources = ["app"]
[[restore_test.query]]
sql = "SELECT count(*) FROM t"
expect = "= 20"
"#,
            bin = bin.display()
        ),
    );
    let o = s.cmd(&["plan", "run", "p/r"]).output().unwrap();
    psql("postgres", &format!("drop database {db} with (force)"));
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = s.run_test("amcheck16");
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
    let c = check(&v, "pg_amcheck");
    assert_eq!(c["status"], "SKIPPED", "{v:#}");
    assert_eq!(c["ok"], false, "{v:#}");
    let why = c["detail"].as_str().unwrap();
    assert!(
        why.contains("pg_amcheck not found in") && why.contains(&bin.display().to_string()),
        "{why}"
    );
    assert_eq!(
        check(&v, "SELECT count(*) FROM t")["status"],
        "PASSED",
        "{v:#}"
    );
    // The human output marks it.
    let o = s
        .cmd(&["restore-test", "run", "amcheck16"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("skip pg_amcheck: not run:"), "{out}");
}

/// The sample of `name{labels}` in a scrape, if any.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn issue16_rto_metric_is_current_as_soon_as_a_restore_test_ends() {
    let port = free_port();
    let s = Setup::new(
        "rto-now",
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\nstorage_refresh = \"1h\"\n"),
        &format!(
            r#"{DOCS}
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["docs"]
schedule = "@daily"

[[restore_test]]
name = "docs-rt"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
"#
        ),
    );
    write(&s.env.path("data/a.txt"), b"alpha");
    let o = s.cmd(&["plan", "run", "p/r"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let daemon = serve_cmd(&s.env, &s.config).spawn().unwrap();
    let series = "coffer_rto_compliant{source=\"docs\"}";
    let mut before = String::new();
    wait_until("/metrics to answer", 30, || {
        match http_get(port, "/metrics") {
            Ok((200, body)) => {
                before = body;
                true
            }
            _ => false,
        }
    });
    // No restore test yet: no RTO verdict.
    assert_eq!(sample(&before, series), None, "{before}");
    // A restore test the daemon does not run (the command line) ends…
    let (code, v) = s.run_test("docs-rt");
    assert_eq!(code, Some(0), "{v:#}");
    // … and the very next scrape has the verdict, evaluated at the test's
    // end (the daemon's own health check runs once a minute).
    let (status, body) = http_get(port, "/metrics").unwrap();
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(status, 200);
    assert_eq!(sample(&body, series), Some(1.0), "{body}");
    assert!(
        sample(
            &body,
            "coffer_restore_test_last_restore_seconds{source=\"docs\"}"
        )
        .is_some(),
        "{body}"
    );
    let catalog = s.catalog();
    let job = catalog.get_job(JobId(v["job"].as_i64().unwrap())).unwrap();
    let h = SourceHealth::load(&catalog, "docs").unwrap().unwrap();
    assert_eq!(h.rto_ok, Some(true), "{h:?}");
    assert_eq!(Some(h.evaluated_at), job.finished_at, "{h:?}\n{job:?}");
}
