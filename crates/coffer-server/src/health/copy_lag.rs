//! Copy lag: per rule, source and `copy_to` vault, how far the newest copy
//! in the copy's vault is behind the newest snapshot in the rule's vault
//! ([`copy_lags`]), and `COPY_LAG` once per episode when that exceeds the
//! copy's `max_lag` ([`copy_lag_episodes`]).
//!
//! Judged from the catalog, as RPO is: a rule's copy job copies the
//! snapshots its backup job just wrote, so the newest snapshot in the copy
//! vault is the newest good backup of the rule that had been taken when
//! the newest good copy job started. Before any copy succeeded the lag
//! counts from the oldest good backup the catalog holds (everything since
//! then is missing there).

use super::duration::{human_secs, secs};
use super::episode::episode;
use crate::catalog::{
    Catalog, CatalogError, EventName, Job, JobFilter, JobKind, JobState, NewEvent,
};
use crate::config::Config;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The catalog key the health check keeps the latest [`copy_lags`] under,
/// for `/metrics` (as each source's health is kept).
pub const COPY_LAGS_KEY: &str = "health/copy-lags";

/// How many jobs of a kind are looked at per rule and source.
const WINDOW: usize = 500;

/// One copy target's lag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyLag {
    /// The plan.
    pub plan: String,
    /// The rule.
    pub rule: String,
    /// The source.
    pub source: String,
    /// The rule's vault.
    pub vault: String,
    /// The copy's vault.
    pub destination: String,
    /// The newest good snapshot in the rule's vault (when it was taken).
    pub newest_at: Timestamp,
    /// The newest snapshot copied into the destination, if any.
    pub copied_at: Option<Timestamp>,
    /// How far the destination is behind (seconds).
    pub lag_seconds: f64,
    /// The copy's `max_lag` (seconds).
    pub max_lag_seconds: f64,
}

fn point(j: &Job) -> Timestamp {
    j.started_at.unwrap_or(j.created_at)
}

/// Every copy target's lag at `now`, in file order; targets of rules
/// whose source has no good backup yet are left out (nothing to copy).
pub fn copy_lags(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Vec<CopyLag>, CatalogError> {
    let mut out = Vec::new();
    for rule in config.rules() {
        if rule.copy_to.is_empty() {
            continue;
        }
        for source in &rule.sources {
            let jobs = |kind| {
                catalog.list_jobs(&JobFilter {
                    kinds: vec![kind],
                    states: vec![JobState::Completed, JobState::Partial],
                    plan: Some(rule.plan.clone()),
                    rule: Some(rule.name.clone()),
                    source: Some(source.clone()),
                    limit: Some(WINDOW),
                    ..JobFilter::default()
                })
            };
            // Newest first.
            let backups = jobs(JobKind::Backup)?;
            let Some(newest) = backups.first().map(point) else {
                continue;
            };
            let copies = jobs(JobKind::Copy)?;
            for c in &rule.copy_to {
                let copied_at = copies
                    .iter()
                    .find(|j| j.destination_vault.as_deref() == Some(c.vault.as_str()))
                    .and_then(|copy| {
                        let started = point(copy);
                        backups.iter().map(point).filter(|p| *p <= started).max()
                    });
                let since = match copied_at {
                    Some(t) => (newest.duration_since(t), t),
                    None => {
                        let oldest = backups.iter().map(point).min().unwrap_or(newest);
                        (now.duration_since(oldest), oldest)
                    }
                };
                out.push(CopyLag {
                    plan: rule.plan.clone(),
                    rule: rule.name.clone(),
                    source: source.clone(),
                    vault: rule.vault.clone(),
                    destination: c.vault.clone(),
                    newest_at: newest,
                    copied_at,
                    lag_seconds: secs(since.0).max(0.0),
                    max_lag_seconds: secs(c.max_lag),
                });
            }
        }
    }
    Ok(out)
}

/// The copy lags the health check last stored ([`copy_lag_episodes`]);
/// none before its first run.
pub fn stored_copy_lags(catalog: &Catalog) -> Result<Vec<CopyLag>, CatalogError> {
    Ok(catalog
        .kv_get(COPY_LAGS_KEY)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Stores `lags` for `/metrics` and raises COPY_LAG once per episode for
/// each target past its `max_lag` (the episode ends when the copy catches
/// up).
pub fn copy_lag_episodes(
    catalog: &Catalog,
    lags: &[CopyLag],
    now: Timestamp,
) -> Result<(), CatalogError> {
    catalog.kv_set(
        COPY_LAGS_KEY,
        &serde_json::to_string(lags).expect("serializable"),
    )?;
    for l in lags {
        let key = format!(
            "episode/copy-lag/{}/{}/{}/{}",
            l.plan, l.rule, l.source, l.destination
        );
        let late = l.lag_seconds > l.max_lag_seconds;
        if !episode(catalog, &key, Some(late), now)? {
            continue;
        }
        let mut e = NewEvent::new(
            EventName::CopyLag,
            format!(
                "source `{}` (rule {}/{}): the newest copy in vault `{}` is {} behind the newest snapshot in vault `{}`, more than its max_lag of {}{}",
                l.source,
                l.plan,
                l.rule,
                l.destination,
                human_secs(l.lag_seconds),
                l.vault,
                human_secs(l.max_lag_seconds),
                if l.copied_at.is_none() { " (nothing has been copied there yet)" } else { "" }
            ),
        );
        e.source = Some(l.source.clone());
        e.plan = Some(l.plan.clone());
        e.rule = Some(l.rule.clone());
        e.vault = Some(l.destination.clone());
        e.details = Some(serde_json::json!({
            "lag_seconds": l.lag_seconds,
            "max_lag_seconds": l.max_lag_seconds,
            "newest_at": l.newest_at.to_string(),
            "copied_at": l.copied_at.map(|t| t.to_string()),
            "vault": l.vault,
        }));
        catalog.emit(&e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{JobOutcome, NewJob, Trigger};
    use crate::health::tests::{config, ts, Fixture};

    const CONFIG: &str = r#"
state_dir = "state"
[[vault]]
name = "main"
url = "/srv/main"
key_file = "k"
[[vault]]
name = "dr"
url = "/srv/dr"
key_file = "k"
[[source]]
name = "db"
kind = "command"
command = "echo hi"
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["db"]
schedule = "@hourly"
copy_to = [{ vault = "dr", max_lag = "90m" }]
"#;

    fn job(f: &Fixture, kind: JobKind, dst: Option<&str>, state: JobState) {
        let id = f
            .catalog
            .create_job(&NewJob {
                plan: Some("p".into()),
                rule: Some("r".into()),
                source: Some("db".into()),
                vault: Some("main".into()),
                destination_vault: dst.map(str::to_string),
                ..NewJob::new(kind, Trigger::Schedule)
            })
            .unwrap();
        f.catalog.start_job(id).unwrap();
        let o = match state {
            JobState::Failed => JobOutcome::failed("boom"),
            _ => JobOutcome::completed(Default::default(), vec![]),
        };
        f.catalog.finish_job(id, &o).unwrap();
    }

    fn events(f: &Fixture) -> usize {
        f.events(EventName::CopyLag).len()
    }

    #[test]
    fn issue19_copy_lag_counts_from_the_newest_copied_backup_and_raises_copy_lag_once() {
        let c = config(CONFIG);
        let f = Fixture::new("2026-03-01T00:00:00Z");
        // Nothing backed up: nothing to judge.
        assert!(copy_lags(&c, &f.catalog, f.now()).unwrap().is_empty());
        // A backup, then its copy: no lag.
        job(&f, JobKind::Backup, None, JobState::Completed);
        f.set(ts("2026-03-01T00:05:00Z"));
        job(&f, JobKind::Copy, Some("dr"), JobState::Completed);
        let l = copy_lags(&c, &f.catalog, f.now()).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].lag_seconds, l[0].max_lag_seconds), (0.0, 5400.0));
        assert_eq!(l[0].destination, "dr");
        // Two more backups whose copies fail: 2h behind, past 90m.
        for t in ["2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z"] {
            f.set(ts(t));
            job(&f, JobKind::Backup, None, JobState::Completed);
            job(&f, JobKind::Copy, Some("dr"), JobState::Failed);
        }
        let l = copy_lags(&c, &f.catalog, f.now()).unwrap();
        assert_eq!(l[0].lag_seconds, 7200.0);
        assert_eq!(l[0].copied_at, Some(ts("2026-03-01T00:00:00Z")));
        copy_lag_episodes(&f.catalog, &l, f.now()).unwrap();
        copy_lag_episodes(&f.catalog, &l, f.now()).unwrap();
        assert_eq!(events(&f), 1, "once per episode");
        assert_eq!(
            stored_copy_lags(&f.catalog).unwrap(),
            l,
            "kept for /metrics"
        );
        let e = &f.events(EventName::CopyLag)[0];
        assert!(
            e.message.contains("vault `dr` is 2h behind"),
            "{}",
            e.message
        );
        // The copy catches up: the episode ends, and a new one raises again.
        f.set(ts("2026-03-01T02:10:00Z"));
        job(&f, JobKind::Copy, Some("dr"), JobState::Completed);
        let l = copy_lags(&c, &f.catalog, f.now()).unwrap();
        assert_eq!(l[0].lag_seconds, 0.0);
        copy_lag_episodes(&f.catalog, &l, f.now()).unwrap();
        assert_eq!(events(&f), 1);
    }

    #[test]
    fn issue19_never_copied_counts_from_the_oldest_backup() {
        let c = config(CONFIG);
        let f = Fixture::new("2026-03-01T00:00:00Z");
        job(&f, JobKind::Backup, None, JobState::Completed);
        f.set(ts("2026-03-01T03:00:00Z"));
        job(&f, JobKind::Backup, None, JobState::Completed);
        let l = copy_lags(&c, &f.catalog, f.now()).unwrap();
        assert_eq!((l[0].lag_seconds, l[0].copied_at), (10800.0, None));
        copy_lag_episodes(&f.catalog, &l, f.now()).unwrap();
        let e = &f.events(EventName::CopyLag)[0];
        assert!(
            e.message.contains("nothing has been copied there yet"),
            "{}",
            e.message
        );
    }
}
