//! Verification as a job: `coffer verify`, the `[[verify]]` entries the
//! daemon runs, and the verification status that metrics and reports read.
//!
//! A verify job checks a vault's structure (every snapshot, index object
//! and tree; see [`coffer_core::check`]) and, as asked, the data of all its
//! packs or of a share of them. A share reads the packs verified longest
//! ago first (never verified first), from the catalog's per-pack
//! verification times, so that repeated runs cover the whole vault: four
//! runs of 25% read every pack once. The packs read and found sound are
//! recorded as verified at the job's time.
//!
//! The job records [`VerifyDetails`]: every damaged object with its problem,
//! every snapshot that needs one of them, and the **coverage**: the percent
//! of the vault's current packs (indexed and present) whose data was
//! verified within [`COVERAGE_WINDOW`] (30 days), by this run or earlier
//! ones. A job is COMPLETED when nothing is damaged, FAILED with the damage
//! otherwise (or when the vault could not be opened or read), ABORTED when
//! stopped, and SKIPPED when the vault is sound but empty (no snapshot, no
//! pack, no archived WAL yet: nothing to verify, which is no verification
//! status: metrics and reports keep saying "never verified"); the catalog
//! writes `VERIFY_STARTED`, `VERIFY_PASSED`, `VERIFY_FAILED` and
//! `VERIFY_SKIPPED` events with those state changes. `coffer verify` of an
//! empty vault says so and exits 0: the vault is sound.
//!
//! [`last_status`] is "the verification status" of a vault: its newest
//! verify job with a verdict (COMPLETED or FAILED), whatever started it.

use crate::catalog::{
    Catalog, Job, JobCounters, JobFilter, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger,
};
use crate::model::ServerResult;
use crate::records::{Damage, VerifyDetails};
use coffer_core::{check_with_cancel, Cancel, CheckOptions, CheckReport, Id, ReadData, Vault};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;

/// The window a coverage counts verifications in: a pack verified longer
/// ago than this counts as unverified.
pub const COVERAGE_WINDOW: SignedDuration = SignedDuration::from_hours(30 * 24);

pub use crate::model::VerifyData;

/// The core's read-data choice for a verify of `data`, with the packs'
/// verification times for a share that reads the least recently verified.
fn read_data(data: VerifyData, verified: HashMap<Id, Timestamp>) -> ReadData {
    match data {
        VerifyData::Structure => ReadData::None,
        VerifyData::All => ReadData::All,
        VerifyData::Percent(p) => ReadData::LeastRecent {
            fraction: p / 100.0,
            verified: Arc::new(verified),
        },
        VerifyData::Part(n, m) => ReadData::Part(n, m),
    }
}

/// A verify job to record: `vault` is the configuration's vault name (or
/// the location given on the command line); `entry` the `[[verify]]` entry
/// that asked for it, recorded as the job's rule.
pub fn new_job(vault: &str, entry: Option<&str>, trigger: Trigger) -> NewJob {
    NewJob {
        vault: Some(vault.to_string()),
        rule: entry.map(str::to_string),
        ..NewJob::new(JobKind::Verify, trigger)
    }
}

/// What a verify job did.
#[derive(Debug, Clone)]
pub struct VerifyRun {
    /// The job.
    pub job: JobId,
    /// How it ended (as recorded).
    pub outcome: JobOutcome,
    /// What it recorded, when the check ran to its end.
    pub details: Option<VerifyDetails>,
    /// The check's full report, when it ran to its end.
    pub report: Option<CheckReport>,
}

/// Runs verify job `id` (already CREATED) of the vault the catalog knows
/// as `vault_name`: RUNNING, the check, the packs verified and the
/// coverage, then its final state. `vault` is the opened vault, or why it
/// could not be opened (the job is then FAILED with that reason, so a
/// verification that cannot run is seen). `now` is the time recorded as
/// verification time (tests move it).
pub fn run_job(
    catalog: &Catalog,
    id: JobId,
    vault_name: &str,
    vault: ServerResult<Vault>,
    data: VerifyData,
    cancel: &Cancel,
    now: Timestamp,
) -> VerifyRun {
    let finish = |outcome: JobOutcome, details, report| {
        if let Err(e) = catalog.finish_job(id, &outcome) {
            tracing::error!(job = id.0, "cannot record the end of the verify job: {e}");
        }
        VerifyRun {
            job: id,
            outcome,
            details,
            report,
        }
    };
    if let Err(e) = catalog.start_job(id) {
        return finish(
            JobOutcome::failed(format!("cannot start the job in the catalog: {e}")),
            None,
            None,
        );
    }
    let vault = match vault {
        Ok(v) => v,
        Err(e) => return finish(JobOutcome::failed(e.message), None, None),
    };
    let verified: HashMap<Id, Timestamp> = match catalog.packs_verified(vault_name) {
        Ok(v) => v
            .into_iter()
            .filter_map(|(p, t)| Some((Id::parse(&p)?, t)))
            .collect(),
        Err(e) => {
            return finish(
                JobOutcome::failed(format!("reading the verified packs of `{vault_name}`: {e}")),
                None,
                None,
            )
        }
    };
    let opts = CheckOptions {
        read_data: read_data(data, verified.clone()),
    };
    let report = match check_with_cancel(&vault, &opts, cancel) {
        Ok(r) => r,
        Err(e) => {
            let o = match cancel.reason() {
                Some(why) => JobOutcome::aborted(why),
                None => JobOutcome::failed(format!(
                    "verifying vault `{vault_name}` ({}): {e}",
                    vault.backend().location()
                )),
            };
            return finish(o, None, None);
        }
    };
    let hex: Vec<String> = report.verified_packs.iter().map(Id::to_hex).collect();
    if let Err(e) = catalog.set_packs_verified(vault_name, &hex, now) {
        tracing::warn!(job = id.0, "cannot record the verified packs: {e}");
    }
    let mut verified = verified;
    for p in &report.verified_packs {
        verified.insert(*p, now);
    }
    let details = details_of(&report, data, &verified, now);
    let counters = JobCounters {
        bytes_read: report.bytes_read,
        ..Default::default()
    };
    let outcome = if report.ok() && holds_nothing(&report) {
        // Sound, but no evidence about any data: not a verification status.
        JobOutcome {
            details: Some(details.to_json()),
            counters,
            ..JobOutcome::skipped(format!(
                "vault `{vault_name}` holds no snapshots yet: nothing to verify (its config and keys were read and are sound)"
            ))
        }
    } else if report.ok() {
        JobOutcome {
            details: Some(details.to_json()),
            ..JobOutcome::completed(counters, Vec::new())
        }
    } else {
        JobOutcome {
            counters,
            details: Some(details.to_json()),
            ..JobOutcome::failed(damage_summary(&details))
        }
    };
    finish(outcome, Some(details), Some(report))
}

/// Whether a check found an empty vault: no snapshot, no indexed pack and
/// no archived WAL (a vault whose snapshots were all forgotten still has
/// packs to verify until a prune).
fn holds_nothing(r: &CheckReport) -> bool {
    r.snapshots == 0 && r.packs == 0 && r.wal_files == 0
}

/// Runs verify job `id` (already CREATED, e.g. by [`new_job`]) of a
/// `[[verify]]` entry, opening its vault through `runner`: what the daemon
/// and `coffer verify --rule` do.
pub fn run_entry(
    runner: &crate::runner::Runner,
    entry: &crate::config::VerifyConfig,
    id: JobId,
    cancel: &Cancel,
    now: Timestamp,
) -> VerifyRun {
    run_job(
        runner.catalog(),
        id,
        &entry.vault,
        runner.vault(&entry.vault),
        entry.data,
        cancel,
        now,
    )
}

/// The details a report gives, with the coverage at `now` from the
/// verification times `verified` (this run's included).
pub fn details_of(
    report: &CheckReport,
    data: VerifyData,
    verified: &HashMap<Id, Timestamp>,
    now: Timestamp,
) -> VerifyDetails {
    VerifyDetails {
        scope: data.scope(),
        subset_percent: data.subset_percent(),
        packs_read: report.packs_read as u64,
        packs_total: report.pack_ids.len() as u64,
        bytes_read: report.bytes_read,
        coverage_percent: coverage(&report.pack_ids, verified, now),
        damaged: report
            .problems
            .iter()
            .map(|p| Damage {
                object: p.object.clone(),
                problem: p.detail.clone(),
            })
            .collect(),
        affected_snapshots: report.affected_snapshots().iter().map(Id::to_hex).collect(),
    }
}

/// Percent of `packs` verified within [`COVERAGE_WINDOW`] before `now`
/// (100 for a vault without packs).
pub fn coverage(packs: &[Id], verified: &HashMap<Id, Timestamp>, now: Timestamp) -> f64 {
    if packs.is_empty() {
        return 100.0;
    }
    let since = now - COVERAGE_WINDOW;
    let n = packs
        .iter()
        .filter(|p| verified.get(p).is_some_and(|t| *t >= since))
        .count();
    // Two decimals are plenty for a percentage.
    (n as f64 * 10_000.0 / packs.len() as f64).round() / 100.0
}

/// The error a damaged vault's job records: the objects (the first few)
/// and the snapshots affected.
fn damage_summary(d: &VerifyDetails) -> String {
    const SHOWN: usize = 5;
    let names: Vec<&str> = d
        .damaged
        .iter()
        .take(SHOWN)
        .map(|x| x.object.as_str())
        .collect();
    let more = d.damaged.len().saturating_sub(SHOWN);
    format!(
        "{} damaged object(s): {}{}; {} snapshot(s) affected{}",
        d.damaged.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        d.affected_snapshots.len(),
        if d.affected_snapshots.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                d.affected_snapshots
                    .iter()
                    .map(|s| &s[..8.min(s.len())])
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )
}

/// A vault's verification status: its newest verify job with a verdict.
#[derive(Debug, Clone)]
pub struct VerifyStatus {
    /// The job.
    pub job: Job,
    /// What it recorded (absent when it could not run to its end).
    pub details: Option<VerifyDetails>,
}

impl VerifyStatus {
    /// Whether the verification passed (COMPLETED).
    pub fn passed(&self) -> bool {
        self.job.state == JobState::Completed
    }
}

/// The verification status of `vault` (its name in the catalog): the newest
/// verify job that reached a verdict (COMPLETED, or FAILED: damage found or
/// the vault could not be read), if any. A run stopped before its end
/// (ABORTED: SIGTERM, completion window) says nothing and is passed over.
pub fn last_status(catalog: &Catalog, vault: &str) -> crate::catalog::Result<Option<VerifyStatus>> {
    let jobs = catalog.list_jobs(&JobFilter {
        kinds: vec![JobKind::Verify],
        vault: Some(vault.to_string()),
        states: vec![JobState::Completed, JobState::Partial, JobState::Failed],
        limit: Some(1),
        ..Default::default()
    })?;
    Ok(jobs.into_iter().next().map(|job| VerifyStatus {
        details: VerifyDetails::of(&job),
        job,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DataScope;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn subsets_parse_and_bad_ones_say_what_to_write() {
        assert_eq!(
            VerifyData::parse_subset("5%").unwrap(),
            VerifyData::Percent(5.0)
        );
        assert_eq!(
            VerifyData::parse_subset("2/7").unwrap(),
            VerifyData::Part(2, 7)
        );
        for bad in ["0%", "101%", "x%", "5", "0/3", "4/3", "a/b", ""] {
            let e = VerifyData::parse_subset(bad).unwrap_err();
            assert!(
                e.message.contains("give a percentage like 5%"),
                "{bad}: {e}"
            );
        }
        assert_eq!(VerifyData::Percent(100.0).scope(), DataScope::All);
        assert_eq!(VerifyData::Part(1, 4).subset_percent(), Some(25.0));
        assert_eq!(VerifyData::All.subset_percent(), None);
    }

    #[test]
    fn coverage_counts_current_packs_verified_within_the_window() {
        let now = ts("2026-04-01T00:00:00Z");
        let packs: Vec<Id> = (0..4u8).map(|i| Id([i; 32])).collect();
        let mut v = HashMap::new();
        assert_eq!(coverage(&packs, &v, now), 0.0);
        v.insert(packs[0], now);
        v.insert(packs[1], now - SignedDuration::from_hours(24 * 29));
        // Too old, and a pack no longer in the vault.
        v.insert(packs[2], now - SignedDuration::from_hours(24 * 31));
        v.insert(Id([9; 32]), now);
        assert_eq!(coverage(&packs, &v, now), 50.0);
        assert_eq!(coverage(&packs[..3], &v, now), 66.67);
        assert_eq!(coverage(&[], &v, now), 100.0);
    }

    #[test]
    fn last_status_is_the_newest_finished_verify_job_of_the_vault() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        assert!(last_status(&c, "main").unwrap().is_none());
        let old = c.create_job(&new_job("main", None, Trigger::Cli)).unwrap();
        c.start_job(old).unwrap();
        c.finish_job(old, &JobOutcome::failed("damage")).unwrap();
        let other = c.create_job(&new_job("other", None, Trigger::Cli)).unwrap();
        c.start_job(other).unwrap();
        c.finish_job(other, &JobOutcome::new(JobState::Completed))
            .unwrap();
        // A running one is not a status yet.
        let running = c
            .create_job(&new_job("main", Some("weekly"), Trigger::Schedule))
            .unwrap();
        c.start_job(running).unwrap();
        let s = last_status(&c, "main").unwrap().unwrap();
        assert_eq!(s.job.id, old);
        assert!(!s.passed());
        c.finish_job(running, &JobOutcome::new(JobState::Completed))
            .unwrap();
        let s = last_status(&c, "main").unwrap().unwrap();
        assert_eq!(s.job.id, running);
        assert!(s.passed());
        assert_eq!(s.job.rule.as_deref(), Some("weekly"));
    }

    #[test]
    fn a_run_that_cannot_open_its_vault_fails_and_a_stopped_one_is_aborted() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let now = ts("2026-04-01T00:00:00Z");
        let id = c.create_job(&new_job("main", None, Trigger::Cli)).unwrap();
        let r = run_job(
            &c,
            id,
            "main",
            Err(crate::model::ServerError::config(
                "vault `main`: no key slot accepts it",
            )),
            VerifyData::All,
            &Cancel::default(),
            now,
        );
        assert_eq!(r.outcome.state, JobState::Failed);
        assert_eq!(c.get_job(id).unwrap().state, JobState::Failed);

        // An empty vault is sound, but there is nothing to verify: SKIPPED,
        // and no verification status.
        let vault = coffer_testing::memory_vault();
        let id = c.create_job(&new_job("main", None, Trigger::Cli)).unwrap();
        let r = run_job(
            &c,
            id,
            "main",
            Ok(vault.clone()),
            VerifyData::All,
            &Cancel::default(),
            now,
        );
        assert_eq!(r.outcome.state, JobState::Skipped);
        let why = r.outcome.reason.unwrap();
        assert!(
            why.contains("holds no snapshots yet: nothing to verify"),
            "{why}"
        );
        assert_eq!(c.get_job(id).unwrap().state, JobState::Skipped);
        assert_eq!(
            last_status(&c, "main").unwrap().unwrap().job.state,
            JobState::Failed
        );

        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.txt"), b"alpha").unwrap();
        let fopts = coffer_sources::files::FilesOptions {
            paths: vec![src.path().to_path_buf()],
            ..Default::default()
        };
        coffer_sources::run_backup(
            &vault,
            &coffer_core::BackupOptions::default(),
            &coffer_sources::SnapshotMeta::default(),
            |a, i| {
                coffer_sources::files::backup(a, i, &fopts, &coffer_sources::Progress::default())
            },
        )
        .unwrap();
        let id = c.create_job(&new_job("main", None, Trigger::Cli)).unwrap();
        let r = run_job(
            &c,
            id,
            "main",
            Ok(vault.clone()),
            VerifyData::All,
            &Cancel::default(),
            now,
        );
        assert_eq!(r.outcome.state, JobState::Completed);
        let d = VerifyDetails::of(&c.get_job(id).unwrap()).unwrap();
        assert_eq!(d.coverage_percent, 100.0);
        assert_eq!(d.scope, DataScope::All);

        let stop = Cancel::default();
        stop.cancel("stopped: verify/often still running at its completion deadline");
        let id = c
            .create_job(&new_job("main", None, Trigger::Schedule))
            .unwrap();
        let r = run_job(&c, id, "main", Ok(vault), VerifyData::All, &stop, now);
        assert_eq!(r.outcome.state, JobState::Aborted);
        assert!(r.outcome.reason.unwrap().contains("completion deadline"));
        // A stopped run has no verdict: the status is still the last one.
        let s = last_status(&c, "main").unwrap().unwrap();
        assert_ne!(s.job.id, id);
        assert!(s.passed());
    }
}
