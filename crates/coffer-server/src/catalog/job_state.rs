//! The names a job carries: [`JobKind`], [`JobState`] (AWS Backup's states
//! and the transitions allowed between them), [`Trigger`], [`EventLevel`]
//! and [`JobId`].
//!
//! `CREATED` → (`PENDING`) → `RUNNING` → a final state; `COMPLETED` and
//! `PARTIAL` only from `RUNNING`; `FAILED`, `EXPIRED`, `ABORTED` and
//! `SKIPPED` from any state that is not final. A final state never changes.
//!
//! `SKIPPED` is coffer's, not AWS's: a job that found nothing to work on
//! yet (a restore test of a source with no snapshot, a verification of an
//! empty vault). It is no verdict: a skipped restore test neither passes
//! nor fails a source's RTO, a skipped verification is no verification
//! status, and neither raises a failure event.

use serde::{Deserialize, Serialize};

use super::text_enum::{text_enum, ParseError};

text_enum!(
    /// What a job does.
    JobKind, "job kind", {
        /// Back up a source into a vault.
        Backup = "backup",
        /// Copy snapshots into a second vault.
        Copy = "copy",
        /// Restore a snapshot.
        Restore = "restore",
        /// Restore into scratch space and validate the result.
        RestoreTest = "restore-test",
        /// Check a vault (structure and data).
        Verify = "verify",
        /// Remove unreferenced data from a vault.
        Prune = "prune",
        /// Forget snapshots by the retention of a rule.
        Forget = "forget",
        /// Write a scheduled compliance report.
        Report = "report",
    }
);

text_enum!(
    /// The state of a job, named as in AWS Backup.
    JobState, "job state", {
        /// Recorded, not yet started.
        Created = "CREATED",
        /// Waiting to start (for a free slot or a lock).
        Pending = "PENDING",
        /// Running.
        Running = "RUNNING",
        /// Finished without errors.
        Completed = "COMPLETED",
        /// Finished, but left some things out (files skipped with warnings).
        Partial = "PARTIAL",
        /// Finished with an error.
        Failed = "FAILED",
        /// Did not start (or finish) within its window.
        Expired = "EXPIRED",
        /// Stopped before it finished (SIGTERM, a killed daemon, a user).
        Aborted = "ABORTED",
        /// Found nothing to work on yet (no snapshot to test or verify); the
        /// reason says what it waits for.
        Skipped = "SKIPPED",
    }
);

text_enum!(
    /// What started a job.
    Trigger, "trigger", {
        /// The rule's schedule came due.
        Schedule = "schedule",
        /// A run missed while the daemon was down, started at its next start.
        CatchUp = "catch-up",
        /// The command line (`coffer plan run`).
        Cli = "cli",
        /// The HTTP API.
        Api = "api",
        /// Follows a backup of its rule (a copy, the cold tier).
        Rule = "rule",
    }
);

text_enum!(
    /// How important an event is.
    EventLevel, "event level", {
        /// A state change or progress note.
        Info = "info",
        /// Something was left out or went wrong without failing the job.
        Warning = "warning",
        /// What failed the job.
        Error = "error",
    }
);

impl JobState {
    /// Whether the state is final (the job will never change again).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            JobState::Created | JobState::Pending | JobState::Running
        )
    }

    /// The states that are not final.
    pub const ACTIVE: &'static [JobState] =
        &[JobState::Created, JobState::Pending, JobState::Running];

    /// The final states.
    pub const FINAL: &'static [JobState] = &[
        JobState::Completed,
        JobState::Partial,
        JobState::Failed,
        JobState::Expired,
        JobState::Aborted,
        JobState::Skipped,
    ];

    /// The final states that judge a job's work: every final state but
    /// `SKIPPED` (a job that found nothing to work on says nothing about
    /// it). "The newest restore test of a source" is the newest job in one
    /// of these.
    pub const VERDICT: &'static [JobState] = &[
        JobState::Completed,
        JobState::Partial,
        JobState::Failed,
        JobState::Expired,
        JobState::Aborted,
    ];

    /// Whether a job in this state may move to `to`; on refusal, why.
    pub fn check_transition(self, to: JobState) -> Result<(), &'static str> {
        use JobState::*;
        if self.is_final() {
            return Err("a job in a final state never changes again");
        }
        match (self, to) {
            (Created, Pending | Running) | (Pending, Running) => Ok(()),
            (Running, Completed | Partial) => Ok(()),
            (_, Completed | Partial) => Err("only a RUNNING job can complete"),
            (_, Failed | Expired | Aborted | Skipped) => Ok(()),
            (_, Created) => Err("a job is CREATED only once"),
            (_, _) => Err("jobs only move forward: CREATED, PENDING, RUNNING, then a final state"),
        }
    }
}

/// A job's id: a positive integer, never reused. Shown as the bare number
/// (`42`); [`JobId::from_str`](std::str::FromStr) also takes `job-42`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(description = "A job's id: a positive integer, never reused.")]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for JobId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let t = s.trim();
        let digits = t
            .strip_prefix("job-")
            .or_else(|| t.strip_prefix('#'))
            .unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(JobId(n)),
            _ => Err(ParseError(format!(
                "`{s}` is not a job id: give the number `coffer jobs list` shows (e.g. 42)"
            ))),
        }
    }
}
