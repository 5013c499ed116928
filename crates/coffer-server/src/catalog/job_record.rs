//! What is recorded of a job: the job to create ([`NewJob`]), how it ended
//! ([`JobOutcome`]), its counts ([`JobCounters`]), the recorded job
//! ([`Job`]) and the entries of its history ([`JobEvent`]), and the
//! selection of jobs to list ([`JobFilter`]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::job_state::{EventLevel, JobId, JobKind, JobState, Trigger};
use super::time_serde;

/// What a job counted. All zero until the job reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobCounters {
    /// Bytes read from the source (or the vault, for restores and checks).
    pub bytes_read: u64,
    /// Plaintext bytes of new data added to the vault.
    pub bytes_added: u64,
    /// Bytes stored for the new data (after compression and encryption).
    pub bytes_stored: u64,
    /// Files read because they are new.
    pub files_new: u64,
    /// Files read because they changed.
    pub files_changed: u64,
    /// Files taken unchanged from the parent snapshot.
    pub files_unmodified: u64,
    /// Warnings (entries skipped, …).
    pub warnings: u64,
}

impl From<&coffer_core::BackupSummary> for JobCounters {
    fn from(s: &coffer_core::BackupSummary) -> Self {
        JobCounters {
            bytes_read: s.bytes_read,
            bytes_added: s.bytes_added,
            bytes_stored: s.bytes_stored,
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_unmodified: s.files_unmodified,
            warnings: s.warnings,
        }
    }
}

impl std::ops::AddAssign for JobCounters {
    /// Sums two jobs' (or two snapshots') counts, e.g. the databases of one
    /// `--all-databases` backup.
    fn add_assign(&mut self, o: JobCounters) {
        self.bytes_read += o.bytes_read;
        self.bytes_added += o.bytes_added;
        self.bytes_stored += o.bytes_stored;
        self.files_new += o.files_new;
        self.files_changed += o.files_changed;
        self.files_unmodified += o.files_unmodified;
        self.warnings += o.warnings;
    }
}

/// A job to record ([`Catalog::create_job`](crate::catalog::Catalog::create_job)). Names are those of the
/// configuration (plan, rule, source, vault); absent when not applicable
/// (a manual restore has no plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What the job does.
    pub kind: JobKind,
    /// What started it.
    pub trigger: Trigger,
    /// The plan.
    pub plan: Option<String>,
    /// The rule of the plan.
    pub rule: Option<String>,
    /// The source it protects (or restores).
    pub source: Option<String>,
    /// The vault it works on (the source vault of a copy).
    pub vault: Option<String>,
    /// The destination vault of a copy.
    pub destination_vault: Option<String>,
    /// The time the schedule asked for (catch-up runs: the missed time).
    pub scheduled_at: Option<Timestamp>,
    /// The job expires if it has not started by then (the start window).
    pub start_deadline: Option<Timestamp>,
    /// The job is stopped if it has not finished by then (the completion window).
    pub complete_deadline: Option<Timestamp>,
}

impl NewJob {
    /// A job of `kind` started by `trigger`, with no names or times yet.
    pub fn new(kind: JobKind, trigger: Trigger) -> NewJob {
        NewJob {
            kind,
            trigger,
            plan: None,
            rule: None,
            source: None,
            vault: None,
            destination_vault: None,
            scheduled_at: None,
            start_deadline: None,
            complete_deadline: None,
        }
    }
}

/// How a job ended ([`Catalog::finish_job`](crate::catalog::Catalog::finish_job)).
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// The final state.
    pub state: JobState,
    /// Why it ended in this state (`SIGTERM`, `start window of 1h missed`,
    /// `3 files skipped`).
    pub reason: Option<String>,
    /// The error that failed it.
    pub error: Option<String>,
    /// Its counts (replace those recorded so far).
    pub counters: JobCounters,
    /// Snapshots it wrote (appended to those recorded so far).
    pub snapshot_ids: Vec<String>,
    /// Kind-specific results (a restore test's measured restore time, …):
    /// a JSON object, replacing any recorded before.
    pub details: Option<serde_json::Value>,
}

impl JobOutcome {
    /// Ends in `state` with nothing else to record.
    pub fn new(state: JobState) -> JobOutcome {
        JobOutcome {
            state,
            reason: None,
            error: None,
            counters: JobCounters::default(),
            snapshot_ids: Vec::new(),
            details: None,
        }
    }

    /// `COMPLETED`, or `PARTIAL` when the counters hold warnings.
    pub fn completed(counters: JobCounters, snapshot_ids: Vec<String>) -> JobOutcome {
        let partial = counters.warnings > 0;
        JobOutcome {
            state: if partial {
                JobState::Partial
            } else {
                JobState::Completed
            },
            reason: partial.then(|| match counters.warnings {
                1 => "1 warning (an entry skipped)".to_string(),
                n => format!("{n} warnings (entries skipped)"),
            }),
            counters,
            snapshot_ids,
            ..JobOutcome::new(JobState::Completed)
        }
    }

    /// `FAILED` with the error.
    pub fn failed(error: impl Into<String>) -> JobOutcome {
        JobOutcome {
            error: Some(error.into()),
            ..JobOutcome::new(JobState::Failed)
        }
    }

    /// `ABORTED` with the reason.
    pub fn aborted(reason: impl Into<String>) -> JobOutcome {
        JobOutcome {
            reason: Some(reason.into()),
            ..JobOutcome::new(JobState::Aborted)
        }
    }

    /// `EXPIRED` with the reason.
    pub fn expired(reason: impl Into<String>) -> JobOutcome {
        JobOutcome {
            reason: Some(reason.into()),
            ..JobOutcome::new(JobState::Expired)
        }
    }

    /// `SKIPPED` with the reason (what there was nothing of, and what the
    /// job waits for).
    pub fn skipped(reason: impl Into<String>) -> JobOutcome {
        JobOutcome {
            reason: Some(reason.into()),
            ..JobOutcome::new(JobState::Skipped)
        }
    }
}

/// A recorded job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// What started it.
    pub trigger: Trigger,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// The destination vault of a copy.
    pub destination_vault: Option<String>,
    /// The time the schedule asked for.
    #[serde(with = "time_serde::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_at: Option<Timestamp>,
    /// Start window end.
    #[serde(with = "time_serde::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start_deadline: Option<Timestamp>,
    /// Completion window end.
    #[serde(with = "time_serde::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub complete_deadline: Option<Timestamp>,
    /// When it was recorded.
    #[serde(with = "time_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it started running.
    #[serde(with = "time_serde::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    /// When it reached its final state.
    #[serde(with = "time_serde::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// The host of the process that owns (runs) it.
    pub host: String,
    /// That process's pid.
    pub pid: u32,
    /// Its counts.
    #[serde(flatten)]
    pub counters: JobCounters,
    /// Snapshots it wrote, in order.
    pub snapshot_ids: Vec<String>,
    /// The error that failed it.
    pub error: Option<String>,
    /// Why it ended in its state.
    pub reason: Option<String>,
    /// Kind-specific results (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl Job {
    /// How long it ran (start to finish, or to `now` while running).
    pub fn duration(&self, now: Timestamp) -> Option<jiff::SignedDuration> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now).duration_since(start))
    }
}

/// One entry of a job's history: a state change, a warning, an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobEvent {
    /// The event's id (increasing).
    pub id: i64,
    /// The job.
    pub job_id: JobId,
    /// When.
    #[serde(with = "time_serde")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// How important.
    pub level: EventLevel,
    /// The state entered, when the event is a state change.
    pub state: Option<JobState>,
    /// What happened.
    pub message: String,
}

/// Selects jobs for [`Catalog::list_jobs`](crate::catalog::Catalog::list_jobs). Empty lists and `None` match
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Any of these states.
    pub states: Vec<JobState>,
    /// Any of these kinds.
    pub kinds: Vec<JobKind>,
    /// This plan.
    pub plan: Option<String>,
    /// This rule (of any plan, unless `plan` is set too).
    pub rule: Option<String>,
    /// This source.
    pub source: Option<String>,
    /// This vault (as source or destination).
    pub vault: Option<String>,
    /// Created at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}
