//! What the scheduler knows, as the catalog records it: the rules
//! ([`ScheduledRule`]), the jobs waiting to start and those running, and
//! per rule the newest scheduled time already handled ([`State`]).

use crate::config::{Config, RuleConfig};
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// A job's id in the catalog.
pub type JobId = i64;

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

impl State {
    /// A running job ended (whatever its outcome): its source is free.
    pub fn finish(&mut self, id: JobId) {
        self.running.retain(|r| r.id != id);
    }
}
