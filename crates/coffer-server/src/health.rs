//! Protection health: each source's recovery point against its RPO, its
//! last measured restore against its RTO, and the anomaly checks that raise
//! events (`RPO_VIOLATED`, `SIZE_ANOMALY`, `WAL_ARCHIVE_LAG`).
//!
//! Everything is read from the catalog (the record of jobs), plus, for
//! PostgreSQL base backup sources, the time of the newest archived WAL file
//! in the vaults their rules write to. That time costs one listing of the
//! vault's `wal/` objects (their names decrypt without reading them) and
//! one `stat` of the newest segment ([`coffer_core::wal::newest`]).
//!
//! - [`evaluate`] computes a [`SourceHealth`] per configured source, stores
//!   it in the catalog's key-value table (`health/SOURCE`) and emits the
//!   events of violations that began since the last evaluation. The daemon
//!   calls it once a minute, `coffer status` and the report on demand; the
//!   time is a parameter, so tests drive it.
//! - [`check_size`] runs after each successful backup job: the job's size
//!   (the bytes its snapshots cover) against the moving median of the
//!   source's earlier backups.
//!
//! Episodes: a violation raises one event when it begins, not one per
//! evaluation. The open episode is kept in the key-value table
//! (`episode/rpo/SOURCE`, `episode/wal-lag/SOURCE`); it closes when the
//! source is back within its objective, and the next violation is a new
//! episode with a new event.
//!
//! Rules the numbers follow:
//! - the recovery point is the start of the newest COMPLETED or PARTIAL
//!   backup job of the source (a snapshot's time is its start), or the
//!   newest archived WAL file when that is later;
//! - a source never backed up is violated once its first backup job is
//!   older than its RPO (before that, and with no job at all, its RPO
//!   status is unknown);
//! - the last measured restore is the newest finished restore-test job of
//!   the source: a failed or timed-out test misses the RTO.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobId, JobKind, JobState};
use crate::config::{Config, SourceConfig, SourceKind};
use crate::events::{EventName, NewEvent};
use crate::records::{RestoreTestDetails, SourceHealth, Validation};

/// How often the daemon evaluates health.
pub const INTERVAL: SignedDuration = SignedDuration::from_secs(60);

/// The key of a backup job's `details` that holds the bytes its snapshots
/// cover (what the size check compares).
pub const TOTAL_BYTES: &str = "total_bytes";

/// How a source stands against its objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Every objective set is met.
    Ok,
    /// An objective is missed.
    Violated,
    /// Nothing to judge (no objective, or no data yet).
    Unknown,
}

impl Status {
    /// `OK`, `VIOLATED` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Violated => "VIOLATED",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The status one objective's verdict gives.
    pub fn of(ok: Option<bool>) -> Status {
        match ok {
            Some(true) => Status::Ok,
            Some(false) => Status::Violated,
            None => Status::Unknown,
        }
    }

    /// A source's overall status: violated if any objective is missed, OK
    /// if at least one is met and none missed.
    pub fn overall(h: &SourceHealth) -> Status {
        let v = [h.rpo_ok, h.rto_ok];
        if v.contains(&Some(false)) {
            Status::Violated
        } else if v.contains(&Some(true)) {
            Status::Ok
        } else {
            Status::Unknown
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tells the time of the newest WAL file archived in a vault (by name), or
/// `None` when the vault holds none. An error says why the vault could not
/// be read.
pub type WalProbe<'a> = &'a dyn Fn(&str) -> Result<Option<Timestamp>, String>;

/// A [`WalProbe`] that opens vaults with `open` (e.g. `|v| runner.vault(v)`,
/// which keeps them open between calls).
pub fn wal_probe<'a>(
    open: impl Fn(&str) -> Result<coffer_core::Vault, String> + 'a,
) -> impl Fn(&str) -> Result<Option<Timestamp>, String> + 'a {
    move |vault: &str| {
        let v = open(vault)?;
        coffer_core::wal::newest(&v)
            .map(|n| n.and_then(|(_, t)| t))
            .map_err(|e| format!("vault `{vault}`: {e}"))
    }
}

/// A [`WalProbe`] for configurations without PostgreSQL base backup
/// sources, or tests: no vault has archived WAL.
pub fn no_wal(_: &str) -> Result<Option<Timestamp>, String> {
    Ok(None)
}

fn secs(d: SignedDuration) -> f64 {
    d.as_secs_f64()
}

/// When a job's snapshot was taken: its start (or creation, for a job
/// recorded without one).
fn point_of(job: &Job) -> Timestamp {
    job.started_at.unwrap_or(job.created_at)
}

/// The vaults the rules selecting `source` write into (WAL is archived into
/// the vault given to `wal-push`, which is the rule's vault).
fn vaults_of(config: &Config, source: &str) -> Vec<String> {
    let set: BTreeSet<String> = config
        .rules()
        .filter(|r| r.sources.iter().any(|s| s == source))
        .map(|r| r.vault.clone())
        .collect();
    set.into_iter().collect()
}

/// The newest archived WAL time of a PostgreSQL base backup source, over
/// the vaults of its rules. Vaults that cannot be read are logged.
fn wal_newest(config: &Config, source: &SourceConfig, probe: WalProbe) -> Option<Timestamp> {
    if source.kind != SourceKind::PostgresBase {
        return None;
    }
    let mut newest: Option<Timestamp> = None;
    for v in vaults_of(config, &source.name) {
        match probe(&v) {
            Ok(t) => newest = newest.max(t),
            Err(e) => tracing::warn!(
                source = %source.name,
                "cannot read the archived WAL of vault `{v}` for the health check: {e}"
            ),
        }
    }
    newest
}

/// Computes `source`'s health at `now` from the catalog (and `probe` for
/// archived WAL). Stores and emits nothing.
pub fn source_health(
    config: &Config,
    catalog: &Catalog,
    source: &SourceConfig,
    now: Timestamp,
    probe: WalProbe,
) -> Result<SourceHealth, CatalogError> {
    let name = &source.name;
    let newest_good = catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::Backup],
            states: vec![JobState::Completed, JobState::Partial],
            source: Some(name.clone()),
            limit: Some(1),
            ..Default::default()
        })?
        .into_iter()
        .next();
    let newest_good_at = newest_good.as_ref().map(point_of);
    let wal_newest_at = wal_newest(config, source, probe);
    let wal_lag_seconds = wal_newest_at.map(|t| secs(now.duration_since(t)).max(0.0));
    let rpo_ok = match source.rpo {
        None => None,
        Some(rpo) => match newest_good_at.max(wal_newest_at) {
            Some(point) => Some(now.duration_since(point) <= rpo),
            None => {
                // Never backed up: violated once its first backup job is
                // older than the RPO.
                let first = catalog
                    .list_jobs(&JobFilter {
                        kinds: vec![JobKind::Backup],
                        source: Some(name.clone()),
                        ..Default::default()
                    })?
                    .into_iter()
                    .map(|j| j.created_at)
                    .min();
                first
                    .filter(|t| now.duration_since(*t) > rpo)
                    .map(|_| false)
            }
        },
    };
    let last_test = catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::RestoreTest],
            source: Some(name.clone()),
            states: JobState::FINAL.to_vec(),
            limit: Some(1),
            ..Default::default()
        })?
        .into_iter()
        .next();
    let details = last_test.as_ref().and_then(RestoreTestDetails::of);
    let last_restore_seconds = details.as_ref().and_then(|d| d.restore_seconds);
    let rto_ok = match (source.rto, &last_test) {
        (Some(rto), Some(job)) => {
            let passed = matches!(job.state, JobState::Completed | JobState::Partial)
                && details
                    .as_ref()
                    .is_none_or(|d| d.validation == Validation::Successful);
            Some(passed && last_restore_seconds.is_some_and(|s| s <= secs(rto)))
        }
        _ => None,
    };
    Ok(SourceHealth {
        source: name.clone(),
        evaluated_at: now,
        newest_good_at,
        rpo_seconds: source.rpo.map(secs),
        rpo_ok,
        wal_newest_at,
        wal_lag_seconds,
        last_restore_seconds,
        rto_seconds: source.rto.map(secs),
        rto_ok,
    })
}

/// Evaluates every configured source at `now`: stores each [`SourceHealth`]
/// in the catalog and emits `RPO_VIOLATED` and `WAL_ARCHIVE_LAG` once per
/// episode. Returns the health of each source, in file order.
pub fn evaluate(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    probe: WalProbe,
) -> Result<Vec<SourceHealth>, CatalogError> {
    let mut out = Vec::new();
    for source in &config.sources {
        let h = source_health(config, catalog, source, now, probe)?;
        h.store(catalog)?;
        rpo_episode(catalog, source, &h, now)?;
        wal_episode(config, catalog, source, &h, now)?;
        out.push(h);
    }
    Ok(out)
}

/// Opens or closes an episode kept under `key`: returns true when `violated`
/// begins a new one (the caller emits its event).
fn episode(
    catalog: &Catalog,
    key: &str,
    violated: Option<bool>,
    now: Timestamp,
) -> Result<bool, CatalogError> {
    let open = catalog.kv_get(key)?.is_some_and(|v| v.starts_with("open"));
    match violated {
        Some(true) if !open => {
            catalog.kv_set(key, &format!("open since {now}"))?;
            Ok(true)
        }
        Some(false) if open => {
            catalog.kv_set(key, &format!("closed at {now}"))?;
            Ok(false)
        }
        _ => Ok(false),
    }
}

fn human_secs(s: f64) -> String {
    let d = std::time::Duration::from_secs(s.max(0.0).round() as u64);
    humantime::format_duration(d).to_string()
}

fn rpo_episode(
    catalog: &Catalog,
    source: &SourceConfig,
    h: &SourceHealth,
    now: Timestamp,
) -> Result<(), CatalogError> {
    let key = format!("episode/rpo/{}", source.name);
    if !episode(catalog, &key, h.rpo_ok.map(|ok| !ok), now)? {
        return Ok(());
    }
    let rpo = h.rpo_seconds.unwrap_or_default();
    let point = h.newest_good_at.max(h.wal_newest_at);
    let message = match point {
        Some(p) => format!(
            "source `{}`: the newest recovery point ({p:.0}) is {} old, beyond its RPO of {}",
            source.name,
            human_secs(secs(now.duration_since(p))),
            human_secs(rpo)
        ),
        None => format!(
            "source `{}` has no good backup, and its RPO of {} has passed since its first backup job",
            source.name,
            human_secs(rpo)
        ),
    };
    let mut e = NewEvent::new(EventName::RpoViolated, message);
    e.source = Some(source.name.clone());
    e.details = Some(serde_json::json!({
        "rpo_seconds": rpo,
        "newest_good_at": h.newest_good_at.map(|t| t.to_string()),
        "wal_newest_at": h.wal_newest_at.map(|t| t.to_string()),
        "age_seconds": point.map(|p| secs(now.duration_since(p))),
    }));
    catalog.emit(&e)?;
    Ok(())
}

fn wal_episode(
    config: &Config,
    catalog: &Catalog,
    source: &SourceConfig,
    h: &SourceHealth,
    now: Timestamp,
) -> Result<(), CatalogError> {
    let Some(lag) = h.wal_lag_seconds else {
        return Ok(());
    };
    let max = secs(source.max_wal_lag.unwrap_or(config.anomaly.max_wal_lag));
    let key = format!("episode/wal-lag/{}", source.name);
    if !episode(catalog, &key, Some(lag > max), now)? {
        return Ok(());
    }
    let mut e = NewEvent::new(
        EventName::WalArchiveLag,
        format!(
            "source `{}`: the newest archived WAL file is {} old (threshold {}); check the server's archive_command and archive_timeout",
            source.name,
            human_secs(lag),
            human_secs(max)
        ),
    );
    e.source = Some(source.name.clone());
    e.details = Some(serde_json::json!({
        "wal_lag_seconds": lag,
        "max_wal_lag_seconds": max,
        "wal_newest_at": h.wal_newest_at.map(|t| t.to_string()),
    }));
    catalog.emit(&e)?;
    Ok(())
}

/// The bytes a backup job's snapshots cover, as recorded in its details.
pub fn job_size(job: &Job) -> Option<u64> {
    job.details.as_ref()?.get(TOTAL_BYTES)?.as_u64()
}

/// The median of `v` (not empty).
fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0
    }
}

/// Compares the size of backup job `id` (just finished COMPLETED or
/// PARTIAL) with the moving median of the source's earlier backups (the
/// last `[anomaly] size_window`, once there are `size_min_history`), and
/// emits `SIZE_ANOMALY` when it deviates more than `size_change_percent`.
/// Returns the event's id, if one was emitted.
pub fn check_size(
    config: &Config,
    catalog: &Catalog,
    id: JobId,
) -> Result<Option<i64>, CatalogError> {
    let job = catalog.get_job(id)?;
    let (Some(source), Some(size)) = (job.source.clone(), job_size(&job)) else {
        return Ok(None);
    };
    if job.kind != JobKind::Backup || !matches!(job.state, JobState::Completed | JobState::Partial)
    {
        return Ok(None);
    }
    let a = &config.anomaly;
    let mut earlier: Vec<u64> = catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::Backup],
            states: vec![JobState::Completed, JobState::Partial],
            source: Some(source.clone()),
            // This job is the newest (one source is never backed up by two
            // jobs at once); older jobs without a size shorten the history.
            limit: Some(a.size_window + 1),
            ..Default::default()
        })?
        .iter()
        .filter(|j| j.id.0 < id.0)
        .filter_map(job_size)
        .take(a.size_window)
        .collect();
    if earlier.len() < a.size_min_history {
        return Ok(None);
    }
    let n = earlier.len();
    let med = median(&mut earlier);
    let change = if med == 0.0 {
        if size == 0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        (size as f64 - med) / med * 100.0
    };
    if change.abs() <= a.size_change_percent {
        return Ok(None);
    }
    let mut e = NewEvent::new(
        EventName::SizeAnomaly,
        format!(
            "source `{source}`: backup job {id} covers {size} bytes, {}{:.0}% from the median of the last {n} backups ({med:.0} bytes; threshold {}%)",
            if change >= 0.0 { "+" } else { "" },
            change,
            a.size_change_percent
        ),
    );
    e.job_id = Some(id);
    e.plan = job.plan.clone();
    e.rule = job.rule.clone();
    e.source = Some(source);
    e.vault = job.vault.clone();
    e.details = Some(serde_json::json!({
        "size_bytes": size,
        "median_bytes": med,
        "change_percent": if change.is_finite() { Some(change) } else { None },
        "window": n,
        "threshold_percent": a.size_change_percent,
        "snapshots": job.snapshot_ids,
    }));
    catalog.emit(&e).map(Some)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::{JobOutcome, NewJob, Trigger};
    use crate::events::EventFilter;
    use crate::records::CheckResult;
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
                checks: vec![CheckResult {
                    name: "compare".into(),
                    ok: validation == Validation::Successful,
                    detail: String::new(),
                }],
            };
            let state = if validation == Validation::Successful {
                JobState::Completed
            } else {
                JobState::Failed
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
        f.restore_test("db", Validation::Successful, Some(600.0));
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
        let probe = move |v: &str| -> Result<Option<Timestamp>, String> {
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
}
