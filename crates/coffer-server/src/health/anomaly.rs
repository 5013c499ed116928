//! The anomaly checks: `SIZE_ANOMALY` after each successful backup job
//! (its size against the moving median of the source's earlier backups),
//! and `WAL_ARCHIVE_LAG` once per episode when the newest archived WAL file
//! of a PostgreSQL base backup source is older than its `max_wal_lag`.

use super::duration::{human_secs, secs};
use super::episode::episode;
use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobId, JobKind, JobState};
use crate::config::{Config, SourceConfig};
use crate::events::{EventName, NewEvent};
use crate::records::SourceHealth;
use jiff::Timestamp;

/// The key of a backup job's `details` that holds the bytes its snapshots
/// cover (what the size check compares).
pub const TOTAL_BYTES: &str = "total_bytes";

pub(super) fn wal_episode(
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
