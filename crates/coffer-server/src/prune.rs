//! Prune as a job: `coffer prune`, the `[[prune]]` entries the daemon runs,
//! and what both record. The work is [`coffer_core::prune`]; this module
//! only records it, so a prune from the command line and one from the
//! schedule leave the same job row and the same events.
//!
//! A prune job is COMPLETED when the prune finished without warnings,
//! PARTIAL when it finished but skipped something (a pack it could not
//! repack, a damaged plan: the warnings are in the reason), ABORTED when it
//! stopped at a safe point because its completion window ended (as a rule's
//! job past its window; the vault passes `check` and the next run goes on),
//! FAILED when the vault could not be opened or the prune stopped with an
//! error. What a limit left for a later run (`max_repack_percent`, a cold
//! storage class's minimum storage duration) is said in the reason of a
//! COMPLETED job and counted in its details. Its
//! details are the prune's report (sizes, packs condemned, deleted,
//! repacked, plans deferred, bytes freed); `bytes_read` counts the bytes
//! repacking read, `bytes_stored` the bytes it wrote. The catalog writes
//! `PRUNE_STARTED`, `PRUNE_COMPLETED` and `PRUNE_FAILED` with those state
//! changes. A dry run is recorded too (its details say `dry_run`).

use crate::catalog::{Catalog, JobCounters, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger};
use crate::model::ServerResult;
use coffer_core::{PruneOptions, PruneReport, Vault};

/// A prune job to record: `vault` is the configuration's vault name (or the
/// location given on the command line); `entry` the `[[prune]]` entry that
/// asked for it, recorded as the job's rule.
pub fn new_job(vault: &str, entry: Option<&str>, trigger: Trigger) -> NewJob {
    NewJob {
        vault: Some(vault.to_string()),
        rule: entry.map(str::to_string),
        ..NewJob::new(JobKind::Prune, trigger)
    }
}

/// What a prune job did.
#[derive(Debug, Clone)]
pub struct PruneRun {
    /// The job.
    pub job: JobId,
    /// Its outcome, as recorded.
    pub outcome: JobOutcome,
    /// The prune's report, when it ran to the end.
    pub report: Option<PruneReport>,
}

/// Runs prune job `id` (already CREATED) on `vault` (the configuration's or
/// command line's name `vault_name`), recording its start and its outcome.
/// `vault` is the opened vault, or why it could not be opened (the job is
/// then FAILED with that reason).
pub fn run_job(
    catalog: &Catalog,
    id: JobId,
    vault_name: &str,
    vault: ServerResult<Vault>,
    opts: &PruneOptions,
) -> PruneRun {
    let finish = |outcome: JobOutcome, report| {
        if let Err(e) = catalog.finish_job(id, &outcome) {
            tracing::error!(job = id.0, "cannot record the end of the prune job: {e}");
        }
        PruneRun {
            job: id,
            outcome,
            report,
        }
    };
    if let Err(e) = catalog.start_job(id) {
        return finish(
            JobOutcome::failed(format!("cannot start the job in the catalog: {e}")),
            None,
        );
    }
    let vault = match vault {
        Ok(v) => v,
        Err(e) => return finish(JobOutcome::failed(e.message), None),
    };
    match coffer_core::prune(&vault, opts) {
        Ok(report) => finish(outcome_of(&report), Some(report)),
        Err(e) => finish(
            JobOutcome::failed(format!("prune of vault `{vault_name}`: {e}")),
            None,
        ),
    }
}

/// The repack candidates a run skipped for their storage class (a minimum
/// storage duration not yet over, or an archive class that would need a
/// thaw), one line each; `coffer prune` prints them and the job records
/// them.
pub fn skipped_lines(report: &PruneReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &report.archived_skipped {
        out.push(s.describe());
    }
    if let Some(s) = &report.min_storage_skipped {
        out.push(s.describe());
    }
    out
}

/// What a run left for a later one, one line each (empty when nothing).
pub fn left_for_later(report: &PruneReport) -> Vec<String> {
    let mut out = skipped_lines(report);
    if report.packs_repack_deferred > 0 {
        out.push(format!(
            "{} to repack ({}) left for the next prune by max_repack_percent (this run could repack {} of data packs)",
            coffer_core::human_count(report.packs_repack_deferred as u64, "pack"),
            coffer_core::human_bytes(report.bytes_repack_deferred),
            coffer_core::human_bytes(report.repack_budget.unwrap_or_default())
        ));
    }
    out
}

/// The outcome a finished prune is recorded with.
fn outcome_of(report: &PruneReport) -> JobOutcome {
    let state = if report.stopped.is_some() {
        JobState::Aborted
    } else if report.warnings.is_empty() {
        JobState::Completed
    } else {
        JobState::Partial
    };
    let mut reason: Vec<String> = report.stopped.iter().cloned().collect();
    reason.extend(report.warnings.iter().cloned());
    reason.extend(left_for_later(report));
    JobOutcome {
        reason: (!reason.is_empty()).then(|| reason.join("; ")),
        counters: JobCounters {
            bytes_read: report.bytes_repacked,
            bytes_stored: report.bytes_written,
            warnings: report.warnings.len() as u64,
            ..Default::default()
        },
        details: serde_json::to_value(report).ok(),
        ..JobOutcome::new(state)
    }
}

/// The options of a prune of the vault at `location` (a directory or an
/// `s3://` URL), for `coffer prune` and `[[prune]]` entries alike:
/// `repack_below` and `max_repack_percent` in percent (`--repack-below`,
/// `--max-repack-percent`, and the entries' fields of the same names); a
/// local vault's `.tmp/` leftovers of dead writers are cleaned too.
pub fn options(
    location: &str,
    repack_below: f64,
    max_repack_percent: f64,
    dry_run: bool,
) -> PruneOptions {
    let local_dir = match coffer_storage::Location::parse(location) {
        Ok(coffer_storage::Location::Local(p)) => Some(p),
        _ => None,
    };
    PruneOptions {
        repack_below: repack_below / 100.0,
        max_repack_percent,
        dry_run,
        local_dir,
        ..Default::default()
    }
}

/// The newest finished prune job of vault `vault` that was not a dry run
/// (a dry run frees nothing), for `/metrics`; EXPIRED runs count (they are
/// what a dashboard must show when prunes stop happening).
pub fn last_run(
    catalog: &Catalog,
    vault: &str,
) -> crate::catalog::Result<Option<crate::catalog::Job>> {
    let jobs = catalog.list_jobs(&crate::catalog::JobFilter {
        kinds: vec![JobKind::Prune],
        vault: Some(vault.to_string()),
        states: vec![
            JobState::Completed,
            JobState::Partial,
            JobState::Aborted,
            JobState::Failed,
            JobState::Expired,
        ],
        limit: Some(50),
        ..Default::default()
    })?;
    Ok(jobs.into_iter().find(|j| {
        !j.details
            .as_ref()
            .and_then(|d| d.get("dry_run"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }))
}

/// Runs a `[[prune]]` entry as job `id` (the daemon's periodic task);
/// `cancel` is the daemon's stop (its completion window, SIGTERM), which
/// the prune heeds at its safe points.
pub fn run_entry(
    runner: &crate::runner::Runner,
    entry: &crate::config::PruneConfig,
    id: JobId,
    cancel: &coffer_core::Cancel,
) -> PruneRun {
    let vault = runner.vault(&entry.vault);
    let url = runner
        .config()
        .vault(&entry.vault)
        .map_or("", |v| v.url.as_str());
    let opts = PruneOptions {
        cancel: Some(cancel.clone()),
        ..options(url, entry.repack_below, entry.max_repack_percent, false)
    };
    run_job(runner.catalog(), id, &entry.vault, vault, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerError;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let d = tempfile::tempdir().unwrap();
        let c = Catalog::open(d.path()).unwrap();
        (d, c)
    }

    #[test]
    fn a_prune_is_recorded_as_a_job_with_its_report_and_events() {
        let (_d, c) = catalog();
        let v = coffer_testing::memory_vault();
        let id = c
            .create_job(&new_job("main", Some("weekly"), Trigger::Schedule))
            .unwrap();
        let run = run_job(&c, id, "main", Ok(v), &PruneOptions::default());
        assert_eq!(run.outcome.state, JobState::Completed, "{:?}", run.outcome);
        let j = c.get_job(id).unwrap();
        assert_eq!(j.kind, JobKind::Prune);
        assert_eq!(j.state, JobState::Completed);
        assert_eq!(j.rule.as_deref(), Some("weekly"));
        assert_eq!(j.details.as_ref().unwrap()["packs_deleted"], 0);
        let names: Vec<String> = c
            .events(&Default::default())
            .unwrap()
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        assert!(names.contains(&"PRUNE_STARTED".to_string()), "{names:?}");
        assert!(names.contains(&"PRUNE_COMPLETED".to_string()), "{names:?}");
    }

    #[test]
    fn issue17_a_prune_stopped_by_its_window_is_aborted_with_its_report() {
        let (_d, c) = catalog();
        let v = coffer_testing::memory_vault();
        let id = c
            .create_job(&new_job("main", Some("weekly"), Trigger::Schedule))
            .unwrap();
        let stop = coffer_core::Cancel::default();
        stop.cancel("stopped: prune/weekly still running at its completion deadline");
        let opts = PruneOptions {
            cancel: Some(stop),
            ..PruneOptions::default()
        };
        let run = run_job(&c, id, "main", Ok(v), &opts);
        assert_eq!(run.outcome.state, JobState::Aborted, "{:?}", run.outcome);
        let j = c.get_job(id).unwrap();
        assert!(j.reason.unwrap().contains("completion deadline"));
        assert!(j.details.unwrap()["stopped"].is_string());
        let last = last_run(&c, "main").unwrap().unwrap();
        assert_eq!(last.id, id);
    }

    #[test]
    fn issue17_the_last_prune_of_a_vault_is_exported() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::Config::parse(
            "[[vault]]\nname = \"v\"\nurl = \"/nonexistent\"\nkey_file = \"k\"\n",
            &dir.path().join("c.toml"),
        )
        .unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let id = catalog
            .create_job(&new_job(
                "v",
                Some("weekly"),
                crate::catalog::Trigger::Schedule,
            ))
            .unwrap();
        let vault = coffer_testing::memory_vault();
        run_job(&catalog, id, "v", Ok(vault), &Default::default());
        let text = crate::metrics::render(&crate::metrics::MetricsSources {
            config: &cfg,
            catalog: &catalog,
            storage: &crate::metrics::StorageStats::default(),
            notify: &crate::notify::NotifyStats::default(),
            started_at: jiff::Timestamp::UNIX_EPOCH,
        })
        .unwrap();
        for want in [
            "coffer_prune_last_state{vault=\"v\",state=\"COMPLETED\"} 1",
            "coffer_prune_last_freed_bytes{vault=\"v\"} 0",
            "coffer_prune_last_packs{vault=\"v\",action=\"deleted\"} 0",
            "coffer_prune_last_end_timestamp_seconds{vault=\"v\"}",
            "coffer_prune_last_duration_seconds{vault=\"v\"}",
        ] {
            assert!(text.contains(want), "{want} missing: {text}");
        }
    }

    #[test]
    fn a_vault_that_does_not_open_fails_the_job_with_the_reason() {
        let (_d, c) = catalog();
        let id = c.create_job(&new_job("main", None, Trigger::Cli)).unwrap();
        let why =
            ServerError::config("vault `main`: environment variable PW (password_env) is not set");
        let run = run_job(&c, id, "main", Err(why), &PruneOptions::default());
        assert_eq!(run.outcome.state, JobState::Failed);
        let j = c.get_job(id).unwrap();
        assert!(j.error.as_deref().unwrap().contains("PW"), "{j:?}");
        let failed = c
            .events(&Default::default())
            .unwrap()
            .iter()
            .any(|e| e.name.to_string() == "PRUNE_FAILED");
        assert!(failed);
    }
}
