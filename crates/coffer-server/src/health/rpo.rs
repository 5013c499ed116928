//! The recovery point objective: the recovery point is the start of the
//! newest COMPLETED or PARTIAL backup job of the source, or the newest
//! archived WAL file when that is later; a source never backed up is
//! violated once its first backup job is older than its RPO. A violation
//! raises `RPO_VIOLATED` once per episode.

use super::duration::{human_secs, secs};
use super::episode::episode;
use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobKind, JobState};
use crate::config::SourceConfig;
use crate::events::{EventName, NewEvent};
use crate::records::SourceHealth;
use jiff::Timestamp;

/// When a job's snapshot was taken: its start (or creation, for a job
/// recorded without one).
fn point_of(job: &Job) -> Timestamp {
    job.started_at.unwrap_or(job.created_at)
}

/// When the newest good (COMPLETED or PARTIAL) backup job of source `name`
/// was taken.
pub(super) fn newest_good_at(
    catalog: &Catalog,
    name: &str,
) -> Result<Option<Timestamp>, CatalogError> {
    let newest_good = catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::Backup],
            states: vec![JobState::Completed, JobState::Partial],
            source: Some(name.to_string()),
            limit: Some(1),
            ..Default::default()
        })?
        .into_iter()
        .next();
    let newest_good_at = newest_good.as_ref().map(point_of);
    Ok(newest_good_at)
}

/// Whether `source` is within its RPO at `now` (`None`: no RPO, or no data
/// yet), given its newest good backup and archived WAL.
pub(super) fn rpo_ok(
    catalog: &Catalog,
    source: &SourceConfig,
    newest_good_at: Option<Timestamp>,
    wal_newest_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<bool>, CatalogError> {
    let name = &source.name;
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
    Ok(rpo_ok)
}

pub(super) fn rpo_episode(
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
