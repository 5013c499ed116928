//! Typed errors of the database and command sources.
//!
//! Every message names the thing (tool and path, `host:port` and database,
//! command) and what the user can do. Passwords never appear: URLs are shown
//! through [`crate::dburl::DbUrl`]'s redacted form and the captured output of
//! child processes has any password of the URL replaced by `***`.

use std::path::PathBuf;

/// An error of a source or of its restore.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The vault failed (storage, damage, wrong key …).
    #[error(transparent)]
    Vault(#[from] coffer_core::Error),
    /// A URL or an option is invalid (a usage error).
    #[error("{0}")]
    Usage(String),
    /// A client tool is not installed where it was looked for.
    #[error("{tool} not found in {searched}: {hint}")]
    ToolMissing {
        /// The tool (`pg_dump`, `mariadb-dump` …).
        tool: String,
        /// Where it was looked for.
        searched: String,
        /// What to install or set.
        hint: String,
    },
    /// A client tool is older than the server or the dump it must handle.
    #[error("{tool} {found} ({path}) is too old for {needed_for}: {hint}")]
    ToolTooOld {
        /// The tool.
        tool: String,
        /// Where it was found.
        path: PathBuf,
        /// Its version.
        found: String,
        /// What needs a newer one (`the PostgreSQL 16.2 server at host:port`).
        needed_for: String,
        /// Which version is needed and how to get it.
        hint: String,
    },
    /// The server cannot be reached, refuses the credentials, or lacks the
    /// database.
    #[error("cannot connect to {target}: {detail}")]
    Connect {
        /// Product, `host:port` and database.
        target: String,
        /// The server's or client's message (passwords removed).
        detail: String,
    },
    /// A child process (dump, restore tool, command) failed or was killed.
    #[error("{what} {status}{detail}")]
    Process {
        /// What ran (tool and target, or the command).
        what: String,
        /// `exited with status 1`, `was killed by signal 9` …
        status: String,
        /// The end of its standard error, starting with `: `, or empty.
        detail: String,
    },
    /// The server sent something this client does not understand.
    #[error("{target}: {detail}")]
    Protocol {
        /// `host:port`.
        target: String,
        /// What was wrong.
        detail: String,
    },
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// The file, socket or pipe.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The snapshot does not fit the requested restore.
    #[error("{0}")]
    Mismatch(String),
    /// `wal-prune` could not delete some archived WAL files; the report
    /// says which, and what was deleted.
    #[error("{}", wal_prune_message(.0))]
    WalPrune(Box<crate::postgres::wal_prune_report::PruneReport>),
}

fn wal_prune_message(r: &crate::postgres::wal_prune_report::PruneReport) -> String {
    format!(
        "could not delete {} archived WAL files (deleted {} segments and {} backup history files before \
         horizon {}): {}; they stay in the vault. If the store refuses deletes (an S3 object lock), \
         they can be deleted once their retention ends; otherwise fix the storage error and rerun \
         `coffer pg wal-prune`",
        r.failed.len(),
        r.segments_deleted,
        r.history_files_deleted,
        r.horizon.as_deref().unwrap_or("-"),
        r.failed.join("; ")
    )
}

impl SourceError {
    /// Shorthand for [`SourceError::Io`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SourceError::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether the error is the caller's (bad URL or option: exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, SourceError::Usage(_))
    }
}

/// Result with [`SourceError`].
pub type SourceResult<T> = std::result::Result<T, SourceError>;
