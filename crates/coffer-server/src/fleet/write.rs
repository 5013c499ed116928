//! This host's fleet records: its finished jobs and a heartbeat, written
//! into the vaults ([`flush`]).
//!
//! Which jobs are written is kept in the catalog's key-value table per
//! vault (`fleet/written/VAULT`: the ids of the jobs of the last
//! [`LOOKBACK`] already written), so jobs that finish out of order are each
//! written once, and one that could not be written is written by the next
//! flush.

use std::collections::{BTreeMap, BTreeSet};

use coffer_core::fleet::{self, FleetRecord, Heartbeat, JobOutcome, RecordKind, SourceObjective};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, Job, JobFilter, JobKind, JobState};
use crate::config::Config;
use crate::records::RestoreTestDetails;

/// How far back a flush looks for finished jobs not yet written.
pub const LOOKBACK: SignedDuration = SignedDuration::from_hours(24 * 7);

/// The most jobs one flush writes per vault (the oldest first).
pub const MAX_JOBS_PER_FLUSH: usize = 1000;

/// What [`flush`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlushReport {
    /// Per vault written: the records stored (jobs plus the heartbeat).
    pub written: BTreeMap<String, usize>,
    /// Per vault that could not be written: why (the jobs stay pending).
    pub failed: BTreeMap<String, String>,
}

impl FlushReport {
    /// One line per vault that failed, for a log or stderr.
    pub fn warnings(&self) -> Vec<String> {
        self.failed
            .iter()
            .map(|(v, e)| format!("fleet records could not be written to vault `{v}` (they are kept and written by the next run): {e}"))
            .collect()
    }
}

/// Writes this host's finished jobs that are not yet in the vault they ran
/// on, and a heartbeat (from `agent`: `serve`, `plan run`, `backup`) into
/// every configured vault (each opened through `open`). Nothing when
/// `[fleet] enabled = false`.
/// Failures are reported per vault, never returned: records are evidence,
/// not a condition of the job.
pub fn flush(
    config: &Config,
    catalog: &Catalog,
    agent: &str,
    now: Timestamp,
    open: super::OpenVault<'_>,
) -> FlushReport {
    let mut report = FlushReport::default();
    if !config.fleet.enabled {
        return report;
    }
    let host = &config.fleet.host;
    let beat = FleetRecord::new(host, now, RecordKind::Heartbeat(heartbeat(config, agent)));
    for vault in &config.vaults {
        let name = &vault.name;
        let r = (|| -> Result<usize, String> {
            let (pending, mut written) =
                pending_jobs(catalog, name, now).map_err(|e| e.to_string())?;
            let mut records: Vec<FleetRecord> = pending
                .iter()
                .filter_map(|j| {
                    outcome(j, name).map(|o| FleetRecord::new(host, now, RecordKind::Job(o)))
                })
                .collect();
            records.push(beat.clone());
            let n = records.len();
            let v = open(name).map_err(|e| e.to_string())?;
            fleet::save(&v, records).map_err(|e| e.to_string())?;
            written.extend(pending.iter().map(|j| j.id.0));
            catalog
                .kv_set(
                    &written_key(name),
                    &serde_json::to_string(&written).expect("ids"),
                )
                .map_err(|e| e.to_string())?;
            Ok(n)
        })();
        match r {
            Ok(n) => {
                report.written.insert(name.clone(), n);
            }
            Err(e) => {
                report.failed.insert(name.clone(), e);
            }
        }
    }
    report
}

fn written_key(vault: &str) -> String {
    format!("fleet/written/{vault}")
}

/// The finished jobs of `vault` from the last [`LOOKBACK`] not yet
/// written, oldest first, and the ids already written (trimmed to the jobs
/// still within the look-back).
fn pending_jobs(
    catalog: &Catalog,
    vault: &str,
    now: Timestamp,
) -> Result<(Vec<Job>, BTreeSet<i64>), CatalogError> {
    let jobs = catalog.list_jobs(&JobFilter {
        states: JobState::FINAL.to_vec(),
        vault: Some(vault.to_string()),
        since: Some(now - LOOKBACK),
        limit: Some(10 * MAX_JOBS_PER_FLUSH),
        ..JobFilter::default()
    })?;
    let done: BTreeSet<i64> = catalog
        .kv_get(&written_key(vault))?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let recent: BTreeSet<i64> = jobs.iter().map(|j| j.id.0).collect();
    let kept: BTreeSet<i64> = done.intersection(&recent).copied().collect();
    let mut pending: Vec<Job> = jobs
        .into_iter()
        // A copy is recorded in its source vault only.
        .filter(|j| !kept.contains(&j.id.0) && j.vault.as_deref() == Some(vault))
        .collect();
    pending.sort_by_key(|j| j.id.0);
    pending.truncate(MAX_JOBS_PER_FLUSH);
    Ok((pending, kept))
}

/// A finished job as a fleet record's outcome; `None` for kinds the fleet
/// does not track (reports).
pub fn outcome(job: &Job, vault: &str) -> Option<JobOutcome> {
    let kind = match job.kind {
        JobKind::Backup => "backup",
        JobKind::Copy => "copy",
        JobKind::Restore => "restore",
        JobKind::RestoreTest => "restore_test",
        JobKind::Verify => "verify",
        JobKind::Prune => "prune",
        JobKind::Forget => "forget",
        JobKind::Report => return None,
    };
    let rule = match (&job.plan, &job.rule) {
        (Some(p), Some(r)) => Some(format!("{p}/{r}")),
        (None, Some(r)) => Some(r.clone()),
        _ => None,
    };
    let restore_secs = (job.kind == JobKind::RestoreTest)
        .then_some(job.details.as_ref())
        .flatten()
        .and_then(|d| serde_json::from_value::<RestoreTestDetails>(d.clone()).ok())
        .and_then(|d| d.restore_seconds);
    Some(JobOutcome {
        kind: kind.to_string(),
        state: job.state.as_str().to_string(),
        vault: vault.to_string(),
        source: job.source.clone(),
        rule,
        started: job.started_at.unwrap_or(job.created_at),
        ended: job.finished_at,
        bytes_read: (job.counters.bytes_read > 0).then_some(job.counters.bytes_read),
        bytes_added: (job.kind == JobKind::Backup).then_some(job.counters.bytes_added),
        snapshot: job
            .snapshot_ids
            .last()
            .map(|s| s.chars().take(64).collect()),
        restore_secs,
        // FleetRecord::new cuts it to fleet::MAX_ERROR_LEN.
        error: job.error.clone(),
    })
}

/// This host's heartbeat: its sources with their objectives.
fn heartbeat(config: &Config, agent: &str) -> Heartbeat {
    let secs = |d: SignedDuration| d.as_secs().max(0) as u64;
    Heartbeat {
        every_secs: secs(config.fleet.heartbeat).max(1),
        agent: agent.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        sources: config
            .sources
            .iter()
            .map(|s| SourceObjective {
                name: s.name.clone(),
                rpo_secs: s.rpo.map(secs),
                rto_secs: s.rto.map(secs),
            })
            .collect(),
    }
}

/// Records a plain `coffer backup` (no config, no catalog job) in `vault`:
/// one record per snapshot written (COMPLETED, or PARTIAL with warnings)
/// and one per source that failed (FAILED, with its error). `host` is the
/// host name the snapshots carry. Returns why it could not be written, if
/// it could not (the backup stands either way).
pub fn record_plain_backup(
    vault: &coffer_core::Vault,
    host: &str,
    started: Timestamp,
    done: &[&coffer_core::BackupResult],
    failed: &[(String, String)],
) -> Result<(), String> {
    let now = Timestamp::now();
    let location = vault.backend().location();
    let mut records = Vec::new();
    for r in done {
        let s = &r.snapshot;
        records.push(FleetRecord::new(
            host,
            now,
            RecordKind::Job(JobOutcome {
                kind: "backup".into(),
                state: if r.warnings.is_empty() {
                    "COMPLETED"
                } else {
                    "PARTIAL"
                }
                .into(),
                vault: location.clone(),
                source: coffer_sources::spec::tagged_source(&s.tags)
                    .map(str::to_string)
                    .or_else(|| s.paths.first().cloned()),
                rule: None,
                started,
                ended: Some(now),
                bytes_read: Some(s.summary.bytes_read),
                bytes_added: Some(s.summary.bytes_added),
                snapshot: r.id.map(|id| id.to_hex()[..8].to_string()),
                restore_secs: None,
                error: None,
            }),
        ));
    }
    for (what, error) in failed {
        records.push(FleetRecord::new(
            host,
            now,
            RecordKind::Job(JobOutcome {
                kind: "backup".into(),
                state: "FAILED".into(),
                vault: location.clone(),
                source: Some(
                    what.chars()
                        .filter(|c| !c.is_control())
                        .take(fleet::MAX_NAME_LEN)
                        .collect(),
                ),
                rule: None,
                started,
                ended: Some(now),
                bytes_read: None,
                bytes_added: None,
                snapshot: None,
                restore_secs: None,
                error: Some(error.clone()),
            }),
        ));
    }
    if records.is_empty() {
        return Ok(());
    }
    fleet::save(vault, records)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
