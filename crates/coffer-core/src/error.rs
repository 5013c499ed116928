//! Typed errors of the vault. Each error carries a kind, a message that names
//! the object and says what to do, and whether retrying can help.

use std::path::PathBuf;

/// What went wrong, broadly; front ends map kinds to exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The secret (password or key file) opens no key slot of the vault.
    WrongKey,
    /// A named thing (vault, snapshot, object, key slot) does not exist.
    NotFound,
    /// A thing that must not exist yet already does (e.g. `init` on a vault).
    AlreadyExists,
    /// Stored data failed authentication, a hash check or decoding.
    Damaged,
    /// The storage backend failed or could not be reached (network, a
    /// server error, a full disk); trying again later may help.
    Storage,
    /// The storage refused the vault's settings: no credentials or
    /// rejected ones, credentials without the permission, a bucket that
    /// does not exist. Whoever configures the vault fixes it; retrying does
    /// not help.
    StorageConfig,
    /// A local file system operation failed.
    Io,
    /// The caller asked for something invalid (bad prefix, bad option).
    InvalidInput,
    /// The operation was stopped on request (a completion window, SIGTERM).
    Interrupted,
}

/// Why a storage request failed, as far as the backend can tell (a missing
/// object is [`StorageError::not_found`] instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageErrorKind {
    /// Anything else: a server error, a local file system error, a bug.
    #[default]
    Other,
    /// No credentials to sign with, or the store rejected them.
    Credentials,
    /// The credentials may not do this operation.
    AccessDenied,
    /// The bucket (the store's container of the vault) does not exist.
    BucketNotFound,
    /// No connection: refused, unknown host, network down.
    Unreachable,
    /// No connection or answer in time.
    Timeout,
    /// The object is in an archive storage class (S3 GLACIER,
    /// DEEP_ARCHIVE) and must be restored (thawed) before it can be read.
    Archived,
    /// The store refuses the vault's storage class (S3
    /// `InvalidStorageClass`): a setting to fix.
    StorageClass,
}

impl StorageErrorKind {
    /// True when the vault's settings (credentials, permissions, bucket)
    /// are wrong, rather than the store being down.
    pub fn is_config(self) -> bool {
        matches!(
            self,
            StorageErrorKind::Credentials
                | StorageErrorKind::AccessDenied
                | StorageErrorKind::BucketNotFound
                | StorageErrorKind::StorageClass
        )
    }
}

/// A storage failure, as reported by a [`crate::Backend`].
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {message}")]
pub struct StorageError {
    /// The operation (`read`, `write`, `list`, `delete`).
    pub op: &'static str,
    /// The object path inside the vault.
    pub path: String,
    /// The backend's message: what failed and what to do, never a
    /// library's raw text.
    pub message: String,
    /// True when the object does not exist.
    pub not_found: bool,
    /// True when the same request may succeed later (timeouts, 5xx, throttling).
    pub retryable: bool,
    /// Why it failed, when the backend can tell.
    pub kind: StorageErrorKind,
}

/// The error type of every coffer-core operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The secret opens no key slot.
    #[error("the password or key file does not open vault {vault}: no key slot accepts it (check COFFER_PASSWORD, --password-file or --key-file){skipped}")]
    WrongKey {
        /// The vault's location.
        vault: String,
        /// The slots skipped as damaged, ` (key slot keys/… skipped: …; …)`,
        /// or empty.
        skipped: String,
    },
    /// Something named does not exist.
    #[error("{what} not found{hint}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// An optional hint, starting with `: `.
        hint: String,
    },
    /// Something exists that must not.
    #[error("{what} already exists{hint}")]
    AlreadyExists {
        /// What exists.
        what: String,
        /// An optional hint, starting with `: `.
        hint: String,
    },
    /// Stored data is damaged.
    #[error("damaged: {object}: {detail}")]
    Damaged {
        /// The damaged object (e.g. `packs/ab/abcd…`, `index/…`, `snapshots/…`).
        object: String,
        /// What failed (authentication, hash mismatch, decoding).
        detail: String,
    },
    /// The backend failed.
    #[error("storage {location}: {source}")]
    Storage {
        /// The vault's location.
        location: String,
        /// The backend error (its text is part of this message).
        source: StorageError,
    },
    /// A restore needs data packs that an archive storage class keeps
    /// unreadable until they are thawed (a storage error of kind
    /// [`StorageErrorKind::Archived`], with the snapshot it was for).
    #[error("snapshot {snapshot} of vault {location} cannot be restored yet: {}{after}", .cause.message)]
    Frozen {
        /// The snapshot (short id).
        snapshot: String,
        /// The vault's location.
        location: String,
        /// The storage error: which objects, their class, how to thaw them
        /// (its message is this error's; it is not a separate source, so
        /// it is not said twice).
        cause: Box<StorageError>,
        /// What the restore left behind and what to run next, starting
        /// with `; ` (`; nothing was restored yet: …`).
        after: String,
    },
    /// Local I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The local path.
        path: PathBuf,
        /// The OS error (its text is part of this message).
        source: std::io::Error,
    },
    /// Invalid input from the caller.
    #[error("{0}")]
    InvalidInput(String),
    /// Stopped on request before it finished; nothing it wrote is referenced.
    #[error("{what} was stopped before it finished ({why}); nothing was lost, and what it had written is unreferenced until prune removes it")]
    Interrupted {
        /// The operation (`backup of /etc`).
        what: String,
        /// Why (`completion window of 2h reached`, `SIGTERM`).
        why: String,
    },
}

impl Error {
    /// The broad kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::WrongKey { .. } => ErrorKind::WrongKey,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::Damaged { .. } => ErrorKind::Damaged,
            Error::Storage { source, .. } if source.kind.is_config() => ErrorKind::StorageConfig,
            Error::Storage { source, .. } if source.not_found => ErrorKind::NotFound,
            Error::Storage { .. } | Error::Frozen { .. } => ErrorKind::Storage,
            Error::Io { .. } => ErrorKind::Io,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Interrupted { .. } => ErrorKind::Interrupted,
        }
    }

    /// Whether the same call may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Storage { source, .. } if source.retryable)
    }

    /// Shorthand for a [`Error::Damaged`].
    pub fn damaged(object: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Damaged {
            object: object.into(),
            detail: detail.into(),
        }
    }

    /// Shorthand for a [`Error::NotFound`] without a hint.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound {
            what: what.into(),
            hint: String::new(),
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
