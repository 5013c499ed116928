//! Unit tests of health (RPO, RTO, WAL lag, size anomalies), and the
//! fixture the report's tests share.

use super::*;
use crate::catalog::{Catalog, JobId, JobKind, JobState};
use crate::catalog::{JobOutcome, NewJob, Trigger};
use crate::config::Config;
use crate::events::EventFilter;
use crate::events::EventName;
use crate::records::CheckResult;
use crate::records::{RestoreTestDetails, SourceHealth, Validation};
use jiff::{SignedDuration, Timestamp};
use std::path::Path;
use std::sync::{Arc, Mutex};

const CONFIG: &str = r#"
state_dir = "state"
[[vault]]
name = "main"
url = "/srv/main"
key_file = "k"
[[source]]
name = "db"
kind = "command"
command = "echo hi"
rpo = "24h"
rto = "30m"
[[source]]
name = "pg"
kind = "postgres-base"
url = "postgres://localhost/"
rpo = "1h"
max_wal_lag = "15m"
[[source]]
name = "loose"
kind = "command"
command = "echo"
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["db", "pg"]
schedule = "@daily"
"#;

pub(crate) struct Fixture {
    _tmp: tempfile::TempDir,
    pub catalog: Catalog,
    pub clock: Arc<Mutex<Timestamp>>,
}

pub(crate) fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

impl Fixture {
    pub fn new(start: &str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let clock = Arc::new(Mutex::new(ts(start)));
        let c2 = clock.clone();
        let catalog = Catalog::open(tmp.path())
            .unwrap()
            .with_clock(move || *c2.lock().unwrap());
        Fixture {
            _tmp: tmp,
            catalog,
            clock,
        }
    }

    pub fn set(&self, t: Timestamp) {
        *self.clock.lock().unwrap() = t;
    }

    pub fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap()
    }

    /// A finished job of `kind` for `source` at the current time.
    pub fn job(
        &self,
        kind: JobKind,
        source: &str,
        vault: &str,
        state: JobState,
        details: Option<serde_json::Value>,
    ) -> JobId {
        let id = self
            .catalog
            .create_job(&NewJob {
                plan: Some("p".into()),
                rule: Some("r".into()),
                source: Some(source.into()),
                vault: Some(vault.into()),
                ..NewJob::new(kind, Trigger::Schedule)
            })
            .unwrap();
        self.catalog.start_job(id).unwrap();
        let mut o = match state {
            JobState::Failed => JobOutcome::failed("boom"),
            s => {
                let mut o = JobOutcome::completed(Default::default(), vec!["ab".repeat(32)]);
                o.state = s;
                o
            }
        };
        o.details = details;
        self.catalog.finish_job(id, &o).unwrap();
        id
    }

    pub fn backup(&self, source: &str, size: u64) -> JobId {
        self.job(
            JobKind::Backup,
            source,
            "main",
            JobState::Completed,
            Some(serde_json::json!({ TOTAL_BYTES: size })),
        )
    }

    pub fn restore_test(&self, source: &str, validation: Validation, secs: Option<f64>) {
        let d = RestoreTestDetails {
            test: format!("{source}-test"),
            snapshot: Some("ab".repeat(32)),
            validation,
            restore_seconds: secs,
            validation_seconds: Some(1.0),
            checks: vec![CheckResult::ran(
                "compare",
                validation == Validation::Successful,
                "",
            )],
        };
        let state = match validation {
            Validation::Successful => JobState::Completed,
            Validation::Skipped => JobState::Skipped,
            _ => JobState::Failed,
        };
        self.job(
            JobKind::RestoreTest,
            source,
            "main",
            state,
            Some(d.to_json()),
        );
    }

    pub fn events(&self, name: EventName) -> Vec<crate::events::Event> {
        self.catalog
            .events(&EventFilter {
                names: vec![name],
                ..Default::default()
            })
            .unwrap()
    }
}

pub(crate) fn config(text: &str) -> Config {
    Config::parse(text, Path::new("/etc/coffer/coffer.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn h<'a>(v: &'a [SourceHealth], s: &str) -> &'a SourceHealth {
    v.iter().find(|h| h.source == s).unwrap()
}

#[test]
fn stopped_backups_violate_the_rpo_once_per_episode() {
    let c = config(CONFIG);
    let f = Fixture::new("2026-03-01T00:00:00Z");
    f.backup("db", 1000);
    // 23h later: within the 24h RPO.
    f.set(ts("2026-03-01T23:00:00Z"));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rpo_ok, Some(true));
    assert_eq!(Status::overall(h(&v, "db")), Status::Ok);
    assert!(f.events(EventName::RpoViolated).is_empty());
    // 25h: violated, one event; evaluated again: still one.
    f.set(ts("2026-03-02T01:00:00Z"));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rpo_ok, Some(false));
    assert_eq!(Status::overall(h(&v, "db")), Status::Violated);
    f.set(ts("2026-03-02T02:00:00Z"));
    evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    let ev = f.events(EventName::RpoViolated);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].source.as_deref(), Some("db"));
    assert!(
        ev[0].message.contains("beyond its RPO of 1day"),
        "{}",
        ev[0].message
    );
    // Stored for metrics and the dashboard.
    let stored = SourceHealth::load(&f.catalog, "db").unwrap().unwrap();
    assert_eq!(stored.rpo_ok, Some(false));
    assert_eq!(stored.rpo_seconds, Some(86400.0));
    // A backup closes the episode; the next violation is a new event.
    f.backup("db", 1000);
    evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    f.set(ts("2026-03-03T03:00:00Z"));
    evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(f.events(EventName::RpoViolated).len(), 2);
    // A source without an RPO is never flagged.
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "loose").rpo_ok, None);
    assert_eq!(Status::overall(h(&v, "loose")), Status::Unknown);
}

#[test]
fn never_backed_up_is_unknown_until_the_first_job_is_older_than_the_rpo() {
    let c = config(CONFIG);
    let f = Fixture::new("2026-03-01T00:00:00Z");
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rpo_ok, None);
    f.job(JobKind::Backup, "db", "main", JobState::Failed, None);
    f.set(ts("2026-03-01T12:00:00Z"));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rpo_ok, None);
    f.set(ts("2026-03-02T00:00:01Z"));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rpo_ok, Some(false));
    assert_eq!(f.events(EventName::RpoViolated).len(), 1);
}

#[test]
fn rto_from_the_newest_restore_test() {
    let c = config(CONFIG);
    let f = Fixture::new("2026-03-01T00:00:00Z");
    f.backup("db", 1);
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, None);
    // A skipped test (no snapshot yet) is no measured restore.
    f.restore_test("db", Validation::Skipped, None);
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, None);
    f.restore_test("db", Validation::Successful, Some(600.0));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, Some(true));
    assert_eq!(h(&v, "db").last_restore_seconds, Some(600.0));
    // … and does not hide the last one.
    f.restore_test("db", Validation::Skipped, None);
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, Some(true));
    assert_eq!(h(&v, "db").last_restore_seconds, Some(600.0));
    f.restore_test("db", Validation::Successful, Some(3600.0));
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, Some(false));
    assert_eq!(Status::overall(h(&v, "db")), Status::Violated);
    f.restore_test("db", Validation::TimedOut, None);
    let v = evaluate(&c, &f.catalog, f.now(), &no_wal).unwrap();
    assert_eq!(h(&v, "db").rto_ok, Some(false));
}

#[test]
fn wal_is_the_recovery_point_and_its_lag_raises_one_event() {
    let c = config(CONFIG);
    let f = Fixture::new("2026-03-01T00:00:00Z");
    f.backup("pg", 1);
    let wal = Arc::new(Mutex::new(ts("2026-03-01T05:00:00Z")));
    let w2 = wal.clone();
    let probe = move |v: &str| -> crate::model::ServerResult<Option<Timestamp>> {
        assert_eq!(v, "main");
        Ok(Some(*w2.lock().unwrap()))
    };
    // The base backup is 5h10m old but WAL is 10 min old: RPO (1h) met.
    f.set(ts("2026-03-01T05:10:00Z"));
    let v = evaluate(&c, &f.catalog, f.now(), &probe).unwrap();
    let pg = h(&v, "pg");
    assert_eq!(pg.rpo_ok, Some(true));
    assert_eq!(pg.wal_lag_seconds, Some(600.0));
    assert_eq!(pg.wal_newest_at, Some(ts("2026-03-01T05:00:00Z")));
    assert!(f.events(EventName::WalArchiveLag).is_empty());
    // 20 min without a new segment: beyond max_wal_lag (15m), once.
    f.set(ts("2026-03-01T05:20:00Z"));
    evaluate(&c, &f.catalog, f.now(), &probe).unwrap();
    f.set(ts("2026-03-01T05:21:00Z"));
    evaluate(&c, &f.catalog, f.now(), &probe).unwrap();
    let ev = f.events(EventName::WalArchiveLag);
    assert_eq!(ev.len(), 1);
    assert!(ev[0].message.contains("threshold 15m"), "{}", ev[0].message);
    // Only postgres-base sources are probed: `db` has no WAL.
    let v = evaluate(&c, &f.catalog, f.now(), &probe).unwrap();
    assert_eq!(h(&v, "db").wal_newest_at, None);
    // Archiving resumes: the episode closes.
    *wal.lock().unwrap() = ts("2026-03-01T05:20:30Z");
    evaluate(&c, &f.catalog, f.now(), &probe).unwrap();
    assert_eq!(
        f.catalog
            .kv_get("episode/wal-lag/pg")
            .unwrap()
            .unwrap()
            .split(' ')
            .next(),
        Some("closed")
    );
}

#[test]
fn size_anomaly_at_plus_25_percent_not_at_plus_10() {
    let c = config(CONFIG);
    let f = Fixture::new("2026-03-01T00:00:00Z");
    // Too little history: nothing, even for a big change.
    for size in [1000, 1000] {
        let id = f.backup("db", size);
        assert_eq!(check_size(&c, &f.catalog, id).unwrap(), None);
    }
    let id = f.backup("db", 5000);
    assert_eq!(check_size(&c, &f.catalog, id).unwrap(), None);
    for size in [1000, 1000, 1000, 1000] {
        f.backup("db", size);
    }
    // Median of the last 7 is 1000.
    let id = f.backup("db", 1100);
    assert_eq!(check_size(&c, &f.catalog, id).unwrap(), None);
    let id = f.backup("db", 1250);
    let ev = check_size(&c, &f.catalog, id).unwrap();
    assert!(ev.is_some());
    let ev = f.events(EventName::SizeAnomaly);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].job_id, Some(id));
    assert!(ev[0].message.contains("+25%"), "{}", ev[0].message);
    let d = ev[0].details.as_ref().unwrap();
    assert_eq!(d["median_bytes"], 1000.0);
    // A shrink counts too; another source's history does not.
    let id = f.backup("db", 700);
    assert!(check_size(&c, &f.catalog, id).unwrap().is_some());
    let id = f.backup("loose", 10);
    assert_eq!(check_size(&c, &f.catalog, id).unwrap(), None);
}

#[test]
fn anomaly_thresholds_are_configurable_and_checked() {
    let c = config(&format!(
        "{CONFIG}\n[anomaly]\nsize_change_percent = 50\nsize_window = 3\nsize_min_history = 2\nmax_wal_lag = \"5m\"\n"
    ));
    assert_eq!(c.anomaly.size_change_percent, 50.0);
    assert_eq!(c.anomaly.size_window, 3);
    assert_eq!(c.anomaly.max_wal_lag, SignedDuration::from_mins(5));
    let f = Fixture::new("2026-03-01T00:00:00Z");
    f.backup("db", 100);
    f.backup("db", 100);
    let id = f.backup("db", 140);
    assert_eq!(check_size(&c, &f.catalog, id).unwrap(), None);
    let id = f.backup("db", 200);
    assert!(check_size(&c, &f.catalog, id).unwrap().is_some());
    let e = Config::parse(
        &format!("{CONFIG}\n[anomaly]\nsize_change_percent = -1\nsize_window = 0\nsize_min_history = 9\nbogus = 1\n"),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `bogus`"), "{e}");
    let e = Config::parse(
        &format!("{CONFIG}\n[anomaly]\nsize_change_percent = -1\nsize_window = 0\n"),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("size_change_percent must be a number above 0"),
        "{e}"
    );
    assert!(e.contains("size_window must be between 1 and 1000"), "{e}");
    let e = Config::parse(
        &CONFIG.replace("rto = \"30m\"", "rto = \"30m\"\nmax_wal_lag = \"1m\""),
        Path::new("t.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("max_wal_lag applies to sources of kind postgres-base only"),
        "{e}"
    );
}
