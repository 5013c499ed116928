//! How evidence lines name things: a job by the time it happened (or its
//! snapshot was taken), a vault's
//! error without the vault's name in front (the line names it already).

use jiff::Timestamp;

use crate::catalog::Job;

/// An error about vault `name` without its leading "vault `name`: ".
pub(super) fn unprefixed<'e>(name: &str, e: &'e str) -> &'e str {
    e.strip_prefix(&format!("vault `{name}`: ")).unwrap_or(e)
}

/// When `job` happened: its end, else its start, else its creation.
pub(super) fn when(job: &Job) -> Timestamp {
    job.finished_at.or(job.started_at).unwrap_or(job.created_at)
}

/// When `job`'s snapshot was taken: its start, else its creation.
pub(super) fn taken(job: &Job) -> Timestamp {
    job.started_at.unwrap_or(job.created_at)
}
