//! The scheduler's decisions, as a pure function of the rules, what the
//! catalog knows, and the time: which jobs to create, start, expire and stop.
//! No I/O and no clock of its own, so that tests run simulated months in
//! milliseconds and the daemon loop is only "read state, [`decide`], record
//! and act".
//!
//! The rules it follows (AWS Backup's, where AWS has one):
//!
//! - A rule fires at each time of its schedule. For every source it selects,
//!   a job is created (CREATED) with a start deadline of scheduled time +
//!   `start_window`.
//! - One source is never backed up by two jobs at once. A job whose source
//!   is busy waits; one still waiting at its start deadline becomes EXPIRED,
//!   with the reason naming the job that kept the source busy. When a newer
//!   run of the same rule for the same source is created while an older one
//!   waits, the older one is EXPIRED (superseded): a backlog of identical
//!   backups helps nobody.
//! - A job must finish by its scheduled time + `completion_window` (AWS's
//!   StartBackupJob counts the completion window from the scheduled time,
//!   adding nothing for a late start); a job still running then is stopped,
//!   and the daemon records it ABORTED with the reason. So the deadline is
//!   known when the job is created, and a job that starts late has less
//!   time, as it should: the next run is coming.
//! - Catch-up: [`State::last_scheduled`] holds, per rule, the newest
//!   scheduled time already handled. Times missed since (the daemon was down,
//!   or the machine slept) are handled on the next call: the newest runs if
//!   still inside its start window; every older one, and the newest if its
//!   window has passed, is recorded EXPIRED and not run. A rule seen for the
//!   first time starts from `now`: it does not backfill.

use crate::config::{Config, RuleConfig};
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A job's id in the catalog.
pub type JobId = i64;

/// At most this many missed runs of one rule are recorded in one call; older
/// ones are only counted in the reason (`@every 1m` over a month of downtime
/// must not write 40 000 rows).
pub const MAX_MISSED_RECORDED: usize = 100;

/// A rule as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct ScheduledRule {
    /// `plan/rule`.
    pub id: String,
    /// When it fires.
    pub schedule: Schedule,
    /// The zone its schedule is read in.
    pub timezone: TimeZone,
    /// How long after its scheduled time a job may still start.
    pub start_window: SignedDuration,
    /// How long after its scheduled time a job may run.
    pub completion_window: SignedDuration,
    /// The sources it backs up, by name.
    pub sources: Vec<String>,
}

impl From<&RuleConfig> for ScheduledRule {
    fn from(r: &RuleConfig) -> Self {
        ScheduledRule {
            id: r.id(),
            schedule: r.schedule.clone(),
            timezone: r.timezone.clone(),
            start_window: r.start_window,
            completion_window: r.completion_window,
            sources: r.sources.clone(),
        }
    }
}

impl ScheduledRule {
    /// Every rule of a configuration.
    pub fn all(config: &Config) -> Vec<ScheduledRule> {
        config.rules().map(ScheduledRule::from).collect()
    }
}

/// A job created and not started yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingJob {
    /// Its catalog id.
    pub id: JobId,
    /// The rule (`plan/rule`).
    pub rule: String,
    /// The source.
    pub source: String,
    /// When it was scheduled.
    pub scheduled: Timestamp,
    /// It expires if not started by then.
    pub start_deadline: Timestamp,
    /// It is stopped if still running then.
    pub completion_deadline: Timestamp,
}

/// A job running now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    /// Its catalog id.
    pub id: JobId,
    /// The source it reads (busy until it ends).
    pub source: String,
    /// When it must be stopped; `None` for no limit (a manual run).
    pub completion_deadline: Option<Timestamp>,
}

/// What the scheduler needs to know, as the catalog records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Per rule id, the newest scheduled time already handled.
    pub last_scheduled: BTreeMap<String, Timestamp>,
    /// Jobs created and not started.
    pub waiting: Vec<WaitingJob>,
    /// Jobs running.
    pub running: Vec<RunningJob>,
}

/// A job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The rule (`plan/rule`).
    pub rule: String,
    /// The source.
    pub source: String,
    /// Its scheduled time.
    pub scheduled: Timestamp,
    /// scheduled + start_window.
    pub start_deadline: Timestamp,
    /// scheduled + completion_window.
    pub completion_deadline: Timestamp,
}

/// A job a decision is about: one already waiting, or one of
/// [`Decisions::create`] by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobRef {
    /// A waiting job of the state.
    Waiting(JobId),
    /// `Decisions::create[i]`.
    New(usize),
}

/// Start a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The job.
    pub job: JobRef,
    /// Stop it if it is still running then (the job's completion deadline).
    pub completion_deadline: Timestamp,
}

/// Record a job EXPIRED without running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expire {
    /// The job.
    pub job: JobRef,
    /// Why, for the operator.
    pub reason: String,
}

/// Stop a running job cleanly; the daemon records it ABORTED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The job.
    pub job: JobId,
    /// Why, for the operator.
    pub reason: String,
}

/// What to do now. The daemon applies it in this order: create, expire,
/// start, stop; then stores `last_scheduled`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// Jobs to create (CREATED); some are expired or started at once below.
    pub create: Vec<NewJob>,
    /// Jobs to record EXPIRED.
    pub expire: Vec<Expire>,
    /// Jobs to start (RUNNING).
    pub start: Vec<Start>,
    /// Running jobs past their completion deadline.
    pub stop: Vec<Stop>,
    /// New values of [`State::last_scheduled`].
    pub last_scheduled: Vec<(String, Timestamp)>,
}

impl Decisions {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.expire.is_empty()
            && self.start.is_empty()
            && self.stop.is_empty()
            && self.last_scheduled.is_empty()
    }
}

fn fmt_ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn fmt_dur(d: SignedDuration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Decides what to do at `now`. Pure: the same inputs give the same
/// decisions.
pub fn decide(rules: &[ScheduledRule], state: &State, now: Timestamp) -> Decisions {
    let mut d = Decisions::default();
    let mut expired: HashSet<JobRef> = HashSet::new();

    // 1. Runs that came due since the last call (or were missed while down).
    for rule in rules {
        let Some(&last) = state.last_scheduled.get(&rule.id) else {
            // A new rule starts from now.
            d.last_scheduled.push((rule.id.clone(), now));
            continue;
        };
        let Some(newest) = rule.schedule.prev_at_or_before(now, &rule.timezone) else {
            continue;
        };
        if newest <= last {
            continue;
        }
        d.last_scheduled.push((rule.id.clone(), newest));
        // Older missed times, newest first, bounded.
        let mut older = Vec::new();
        let mut t = newest;
        let mut truncated = false;
        while let Some(p) = rule
            .schedule
            .prev_at_or_before(t - SignedDuration::from_secs(1), &rule.timezone)
        {
            if p <= last {
                break;
            }
            if older.len() == MAX_MISSED_RECORDED {
                truncated = true;
                break;
            }
            older.push(p);
            t = p;
        }
        let newest_runs = now < newest + rule.start_window;
        let window = fmt_dur(rule.start_window);
        for source in &rule.sources {
            for (i, &t) in older.iter().enumerate().rev() {
                let mut reason = if t + rule.start_window > now && newest_runs {
                    format!(
                        "superseded: the run scheduled at {} replaces it (a rule catches up once)",
                        fmt_ts(newest)
                    )
                } else {
                    format!(
                        "missed: not started within its start window ({window}) after {}; the daemon was not running",
                        fmt_ts(t)
                    )
                };
                if truncated && i + 1 == older.len() {
                    reason.push_str(&format!(
                        " (earlier missed runs since {} are not recorded one by one)",
                        fmt_ts(last)
                    ));
                }
                d.expire.push(Expire {
                    job: JobRef::New(d.create.len()),
                    reason,
                });
                expired.insert(JobRef::New(d.create.len()));
                d.create.push(NewJob {
                    rule: rule.id.clone(),
                    source: source.clone(),
                    scheduled: t,
                    start_deadline: t + rule.start_window,
                    completion_deadline: t + rule.completion_window,
                });
            }
            if !newest_runs {
                d.expire.push(Expire {
                    job: JobRef::New(d.create.len()),
                    reason: format!(
                        "missed: not started within its start window ({window}) after {}; the daemon was not running",
                        fmt_ts(newest)
                    ),
                });
                expired.insert(JobRef::New(d.create.len()));
            }
            d.create.push(NewJob {
                rule: rule.id.clone(),
                source: source.clone(),
                scheduled: newest,
                start_deadline: newest + rule.start_window,
                completion_deadline: newest + rule.completion_window,
            });
        }
    }

    // 2. Every job that could start: those waiting and those just created.
    struct Cand<'a> {
        job: JobRef,
        rule: &'a str,
        source: &'a str,
        scheduled: Timestamp,
        start_deadline: Timestamp,
        completion_deadline: Timestamp,
    }
    let mut cands: Vec<Cand> = state
        .waiting
        .iter()
        .map(|w| Cand {
            job: JobRef::Waiting(w.id),
            rule: &w.rule,
            source: &w.source,
            scheduled: w.scheduled,
            start_deadline: w.start_deadline,
            completion_deadline: w.completion_deadline,
        })
        .chain(d.create.iter().enumerate().map(|(i, n)| Cand {
            job: JobRef::New(i),
            rule: &n.rule,
            source: &n.source,
            scheduled: n.scheduled,
            start_deadline: n.start_deadline,
            completion_deadline: n.completion_deadline,
        }))
        .filter(|c| !expired.contains(&c.job))
        .collect();
    // Oldest first: the order jobs start in, and the order that makes "the
    // newest of a rule and source" the last one seen.
    cands.sort_by_key(|c| {
        let order = match c.job {
            JobRef::Waiting(id) => (0, id),
            JobRef::New(i) => (1, i as i64),
        };
        (c.scheduled, order)
    });

    let busy: HashMap<&str, JobId> = state
        .running
        .iter()
        .map(|r| (r.source.as_str(), r.id))
        .collect();

    // Superseded: an older waiting run of the same rule and source.
    let mut newest_of: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        newest_of.insert((c.rule, c.source), i);
    }
    let mut started_sources: HashSet<&str> = HashSet::new();
    for (i, c) in cands.iter().enumerate() {
        let newest = newest_of[&(c.rule, c.source)];
        if newest != i {
            d.expire.push(Expire {
                job: c.job,
                reason: format!(
                    "superseded: a newer run of rule {} for source {} (scheduled at {}) was created while this one waited",
                    c.rule,
                    c.source,
                    fmt_ts(cands[newest].scheduled)
                ),
            });
            continue;
        }
        if now >= c.start_deadline {
            let why = match busy.get(c.source) {
                Some(id) => format!("; source {} was busy with job {id}", c.source),
                None => String::new(),
            };
            d.expire.push(Expire {
                job: c.job,
                reason: format!(
                    "not started within its start window: scheduled at {}, deadline {} passed{why}",
                    fmt_ts(c.scheduled),
                    fmt_ts(c.start_deadline)
                ),
            });
            continue;
        }
        if busy.contains_key(c.source) || started_sources.contains(c.source) {
            continue; // waits for its source
        }
        started_sources.insert(c.source);
        d.start.push(Start {
            job: c.job,
            completion_deadline: c.completion_deadline,
        });
    }

    // 3. Running jobs past their completion deadline.
    for r in &state.running {
        if let Some(deadline) = r.completion_deadline {
            if now >= deadline {
                d.stop.push(Stop {
                    job: r.id,
                    reason: format!(
                        "stopped: still running at its completion deadline {}",
                        fmt_ts(deadline)
                    ),
                });
            }
        }
    }
    d
}

/// When [`decide`] next has something to do by the clock alone: the next
/// scheduled run of any rule, or the nearest start or completion deadline.
/// (A job ending frees its source: call [`decide`] then too.) `None` when
/// nothing is ever due.
pub fn next_wakeup(rules: &[ScheduledRule], state: &State, now: Timestamp) -> Option<Timestamp> {
    let runs = rules
        .iter()
        .filter_map(|r| r.schedule.next_after(now, &r.timezone));
    let starts = state.waiting.iter().map(|w| w.start_deadline);
    let ends = state.running.iter().filter_map(|r| r.completion_deadline);
    runs.chain(starts).chain(ends).min()
}

impl State {
    /// Applies decisions to this in-memory state, as the catalog records
    /// them: created jobs get ids from `next_id`, expired ones leave, started
    /// ones run. Stopped jobs stay running until the caller reports their
    /// end with [`State::finish`]. Returns the ids given to
    /// [`Decisions::create`], by index.
    pub fn apply(&mut self, d: &Decisions, mut next_id: impl FnMut() -> JobId) -> Vec<JobId> {
        let ids: Vec<JobId> = d.create.iter().map(|_| next_id()).collect();
        let resolve = |j: JobRef| match j {
            JobRef::Waiting(id) => id,
            JobRef::New(i) => ids[i],
        };
        for (n, &id) in d.create.iter().zip(&ids) {
            self.waiting.push(WaitingJob {
                id,
                rule: n.rule.clone(),
                source: n.source.clone(),
                scheduled: n.scheduled,
                start_deadline: n.start_deadline,
                completion_deadline: n.completion_deadline,
            });
        }
        let gone: HashSet<JobId> = d.expire.iter().map(|e| resolve(e.job)).collect();
        self.waiting.retain(|w| !gone.contains(&w.id));
        for s in &d.start {
            let id = resolve(s.job);
            if let Some(i) = self.waiting.iter().position(|w| w.id == id) {
                let w = self.waiting.remove(i);
                self.running.push(RunningJob {
                    id,
                    source: w.source,
                    completion_deadline: Some(s.completion_deadline),
                });
            }
        }
        for (rule, t) in &d.last_scheduled {
            self.last_scheduled.insert(rule.clone(), *t);
        }
        ids
    }

    /// A running job ended (whatever its outcome): its source is free.
    pub fn finish(&mut self, id: JobId) {
        self.running.retain(|r| r.id != id);
    }
}

// ---------------------------------------------------------------------------
// Periodic tasks: work the daemon runs on a schedule besides backup rules
// (verifications now; restore tests and reports next). One arm of
// [`TaskKind`] per kind; the daemon creates the job
// ([`TaskKind::new_job`]) and runs it (`daemon::run_task`).
//
// Semantics, simpler than rules' because a task has no source to keep free
// and no start window: a task runs when its schedule's newest time is newer
// than the last one handled. Runs missed while the daemon was down, or while
// the previous run of the same task was still going, collapse into one run,
// as soon as possible (catch-up: a verification due last night still runs
// this morning). A task seen for the first time starts from `now`. Its
// completion window counts from when it starts.

/// What a periodic task does.
#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A `[[verify]]` entry.
    Verify(crate::config::VerifyConfig),
    /// A `[[restore_test]]` entry.
    RestoreTest(crate::config::RestoreTestConfig),
    /// A `[[report]]` entry.
    Report(crate::config::ReportConfig),
}

impl TaskKind {
    /// The job to record for one run (a restore test reads the catalog
    /// to pick the source it tests).
    pub fn new_job(
        &self,
        catalog: &crate::catalog::Catalog,
        trigger: crate::catalog::Trigger,
    ) -> crate::catalog::Result<crate::catalog::NewJob> {
        Ok(match self {
            TaskKind::Verify(v) => crate::verify::new_job(&v.vault, Some(&v.name), trigger),
            TaskKind::RestoreTest(t) => crate::restore_test::new_job(catalog, t, trigger)?,
            TaskKind::Report(r) => {
                let mut j = crate::catalog::NewJob::new(crate::catalog::JobKind::Report, trigger);
                j.rule = Some(r.name.clone());
                if let crate::config::ReportTarget::Vault(v) = &r.target {
                    j.vault = Some(v.clone());
                }
                j
            }
        })
    }

    /// What a run does, for the log (`verifying vault main (weekly)`).
    pub fn describe(&self) -> String {
        match self {
            TaskKind::Verify(v) => format!(
                "verifying vault {} ({}; verify {})",
                v.vault,
                v.data.describe(),
                v.name
            ),
            TaskKind::RestoreTest(t) => format!(
                "restore test {} (vault {}, timeout {})",
                t.name,
                t.vault,
                humantime::format_duration(t.timeout.unsigned_abs())
            ),
            TaskKind::Report(r) => format!("writing report {}", r.name),
        }
    }
}

/// A periodic task as the scheduler needs it.
#[derive(Debug, Clone)]
pub struct PeriodicTask {
    /// `KIND/NAME` (`verify/weekly`): unique, and the key of its last
    /// handled time in the catalog ([`PeriodicTask::kv_key`]).
    pub id: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The zone its schedule is read in.
    pub timezone: TimeZone,
    /// A run still going this long after it started is stopped.
    pub completion_window: SignedDuration,
    /// What it does.
    pub kind: TaskKind,
}

impl PeriodicTask {
    /// Every periodic task of a configuration.
    pub fn all(config: &Config) -> Vec<PeriodicTask> {
        let verify = config.verify.iter().map(|v| PeriodicTask {
            id: format!("verify/{}", v.name),
            schedule: v.schedule.clone(),
            timezone: v.timezone.clone(),
            completion_window: v.completion_window,
            kind: TaskKind::Verify(v.clone()),
        });
        // A restore test stops itself at its timeout (TIMED_OUT); the
        // completion window is only a backstop past it.
        let restore_tests = config.restore_tests.iter().map(|t| PeriodicTask {
            id: format!("restore-test/{}", t.name),
            schedule: t.schedule.clone(),
            timezone: t.timezone.clone(),
            completion_window: t.timeout + SignedDuration::from_mins(10),
            kind: TaskKind::RestoreTest(t.clone()),
        });
        let reports = config.reports.iter().map(|r| PeriodicTask {
            id: format!("report/{}", r.name),
            schedule: r.schedule.clone(),
            timezone: r.timezone.clone(),
            completion_window: SignedDuration::from_hours(1),
            kind: TaskKind::Report(r.clone()),
        });
        verify.chain(restore_tests).chain(reports).collect()
    }

    /// The catalog key-value key holding the newest scheduled time handled.
    pub fn kv_key(&self) -> String {
        format!("task/{}/last_scheduled", self.id)
    }
}

/// What [`due_tasks`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueTasks {
    /// Tasks to run now, by index, with their scheduled time.
    pub run: Vec<(usize, Timestamp)>,
    /// New last handled times, per task id.
    pub last_scheduled: Vec<(String, Timestamp)>,
}

/// Which tasks are due at `now`, given per task id the newest scheduled
/// time already handled (`last`) and the tasks still running (`busy`).
/// Pure, like [`decide`].
pub fn due_tasks(
    tasks: &[PeriodicTask],
    last: &BTreeMap<String, Timestamp>,
    busy: &HashSet<String>,
    now: Timestamp,
) -> DueTasks {
    let mut d = DueTasks::default();
    for (i, t) in tasks.iter().enumerate() {
        let Some(&prev) = last.get(&t.id) else {
            d.last_scheduled.push((t.id.clone(), now));
            continue;
        };
        let Some(newest) = t.schedule.prev_at_or_before(now, &t.timezone) else {
            continue;
        };
        if newest <= prev || busy.contains(&t.id) {
            continue;
        }
        d.run.push((i, newest));
        d.last_scheduled.push((t.id.clone(), newest));
    }
    d
}

/// When a task is next due after `now` (for the daemon's sleep).
pub fn next_task_wakeup(tasks: &[PeriodicTask], now: Timestamp) -> Option<Timestamp> {
    tasks
        .iter()
        .filter_map(|t| t.schedule.next_after(now, &t.timezone))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Clock, ManualClock};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rule(id: &str, schedule: &str, tz: &str, start: &str, sources: &[&str]) -> ScheduledRule {
        ScheduledRule {
            id: id.into(),
            schedule: Schedule::parse(schedule).unwrap(),
            timezone: TimeZone::get(tz).unwrap(),
            start_window: humantime::parse_duration(start)
                .unwrap()
                .try_into()
                .unwrap(),
            completion_window: SignedDuration::from_hours(7 * 24),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Outcome {
        Completed,
        Expired(String),
        Aborted(String),
    }

    #[derive(Debug, Clone)]
    struct Record {
        rule: String,
        source: String,
        scheduled: Timestamp,
        started: Option<Timestamp>,
        ended: Option<Timestamp>,
        outcome: Option<Outcome>,
    }

    /// A daemon without I/O: a manual clock, the in-memory state, jobs that
    /// take `duration(rule)` to run, and the record of every job.
    struct Sim {
        clock: ManualClock,
        rules: Vec<ScheduledRule>,
        state: State,
        jobs: BTreeMap<JobId, Record>,
        ends: BTreeMap<JobId, Timestamp>,
        duration: Box<dyn Fn(&str) -> SignedDuration>,
        next_id: JobId,
        ticks: usize,
    }

    impl Sim {
        fn new(
            start: &str,
            rules: Vec<ScheduledRule>,
            duration: impl Fn(&str) -> SignedDuration + 'static,
        ) -> Sim {
            Sim {
                clock: ManualClock::new(ts(start)),
                rules,
                state: State::default(),
                jobs: BTreeMap::new(),
                ends: BTreeMap::new(),
                duration: Box::new(duration),
                next_id: 1,
                ticks: 0,
            }
        }

        fn tick(&mut self) {
            self.ticks += 1;
            let now = self.clock.now();
            // Jobs that ended by now free their sources first.
            let done: Vec<JobId> = self
                .ends
                .iter()
                .filter(|(_, &e)| e <= now)
                .map(|(&id, _)| id)
                .collect();
            for id in done {
                let end = self.ends.remove(&id).unwrap();
                self.state.finish(id);
                let r = self.jobs.get_mut(&id).unwrap();
                r.ended = Some(end);
                r.outcome = Some(Outcome::Completed);
            }
            let d = decide(&self.rules, &self.state, now);
            let mut n = self.next_id;
            let ids = self.state.apply(&d, || {
                n += 1;
                n - 1
            });
            self.next_id = n;
            for (job, &id) in d.create.iter().zip(&ids) {
                self.jobs.insert(
                    id,
                    Record {
                        rule: job.rule.clone(),
                        source: job.source.clone(),
                        scheduled: job.scheduled,
                        started: None,
                        ended: None,
                        outcome: None,
                    },
                );
            }
            let id_of = |j: JobRef| match j {
                JobRef::Waiting(id) => id,
                JobRef::New(i) => ids[i],
            };
            for e in &d.expire {
                let r = self.jobs.get_mut(&id_of(e.job)).unwrap();
                assert!(r.started.is_none() && r.outcome.is_none());
                r.outcome = Some(Outcome::Expired(e.reason.clone()));
            }
            for s in &d.start {
                let id = id_of(s.job);
                let r = self.jobs.get_mut(&id).unwrap();
                assert!(r.outcome.is_none());
                r.started = Some(now);
                // Never two jobs for one source at once.
                let running_same = self
                    .state
                    .running
                    .iter()
                    .filter(|x| x.source == r.source)
                    .count();
                assert_eq!(running_same, 1, "two jobs for source {} at {now}", r.source);
                self.ends.insert(id, now + (self.duration)(&r.rule));
            }
            for s in &d.stop {
                self.ends.remove(&s.job);
                self.state.finish(s.job);
                let r = self.jobs.get_mut(&s.job).unwrap();
                r.ended = Some(now);
                r.outcome = Some(Outcome::Aborted(s.reason.clone()));
            }
        }

        /// Ticks every `step` until `until`, and at every wakeup and job end
        /// in between (as the daemon's loop would).
        fn run_until(&mut self, until: &str, step: SignedDuration) {
            let until = ts(until);
            loop {
                self.tick();
                let now = self.clock.now();
                if now >= until {
                    break;
                }
                let mut next = now + step;
                if let Some(w) = next_wakeup(&self.rules, &self.state, now) {
                    next = next.min(w);
                }
                if let Some(&e) = self.ends.values().min() {
                    next = next.min(e);
                }
                self.clock.set(next.min(until));
            }
        }

        fn of_rule(&self, rule: &str) -> Vec<&Record> {
            self.jobs.values().filter(|r| r.rule == rule).collect()
        }
    }

    fn local(t: Timestamp, tz: &str) -> String {
        t.to_zoned(TimeZone::get(tz).unwrap())
            .strftime("%Y-%m-%d %H:%M %z")
            .to_string()
    }

    #[test]
    fn daily_cron_over_a_year_with_dst() {
        let rules = vec![rule(
            "p/nightly",
            "30 2 * * *",
            "Europe/Berlin",
            "1h",
            &["etc", "home"],
        )];
        let mut sim = Sim::new("2026-01-01T00:00:00Z", rules, |_| {
            SignedDuration::from_mins(20)
        });
        sim.run_until("2027-01-01T00:00:00Z", SignedDuration::from_mins(7));
        assert!(sim.ticks > 50_000, "{} ticks", sim.ticks);
        let jobs = sim.of_rule("p/nightly");
        // 364 runs (the first day's 02:30 is the 1st, after the rule appeared
        // at 00:00 UTC = 01:00 local: so 365 days), two sources each.
        assert_eq!(jobs.len(), 2 * 365);
        for r in &jobs {
            assert_eq!(r.outcome, Some(Outcome::Completed), "{r:?}");
            assert_eq!(r.started, Some(r.scheduled), "starts on time: {r:?}");
        }
        let etc: Vec<String> = jobs
            .iter()
            .filter(|r| r.source == "etc")
            .map(|r| local(r.scheduled, "Europe/Berlin"))
            .collect();
        // Spring forward: 02:30 does not exist, runs at 03:00; fall back:
        // once, in the first 02:30.
        assert!(etc.contains(&"2026-03-28 02:30 +0100".to_string()));
        assert!(etc.contains(&"2026-03-29 03:00 +0200".to_string()));
        assert!(etc.contains(&"2026-03-30 02:30 +0200".to_string()));
        assert!(etc.contains(&"2026-10-25 02:30 +0200".to_string()));
        assert!(!etc.contains(&"2026-10-25 02:30 +0100".to_string()));
        // Exactly one a day.
        let days: HashSet<&str> = etc.iter().map(|s| &s[..10]).collect();
        assert_eq!(days.len(), 365);
        // The two sources are different sources: they run side by side.
        let home_first = jobs.iter().find(|r| r.source == "home").unwrap();
        assert_eq!(home_first.started, Some(home_first.scheduled));
    }

    #[test]
    fn every_ten_minutes_for_a_month() {
        let rules = vec![rule("p/often", "@every 10m", "UTC", "5m", &["db"])];
        let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |_| {
            SignedDuration::from_mins(3)
        });
        sim.run_until("2026-05-30T23:55:00Z", SignedDuration::from_mins(1));
        let jobs = sim.of_rule("p/often");
        // From 00:10 on the 1st (the rule appeared at 00:00) to 23:50 on the 30th.
        assert_eq!(jobs.len(), 30 * 24 * 6 - 1);
        assert!(jobs.iter().all(|r| r.outcome == Some(Outcome::Completed)));
        for w in jobs.windows(2) {
            assert_eq!(
                w[1].scheduled.duration_since(w[0].scheduled),
                SignedDuration::from_mins(10)
            );
        }
    }

    #[test]
    fn a_slow_job_makes_the_next_wait_then_expire() {
        // Each job takes 25 minutes; runs come every 10 with a 15-minute
        // start window. Never two at once; the runs in between expire.
        let rules = vec![rule("p/often", "@every 10m", "UTC", "15m", &["db"])];
        let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |_| {
            SignedDuration::from_mins(25)
        });
        sim.run_until("2026-05-02T00:00:00Z", SignedDuration::from_mins(1));
        let jobs = sim.of_rule("p/often");
        let completed: Vec<_> = jobs
            .iter()
            .filter(|r| r.outcome == Some(Outcome::Completed))
            .collect();
        let expired: Vec<_> = jobs
            .iter()
            .filter(|r| matches!(r.outcome, Some(Outcome::Expired(_))))
            .collect();
        assert!(!completed.is_empty() && !expired.is_empty());
        // No overlap.
        for w in completed.windows(2) {
            assert!(w[1].started.unwrap() >= w[0].ended.unwrap());
        }
        // Every job either ran, or expired with a reason; none started late.
        for r in &jobs {
            if let Some(s) = r.started {
                assert!(s < r.scheduled + SignedDuration::from_mins(15));
            }
        }
        assert!(
            expired.iter().any(
                |r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("superseded"))
            ),
            "{expired:?}"
        );
    }

    #[test]
    fn start_window_expires_when_the_source_stays_busy() {
        // A weekly full backup runs 5 hours; an hourly one with a 20-minute
        // window on the same source cannot start meanwhile.
        let rules = vec![
            rule("p/weekly", "0 1 * * SUN", "UTC", "8h", &["db"]),
            rule("p/hourly", "30 * * * *", "UTC", "20m", &["db"]),
        ];
        let mut sim = Sim::new("2026-05-01T00:00:00Z", rules, |r| {
            if r == "p/weekly" {
                SignedDuration::from_hours(5)
            } else {
                SignedDuration::from_mins(10)
            }
        });
        sim.run_until("2026-06-01T00:00:00Z", SignedDuration::from_mins(5));
        let weekly = sim.of_rule("p/weekly");
        assert_eq!(weekly.len(), 5); // the Sundays of May 2026: 3, 10, 17, 24, 31
        assert!(weekly.iter().all(|r| r.outcome == Some(Outcome::Completed)));
        let weekly_id = *sim
            .jobs
            .iter()
            .find(|(_, r)| r.rule == "p/weekly")
            .unwrap()
            .0;
        let hourly = sim.of_rule("p/hourly");
        let expired: Vec<_> = hourly
            .iter()
            .filter_map(|r| match &r.outcome {
                Some(Outcome::Expired(m)) => Some((r.scheduled, m.clone())),
                _ => None,
            })
            .collect();
        // Every Sunday, 01:30 to 05:30 expire while the weekly job runs
        // (01:00-06:00); nothing else does.
        assert_eq!(expired.len(), 5 * 5, "{expired:?}");
        let may3: Vec<_> = expired
            .iter()
            .filter(|(t, _)| t.to_string().starts_with("2026-05-03"))
            .collect();
        assert_eq!(may3.len(), 5, "{may3:?}");
        for (_, m) in &may3 {
            assert!(
                m.contains(&format!("source db was busy with job {weekly_id}")),
                "{m}"
            );
        }
        let after = hourly
            .iter()
            .find(|r| r.scheduled == ts("2026-05-03T06:30:00Z"))
            .unwrap();
        assert_eq!(after.started, Some(after.scheduled));
        assert_eq!(
            hourly
                .iter()
                .filter(|r| r.outcome == Some(Outcome::Completed))
                .count(),
            hourly.len() - 25
        );
    }

    #[test]
    fn catch_up_after_three_days_down() {
        let rules = vec![rule("p/daily", "0 5 * * *", "UTC", "8h", &["etc"])];
        let mut sim = Sim::new("2026-06-01T00:00:00Z", rules.clone(), |_| {
            SignedDuration::from_mins(30)
        });
        sim.run_until("2026-06-02T04:00:00Z", SignedDuration::from_mins(10));
        assert_eq!(sim.of_rule("p/daily").len(), 1); // June 1st
                                                     // Down from June 2nd 04:00 to June 5th 06:00: missed the 2nd, 3rd,
                                                     // 4th and 5th; the 5th is still inside its 8-hour window.
        sim.clock.set(ts("2026-06-05T06:00:00Z"));
        sim.tick();
        let jobs = sim.of_rule("p/daily");
        assert_eq!(jobs.len(), 5);
        let by_day: BTreeMap<String, &Record> =
            jobs.iter().map(|r| (r.scheduled.to_string(), *r)).collect();
        for day in ["2026-06-02", "2026-06-03", "2026-06-04"] {
            let r = by_day[&format!("{day}T05:00:00Z")];
            assert!(
                matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("missed")),
                "{r:?}"
            );
        }
        let r = by_day["2026-06-05T05:00:00Z"];
        assert_eq!(r.started, Some(ts("2026-06-05T06:00:00Z")));

        // Same, but back only at 14:00: the 5th's window (8h) is over too.
        let mut sim = Sim::new("2026-06-01T00:00:00Z", rules, |_| {
            SignedDuration::from_mins(30)
        });
        sim.run_until("2026-06-02T04:00:00Z", SignedDuration::from_mins(10));
        sim.clock.set(ts("2026-06-05T14:00:00Z"));
        sim.tick();
        let jobs = sim.of_rule("p/daily");
        assert_eq!(jobs.len(), 5);
        assert_eq!(jobs.iter().filter(|r| r.started.is_some()).count(), 1);
        // And the daemon goes on normally.
        sim.run_until("2026-06-07T00:00:00Z", SignedDuration::from_mins(10));
        let jobs = sim.of_rule("p/daily");
        assert_eq!(jobs.len(), 6);
        assert_eq!(
            jobs.iter()
                .filter(|r| r.outcome == Some(Outcome::Completed))
                .count(),
            2
        );
    }

    #[test]
    fn catch_up_runs_once_for_frequent_schedules() {
        // @every 10m, 1-hour start window, down 3 days: only the newest runs,
        // and the missed ones are recorded up to the bound.
        let rules = vec![rule("p/often", "@every 10m", "UTC", "1h", &["db"])];
        let mut sim = Sim::new("2026-06-01T00:00:00Z", rules, |_| {
            SignedDuration::from_mins(1)
        });
        sim.tick();
        sim.clock.set(ts("2026-06-04T00:05:00Z"));
        sim.tick();
        let jobs = sim.of_rule("p/often");
        assert_eq!(jobs.len(), MAX_MISSED_RECORDED + 1);
        let started: Vec<_> = jobs.iter().filter(|r| r.started.is_some()).collect();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].scheduled, ts("2026-06-04T00:00:00Z"));
        let superseded = jobs
            .iter()
            .filter(|r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("superseded")))
            .count();
        assert_eq!(superseded, 5); // 23:10 .. 23:50 were still inside their window
        assert!(jobs.iter().any(|r| matches!(&r.outcome, Some(Outcome::Expired(m)) if m.contains("not recorded one by one"))));
    }

    #[test]
    fn completion_deadline_stops_a_job() {
        let mut r = rule("p/daily", "0 5 * * *", "UTC", "1h", &["huge"]);
        r.completion_window = SignedDuration::from_hours(3);
        let mut sim = Sim::new("2026-06-01T00:00:00Z", vec![r], |_| {
            SignedDuration::from_hours(30)
        });
        sim.run_until("2026-06-04T00:00:00Z", SignedDuration::from_mins(15));
        let jobs = sim.of_rule("p/daily");
        assert_eq!(jobs.len(), 3);
        for j in jobs {
            assert_eq!(j.ended, Some(j.scheduled + SignedDuration::from_hours(3)));
            assert!(
                matches!(&j.outcome, Some(Outcome::Aborted(m)) if m.contains("completion deadline")),
                "{j:?}"
            );
        }
    }

    #[test]
    fn a_late_start_keeps_the_deadline_of_its_scheduled_time() {
        let mut r = rule("p/daily", "0 5 * * *", "UTC", "8h", &["db"]);
        r.completion_window = SignedDuration::from_hours(10);
        let mut state = State::default();
        state
            .last_scheduled
            .insert("p/daily".into(), ts("2026-06-01T04:00:00Z"));
        state.running.push(RunningJob {
            id: 7,
            source: "db".into(),
            completion_deadline: None,
        });
        // 05:00: created, waits for job 7.
        let d = decide(&[r.clone()], &state, ts("2026-06-01T05:00:00Z"));
        assert_eq!(d.create.len(), 1);
        assert_eq!(d.create[0].start_deadline, ts("2026-06-01T13:00:00Z"));
        assert_eq!(d.create[0].completion_deadline, ts("2026-06-01T15:00:00Z"));
        assert!(d.start.is_empty());
        let ids = state.apply(&d, || 8);
        assert_eq!(ids, [8]);
        // 09:00: job 7 ended; job 8 starts, to be stopped at 15:00.
        state.finish(7);
        let d = decide(&[r], &state, ts("2026-06-01T09:00:00Z"));
        assert_eq!(
            d.start,
            [Start {
                job: JobRef::Waiting(8),
                completion_deadline: ts("2026-06-01T15:00:00Z")
            }]
        );
    }

    #[test]
    fn a_new_rule_does_not_backfill() {
        let rules = vec![rule("p/daily", "0 5 * * *", "UTC", "8h", &["etc"])];
        let d = decide(&rules, &State::default(), ts("2026-06-01T06:00:00Z"));
        assert!(d.create.is_empty());
        assert_eq!(
            d.last_scheduled,
            vec![("p/daily".to_string(), ts("2026-06-01T06:00:00Z"))]
        );
        // Nothing due: nothing to do, and the wakeup is the next run.
        let mut s = State::default();
        s.apply(&d, || 1);
        let d = decide(&rules, &s, ts("2026-06-01T07:00:00Z"));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            next_wakeup(&rules, &s, ts("2026-06-01T07:00:00Z")),
            Some(ts("2026-06-02T05:00:00Z"))
        );
    }

    fn task(id: &str, schedule: &str) -> PeriodicTask {
        let config = crate::config::Config::parse(
            &format!(
                "[[vault]]\nname = \"v\"\nurl = \"/v\"\nkey_file = \"k\"\n[[verify]]\nname = \"{id}\"\nvault = \"v\"\nschedule = \"{schedule}\"\n"
            ),
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        PeriodicTask::all(&config).remove(0)
    }

    #[test]
    fn periodic_tasks_run_when_due_once_and_never_twice_at_once() {
        let tasks = vec![task("a", "0 3 * * *")];
        assert_eq!(tasks[0].id, "verify/a");
        let mut last = BTreeMap::new();
        let mut busy = HashSet::new();
        // First seen: starts from now, no backfill.
        let d = due_tasks(&tasks, &last, &busy, ts("2026-03-01T12:00:00Z"));
        assert!(d.run.is_empty());
        last.insert("verify/a".to_string(), ts("2026-03-01T12:00:00Z"));
        // Not due yet.
        assert_eq!(
            due_tasks(&tasks, &last, &busy, ts("2026-03-02T02:59:59Z")),
            DueTasks::default()
        );
        // Three days down: one run, at the newest time.
        let d = due_tasks(&tasks, &last, &busy, ts("2026-03-04T10:00:00Z"));
        assert_eq!(d.run, vec![(0, ts("2026-03-04T03:00:00Z"))]);
        assert_eq!(
            d.last_scheduled,
            vec![("verify/a".to_string(), ts("2026-03-04T03:00:00Z"))]
        );
        // Still running at the next time: it waits, then runs once.
        busy.insert("verify/a".to_string());
        last.insert("verify/a".to_string(), ts("2026-03-04T03:00:00Z"));
        assert!(due_tasks(&tasks, &last, &busy, ts("2026-03-05T03:00:00Z"))
            .run
            .is_empty());
        busy.clear();
        let d = due_tasks(&tasks, &last, &busy, ts("2026-03-05T04:00:00Z"));
        assert_eq!(d.run, vec![(0, ts("2026-03-05T03:00:00Z"))]);
        assert_eq!(
            next_task_wakeup(&tasks, ts("2026-03-05T04:00:00Z")),
            Some(ts("2026-03-06T03:00:00Z"))
        );
    }
}
