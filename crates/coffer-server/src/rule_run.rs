//! Running a rule now, outside its schedule: [`run_rule_now`] is the one
//! function that `POST /api/v1/rules/{plan}/{rule}/run` and `coffer plan
//! run` (as `coffer_server::daemon::run_rule_now`) both call, on top of the
//! [`Runner`] and below both front ends (the daemon starts the HTTP server,
//! not the reverse).

use crate::catalog::{Catalog, JobOutcome, Trigger};
use crate::config::Config;
use crate::model::{ServerError, ServerResult};
use crate::runner::Runner;
use coffer_core::Cancel;
use std::sync::Arc;

pub use crate::runner::Watch;

/// How [`run_rule_now`] runs a rule.
pub struct RunNow<'a> {
    /// Only this source of the rule (all of them when `None`).
    pub only_source: Option<&'a str>,
    /// Stops the jobs (SIGTERM, SIGINT).
    pub cancel: &'a Cancel,
    /// The time retention and the cold tier call "now", when given (tests).
    pub now: Option<jiff::Timestamp>,
    /// Who asked for it: the command line or the API.
    pub trigger: Trigger,
    /// Who watches each backup's counters, if anyone.
    pub watch: Option<Watch>,
}

/// Runs every source of rule `plan/rule` of `config` now, one after the
/// other, recording each as a job with `how.trigger`. A source that
/// another job is backing up is refused for that source. Returns each
/// job's id and outcome.
pub fn run_rule_now(
    config: &Config,
    catalog: Arc<Catalog>,
    rule_id: &str,
    how: RunNow<'_>,
) -> ServerResult<Vec<(crate::catalog::JobId, JobOutcome)>> {
    let RunNow {
        only_source,
        cancel,
        now,
        trigger,
        watch,
    } = how;
    let rule = config
        .rule(rule_id)
        .ok_or_else(|| {
            ServerError::usage(format!(
                "no rule `{rule_id}` in {}: give PLAN/RULE as in `coffer config check`",
                config.path.display()
            ))
        })?
        .clone();
    let sources: Vec<String> = match only_source {
        Some(s) if rule.sources.iter().any(|x| x == s) => vec![s.to_string()],
        Some(s) => {
            return Err(ServerError::usage(format!(
                "rule {rule_id} does not back up source `{s}` (it backs up: {})",
                rule.sources.join(", ")
            )))
        }
        None => rule.sources.clone(),
    };
    let mut runner = Runner::new(config.clone(), catalog.clone());
    if let Some(t) = now {
        runner = runner.with_clock(move || t);
    }
    if let Some(w) = watch {
        runner = runner.with_watch(w);
    }
    let mut out = Vec::new();
    for s in sources {
        let busy = catalog
            .running_jobs()
            .map_err(|e| ServerError::internal(e.to_string()))?
            .into_iter()
            .find(|j| j.kind == crate::catalog::JobKind::Backup && j.source.as_deref() == Some(&s));
        let id = runner
            .create_backup_job(&rule, &s, trigger, None)
            .map_err(|e| ServerError::internal(e.to_string()))?;
        if let Some(b) = busy {
            let o = JobOutcome::expired(format!(
                "source `{s}` is being backed up by job {} (pid {}); one source is never backed up by two jobs at once",
                b.id.0, b.pid
            ));
            catalog
                .finish_job(id, &o)
                .map_err(|e| ServerError::internal(e.to_string()))?;
            out.push((id, o));
            continue;
        }
        let sc = config.source(&s).expect("configured source").clone();
        let o = runner.run_backup_job(id, &rule, &sc, cancel);
        out.push((id, o));
        if cancel.reason().is_some() {
            break;
        }
    }
    Ok(out)
}
