//! Events: what operators are told about. Every event has a stable name
//! ([`EventName`], e.g. `BACKUP_JOB_FAILED`, `RPO_VIOLATED`), a severity,
//! the resources it concerns (plan, rule, source, vault, job) and a message.
//!
//! Events are rows of the catalog's `events` table, written in the same
//! transaction as what caused them:
//!
//! - job state changes write theirs themselves ([`job_event_name`]):
//!   [`Catalog::start_job`](crate::catalog::Catalog::start_job) writes
//!   `…_STARTED`, [`Catalog::finish_job`](crate::catalog::Catalog::finish_job)
//!   the final one (`BACKUP_JOB_COMPLETED`, `VERIFY_FAILED`,
//!   `RESTORE_TEST_TIMED_OUT`, …). Whoever runs a job — the daemon, `coffer
//!   plan run`, `coffer verify` — therefore produces its events;
//! - checks that are not jobs (RPO, size anomalies, WAL archive lag) call
//!   [`Catalog::emit`](crate::catalog::Catalog::emit).
//!
//! Consumers (notification sinks, metrics, the API) read the table in id
//! order ([`Catalog::events`](crate::catalog::Catalog::events) with
//! `after_id`), each keeping its own cursor (e.g. in the catalog's
//! key-value table, [`Catalog::kv_get`](crate::catalog::Catalog::kv_get)).
//! A consumer that fails never fails the job that produced the event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::{time_serde, JobId, JobKind, JobState};

crate::catalog::text_enum!(
    /// The stable name of an event (never renamed: sinks filter on it).
    EventName, "event name", {
        /// A backup job started running.
        BackupJobStarted = "BACKUP_JOB_STARTED",
        /// A backup job completed.
        BackupJobCompleted = "BACKUP_JOB_COMPLETED",
        /// A backup job completed with some entries skipped.
        BackupJobPartial = "BACKUP_JOB_PARTIAL",
        /// A backup job failed.
        BackupJobFailed = "BACKUP_JOB_FAILED",
        /// A backup job did not start (or finish) within its window.
        BackupJobExpired = "BACKUP_JOB_EXPIRED",
        /// A backup job was stopped (SIGTERM, a killed daemon).
        BackupJobAborted = "BACKUP_JOB_ABORTED",
        /// A copy job started.
        CopyJobStarted = "COPY_JOB_STARTED",
        /// A copy job completed.
        CopyJobCompleted = "COPY_JOB_COMPLETED",
        /// A copy job failed.
        CopyJobFailed = "COPY_JOB_FAILED",
        /// A copy job expired.
        CopyJobExpired = "COPY_JOB_EXPIRED",
        /// A copy job was stopped.
        CopyJobAborted = "COPY_JOB_ABORTED",
        /// A restore job started.
        RestoreJobStarted = "RESTORE_JOB_STARTED",
        /// A restore job completed.
        RestoreJobCompleted = "RESTORE_JOB_COMPLETED",
        /// A restore job failed.
        RestoreJobFailed = "RESTORE_JOB_FAILED",
        /// A restore job was stopped.
        RestoreJobAborted = "RESTORE_JOB_ABORTED",
        /// A restore test started.
        RestoreTestStarted = "RESTORE_TEST_STARTED",
        /// A restore test restored and validated its snapshot.
        RestoreTestSuccessful = "RESTORE_TEST_SUCCESSFUL",
        /// A restore test failed (restore or validation).
        RestoreTestFailed = "RESTORE_TEST_FAILED",
        /// A restore test exceeded its time limit.
        RestoreTestTimedOut = "RESTORE_TEST_TIMED_OUT",
        /// A verification started.
        VerifyStarted = "VERIFY_STARTED",
        /// A verification found no damage.
        VerifyPassed = "VERIFY_PASSED",
        /// A verification found damage (or could not run).
        VerifyFailed = "VERIFY_FAILED",
        /// A prune started.
        PruneStarted = "PRUNE_STARTED",
        /// A prune completed.
        PruneCompleted = "PRUNE_COMPLETED",
        /// A prune failed.
        PruneFailed = "PRUNE_FAILED",
        /// A forget (retention) job completed.
        ForgetCompleted = "FORGET_COMPLETED",
        /// A forget (retention) job failed.
        ForgetFailed = "FORGET_FAILED",
        /// No good snapshot of a source within its RPO.
        RpoViolated = "RPO_VIOLATED",
        /// A snapshot's size deviates from the moving median of the last ones.
        SizeAnomaly = "SIZE_ANOMALY",
        /// PostgreSQL WAL archiving lags behind.
        WalArchiveLag = "WAL_ARCHIVE_LAG",
    }
);

crate::catalog::text_enum!(
    /// How bad an event is. Ordered: `info < warning < error`.
    Severity, "severity", {
        /// Something happened as it should.
        Info = "info",
        /// Something needs a look (a partial backup, an expired job, an anomaly).
        Warning = "warning",
        /// Something failed.
        Error = "error",
    }
);

impl EventName {
    /// The severity events of this name have.
    pub fn severity(self) -> Severity {
        use EventName::*;
        match self {
            BackupJobFailed | CopyJobFailed | RestoreJobFailed | RestoreTestFailed
            | RestoreTestTimedOut | VerifyFailed | PruneFailed | ForgetFailed | RpoViolated => {
                Severity::Error
            }
            BackupJobPartial | BackupJobExpired | BackupJobAborted | CopyJobExpired
            | CopyJobAborted | RestoreJobAborted | SizeAnomaly | WalArchiveLag => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// The event a job writes when it enters `state`; `None` for states (and
/// kinds) that have none. `details` are the job's details: a restore test
/// whose details say `"validation": "TIMED_OUT"` is `RESTORE_TEST_TIMED_OUT`
/// (see [`crate::records::RestoreTestDetails`]).
pub fn job_event_name(
    kind: JobKind,
    state: JobState,
    details: Option<&serde_json::Value>,
) -> Option<EventName> {
    use EventName::*;
    use JobKind as K;
    use JobState as S;
    Some(match (kind, state) {
        (K::Backup, S::Running) => BackupJobStarted,
        (K::Backup, S::Completed) => BackupJobCompleted,
        (K::Backup, S::Partial) => BackupJobPartial,
        (K::Backup, S::Failed) => BackupJobFailed,
        (K::Backup, S::Expired) => BackupJobExpired,
        (K::Backup, S::Aborted) => BackupJobAborted,
        (K::Copy, S::Running) => CopyJobStarted,
        (K::Copy, S::Completed | S::Partial) => CopyJobCompleted,
        (K::Copy, S::Failed) => CopyJobFailed,
        (K::Copy, S::Expired) => CopyJobExpired,
        (K::Copy, S::Aborted) => CopyJobAborted,
        (K::Restore, S::Running) => RestoreJobStarted,
        (K::Restore, S::Completed | S::Partial) => RestoreJobCompleted,
        (K::Restore, S::Failed | S::Expired) => RestoreJobFailed,
        (K::Restore, S::Aborted) => RestoreJobAborted,
        (K::RestoreTest, S::Running) => RestoreTestStarted,
        (K::RestoreTest, S::Completed | S::Partial) => RestoreTestSuccessful,
        (K::RestoreTest, S::Failed | S::Expired | S::Aborted) => {
            let timed_out = details
                .and_then(|d| d.get("validation"))
                .and_then(|v| v.as_str())
                == Some("TIMED_OUT");
            if timed_out {
                RestoreTestTimedOut
            } else {
                RestoreTestFailed
            }
        }
        (K::Verify, S::Running) => VerifyStarted,
        (K::Verify, S::Completed | S::Partial) => VerifyPassed,
        (K::Verify, S::Failed | S::Expired | S::Aborted) => VerifyFailed,
        (K::Prune, S::Running) => PruneStarted,
        (K::Prune, S::Completed | S::Partial) => PruneCompleted,
        (K::Prune, S::Failed | S::Expired | S::Aborted) => PruneFailed,
        (K::Forget, S::Completed | S::Partial) => ForgetCompleted,
        (K::Forget, S::Failed | S::Expired | S::Aborted) => ForgetFailed,
        _ => return None,
    })
}

/// An event to record ([`Catalog::emit`](crate::catalog::Catalog::emit)).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its name.
    pub name: EventName,
    /// The job it is about.
    pub job_id: Option<JobId>,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// What happened, for a person (never a secret).
    pub message: String,
    /// Machine-readable facts (sizes, ages, thresholds): a JSON object.
    pub details: Option<serde_json::Value>,
}

impl NewEvent {
    /// An event named `name` with `message` and nothing else yet.
    pub fn new(name: EventName, message: impl Into<String>) -> NewEvent {
        NewEvent {
            name,
            job_id: None,
            plan: None,
            rule: None,
            source: None,
            vault: None,
            message: message.into(),
            details: None,
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Its id: increasing, never reused (consumers keep the last one seen).
    pub id: i64,
    /// When it was recorded.
    #[serde(with = "time_serde")]
    pub at: Timestamp,
    /// Its name.
    pub name: EventName,
    /// Its severity.
    pub severity: Severity,
    /// The job it is about.
    pub job_id: Option<JobId>,
    /// The plan.
    pub plan: Option<String>,
    /// The rule.
    pub rule: Option<String>,
    /// The source.
    pub source: Option<String>,
    /// The vault.
    pub vault: Option<String>,
    /// What happened.
    pub message: String,
    /// Machine-readable facts.
    pub details: Option<serde_json::Value>,
}

/// Selects events for [`Catalog::events`](crate::catalog::Catalog::events).
/// Empty lists and `None` match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events with an id greater than this (a consumer's cursor).
    pub after_id: Option<i64>,
    /// Recorded at or after this time.
    pub since: Option<Timestamp>,
    /// Any of these names.
    pub names: Vec<EventName>,
    /// At least this severe.
    pub min_severity: Option<Severity>,
    /// This source.
    pub source: Option<String>,
    /// At most this many: the oldest matching when `after_id` is set (a
    /// consumer reads forward), else the newest.
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_parse_back() {
        for n in EventName::ALL {
            assert_eq!(n.as_str().parse::<EventName>().unwrap(), *n);
            assert!(n
                .as_str()
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_'));
        }
        assert_eq!(EventName::RpoViolated.as_str(), "RPO_VIOLATED");
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
    }

    #[test]
    fn job_states_map_to_events() {
        assert_eq!(
            job_event_name(JobKind::Backup, JobState::Failed, None),
            Some(EventName::BackupJobFailed)
        );
        assert_eq!(
            job_event_name(JobKind::Backup, JobState::Created, None),
            None
        );
        let d = serde_json::json!({"validation": "TIMED_OUT"});
        assert_eq!(
            job_event_name(JobKind::RestoreTest, JobState::Failed, Some(&d)),
            Some(EventName::RestoreTestTimedOut)
        );
        assert_eq!(
            job_event_name(JobKind::Verify, JobState::Failed, None),
            Some(EventName::VerifyFailed)
        );
        assert_eq!(EventName::VerifyFailed.severity(), Severity::Error);
        assert_eq!(EventName::SizeAnomaly.severity(), Severity::Warning);
    }
}
