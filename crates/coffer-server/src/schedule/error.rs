//! An invalid schedule ([`ScheduleError`]): what is wrong and where.

/// An invalid schedule: what is wrong and where, as a byte offset and
/// length inside the schedule text (so that the configuration checker can
/// point at the exact column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    /// Byte offset of the bad part in the schedule text.
    pub offset: usize,
    /// Its length in bytes.
    pub len: usize,
    /// What is wrong, naming the field and what would be accepted.
    pub message: String,
}

pub(super) fn err(offset: usize, len: usize, message: impl Into<String>) -> ScheduleError {
    ScheduleError {
        offset,
        len,
        message: message.into(),
    }
}
