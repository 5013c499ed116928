//! The command line's side of notifications (issue 19): the commands that
//! run jobs without a daemon — `coffer plan run`, and `coffer backup` given
//! a configuration (`--config` / COFFER_CONFIG) that has `[[notify]]`
//! sinks — send the same notifications as `coffer serve`, through
//! coffer-server's [`deliver_pending`] (the same sinks, filters, retries,
//! cursors and claims, so a daemon running at the same time never sends an
//! event twice). Without `[[notify]]` nothing is sent and `coffer backup`
//! records nothing.

use anyhow::Result;
use coffer_server::catalog::{Catalog, JobId, JobKind, JobOutcome, JobState, NewJob, Trigger};
use coffer_server::config::Config;
use coffer_server::notify::{deliver_pending, COMMAND_NOTIFY_BUDGET};
use std::sync::Arc;
use std::time::Duration;

use crate::args::GlobalArgs;

/// The budget after a command that was interrupted (SIGTERM, SIGINT): the
/// process is about to be killed, so it only tries briefly.
const INTERRUPTED_BUDGET: Duration = Duration::from_secs(10);

/// Delivers the events `config`'s sinks have not been sent (those of the
/// jobs just run, and any left before), for at most
/// [`COMMAND_NOTIFY_BUDGET`] (less when `interrupted`). Problems are
/// warnings on standard error: a notification never fails the command.
pub fn deliver(config: &Config, catalog: &Arc<Catalog>, interrupted: bool) {
    if config.notify.is_empty() {
        return;
    }
    let budget = if interrupted {
        INTERRUPTED_BUDGET
    } else {
        COMMAND_NOTIFY_BUDGET
    };
    let results = deliver_pending(
        &config.notify,
        catalog,
        budget,
        Arc::new(|line: &str| eprintln!("warning: {line}")),
    );
    for (sink, r) in results {
        if !r.finished {
            eprintln!(
                "warning: notify `{sink}`: not every event was delivered within {}s; \
                 `coffer serve` or the next `coffer plan run` sends the rest",
                budget.as_secs()
            );
        }
    }
}

/// A `coffer backup` recorded as a job so that its sinks hear of it: the
/// configuration, its catalog, and the job.
pub struct RecordedBackup {
    config: Config,
    catalog: Arc<Catalog>,
    id: JobId,
}

/// Starts recording a `coffer backup` of `source` (its `--source-name`, if
/// any) into `vault` as a backup job (trigger `cli`), when an explicitly
/// given configuration has `[[notify]]` sinks; `None` otherwise, and for a
/// dry run. A configuration or catalog that cannot be used is a warning:
/// the backup runs all the same, unrecorded.
pub fn start_backup(
    g: &GlobalArgs,
    source: Option<&str>,
    vault: &str,
    dry_run: bool,
) -> Option<RecordedBackup> {
    g.config.as_ref()?;
    if dry_run {
        return None;
    }
    let r = (|| -> Result<Option<RecordedBackup>> {
        let config = crate::context::load_config(g)?;
        if config.notify.is_empty() {
            return Ok(None);
        }
        let state = crate::context::state(g, None)?;
        let catalog = Arc::new(crate::context::open_catalog(&state)?);
        let job = NewJob {
            source: source.map(str::to_string),
            vault: Some(vault.to_string()),
            ..NewJob::new(JobKind::Backup, Trigger::Cli)
        };
        let id = catalog.create_job(&job)?;
        catalog.start_job(id)?;
        Ok(Some(RecordedBackup {
            config,
            catalog,
            id,
        }))
    })();
    r.unwrap_or_else(|e| {
        eprintln!(
            "warning: this backup is not recorded and its notifications are not sent: {}",
            crate::error::message(&e)
        );
        None
    })
}

impl RecordedBackup {
    /// Records how the backup ended (`result`: its exit code or error) and
    /// delivers the notifications.
    pub fn finish(self, result: &Result<u8>) {
        let outcome = match result {
            Ok(0) => JobOutcome::new(JobState::Completed),
            Ok(3) => JobOutcome {
                reason: Some("completed with warnings (exit code 3)".into()),
                ..JobOutcome::new(JobState::Partial)
            },
            Ok(code) => JobOutcome::failed(format!("exit code {code}")),
            Err(e) => match e.downcast_ref::<crate::audit::Reported>() {
                Some(r) if r.code == 130 || r.code == 143 => JobOutcome::aborted(r.reason.clone()),
                _ => JobOutcome::failed(crate::error::message(e)),
            },
        };
        let interrupted = outcome.state == JobState::Aborted;
        if let Err(e) = self.catalog.finish_job(self.id, &outcome) {
            eprintln!(
                "warning: cannot record the end of job {} in the catalog: {e}",
                self.id.0
            );
        }
        deliver(&self.config, &self.catalog, interrupted);
    }
}
