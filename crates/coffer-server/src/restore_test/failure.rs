//! How a restore test fails: every step's error (a tool, a scratch server,
//! a query, a snapshot it cannot restore) becomes the job's failure
//! message, of kind `unavailable`.

use crate::model::{ErrorKind, ServerError};

/// A restore-test step that failed, saying why.
pub(super) fn failed(message: String) -> ServerError {
    ServerError::new(ErrorKind::Unavailable, message)
}
