//! Periodic tasks: work the daemon runs on a schedule besides backup rules
//! (verifications, prunes, restore tests, reports). One arm of
//! [`TaskKind`] per kind; the daemon creates the job
//! ([`TaskKind::new_job`]) and runs it (`daemon::run_task`).
//!
//! Semantics, simpler than rules' because a task has no source to keep free
//! and no start window: a task runs when its schedule's newest time is newer
//! than the last one handled. Runs missed while the daemon was down, or while
//! the previous run of the same task was still going, collapse into one run,
//! as soon as possible (catch-up: a verification due last night still runs
//! this morning). A task seen for the first time starts from `now`. Its
//! completion window counts from when it starts.
//!
//! A task with a start window (`[[prune]]` entries) follows the rules'
//! windows instead: a run that cannot start within its start window after
//! its scheduled time (the daemon was down, or the previous run still
//! going) is recorded EXPIRED and not run, and its completion window
//! counts from the scheduled time.
//!
//! A restore test or verification whose first backup is under way waits
//! for it ([`TaskKind::first_backup_in_flight`]): its job is PENDING with
//! the reason, and starts when that backup ends.

use crate::config::Config;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashSet};

/// What a periodic task does.
#[derive(Debug, Clone)]
pub enum TaskKind {
    /// A `[[verify]]` entry.
    Verify(crate::config::VerifyConfig),
    /// A `[[restore_test]]` entry.
    RestoreTest(crate::config::RestoreTestConfig),
    /// A `[[report]]` entry.
    Report(crate::config::ReportConfig),
    /// A `[[prune]]` entry.
    Prune(crate::config::PruneConfig),
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
            TaskKind::Prune(p) => crate::prune::new_job(&p.vault, Some(&p.name), trigger),
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

    /// The first backup a run (`job`, from [`TaskKind::new_job`]) waits
    /// for, with why: a restore test waits while the first backup of the
    /// source it tests into its vault is under way (created, pending or
    /// running in this process, `pid`), a verification while the first
    /// backup into its vault is; "first": the catalog has no COMPLETED or
    /// PARTIAL one yet. So the daemon's first minute, when every `@every`
    /// task comes due at once, tests and verifies the first snapshot
    /// instead of an empty vault. `None`: run now (a run that then finds no
    /// snapshot is SKIPPED, saying when the first backup is due).
    pub fn first_backup_in_flight(
        &self,
        catalog: &crate::catalog::Catalog,
        job: &crate::catalog::NewJob,
        pid: u32,
    ) -> crate::catalog::Result<Option<(crate::catalog::JobId, String)>> {
        use crate::catalog::{JobFilter, JobKind, JobState};
        let (source, why) = match self {
            TaskKind::RestoreTest(_) => {
                (job.source.clone(), "a restore test needs a snapshot of it")
            }
            TaskKind::Verify(_) => (None, "an empty vault has nothing to verify"),
            TaskKind::Report(_) | TaskKind::Prune(_) => return Ok(None),
        };
        let Some(vault) = job.vault.clone() else {
            return Ok(None);
        };
        let backups = |states: &[JobState]| {
            catalog.list_jobs(&JobFilter {
                kinds: vec![JobKind::Backup],
                states: states.to_vec(),
                source: source.clone(),
                vault: Some(vault.clone()),
                ..Default::default()
            })
        };
        if !backups(&[JobState::Completed, JobState::Partial])?.is_empty() {
            return Ok(None);
        }
        let first = backups(JobState::ACTIVE)?
            .into_iter()
            .filter(|j| j.pid == pid && j.vault.as_deref() == Some(vault.as_str()))
            .min_by_key(|j| j.id);
        Ok(first.map(|j| {
            let of = match &source {
                Some(s) => format!("source `{s}` into vault `{vault}`"),
                None => format!(
                    "vault `{vault}` (source `{}`)",
                    j.source.unwrap_or_default()
                ),
            };
            (
                j.id,
                format!(
                    "waits for backup job {}, the first backup of {of}: {why}",
                    j.id
                ),
            )
        }))
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
            TaskKind::Prune(p) => format!(
                "pruning vault {} (repacking below {}%, at most {}% of its data; prune {})",
                p.vault, p.repack_below, p.max_repack_percent, p.name
            ),
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
    /// A run still going this long after it started (or, with a start
    /// window, after its scheduled time) is stopped.
    pub completion_window: SignedDuration,
    /// A run not started this long after its scheduled time is EXPIRED;
    /// `None`: it runs whenever it can (catch-up).
    pub start_window: Option<SignedDuration>,
    /// What it does.
    pub kind: TaskKind,
}

impl PeriodicTask {
    /// Every periodic task of a configuration.
    pub fn all(config: &Config) -> Vec<PeriodicTask> {
        let task = |kind: &str, name: &str, schedule: &Schedule, tz: &TimeZone, window, what| {
            PeriodicTask {
                id: format!("{kind}/{name}"),
                schedule: schedule.clone(),
                timezone: tz.clone(),
                completion_window: window,
                start_window: None,
                kind: what,
            }
        };
        let mut out = Vec::new();
        for v in &config.verify {
            let what = TaskKind::Verify(v.clone());
            out.push(task(
                "verify",
                &v.name,
                &v.schedule,
                &v.timezone,
                v.completion_window,
                what,
            ));
        }
        for p in &config.prune {
            let what = TaskKind::Prune(p.clone());
            out.push(PeriodicTask {
                start_window: Some(p.start_window),
                ..task(
                    "prune",
                    &p.name,
                    &p.schedule,
                    &p.timezone,
                    p.completion_window,
                    what,
                )
            });
        }
        // A restore test stops itself at its timeout (TIMED_OUT); the
        // completion window is only a backstop past it.
        for t in &config.restore_tests {
            let window = t.timeout + SignedDuration::from_mins(10);
            let what = TaskKind::RestoreTest(t.clone());
            out.push(task(
                "restore-test",
                &t.name,
                &t.schedule,
                &t.timezone,
                window,
                what,
            ));
        }
        for r in &config.reports {
            let window = SignedDuration::from_hours(1);
            let what = TaskKind::Report(r.clone());
            out.push(task(
                "report",
                &r.name,
                &r.schedule,
                &r.timezone,
                window,
                what,
            ));
        }
        out
    }

    /// When a run scheduled at `scheduled` and started at `started` must
    /// end: its completion window from the scheduled time when the task has
    /// a start window (as a rule's run), from its start otherwise.
    pub fn completion_deadline(
        &self,
        scheduled: Option<Timestamp>,
        started: Timestamp,
    ) -> Timestamp {
        let from = match (self.start_window, scheduled) {
            (Some(_), Some(t)) => t,
            _ => started,
        };
        from + self.completion_window
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
    /// Runs to record EXPIRED, not run: by index, with their scheduled time
    /// and why.
    pub expire: Vec<(usize, Timestamp, String)>,
}

/// Which tasks are due at `now`, given per task id the newest scheduled
/// time already handled (`last`) and the tasks still running (`busy`).
/// Pure, like [`decide`](super::decide).
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
        if let Some(w) = t.start_window {
            if now >= newest + w {
                d.expire.push((
                    i,
                    newest,
                    format!(
                        "missed: not started within its start window ({}) after {}; the daemon was not running, or the previous run of {} was still going",
                        humantime::format_duration(w.unsigned_abs()),
                        newest.strftime("%Y-%m-%d %H:%M:%S UTC"),
                        t.id
                    ),
                ));
                d.last_scheduled.push((t.id.clone(), newest));
                continue;
            }
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
