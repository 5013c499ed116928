//! End-to-end tests of `coffer status` and `coffer report` (issue 5): real
//! backups through `coffer plan run` into local vaults, then the health
//! table, the compliance report in every format, `COFFER_NOW` moved past
//! the RPO, and a size anomaly raised by the runner.

use crate::common::*;
use coffer_server::catalog::Catalog;
use coffer_server::events::{EventFilter, EventName};
use serde_json::Value;
use std::process::{Command, Output};

struct Setup {
    env: Env,
    config: std::path::PathBuf,
}

impl Setup {
    fn new() -> Setup {
        Setup::with("")
    }

    /// The base configuration plus `extra` at its end.
    fn with(extra: &str) -> Setup {
        let env = Env::new(Kind::Local, "report");
        env.init();
        env.ok(&["--vault", env.path("dr").to_str().unwrap(), "init"]);
        write(&env.path("data/a.txt"), b"alpha");
        write(&env.path("data/b.bin"), &noise(3, 200_000));
        let config = env.path("coffer.toml");
        std::fs::write(
            &config,
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"
[vault.lock]
min_retention_days = 1
max_retention_days = 400

[[vault]]
name = "dr"
url = "dr"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
rpo = "1h"
rto = "30m"

[[source]]
name = "greeting"
kind = "command"
command = "echo hello"
rpo = "24h"

[[plan]]
name = "p"
[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs", "greeting"]
schedule = "0 3 * * *"
retention = { keep_daily = 7, delete_after_days = 30 }
copy_to = [{ vault = "dr", retention = { delete_after_days = 30 } }]

[anomaly]
size_window = 2
size_min_history = 2
size_change_percent = 20

[compliance]
min_backup_frequency = "24h"
min_retention_days = 7
"#
            .to_string()
                + extra,
        )
        .unwrap();
        Setup { env, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env_remove("COFFER_STATE_DIR")
            .env_remove("COFFER_NOW");
        c
    }

    fn run(&self, args: &[&str], now: Option<&str>) -> Output {
        let mut c = self.cmd(args);
        if let Some(n) = now {
            require_test_clock();
            c.env("COFFER_NOW", n);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str], now: Option<&str>) -> String {
        let o = self.run(args, now);
        assert!(
            o.status.success(),
            "coffer {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str], now: Option<&str>) -> Value {
        let out = self.ok(args, now);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    fn catalog(&self) -> Catalog {
        Catalog::open_existing(&self.env.path("state")).unwrap()
    }

    fn events(&self, name: EventName) -> Vec<coffer_server::events::Event> {
        self.catalog()
            .events(&EventFilter {
                names: vec![name],
                ..Default::default()
            })
            .unwrap()
    }
}

fn control<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id} in {report}"))
}

fn source<'a>(status: &'a Value, name: &str) -> &'a Value {
    status
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == name)
        .unwrap()
}

#[test]
fn status_and_report_after_real_backups_and_past_the_rpo() {
    let s = Setup::new();
    for _ in 0..2 {
        s.ok(&["plan", "run", "p/nightly"], None);
    }

    // Health: both sources backed up just now.
    let st = s.json(&["status", "--json"], None);
    let docs = source(&st, "docs");
    assert_eq!(docs["status"], "OK", "{st}");
    assert_eq!(docs["rpo_ok"], true);
    assert_eq!(docs["rpo_seconds"], 3600.0);
    assert_eq!(docs["rto_ok"], Value::Null, "no restore test yet");
    let human = s.ok(&["status"], None);
    let lines: Vec<&str> = human.lines().collect();
    assert!(
        lines[0].starts_with("SOURCE") && lines[0].contains("RPO"),
        "{human}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("docs") && l.contains("OK (1h)")),
        "{human}"
    );

    // The report, JSON.
    let r = s.json(&["report", "--format", "json"], None);
    for (id, want) in [
        ("rule-coverage", "PASS"),
        ("backup-frequency", "PASS"),
        ("retention-minimum", "PASS"),
        ("encryption", "PASS"),
        ("key-age", "PASS"),
        ("vault-lock", "FAIL"),
        ("cross-vault-copy", "PASS"),
        ("rpo", "PASS"),
        ("restore-test", "FAIL"),
        ("verification", "FAIL"),
    ] {
        assert_eq!(control(&r, id)["status"], want, "{id}: {}", control(&r, id));
    }
    // The encryption control says what it read from each vault (issue 17).
    let enc = control(&r, "encryption");
    let lines: Vec<&str> = enc["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{enc}");
    for (line, vault) in lines.iter().zip(["main", "dr"]) {
        assert!(
            line.starts_with(&format!(
                "vault `{vault}`: coffer-vault format version 2, objects sealed with \
                 XChaCha20-Poly1305 (random nonces), key epoch 0; 1 key slot: 1 key file \
                 (BLAKE3 derive_key)"
            )),
            "{enc}"
        );
    }
    // Backup frequency: judged per source, with each rule's newest snapshot.
    let freq = control(&r, "backup-frequency")["evidence"].to_string();
    assert!(
        freq.contains("source `docs`, rule p/nightly (vault `main`): schedule `0 3 * * *` (UTC), at most 1day between runs; newest snapshot at")
            && freq.contains("source `docs`: its only rule p/nightly"),
        "{freq}"
    );
    assert_eq!(
        control(&r, "vault-lock")["failing"][0]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("vault `dr`")
    );
    assert!(control(&r, "restore-test")["failing"]
        .to_string()
        .contains("source `docs`: never restore-tested"));
    let backups = r["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "backup")
        .unwrap();
    assert_eq!(backups["states"]["COMPLETED"], 4);

    // CSV: one row per control.
    let csv = s.ok(&["report", "--format", "csv"], None);
    assert!(csv.starts_with("control,title,status,failing_resources,evidence\r\n"));
    assert_eq!(csv.matches("\r\n").count(), 11, "{csv}");
    assert!(csv.contains("\r\nrpo,"), "{csv}");

    // HTML into a file: one self-contained page.
    let page = s.env.path("out/report.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let o = s.ok(
        &[
            "report",
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.is_empty(), "{o}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("<tr id=\"rpo\">") && html.contains("vault `dr`: no lock"));
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"));

    // Two hours later (RPO of docs is 1h): the RPO control fails on docs
    // only, and status says VIOLATED; two evaluations raise one event.
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let r = s.json(&["report", "--format", "json"], Some(&later));
    let rpo = control(&r, "rpo");
    assert_eq!(rpo["status"], "FAIL", "{rpo}");
    assert_eq!(rpo["failing"].as_array().unwrap().len(), 1, "{rpo}");
    assert!(rpo["failing"][0]
        .as_str()
        .unwrap()
        .starts_with("source `docs`: newest snapshot at"));
    assert!(rpo["failing"][0]
        .as_str()
        .unwrap()
        .contains("beyond its RPO of 1h"));
    assert!(
        s.events(EventName::RpoViolated).is_empty(),
        "a report emits nothing"
    );
    for _ in 0..2 {
        let st = s.json(&["status", "--json"], Some(&later));
        assert_eq!(source(&st, "docs")["status"], "VIOLATED");
        assert_eq!(source(&st, "greeting")["status"], "OK");
    }
    let ev = s.events(EventName::RpoViolated);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].source.as_deref(), Some("docs"));
    let human = s.ok(&["status"], Some(&later));
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("docs") && l.contains("VIOLATED (1h)")),
        "{human}"
    );
}

#[test]
fn a_backup_much_bigger_than_the_median_raises_a_size_anomaly() {
    let s = Setup::new();
    for _ in 0..2 {
        s.ok(&["plan", "run", "p/nightly", "--source", "docs"], None);
    }
    // +10%: nothing.
    write(&s.env.path("data/c.bin"), &noise(4, 20_000));
    s.ok(&["plan", "run", "p/nightly", "--source", "docs"], None);
    assert!(s.events(EventName::SizeAnomaly).is_empty());
    // Twice the data: SIZE_ANOMALY naming the source and the job.
    write(&s.env.path("data/d.bin"), &noise(5, 250_000));
    let out = s.json(
        &["--json", "plan", "run", "p/nightly", "--source", "docs"],
        None,
    );
    let ev = s.events(EventName::SizeAnomaly);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].source.as_deref(), Some("docs"));
    assert_eq!(ev[0].job_id.map(|j| j.0), out[0]["id"].as_i64());
    assert!(
        ev[0]
            .message
            .contains("from the median of the last 2 backups"),
        "{}",
        ev[0].message
    );
}

#[test]
fn bad_report_flags_are_usage_errors() {
    let s = Setup::new();
    let o = s.run(&["report", "--format", "pdf"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown report format `pdf`"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["report", "--since", "yesterday-ish"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--since"), "{}", stderr(&o));
    let o = s.run(&["status"], Some("not-a-time"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("COFFER_NOW"), "{}", stderr(&o));
    // Nothing was written where a report was asked into a missing directory.
    let o = s.run(
        &[
            "report",
            "--output",
            s.env.path("missing/r.txt").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing/r.txt"), "{}", stderr(&o));
}

#[test]
fn archived_wal_is_the_recovery_point_of_a_base_backup_source_and_its_lag_an_event() {
    // A postgres-base source is never backed up here: its recovery point
    // is the WAL that `coffer wal-push` archived into the rule's vault.
    let s = Setup::with(
        r#"
[[source]]
name = "pg"
kind = "postgres-base"
url = "postgres://127.0.0.1:1/"
rpo = "15m"
max_wal_lag = "30m"

[[plan.rule]]
name = "pg"
vault = "main"
sources = ["pg"]
schedule = "0 3 * * *"
retention = { delete_after_days = 30 }
"#,
    );
    let seg = s.env.path("pg_wal/000000010000000000000003");
    write(&seg, &noise(9, 64 * 1024));
    s.env.ok(&["wal-push", seg.to_str().unwrap()]);
    let st = s.json(&["status", "--json"], None);
    let pg = source(&st, "pg");
    assert_eq!(pg["status"], "OK", "{st}");
    assert_eq!(pg["newest_good_at"], Value::Null);
    assert!(pg["wal_newest_at"].is_string(), "{pg}");
    assert!(pg["wal_lag_seconds"].as_f64().unwrap() < 120.0, "{pg}");
    assert!(s.events(EventName::WalArchiveLag).is_empty());

    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    for _ in 0..2 {
        let st = s.json(&["status", "--json"], Some(&later));
        let pg = source(&st, "pg");
        assert_eq!(pg["status"], "VIOLATED", "{pg}");
        assert!(
            pg["wal_lag_seconds"].as_f64().unwrap() >= 3600.0 - 120.0,
            "{pg}"
        );
    }
    let ev = s.events(EventName::WalArchiveLag);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].message.contains("threshold 30m"), "{}", ev[0].message);
    assert_eq!(s.events(EventName::RpoViolated).len(), 1);
    let r = s.json(&["report", "--format", "json"], Some(&later));
    let rpo = control(&r, "rpo")["failing"].to_string();
    assert!(rpo.contains("source `pg`: newest archived WAL at"), "{rpo}");
}

#[test]
fn the_daemon_evaluates_health() {
    let s = Setup::new();
    s.ok(&["plan", "run", "p/nightly"], None);
    let mut daemon = s
        .cmd(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let stored = loop {
        let h = coffer_server::records::SourceHealth::load(&s.catalog(), "docs").unwrap();
        if h.is_some() || std::time::Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // SAFETY: a signal to a child we own.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let status = daemon.wait().unwrap();
    let h = stored.expect("coffer serve stored the health of docs within 20s");
    assert_eq!(h.rpo_ok, Some(true));
    assert!(status.success(), "{status:?}");
}
