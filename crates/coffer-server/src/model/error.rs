//! The server's typed error and the one table that turns an error's kind
//! into an exit code (the CLI) and an HTTP status (the API).
//!
//! Every fallible function of the server returns [`ServerError`] (or a
//! narrower typed error that converts into it, such as the catalog's). Its
//! [`ErrorKind`] says what kind of failure it is; [`ErrorKind::exit_code`]
//! and [`ErrorKind::http_status`] are the only places that decide what a
//! front end answers, so a storage outage is a 503 and exit 1 wherever it
//! happens, and a bad request a 400 and exit 2.

use std::fmt;

/// What kind of failure an error is. The kind, not the message, decides
/// the exit code and the HTTP status (see the table on [`ErrorKind::http_status`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
#[schema(
    description = "What kind of failure an error is; the kind, not the message, decides the HTTP status."
)]
pub enum ErrorKind {
    /// The request or command line is malformed: a bad id, option, field or
    /// body. The caller can fix it.
    Usage,
    /// Well-formed but refused by the vault's rules or state: a vault lock, a
    /// legal hold, a live session, something that exists already.
    Refused,
    /// No credentials, or credentials that are not valid.
    Unauthenticated,
    /// Valid credentials whose role may not do this.
    Forbidden,
    /// A named thing (vault, snapshot, job, token, file) does not exist.
    NotFound,
    /// The configuration is incomplete or wrong for this operation: an
    /// unset `password_env`, a missing key file, a secret that opens no key
    /// slot. The server's operator fixes it, not the caller.
    Config,
    /// The storage behind a vault (or a database, a sink) failed or could
    /// not be reached; trying again later may help.
    Unavailable,
    /// Stored data failed authentication or decoding.
    Damaged,
    /// Stopped on request before it finished (a window, a signal, a stop).
    Interrupted,
    /// A failure of coffer itself or of its local state (the catalog, the
    /// state directory, a bug).
    Internal,
}

impl ErrorKind {
    /// The exit code of a command that fails with this kind (DESIGN.md: 1
    /// failure, 2 usage or configuration error).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage | ErrorKind::Config => 2,
            _ => 1,
        }
    }

    /// The HTTP status of an API request that fails with this kind.
    ///
    /// | kind | status |
    /// | --- | --- |
    /// | usage, refused | 400 |
    /// | unauthenticated | 401 |
    /// | forbidden | 403 |
    /// | not found | 404 |
    /// | interrupted | 409 |
    /// | damaged, internal | 500 |
    /// | config, unavailable | 503 (the server cannot serve this until its configuration or storage is fixed) |
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Usage | ErrorKind::Refused => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Interrupted => 409,
            ErrorKind::Damaged | ErrorKind::Internal => 500,
            ErrorKind::Config | ErrorKind::Unavailable => 503,
        }
    }

    /// The kind of a vault error.
    pub fn of_core(kind: coffer_core::ErrorKind) -> ErrorKind {
        use coffer_core::ErrorKind as K;
        match kind {
            // The caller's secret opens no key slot. (A daemon whose
            // configured secret opens none reports `config` instead.)
            K::WrongKey => ErrorKind::Unauthenticated,
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::Refused,
            K::Damaged => ErrorKind::Damaged,
            K::Storage => ErrorKind::Unavailable,
            // No or rejected storage credentials, a key without the
            // permission, a missing bucket: the vault's settings are wrong.
            K::StorageConfig => ErrorKind::Config,
            K::Io => ErrorKind::Internal,
            K::InvalidInput => ErrorKind::Refused,
            K::Interrupted => ErrorKind::Interrupted,
        }
    }

    /// The kind of a source error (a database tool, a file walk).
    pub fn of_source(e: &coffer_sources::SourceError) -> ErrorKind {
        use coffer_sources::SourceError as S;
        match e {
            S::Vault(v) => ErrorKind::of_core(v.kind()),
            S::Usage(_) => ErrorKind::Usage,
            S::ToolMissing { .. } | S::ToolTooOld { .. } => ErrorKind::Unavailable,
            S::Mismatch(_) => ErrorKind::Refused,
            S::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Refused => "refused",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Config => "config",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Damaged => "damaged",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Internal => "internal",
        })
    }
}

/// An error of the server: a kind and a message that names the thing and
/// says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServerError {
    /// What kind of failure it is.
    pub kind: ErrorKind,
    /// The whole message.
    pub message: String,
}

impl ServerError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ServerError {
        ServerError {
            kind,
            message: message.into(),
        }
    }

    /// A malformed request or option.
    pub fn usage(message: impl Into<String>) -> ServerError {
        ServerError::new(ErrorKind::Usage, message)
    }

    /// A missing thing.
    pub fn not_found(message: impl Into<String>) -> ServerError {
        ServerError::new(ErrorKind::NotFound, message)
    }

    /// A configuration that cannot serve this.
    pub fn config(message: impl Into<String>) -> ServerError {
        ServerError::new(ErrorKind::Config, message)
    }

    /// A failure of coffer's own state.
    pub fn internal(message: impl Into<String>) -> ServerError {
        ServerError::new(ErrorKind::Internal, message)
    }

    /// A vault error, its message after `context` (`vault `x``).
    pub fn vault(context: impl fmt::Display, e: &coffer_core::Error) -> ServerError {
        ServerError::new(ErrorKind::of_core(e.kind()), format!("{context}: {e}"))
    }

    /// The same error with `context` before its message.
    pub fn context(self, context: impl fmt::Display) -> ServerError {
        ServerError {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl From<coffer_core::Error> for ServerError {
    fn from(e: coffer_core::Error) -> ServerError {
        ServerError::new(ErrorKind::of_core(e.kind()), e.to_string())
    }
}

impl From<coffer_sources::SourceError> for ServerError {
    fn from(e: coffer_sources::SourceError) -> ServerError {
        ServerError::new(ErrorKind::of_source(&e), e.to_string())
    }
}

/// A server result.
pub type ServerResult<T> = Result<T, ServerError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_one_exit_code_and_one_status() {
        assert_eq!(ErrorKind::Usage.exit_code(), 2);
        assert_eq!(ErrorKind::Config.exit_code(), 2);
        assert_eq!(ErrorKind::Unavailable.exit_code(), 1);
        assert_eq!(ErrorKind::Unavailable.http_status(), 503);
        assert_eq!(ErrorKind::Config.http_status(), 503);
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::Refused.http_status(), 400);
    }

    #[test]
    fn a_storage_outage_is_unavailable_not_a_bad_request() {
        let e = coffer_core::Error::Storage {
            location: "s3://b/p".into(),
            source: coffer_core::StorageError {
                op: "read",
                path: "holds/ab".into(),
                message: "connection refused".into(),
                not_found: false,
                retryable: true,
                kind: coffer_core::StorageErrorKind::Unreachable,
            },
        };
        let s = ServerError::from(e);
        assert_eq!(s.kind, ErrorKind::Unavailable);
        assert_eq!(s.kind.http_status(), 503);
    }

    #[test]
    fn storage_credentials_and_permissions_are_configuration() {
        for kind in [
            coffer_core::StorageErrorKind::Credentials,
            coffer_core::StorageErrorKind::AccessDenied,
            coffer_core::StorageErrorKind::BucketNotFound,
        ] {
            let e = coffer_core::Error::Storage {
                location: "s3://b/p".into(),
                source: coffer_core::StorageError {
                    op: "write",
                    path: "packs/ab".into(),
                    message: "access denied to PUT".into(),
                    not_found: false,
                    retryable: false,
                    kind,
                },
            };
            let s = ServerError::from(e);
            assert_eq!(s.kind, ErrorKind::Config, "{kind:?}");
            assert_eq!(s.kind.exit_code(), 2);
            assert_eq!(s.kind.http_status(), 503);
        }
    }
}
