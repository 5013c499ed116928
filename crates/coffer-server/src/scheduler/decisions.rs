//! What to do now ([`Decisions`]): jobs to create, expire, start and stop,
//! and the new last handled times; how they apply to an in-memory
//! [`State`]; and how the reasons write times and windows.

use super::state::{JobId, RunningJob, State, WaitingJob};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;

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
}

pub(super) fn fmt_ts(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub(super) fn fmt_dur(d: SignedDuration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
