//! The restore-test job around one run: the catalog job (CREATED,
//! PENDING while the data packs of a snapshot of a cold vault thaw,
//! RUNNING, then COMPLETED, FAILED, ABORTED, or SKIPPED when the vault
//! holds no snapshot of the source yet), the time limit as a [`Cancel`]
//! fired by a watcher thread, the cancel scope the restore's processes run
//! in, the dispatch on the snapshot's kind, and the source's health
//! updated at once after the job.

use super::command::test_command;
use super::context::Ctx;
use super::failure::failed;
use super::files::test_files;
use super::mysql::test_mysql;
use super::pick::{no_snapshot_yet, pick_snapshot, pick_source};
use super::postgres::{test_pg_base, test_pg_dump};
use super::redis::test_redis;
use super::validate::Run;
use crate::catalog::{
    Catalog, CatalogError, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger,
};
use crate::config::{Config, RestoreTestConfig};
use crate::model::ServerResult;
use crate::records::{CheckStatus, RestoreTestDetails, Validation};
use crate::runner::{open_vault, with_password};
use coffer_core::Cancel;
use coffer_sources::{command, mysql, pg_physical, postgres, process, redis};
use jiff::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a restore test could not be recorded at all (a test that ran and
/// failed is a FAILED job, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RestoreTestError {
    /// No `[[restore_test]]` has that name.
    #[error("restore test `{name}` is not in {config} (restore tests: {known}); add a [[restore_test]] with that name or fix the name")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The configuration file.
        config: String,
        /// The names there are.
        known: String,
    },
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The `restore-test` job to record for one run of `test`: its vault, the
/// test's name as the job's rule, and the source this run tests (the one
/// tested longest ago).
pub fn new_job(
    catalog: &Catalog,
    test: &RestoreTestConfig,
    trigger: Trigger,
) -> Result<NewJob, CatalogError> {
    let mut job = NewJob::new(JobKind::RestoreTest, trigger);
    job.source = Some(pick_source(catalog, test)?);
    job.vault = Some(test.vault.clone());
    job.rule = Some(test.name.clone());
    Ok(job)
}

/// Runs restore-test job `id` (already CREATED by [`new_job`]) of `test`:
/// RUNNING, the restore and its validation within the test's timeout,
/// then its final state. The daemon's periodic tasks call this; [`run`](super::run)
/// is the same with the job created first.
pub fn run_job(
    config: &Config,
    catalog: &Catalog,
    test: &RestoreTestConfig,
    id: JobId,
    cancel: &Cancel,
) -> Result<(JobId, RestoreTestDetails), RestoreTestError> {
    let source = catalog.get_job(id)?.source.unwrap_or_default();
    let mut t = Run {
        details: RestoreTestDetails {
            test: test.name.clone(),
            snapshot: None,
            validation: Validation::Successful,
            restore_seconds: None,
            validation_seconds: None,
            checks: Vec::new(),
        },
        cancel: Cancel::default(),
        nothing_to_test: None,
    };
    // The snapshot is picked before the job runs: one of a cold vault
    // waits as PENDING while its data packs thaw (outside the time limit,
    // which measures the restore), then the job is RUNNING.
    let picked = pick(config, test, &source).and_then(|p| {
        if let Some(p) = &p {
            let r = crate::thaw::Restoring {
                vault: &p.vault,
                index: &p.index,
                id: &p.id,
                snap: &p.snap,
            };
            if let Some(vc) = config.vault(&test.vault) {
                crate::thaw::thaw_for_job(catalog, id, vc, &r, Some(cancel.clone()))?;
            }
        }
        Ok(p)
    });
    if let Err(e) = catalog.start_job(id) {
        t.details.validation = Validation::Failed;
        let o = JobOutcome {
            details: Some(t.details.to_json()),
            ..JobOutcome::failed(format!("cannot start the job in the catalog: {e}"))
        };
        catalog.finish_job(id, &o)?;
        return Ok((id, t.details));
    }

    // The time limit and the caller's cancel both fire the inner cancel.
    let timeout = test.timeout;
    let deadline = Instant::now() + timeout.unsigned_abs();
    let done = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (inner, outer) = (t.cancel.clone(), cancel.clone());
        let (done, timed_out) = (done.clone(), timed_out.clone());
        let limit = humantime::format_duration(timeout.unsigned_abs()).to_string();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(why) = outer.reason() {
                    inner.cancel(why);
                    return;
                }
                if Instant::now() >= deadline {
                    timed_out.store(true, Ordering::SeqCst);
                    inner.cancel(format!("the restore test's timeout of {limit} passed"));
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let result = {
        let _scope = process::cancel_scope(&t.cancel);
        match picked {
            Err(e) => Err(e),
            Ok(None) => {
                t.nothing_to_test = Some(no_snapshot_yet(config, test, &source, Timestamp::now()));
                Ok(())
            }
            Ok(Some(p)) => execute(config, test, p, &mut t),
        }
    };
    done.store(true, Ordering::SeqCst);
    let _ = watcher.join();

    let failed_check = t
        .details
        .checks
        .iter()
        .find(|c| c.status == CheckStatus::Failed)
        .cloned();
    let outcome = if timed_out.load(Ordering::SeqCst) {
        t.details.validation = Validation::TimedOut;
        JobOutcome::failed(format!(
            "timed out after {} ({})",
            humantime::format_duration(timeout.unsigned_abs()),
            match &result {
                Err(e) => e.message.clone(),
                Ok(()) => "stopped".into(),
            }
        ))
    } else if let Some(why) = cancel.reason() {
        t.details.validation = Validation::Failed;
        JobOutcome::aborted(why)
    } else if let (Ok(()), Some(why)) = (&result, t.nothing_to_test.take()) {
        t.details.validation = Validation::Skipped;
        JobOutcome::skipped(why)
    } else {
        match (result, failed_check) {
            (Err(e), _) => {
                t.details.validation = Validation::Failed;
                JobOutcome::failed(e.message)
            }
            (Ok(()), Some(c)) => {
                t.details.validation = Validation::Failed;
                JobOutcome::failed(format!("{} failed: {}", c.name, c.detail))
            }
            (Ok(()), None) => JobOutcome::new(JobState::Completed),
        }
    };
    let outcome = JobOutcome {
        details: Some(t.details.to_json()),
        ..outcome
    };
    catalog.finish_job(id, &outcome)?;
    refresh_health(config, catalog, id, &source);
    Ok((id, t.details))
}

/// The tested source's health (its RTO: last measured restore) right after
/// the test, through the health check's own code, so metrics and the API
/// do not wait for the next periodic check. Evaluated at the job's end, by
/// the catalog's clock; a failure is logged (the periodic check retries).
fn refresh_health(config: &Config, catalog: &Catalog, id: JobId, source: &str) {
    let Some(src) = config.source(source) else {
        return;
    };
    let now = match catalog.get_job(id) {
        Ok(j) => j.finished_at.unwrap_or(j.created_at),
        Err(e) => {
            tracing::warn!(job = id.0, "cannot read the restore-test job back: {e}");
            return;
        }
    };
    let probe = crate::health::wal_probe(|v| open_vault(config, v));
    if let Err(e) = crate::health::refresh(config, catalog, src, now, &probe) {
        tracing::warn!(
            job = id.0,
            source,
            "cannot update the health of the source: {e}"
        );
    }
}

/// The snapshot one run tests, with its vault and index.
struct Picked<'a> {
    src: &'a crate::config::SourceConfig,
    vault: coffer_core::Vault,
    index: coffer_core::Index,
    id: coffer_core::Id,
    snap: coffer_core::Snapshot,
}

/// The snapshot of `source` that this run of `test` restores; `None` when
/// the vault holds none yet.
fn pick<'a>(
    config: &'a Config,
    test: &RestoreTestConfig,
    source: &str,
) -> ServerResult<Option<Picked<'a>>> {
    let src = config.source(source).ok_or_else(|| {
        failed(format!(
            "source `{source}` is not in {}",
            config.path.display()
        ))
    })?;
    let vault = open_vault(config, &test.vault)?;
    let Some((id, snap)) = pick_snapshot(&vault, test, source)? else {
        return Ok(None);
    };
    let index = vault
        .load_index()
        .map_err(|e| failed(format!("vault `{}`: {e}", test.vault)))?;
    Ok(Some(Picked {
        src,
        vault,
        index,
        id,
        snap,
    }))
}

fn execute(
    config: &Config,
    test: &RestoreTestConfig,
    p: Picked<'_>,
    t: &mut Run,
) -> ServerResult<()> {
    let Picked {
        src,
        vault,
        index,
        id,
        snap,
    } = p;
    t.details.snapshot = Some(id.to_hex());
    let spec = with_password(src)?;
    let ctx = Ctx {
        config,
        test,
        vault: &vault,
        index: &index,
        id,
        snap: &snap,
        spec: &spec,
    };
    match snap.source.kind.as_str() {
        "files" => test_files(&ctx, t),
        postgres::KIND => test_pg_dump(&ctx, t),
        pg_physical::KIND_BASE => test_pg_base(&ctx, t),
        mysql::KIND => test_mysql(&ctx, t),
        redis::KIND => test_redis(&ctx, t),
        command::KIND => test_command(&ctx, t),
        other => Err(failed(format!(
            "snapshot {} is a {other} snapshot, which restore tests do not handle",
            id.short()
        ))),
    }
}
