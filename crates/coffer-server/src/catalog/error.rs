//! Errors of the catalog ([`CatalogError`]): each names the database file
//! and what to do, and says whether retrying can help.

use std::path::PathBuf;

use super::job_state::{JobId, JobState};

/// Errors of the catalog. Each names the database file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be opened or is not a catalog.
    #[error("cannot open the job catalog {path}: {source} (check that the state directory is writable and that the file is a coffer catalog, or choose another state directory with --state-dir or COFFER_STATE_DIR)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// [`Catalog::open_existing`](crate::catalog::Catalog::open_existing) found no catalog.
    #[error("no job catalog at {path}: no job was recorded with this state directory yet (coffer serve and coffer plan run create it; is --state-dir or COFFER_STATE_DIR the daemon's?)")]
    Missing {
        /// The database file that does not exist.
        path: PathBuf,
    },
    /// A query failed.
    #[error("job catalog {path}: {op}: {source}{}", busy_hint(.source))]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done (`creating a job`, `listing jobs`).
        op: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer coffer.
    #[error("job catalog {path} has schema version {found}, newer than this coffer knows ({known}): run the newer coffer, or give this one another state directory (--state-dir or COFFER_STATE_DIR)")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// No job has this id.
    #[error(
        "job {id} not found in the catalog {path}: `coffer jobs list` shows the recorded jobs"
    )]
    JobNotFound {
        /// The database file.
        path: PathBuf,
        /// The id asked for.
        id: JobId,
    },
    /// The job's state does not allow the change.
    #[error("job {id} is {from} and cannot become {to}: {why}")]
    IllegalTransition {
        /// The job.
        id: JobId,
        /// Its current state.
        from: JobState,
        /// The state asked for.
        to: JobState,
        /// Why not.
        why: &'static str,
    },
    /// The caller passed something invalid (a non-final state to
    /// `finish_job`, an unparsable `--since`).
    #[error("{0}")]
    InvalidInput(String),
    /// Creating the state directory failed.
    #[error("state directory {path}: {source} (check its permissions, or choose another with --state-dir or COFFER_STATE_DIR)")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn busy_hint(e: &rusqlite::Error) -> &'static str {
    if is_busy(e) {
        " (another process kept the catalog locked too long; try again)"
    } else {
        ""
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl CatalogError {
    /// Whether the same call may succeed later (the database was locked).
    pub fn is_retryable(&self) -> bool {
        match self {
            CatalogError::Sqlite { source, .. } | CatalogError::Open { source, .. } => {
                is_busy(source)
            }
            _ => false,
        }
    }

    /// Whether the error says that a job or the catalog does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            CatalogError::JobNotFound { .. } | CatalogError::Missing { .. }
        )
    }
}

/// Result with [`CatalogError`].
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
