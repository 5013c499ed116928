//! `coffer serve`: the daemon loop.
//!
//! One thread decides and records; each job runs on a thread of its own:
//!
//! 1. At start: take the state directory's lock (a second daemon refuses to
//!    start), mark jobs left unfinished by a killed daemon ABORTED, and read
//!    each rule's last scheduled time (for catch-up).
//! 2. Each turn: read the clock, add the backup jobs that other processes
//!    (`coffer plan run`) are running to the busy sources, ask
//!    [`scheduler::decide`] what to do, record it in the catalog, start and
//!    stop job threads, and sleep until the next wake-up, a job's end, or a
//!    stop request (at most one second, so a stop is seen at once).
//! 3. On a stop request (SIGTERM, SIGINT): every running job is asked to stop
//!    (its backup ends without a snapshot, the vault stays consistent), the
//!    daemon waits for them, they are recorded ABORTED, and the lock is
//!    released.

use crate::catalog::{Catalog, JobOutcome, Trigger};
use crate::config::Config;
use crate::runner::Runner;
use crate::schedule::Clock;
use crate::scheduler::{self, JobRef, RunningJob, ScheduledRule, State};
use crate::state::StateDir;
use coffer_core::Cancel;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// The reason recorded for jobs stopped by SIGTERM.
pub const STOP_REASON: &str = "coffer serve was asked to stop (SIGTERM or SIGINT)";

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory or its lock.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The catalog.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
}

/// How the daemon runs.
pub struct DaemonOptions {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Set (by a signal handler) to stop the daemon.
    pub stop: Arc<AtomicBool>,
    /// Called with each line worth telling an operator (job started, ended).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
}

struct Running {
    cancel: Cancel,
    handle: std::thread::JoinHandle<()>,
}

/// A job thread ended: its source is free and its thread is joined.
fn reap(state: &mut State, running: &mut HashMap<i64, Running>, id: i64) {
    state.finish(id);
    if let Some(r) = running.remove(&id) {
        let _ = r.handle.join();
    }
}

/// Runs the daemon until `opts.stop` is set. Returns once every job has
/// stopped and been recorded.
pub fn serve(config: Config, opts: DaemonOptions) -> Result<(), DaemonError> {
    let state_dir = StateDir::new(config.state_dir.clone());
    let _lock = state_dir.lock_daemon()?;
    let catalog = Arc::new(state_dir.open_catalog()?);
    let aborted = catalog.abort_stale_running(crate::catalog::STALE_REASON)?;
    if !aborted.is_empty() {
        (opts.log)(&format!(
            "recorded {} job(s) left unfinished by an earlier daemon as ABORTED",
            aborted.len()
        ));
    }
    let rules = ScheduledRule::all(&config);
    let mut state = State::default();
    for r in config.rules() {
        if let Some(t) = catalog.last_scheduled(&r.plan, &r.name)? {
            state.last_scheduled.insert(r.id(), t);
        }
    }
    let runner = Arc::new(Runner::new(config.clone(), catalog.clone()));
    let (done_tx, done_rx) = mpsc::channel::<i64>();
    let mut running: HashMap<i64, Running> = HashMap::new();
    let mut first = true;
    (opts.log)(&format!(
        "coffer serve: {} rule(s), state in {}",
        rules.len(),
        state_dir.path().display()
    ));
    while !opts.stop.load(Ordering::SeqCst) {
        while let Ok(id) = done_rx.try_recv() {
            reap(&mut state, &mut running, id);
        }
        let now = opts.clock.now();
        // Backups that another process (coffer plan run) runs keep their
        // source busy too.
        let mut seen = state.clone();
        for j in catalog.running_jobs()? {
            if j.pid != std::process::id() && j.kind == crate::catalog::JobKind::Backup {
                if let Some(src) = j.source {
                    seen.running.push(RunningJob {
                        id: j.id.0,
                        source: src,
                        completion_deadline: None,
                    });
                }
            }
        }
        let d = scheduler::decide(&rules, &seen, now);
        let trigger = if first {
            Trigger::CatchUp
        } else {
            Trigger::Schedule
        };
        first = false;
        let mut created = Vec::new();
        for n in &d.create {
            let rc = config
                .rule(&n.rule)
                .expect("the scheduler only names configured rules");
            let id = runner.create_backup_job(
                rc,
                &n.source,
                trigger,
                Some((n.scheduled, n.start_deadline, n.completion_deadline)),
            )?;
            created.push(id.0);
        }
        let mut ids = created.iter().copied();
        let resolved = state.apply(&d, || ids.next().expect("one id per created job"));
        let resolve = |j: JobRef| match j {
            JobRef::Waiting(id) => id,
            JobRef::New(i) => resolved[i],
        };
        for e in &d.expire {
            let id = resolve(e.job);
            catalog.finish_job(crate::catalog::JobId(id), &JobOutcome::expired(&e.reason))?;
            (opts.log)(&format!("job {id} EXPIRED: {}", e.reason));
        }
        for s in &d.start {
            let id = resolve(s.job);
            // The rule and source of the job, as the scheduler knew them
            // (`seen` is the state before `apply`).
            let (rule_id, source) = match s.job {
                JobRef::New(i) => (&d.create[i].rule, &d.create[i].source),
                JobRef::Waiting(w) => {
                    let w = seen
                        .waiting
                        .iter()
                        .find(|j| j.id == w)
                        .expect("a waiting job the scheduler started");
                    (&w.rule, &w.source)
                }
            };
            let rc = config
                .rule(rule_id)
                .cloned()
                .expect("a job of a configured rule");
            let sc = config
                .source(source)
                .cloned()
                .expect("a job of a configured source");
            let cancel = Cancel::default();
            let (r2, c2, tx, log2) = (
                runner.clone(),
                cancel.clone(),
                done_tx.clone(),
                opts.log.clone(),
            );
            (opts.log)(&format!("job {id}: backing up {source} ({rule_id})"));
            let handle = std::thread::Builder::new()
                .name(format!("coffer-job-{id}"))
                .spawn(move || {
                    let o = r2.run_backup_job(crate::catalog::JobId(id), &rc, &sc, &c2);
                    log2(&format!(
                        "job {id} {}{}",
                        o.state,
                        o.reason
                            .as_deref()
                            .or(o.error.as_deref())
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ));
                    let _ = tx.send(id);
                })
                .expect("spawn a job thread");
            running.insert(id, Running { cancel, handle });
        }
        for s in &d.stop {
            if let Some(r) = running.get(&s.job) {
                r.cancel.cancel(s.reason.clone());
                (opts.log)(&format!("job {} stopping: {}", s.job, s.reason));
            }
        }
        for (rule, t) in &d.last_scheduled {
            let (plan, name) = rule.split_once('/').unwrap_or((rule, ""));
            catalog.set_last_scheduled(plan, name, *t)?;
        }
        // Sleep until something is due, a job ends, or a second passed.
        let now = opts.clock.now();
        let wait = match scheduler::next_wakeup(&rules, &state, now) {
            Some(w) => Duration::try_from(w.duration_since(now))
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(10), Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        if let Ok(id) = done_rx.recv_timeout(wait) {
            reap(&mut state, &mut running, id);
        }
    }
    (opts.log)(&format!(
        "coffer serve stopping: {} running job(s) asked to stop",
        running.len()
    ));
    for r in running.values() {
        r.cancel.cancel(STOP_REASON);
    }
    for (_, r) in running.drain() {
        let _ = r.handle.join();
    }
    // Jobs created but not started by this daemon end with it.
    for w in &state.waiting {
        let id = crate::catalog::JobId(w.id);
        if let Ok(j) = catalog.get_job(id) {
            if !j.state.is_final() {
                catalog.finish_job(id, &JobOutcome::aborted(STOP_REASON))?;
            }
        }
    }
    (opts.log)("coffer serve stopped");
    Ok(())
}

/// Runs every source of rule `plan/rule` of `config` now, one after the
/// other, recording each as a job started from the command line. A source
/// that another job is backing up is refused for that source. `now`, when
/// given, is the time retention and the cold tier call "now" (tests).
/// Returns each job's id and outcome.
pub fn run_rule_now(
    config: &Config,
    catalog: Arc<Catalog>,
    rule_id: &str,
    only_source: Option<&str>,
    cancel: &Cancel,
    now: Option<jiff::Timestamp>,
) -> Result<Vec<(crate::catalog::JobId, JobOutcome)>, String> {
    let rule = config
        .rule(rule_id)
        .ok_or_else(|| {
            format!(
                "no rule `{rule_id}` in {}: give PLAN/RULE as in `coffer config check`",
                config.path.display()
            )
        })?
        .clone();
    let sources: Vec<String> = match only_source {
        Some(s) if rule.sources.iter().any(|x| x == s) => vec![s.to_string()],
        Some(s) => {
            return Err(format!(
                "rule {rule_id} does not back up source `{s}` (it backs up: {})",
                rule.sources.join(", ")
            ))
        }
        None => rule.sources.clone(),
    };
    let mut runner = Runner::new(config.clone(), catalog.clone());
    if let Some(t) = now {
        runner = runner.with_clock(move || t);
    }
    let mut out = Vec::new();
    for s in sources {
        let busy = catalog
            .running_jobs()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|j| j.kind == crate::catalog::JobKind::Backup && j.source.as_deref() == Some(&s));
        let id = runner
            .create_backup_job(&rule, &s, Trigger::Cli, None)
            .map_err(|e| e.to_string())?;
        if let Some(b) = busy {
            let o = JobOutcome::expired(format!(
                "source `{s}` is being backed up by job {} (pid {}); one source is never backed up by two jobs at once",
                b.id.0, b.pid
            ));
            catalog.finish_job(id, &o).map_err(|e| e.to_string())?;
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
