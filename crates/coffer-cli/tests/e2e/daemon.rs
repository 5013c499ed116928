//! End-to-end tests of `coffer serve` and `coffer plan run` (issue 4): the
//! real daemon with `@every` rules, SIGTERM, a second daemon refused, a
//! daemon killed during a job, a failing source next to a working one, and
//! a completion window that stops a job.

use crate::common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory with a vault, a config file and a data directory.
struct Setup {
    env: Env,
    config: std::path::PathBuf,
}

impl Setup {
    fn new(name: &str, rules: &str, sources: &str) -> Setup {
        let env = Env::new(Kind::Local, name);
        env.init();
        write(&env.path("data/a.txt"), b"alpha");
        write(&env.path("data/sub/b.bin"), &noise(7, 300_000));
        let config = env.path("coffer.toml");
        let text = format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
tags = ["t1"]
{sources}

[[plan]]
name = "p"
{rules}
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

    fn serve(&self) -> Child {
        self.cmd(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs and parses standard output as JSON (exit 0).
    fn json_of(&self, args: &[&str]) -> Value {
        let o = self.cmd(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn jobs(&self) -> Vec<Value> {
        list_jobs(self.cmd(&[]), None)
    }

    /// Waits until `pred` holds for the job list (at most `secs`).
    fn wait_jobs(&self, secs: u64, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let t = Instant::now();
        loop {
            let jobs = self.jobs();
            if pred(&jobs) {
                return jobs;
            }
            if t.elapsed() > Duration::from_secs(secs) {
                panic!("timed out after {secs}s waiting for {what}; jobs: {jobs:#?}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn count(jobs: &[Value], source: &str, state: &str) -> usize {
    jobs.iter()
        .filter(|j| j["source"] == source && j["state"] == state && j["kind"] == "backup")
        .count()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill on a child we own.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Waits for the daemon to exit; returns its exit code and its log.
fn wait_exit(mut child: Child, secs: u64) -> (Option<i32>, String) {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut log = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut log).ok();
            return (st.code(), log);
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("coffer serve did not stop within {secs}s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn issue4_serve_runs_rules_on_schedule_applies_retention_and_stops_on_sigterm() {
    let s = Setup::new(
        "serve",
        r#"
[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 2s"
start_window = "1h"
completion_window = "2h"
retention = { keep_last = 2 }

[[plan.rule]]
name = "broken"
vault = "main"
sources = ["nodb"]
schedule = "@every 2s"
start_window = "1h"
completion_window = "2h"
"#,
        r#"
[[source]]
name = "nodb"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:1/nothere"
"#,
    );
    let check = s.cmd(&["config", "check"]).output().unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    let daemon = s.serve();
    let jobs = s.wait_jobs(
        90,
        "3 completed backups of docs and a failed one of nodb",
        |j| count(j, "docs", "COMPLETED") >= 3 && count(j, "nodb", "FAILED") >= 1,
    );
    // The unreachable source fails with its reason, and the other rule
    // keeps running.
    let failed = jobs
        .iter()
        .find(|j| j["source"] == "nodb" && j["state"] == "FAILED")
        .unwrap();
    let err = failed["error"].as_str().unwrap_or_default();
    assert!(err.contains("127.0.0.1:1"), "{failed:#}");
    // A second daemon on the same state directory refuses to start.
    let second = s.cmd(&["serve"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&daemon.id().to_string()),
        "{}",
        stderr(&second)
    );
    signal(&daemon, libc::SIGTERM);
    let (code, log) = wait_exit(daemon, 60);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped"), "{log}");
    // Nothing is left unfinished.
    let jobs = s.jobs();
    for j in &jobs {
        let st = j["state"].as_str().unwrap();
        assert!(
            !["CREATED", "PENDING", "RUNNING"].contains(&st),
            "unfinished after SIGTERM: {j:#}"
        );
    }
    // Retention keep_last = 2 ran after each backup: at most 2 snapshots of
    // the rule remain (a backup stopped by SIGTERM writes none).
    let snaps = s
        .env
        .json(&["snapshots", "--tag", "source:docs,rule:p/often"]);
    let n = snaps.as_array().unwrap().len();
    assert!((1..=2).contains(&n), "{snaps:#}");
    let snap = &snaps[0];
    let tags: Vec<&str> = snap["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"t1"), "{tags:?}");
    // The newest snapshot restores exactly.
    let target = s.env.path("restored");
    s.env.ok(&[
        "restore",
        "latest",
        "--tag",
        "source:docs",
        "--target",
        target.to_str().unwrap(),
    ]);
    let data = s.env.path("data");
    assert_same_tree(&data, &target.join(data.strip_prefix("/").unwrap()));
    s.env.ok(&["check", "--read-data"]);
}

#[test]
fn issue4_daemon_killed_during_a_job_is_recorded_aborted_and_the_next_run_works() {
    let s = Setup::new(
        "killed",
        r#"
[[plan.rule]]
name = "slow"
vault = "main"
sources = ["slowcmd"]
schedule = "@every 3s"
start_window = "1h"
completion_window = "2h"
"#,
        r#"
[[source]]
name = "slowcmd"
kind = "command"
command = "sleep 4; echo done"
stream_name = "slow.txt"
"#,
    );
    let daemon = s.serve();
    s.wait_jobs(60, "a running job", |j| count(j, "slowcmd", "RUNNING") >= 1);
    signal(&daemon, libc::SIGKILL);
    let (code, _) = wait_exit(daemon, 30);
    assert_eq!(code, None, "killed by a signal");
    let running: Vec<i64> = s
        .jobs()
        .iter()
        .filter(|j| j["state"] == "RUNNING")
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(running.len(), 1);
    // The vault is sound after the kill.
    s.env.ok(&["check"]);
    let daemon = s.serve();
    let jobs = s.wait_jobs(
        60,
        "the killed job ABORTED and a later run COMPLETED",
        |j| {
            count(j, "slowcmd", "COMPLETED") >= 1
                && j.iter()
                    .any(|x| x["id"].as_i64() == Some(running[0]) && x["state"] == "ABORTED")
        },
    );
    let aborted = jobs
        .iter()
        .find(|x| x["id"].as_i64() == Some(running[0]))
        .unwrap();
    assert!(
        aborted["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("killed or crashed"),
        "{aborted:#}"
    );
    signal(&daemon, libc::SIGTERM);
    let (code, log) = wait_exit(daemon, 60);
    assert_eq!(code, Some(0), "{log}");
    let shown = s
        .cmd(&["jobs", "show", &running[0].to_string()])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    s.env.ok(&["check"]);
}

#[test]
fn issue4_completion_window_stops_a_job_cleanly() {
    let s = Setup::new(
        "window",
        r#"
[[plan.rule]]
name = "tight"
vault = "main"
sources = ["forever"]
schedule = "@every 4s"
start_window = "1s"
completion_window = "3s"
"#,
        r#"
[[source]]
name = "forever"
kind = "command"
command = "head -c 20000000 /dev/urandom; sleep 120"
stream_name = "noise.bin"
"#,
    );
    let daemon = s.serve();
    let jobs = s.wait_jobs(60, "a job stopped at its completion deadline", |j| {
        count(j, "forever", "ABORTED") >= 1
    });
    signal(&daemon, libc::SIGTERM);
    let (code, log) = wait_exit(daemon, 60);
    assert_eq!(code, Some(0), "{log}");
    let stopped = jobs
        .iter()
        .find(|j| j["source"] == "forever" && j["state"] == "ABORTED")
        .unwrap();
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("completion deadline"),
        "{stopped:#}"
    );
    // Nothing of the stopped backups is referenced; the vault is sound.
    let snaps = s.env.json(&["snapshots"]);
    assert!(snaps.as_array().unwrap().is_empty(), "{snaps:#}");
    s.env.ok(&["check"]);
}

#[test]
fn issue4_plan_run_without_a_daemon_records_a_cli_job() {
    let s = Setup::new(
        "planrun",
        r#"
[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs"]
schedule = "cron(0 5 ? * * *)"
retention = { keep_daily = 7 }
"#,
        "",
    );
    let out = s.cmd(&["plan", "run", "p/nightly"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs = s.jobs();
    let backups: Vec<_> = jobs.iter().filter(|j| j["kind"] == "backup").collect();
    assert_eq!(backups.len(), 1, "{jobs:#?}");
    assert_eq!(backups[0]["state"], "COMPLETED");
    assert_eq!(backups[0]["trigger"], "cli");
    // Its retention is a forget job of its own (issue 15).
    let forget = jobs.iter().find(|j| j["kind"] == "forget").unwrap();
    assert_eq!(forget["state"], "COMPLETED", "{forget:#}");
    assert_eq!(forget["rule"], "nightly");
    // An unknown rule is a usage error.
    let bad = s.cmd(&["plan", "run", "p/nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("p/nope"), "{}", stderr(&bad));
}

/// Issue 16: `plan run` prints what a backup prints (the snapshot, what
/// was read, added and stored, how long) with the job, its state, rule and
/// source; with --json the jobs as `coffer jobs show --json` prints them.
#[test]
fn issue16_plan_run_prints_the_backup_it_made() {
    let s = Setup::new(
        "planrun-out",
        r#"
[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs"]
schedule = "cron(0 5 ? * * *)"
"#,
        "",
    );
    let o = s.cmd(&["plan", "run", "p/nightly"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let snap = s.env.json(&["snapshots"])[0]["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    let l = lines[0];
    assert!(
        l.starts_with("job ") && l.contains(" COMPLETED (p/nightly, source docs): read "),
        "{l}"
    );
    assert!(l.contains(" in ") && l.contains(" stored)"), "{l}");
    assert!(
        l.ends_with(&format!("; snapshot {snap} saved in vault main")),
        "{l}"
    );
    let v = s.json_of(&["--json", "plan", "run", "p/nightly"]);
    let jobs = v.as_array().expect("a list of jobs");
    assert_eq!(jobs.len(), 1, "{v:#}");
    let j = &jobs[0];
    assert_eq!(j["state"], "COMPLETED", "{j:#}");
    assert_eq!(j["kind"], "backup");
    assert_eq!(
        (&j["plan"], &j["rule"], &j["source"]),
        (&"p".into(), &"nightly".into(), &"docs".into())
    );
    assert_eq!(j["snapshot_ids"].as_array().unwrap().len(), 1, "{j:#}");
    assert!(
        j["bytes_read"].as_u64().is_some() && j["duration_seconds"].is_number(),
        "{j:#}"
    );
    let id = j["id"].as_i64().unwrap();
    let shown = s
        .cmd(&["--json", "jobs", "show", &id.to_string()])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["snapshot_ids"], j["snapshot_ids"]);
}

#[test]
fn issue4_rule_copies_to_a_second_vault_and_moves_old_snapshots_to_the_cold_tier() {
    let s = Setup::new(
        "tiers",
        r#"
[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs"]
schedule = "cron(0 5 ? * * *)"
retention = { keep_last = 5 }
copy_to = [{ vault = "dr", retention = { keep_last = 1 } }]
cold_after_days = 1
cold_vault = "cold"

[[vault]]
name = "dr"
url = "dr"
key_file = "dr.key"

[[vault]]
name = "cold"
url = "cold"
key_file = "cold.key"
tier = "cold"
"#,
        "",
    );
    for v in ["dr", "cold"] {
        let (vault, key) = (s.env.path(v), s.env.path(&format!("{v}.key")));
        s.env.ok(&[
            "init",
            "--vault",
            vault.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ]);
    }
    let o = s.cmd(&["plan", "run", "p/nightly"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    write(&s.env.path("data/c.txt"), b"gamma");
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    require_test_clock();
    let o = s
        .cmd(&["plan", "run", "p/nightly"])
        .env("COFFER_NOW", later.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let jobs = s.jobs();
    let state = |kind: &str, dest: Option<&str>| {
        jobs.iter()
            .filter(|j| j["kind"] == kind && dest.is_none_or(|d| j["destination_vault"] == d))
            .map(|j| j["state"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        state("backup", None),
        ["COMPLETED", "COMPLETED"],
        "{jobs:#?}"
    );
    assert_eq!(
        state("copy", Some("dr")),
        ["COMPLETED", "COMPLETED"],
        "{jobs:#?}"
    );
    assert_eq!(state("copy", Some("cold")), ["COMPLETED"], "{jobs:#?}");
    let count = |vault: &str| {
        let (v, k) = (s.env.path(vault), s.env.path(&format!("{vault}.key")));
        s.env
            .json(&[
                "snapshots",
                "--vault",
                v.to_str().unwrap(),
                "--key-file",
                k.to_str().unwrap(),
            ])
            .as_array()
            .unwrap()
            .len()
    };
    // The first snapshot is older than a day at the later "now": moved.
    // The second was made at that "now" (a driven clock dates the
    // snapshots it makes, issue 17), so it stays.
    assert_eq!(count("vault"), 1);
    assert_eq!(count("cold"), 1);
    // The copy's own retention keeps one in the second vault.
    assert_eq!(count("dr"), 1);
    // The moved one restores from the cold vault alone.
    let (cv, ck) = (s.env.path("cold"), s.env.path("cold.key"));
    let target = s.env.path("from-cold");
    s.env.ok(&[
        "restore",
        "latest",
        "--vault",
        cv.to_str().unwrap(),
        "--key-file",
        ck.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
    ]);
    // It is the first snapshot: without c.txt.
    std::fs::remove_file(s.env.path("data/c.txt")).unwrap();
    let data = s.env.path("data");
    assert_same_tree(&data, &target.join(data.strip_prefix("/").unwrap()));
}
