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
//!    stop job threads, start the periodic tasks due (a restore test or
//!    verification whose first backup is under way waits for it, PENDING),
//!    and sleep until the next wake-up, a job's end, or a stop request (at
//!    most one second, so a stop is seen at once).
//! 3. On a stop request (SIGTERM, SIGINT): every running job is asked to stop
//!    (its backup ends without a snapshot, the vault stays consistent), the
//!    daemon waits for them, they are recorded ABORTED, and the lock is
//!    released.

use crate::catalog::{Catalog, JobOutcome, Trigger};
use crate::config::Config;
use crate::runner::Runner;
use crate::schedule::Clock;
use crate::scheduler::{self, JobRef, PeriodicTask, RunningJob, ScheduledRule, State, TaskKind};
use crate::state::StateDir;
use coffer_core::Cancel;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

pub use crate::rule_run::run_rule_now;

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
    /// The HTTP listener (`[server]`).
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
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

/// A job thread ended: its source (or task) is free and its thread is joined.
fn reap(state: &mut State, tasks: &mut Tasks, running: &mut HashMap<i64, Running>, id: i64) {
    state.finish(id);
    tasks.running.remove(&id);
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
    let monitoring = Monitoring::start(&config, &catalog, &opts)?;
    let rules = ScheduledRule::all(&config);
    let mut state = State::default();
    for r in config.rules() {
        if let Some(t) = catalog.last_scheduled(&r.plan, &r.name)? {
            state.last_scheduled.insert(r.id(), t);
        }
    }
    let runner = Arc::new(Runner::new(config.clone(), catalog.clone()));
    let fleet =
        crate::fleet::FleetAgent::start(runner.clone(), opts.clock.clone(), opts.log.clone());
    let mut tasks = Tasks::load(&config, &catalog)?;
    let (done_tx, done_rx) = mpsc::channel::<i64>();
    let mut running: HashMap<i64, Running> = HashMap::new();
    let mut first = true;
    let mut health_at: Option<jiff::Timestamp> = None;
    (opts.log)(&format!(
        "coffer serve: {} rule(s), {} periodic task(s), state in {}",
        rules.len(),
        tasks.tasks.len(),
        state_dir.path().display()
    ));
    while !opts.stop.load(Ordering::SeqCst) {
        while let Ok(id) = done_rx.try_recv() {
            reap(&mut state, &mut tasks, &mut running, id);
            monitoring.job_ended();
            fleet.job_ended();
            // Health (RPO, RTO) right after a job, not only once a minute.
            health_at = None;
        }
        let now = opts.clock.now();
        // Health (RPO, RTO, WAL lag) once a minute; it emits its own events.
        if health_at.is_none_or(|t| now.duration_since(t) >= crate::health::INTERVAL) {
            health_at = Some(now);
            let probe = crate::health::wal_probe(|v| runner.vault(v));
            if let Err(e) = crate::health::evaluate(&config, &catalog, now, &probe) {
                (opts.log)(&format!("health check failed: {e}"));
            }
        }
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
            let (r2, c2) = (runner.clone(), cancel.clone());
            (opts.log)(&format!("job {id}: backing up {source} ({rule_id})"));
            let handle = spawn_job(id, &opts, &done_tx, move || {
                r2.run_backup_job(crate::catalog::JobId(id), &rc, &sc, &c2)
            });
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
        tasks.turn(now, trigger, &runner, &done_tx, &mut running, &opts)?;
        // Sleep until something is due, a job ends, or a second passed.
        let now = opts.clock.now();
        let next = scheduler::next_wakeup(&rules, &state, now)
            .into_iter()
            .chain(tasks.next_wakeup(now))
            .min();
        let wait = match next {
            Some(w) => Duration::try_from(w.duration_since(now))
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(10), Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        if let Ok(id) = done_rx.recv_timeout(wait) {
            reap(&mut state, &mut tasks, &mut running, id);
            monitoring.job_ended();
            // Health (RPO, RTO) right after a job, not only once a minute.
            health_at = None;
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
    tasks.abort_held(&catalog)?;
    for w in &state.waiting {
        let id = crate::catalog::JobId(w.id);
        if let Ok(j) = catalog.get_job(id) {
            if !j.state.is_final() {
                catalog.finish_job(id, &JobOutcome::aborted(STOP_REASON))?;
            }
        }
    }
    monitoring.stop();
    fleet.stop();
    (opts.log)("coffer serve stopped");
    Ok(())
}

/// The daemon's periodic tasks ([`scheduler::PeriodicTask`]): the newest
/// scheduled time each has handled (kept in the catalog's key-value table),
/// the jobs running them with their completion deadlines, and those that
/// wait (PENDING) for the first backup of what they test.
struct Tasks {
    tasks: Vec<PeriodicTask>,
    last: std::collections::BTreeMap<String, jiff::Timestamp>,
    /// Job id → (task id, completion deadline).
    running: HashMap<i64, (String, jiff::Timestamp)>,
    /// Jobs waiting for a backup job to end: (job id, task index, the
    /// backup job).
    held: Vec<(i64, usize, crate::catalog::JobId)>,
}

impl Tasks {
    fn load(config: &Config, catalog: &Catalog) -> Result<Tasks, DaemonError> {
        let tasks = PeriodicTask::all(config);
        let mut last = std::collections::BTreeMap::new();
        for t in &tasks {
            if let Some(v) = catalog.kv_get(&t.kv_key())? {
                if let Ok(at) = v.parse() {
                    last.insert(t.id.clone(), at);
                }
            }
        }
        Ok(Tasks {
            tasks,
            last,
            running: HashMap::new(),
            held: Vec::new(),
        })
    }

    /// Starts job `id` of task `i` (scheduled at `scheduled`) on a thread of
    /// its own (for the caller to keep in its running jobs); its completion
    /// deadline is [`PeriodicTask::completion_deadline`].
    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        id: i64,
        i: usize,
        scheduled: Option<jiff::Timestamp>,
        now: jiff::Timestamp,
        runner: &Arc<Runner>,
        done_tx: &mpsc::Sender<i64>,
        opts: &DaemonOptions,
    ) -> Running {
        let task = self.tasks[i].clone();
        let deadline = task.completion_deadline(scheduled, now);
        self.running.insert(id, (task.id.clone(), deadline));
        let cancel = Cancel::default();
        let (r2, c2, clock) = (runner.clone(), cancel.clone(), opts.clock.clone());
        (opts.log)(&format!("job {id}: {}", task.kind.describe()));
        let handle = spawn_job(id, opts, done_tx, move || {
            run_task(&r2, &task.kind, crate::catalog::JobId(id), &c2, clock.now())
        });
        Running { cancel, handle }
    }

    /// Jobs still waiting for a backup end with the daemon (ABORTED).
    fn abort_held(&mut self, catalog: &Catalog) -> Result<(), DaemonError> {
        for (id, _, _) in self.held.drain(..) {
            catalog.finish_job(crate::catalog::JobId(id), &JobOutcome::aborted(STOP_REASON))?;
        }
        Ok(())
    }

    /// Starts the tasks due at `now` and stops runs past their deadline.
    fn turn(
        &mut self,
        now: jiff::Timestamp,
        trigger: Trigger,
        runner: &Arc<Runner>,
        done_tx: &mpsc::Sender<i64>,
        running: &mut HashMap<i64, Running>,
        opts: &DaemonOptions,
    ) -> Result<(), DaemonError> {
        let catalog = runner.catalog();
        // Held jobs whose backup has ended start now.
        let mut still = Vec::new();
        for (id, i, backup) in std::mem::take(&mut self.held) {
            match catalog.get_job(backup) {
                Ok(b) if !b.state.is_final() => still.push((id, i, backup)),
                _ => {
                    let r = self.start(id, i, None, now, runner, done_tx, opts);
                    running.insert(id, r);
                }
            }
        }
        self.held = still;
        let busy = self
            .running
            .values()
            .map(|(t, _)| t.clone())
            .chain(self.held.iter().map(|(_, i, _)| self.tasks[*i].id.clone()))
            .collect();
        let due = scheduler::due_tasks(&self.tasks, &self.last, &busy, now);
        for (task_id, t) in &due.last_scheduled {
            let key = self
                .tasks
                .iter()
                .find(|x| &x.id == task_id)
                .map(|x| x.kv_key());
            catalog.kv_set(&key.expect("a configured task"), &t.to_string())?;
            self.last.insert(task_id.clone(), *t);
        }
        // Runs past their start window are recorded, not run (as a rule's).
        for (i, scheduled, why) in &due.expire {
            let task = &self.tasks[*i];
            let mut job = task.kind.new_job(catalog, trigger)?;
            job.scheduled_at = Some(*scheduled);
            let id = catalog.create_job(&job)?;
            catalog.finish_job(id, &JobOutcome::expired(why.clone()))?;
            (opts.log)(&format!("job {} EXPIRED ({}): {why}", id.0, task.id));
        }
        for &(i, scheduled) in &due.run {
            let task = &self.tasks[i];
            let mut job = task.kind.new_job(catalog, trigger)?;
            job.scheduled_at = Some(scheduled);
            let wait = task
                .kind
                .first_backup_in_flight(catalog, &job, std::process::id())?;
            if wait.is_none() {
                job.complete_deadline = Some(task.completion_deadline(Some(scheduled), now));
            }
            let id = catalog.create_job(&job)?.0;
            match wait {
                Some((backup, why)) => {
                    catalog.set_pending(crate::catalog::JobId(id), &why)?;
                    (opts.log)(&format!("job {id} PENDING ({}): {why}", task.id));
                    self.held.push((id, i, backup));
                }
                None => {
                    let r = self.start(id, i, Some(scheduled), now, runner, done_tx, opts);
                    running.insert(id, r);
                }
            }
        }
        for (id, (task, deadline)) in &self.running {
            if now >= *deadline {
                if let Some(r) = running.get(id) {
                    let why = format!(
                        "stopped: {task} still running at its completion deadline {}",
                        deadline.strftime("%Y-%m-%d %H:%M:%S UTC")
                    );
                    if r.cancel.reason().is_none() {
                        (opts.log)(&format!("job {id} stopping: {why}"));
                    }
                    r.cancel.cancel(why);
                }
            }
        }
        Ok(())
    }

    fn next_wakeup(&self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let deadlines = self.running.values().map(|(_, d)| *d);
        scheduler::next_task_wakeup(&self.tasks, now)
            .into_iter()
            .chain(deadlines)
            .min()
    }
}

/// Runs job `id`'s `work` on a thread of its own, logs how it ended, and
/// reports its end on `done` (the daemon loop then reaps it).
fn spawn_job(
    id: i64,
    opts: &DaemonOptions,
    done: &mpsc::Sender<i64>,
    work: impl FnOnce() -> JobOutcome + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (log, done) = (opts.log.clone(), done.clone());
    std::thread::Builder::new()
        .name(format!("coffer-job-{id}"))
        .spawn(move || {
            let o = work();
            let why = o.reason.as_deref().or(o.error.as_deref());
            log(&format!(
                "job {id} {}{}",
                o.state,
                why.map(|r| format!(": {r}")).unwrap_or_default()
            ));
            let _ = done.send(id);
        })
        .expect("spawn a job thread")
}

/// Runs one run of a periodic task (job `id`, already CREATED); records
/// and returns its outcome. One arm per [`TaskKind`].
pub fn run_task(
    runner: &Runner,
    kind: &TaskKind,
    id: crate::catalog::JobId,
    cancel: &Cancel,
    now: jiff::Timestamp,
) -> JobOutcome {
    match kind {
        TaskKind::Verify(v) => crate::verify::run_entry(runner, v, id, cancel, now).outcome,
        TaskKind::Prune(p) => crate::prune::run_entry(runner, p, id, cancel).outcome,
        TaskKind::RestoreTest(t) => {
            let catalog = runner.catalog();
            match crate::restore_test::run_job(runner.config(), catalog, t, id, cancel) {
                Ok(_) => match catalog.get_job(id) {
                    Ok(j) => JobOutcome {
                        reason: j.reason,
                        error: j.error,
                        details: j.details,
                        ..JobOutcome::new(j.state)
                    },
                    Err(e) => JobOutcome::failed(e.to_string()),
                },
                Err(e) => record_failure(catalog, id, e.to_string()),
            }
        }
        TaskKind::Report(r) => {
            let catalog = runner.catalog();
            if let Err(e) = catalog.start_job(id) {
                return record_failure(catalog, id, e.to_string());
            }
            let o = match crate::report::run_scheduled(runner.config(), catalog, &r.name, now) {
                Ok((written, report)) => JobOutcome {
                    details: Some(serde_json::json!({
                        "written": written,
                        "summary": report.summary,
                    })),
                    ..JobOutcome::new(crate::catalog::JobState::Completed)
                },
                Err(e) => JobOutcome::failed(e.to_string()),
            };
            if let Err(e) = catalog.finish_job(id, &o) {
                return JobOutcome::failed(e.to_string());
            }
            o
        }
    }
}

/// Records job `id` FAILED with `error` (best effort: the catalog may be
/// what failed) and returns that outcome.
fn record_failure(catalog: &Catalog, id: crate::catalog::JobId, error: String) -> JobOutcome {
    let o = JobOutcome::failed(error);
    let _ = catalog.finish_job(id, &o);
    o
}

/// The daemon's monitoring side: the HTTP listener (`[server]`), the vault
/// storage monitor, and the notification dispatcher (`[[notify]]`). Each
/// runs on threads of its own; none can fail or delay a job.
struct Monitoring {
    stop: Arc<AtomicBool>,
    http: Option<crate::http::HttpServer>,
    storage: Option<crate::metrics::StorageMonitor>,
    notify: Option<crate::notify::Dispatcher>,
}

/// Threads stop with the daemon even when it ends early (an error).
impl Drop for Monitoring {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Monitoring {
    fn start(
        config: &Config,
        catalog: &Arc<Catalog>,
        opts: &DaemonOptions,
    ) -> Result<Monitoring, DaemonError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(crate::notify::NotifyStats::default());
        let notify = if config.notify.is_empty() {
            None
        } else {
            Some(crate::notify::Dispatcher::start(
                &config.notify,
                catalog.clone(),
                stop.clone(),
                stats.clone(),
                opts.log.clone(),
            )?)
        };
        let mut m = Monitoring {
            stop: stop.clone(),
            http: None,
            storage: None,
            notify,
        };
        let Some(server) = &config.server else {
            return Ok(m);
        };
        let storage = crate::metrics::StorageMonitor::start(
            config,
            server.storage_refresh,
            stop,
            opts.log.clone(),
        );
        let router = crate::http::router(crate::http::AppState {
            config: Arc::new(config.clone()),
            catalog: catalog.clone(),
            storage: storage.stats(),
            notify: stats,
            started_at: opts.clock.now(),
        });
        m.storage = Some(storage);
        match crate::http::HttpServer::start(server.listen, server.tls.as_ref(), router) {
            Ok(h) => {
                let scheme = if server.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                (opts.log)(&format!(
                    "listening on {scheme}://{addr} (/metrics, /healthz, /api/v1); the dashboard is at {scheme}://{addr}/",
                    addr = h.local_addr()
                ));
                m.http = Some(h);
                Ok(m)
            }
            Err(e) => {
                m.stop();
                Err(e.into())
            }
        }
    }

    /// A job ended: measure the vaults again soon.
    fn job_ended(&self) {
        if let Some(s) = &self.storage {
            s.trigger();
        }
    }

    /// Stops every part and waits for its threads.
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.http.take() {
            h.stop();
        }
        if let Some(s) = self.storage.take() {
            s.join();
        }
        if let Some(n) = self.notify.take() {
            n.join();
        }
    }
}
