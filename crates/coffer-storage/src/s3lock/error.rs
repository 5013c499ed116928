//! [`S3Error`]: a failed S3 request, what it says about retrying, and its
//! mapping to the vault layer's storage error.

use std::fmt;

use coffer_core::StorageError;

use crate::failure::{Cause, Request, S3Place};
use crate::retry::Attempt;

/// A failed S3 request.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// What was attempted (`PutObject`, `GetBucketVersioning`, …).
    pub op: &'static str,
    /// The key or bucket it was about.
    pub what: String,
    /// HTTP status; `None` when no response arrived.
    pub status: Option<u16>,
    /// S3 error code (`AccessDenied`, `NoSuchKey`, …) or the stage that
    /// failed before an answer (`Transport`, `Signing`, `Credentials`).
    pub code: String,
    /// The store's message, or the library's when no answer arrived (for
    /// the debug log; the error's text is [`crate::failure`]'s).
    pub message: String,
    /// Why it failed, and where.
    pub(crate) why: Box<Why>,
}

/// Why an S3 request failed, and where (boxed: an error stays small).
#[derive(Debug, Clone)]
pub(crate) struct Why {
    /// Why it failed.
    pub cause: Cause,
    /// Where (for messages); `None` when the location itself is wrong.
    pub place: Option<S3Place>,
}

impl S3Error {
    /// No response arrived (no credentials, connection refused, DNS, timeout).
    pub fn is_transport(&self) -> bool {
        self.status.is_none()
    }

    /// There are no credentials, or the store did not accept them.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.why.cause,
            Cause::NoCredentials | Cause::BadCredentials { .. }
        )
    }

    /// The object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) && self.code != "ObjectLockConfigurationNotFoundError"
    }

    /// Retrying may help (the network, 5xx, throttling).
    pub fn retryable(&self) -> bool {
        self.why.cause.retryable()
    }

    /// The store does not implement the call.
    pub fn not_implemented(&self) -> bool {
        self.status == Some(501) || self.code == "NotImplemented"
    }

    /// `host:port` of the endpoint (empty when the location was wrong).
    pub fn endpoint(&self) -> &str {
        self.why.place.as_ref().map_or("", |p| p.addr.as_str())
    }

    /// What the store or library said, for the debug log.
    pub(crate) fn raw(&self) -> String {
        format!(
            "{} {} at {}: {} {}: {}",
            self.op,
            self.what,
            self.endpoint(),
            self.status.map(|s| s.to_string()).unwrap_or_default(),
            self.code,
            self.message
        )
    }

    fn request<'a>(&self, place: Option<&'a S3Place>) -> Request<'a> {
        Request {
            place,
            label: self.op,
            permission: "the permission",
            path: None,
        }
    }

    fn into_storage(self, op: &'static str, path: &str) -> StorageError {
        let message = self.to_string();
        tracing::debug!(target: "coffer_storage", "{op} {path}: {message} ({})", self.raw());
        StorageError {
            op,
            path: path.to_string(),
            not_found: self.is_not_found(),
            retryable: self.retryable(),
            kind: self.why.cause.kind(),
            message,
        }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bucket = self.why.place.as_ref().map_or("", |p| p.bucket.as_str());
        let at = self.request(self.why.place.as_ref());
        let summary = match &self.why.cause {
            // The object is in `what` already.
            Cause::AccessDenied { code } if code != "AccessDenied" && !code.is_empty() => {
                format!("access denied ({code})")
            }
            Cause::AccessDenied { .. } => "access denied".to_string(),
            c => c.summary(&at),
        };
        write!(f, "{summary}, for {} {}", self.op, self.what)?;
        match &self.why.cause {
            Cause::AccessDenied { .. } => write!(
                f,
                ": the credentials lack the permission for {} on bucket {}; grant it to the key, or use a key that has it",
                self.op, bucket
            ),
            c => match c.hint(&at) {
                Some(h) => write!(f, ": {h}"),
                None => Ok(()),
            },
        }
    }
}

impl std::error::Error for S3Error {}

impl Attempt for S3Error {
    fn cause(&self) -> &Cause {
        &self.why.cause
    }
    fn raw(&self) -> String {
        S3Error::raw(self)
    }
}

/// Maps an S3 error to the vault layer's storage error.
pub(crate) fn storage_err(e: S3Error, op: &'static str, path: &str) -> StorageError {
    e.into_storage(op, path)
}
