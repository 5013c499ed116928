//! [`S3Error`]: a failed S3 request, what it says about retrying, and its
//! mapping to the vault layer's storage error.

use std::fmt;

use coffer_core::StorageError;

/// A failed S3 request.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// What was attempted (`PutObject`, `GetBucketVersioning`, …).
    pub op: &'static str,
    /// The key or bucket it was about.
    pub what: String,
    /// `host:port` of the endpoint.
    pub endpoint: String,
    /// HTTP status; `None` when no response arrived.
    pub status: Option<u16>,
    /// S3 error code (`AccessDenied`, `NoSuchKey`, …) or the transport error kind.
    pub code: String,
    /// The store's message.
    pub message: String,
}

impl S3Error {
    /// No response arrived (connection refused, DNS, timeout).
    pub fn is_transport(&self) -> bool {
        self.status.is_none()
    }

    /// The store did not accept the credentials.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code.as_str(),
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken"
        ) || (self.status == Some(403)
            && (self.message.contains("No such key") || self.message.contains("Invalid signature")))
    }

    /// The object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) && self.code != "ObjectLockConfigurationNotFoundError"
    }

    /// Retrying may help (no response, 5xx, throttling).
    pub fn retryable(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s >= 500 || s == 429,
        }
    }

    /// The store does not implement the call.
    pub fn not_implemented(&self) -> bool {
        self.status == Some(501) || self.code == "NotImplemented"
    }

    fn into_storage(self, op: &'static str, path: &str) -> StorageError {
        StorageError {
            op,
            path: path.to_string(),
            not_found: self.is_not_found(),
            retryable: self.retryable(),
            message: self.to_string(),
        }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_transport() {
            write!(
                f,
                "cannot reach the S3 endpoint {} ({}) for {} {}: check the endpoint URL and that the server is running",
                self.endpoint, self.message, self.op, self.what
            )
        } else if self.is_auth() {
            write!(
                f,
                "the S3 endpoint {} rejected the credentials ({}: {}) for {} {}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.endpoint, self.code, self.message, self.op, self.what
            )
        } else {
            write!(
                f,
                "{} {} at {} failed: HTTP {} {}{}{}",
                self.op,
                self.what,
                self.endpoint,
                self.status.unwrap_or_default(),
                self.code,
                if self.message.is_empty() { "" } else { ": " },
                self.message
            )
        }
    }
}

impl std::error::Error for S3Error {}

/// Maps an S3 error to the vault layer's storage error.
pub(crate) fn storage_err(e: S3Error, op: &'static str, path: &str) -> StorageError {
    e.into_storage(op, path)
}
