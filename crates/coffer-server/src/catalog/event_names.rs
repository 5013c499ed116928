//! The stable names of events ([`EventName`], e.g. `BACKUP_JOB_FAILED`,
//! `RPO_VIOLATED`; never renamed: sinks filter on them), their
//! [`Severity`], and the event a job writes when it enters a state
//! ([`job_event_name`]). See [`crate::events`].

use super::job_state::{JobKind, JobState};
use super::text_enum::text_enum;

text_enum!(
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
        /// A restore test found no snapshot to test yet (the source's first
        /// backup has not run): no verdict.
        RestoreTestSkipped = "RESTORE_TEST_SKIPPED",
        /// A verification started.
        VerifyStarted = "VERIFY_STARTED",
        /// A verification found no damage.
        VerifyPassed = "VERIFY_PASSED",
        /// A verification found damage (or could not run).
        VerifyFailed = "VERIFY_FAILED",
        /// A verification found an empty vault (no snapshots yet): no verdict.
        VerifySkipped = "VERIFY_SKIPPED",
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
        /// The newest copy in a rule's copy vault is further behind the
        /// newest snapshot in its vault than the copy's `max_lag`.
        CopyLag = "COPY_LAG",
        /// A host of the fleet wrote no record for longer than `[fleet] silent_after`.
        HostSilent = "HOST_SILENT",
    }
);

text_enum!(
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
            | RestoreTestTimedOut | VerifyFailed | PruneFailed | ForgetFailed | RpoViolated
            | HostSilent => Severity::Error,
            BackupJobPartial | BackupJobExpired | BackupJobAborted | CopyJobExpired
            | CopyJobAborted | RestoreJobAborted | SizeAnomaly | WalArchiveLag | CopyLag => {
                Severity::Warning
            }
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
        (K::RestoreTest, S::Skipped) => RestoreTestSkipped,
        (K::Verify, S::Running) => VerifyStarted,
        (K::Verify, S::Completed | S::Partial) => VerifyPassed,
        (K::Verify, S::Failed | S::Expired | S::Aborted) => VerifyFailed,
        (K::Verify, S::Skipped) => VerifySkipped,
        (K::Prune, S::Running) => PruneStarted,
        (K::Prune, S::Completed | S::Partial) => PruneCompleted,
        (K::Prune, S::Failed | S::Expired | S::Aborted) => PruneFailed,
        (K::Forget, S::Completed | S::Partial) => ForgetCompleted,
        (K::Forget, S::Failed | S::Expired | S::Aborted) => ForgetFailed,
        _ => return None,
    })
}
