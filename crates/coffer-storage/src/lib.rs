//! coffer-storage: the places a vault can live.
//!
//! - [`OpendalBackend`]: a local directory or an S3 bucket/prefix, through
//!   OpenDAL. The S3 client runs on a small tokio runtime owned by the
//!   backend; callers are plain threads and block on it, never a runtime's
//!   worker thread.
//!   On S3, a vault whose lock the store enforces writes every object with
//!   S3 Object Lock retention, through [`S3Client`] (signed requests for
//!   the calls OpenDAL does not expose); [`ObjectLockClient::probe`] checks
//!   what a bucket really enforces.
//! - [`MemoryBackend`]: in memory, for tests.
//! - [`FaultyBackend`]: wraps another backend and fails or truncates
//!   requests on command, for tests of crash and fault handling.
//!
//! Errors: every failure of a request is translated in one place,
//! `failure` (no credentials, rejected credentials, access denied to an
//! operation on a key, a missing bucket, connection refused, unknown host,
//! timeouts), into a [`coffer_core::StorageError`] with a
//! [`coffer_core::StorageErrorKind`] and a message that names the endpoint
//! and the fix; the library's text goes to the debug log. S3 requests that
//! may succeed later are retried (`retry`: [`ATTEMPTS`] in all, a notice
//! before each, to the function given to [`on_retry`]). A connection may
//! take [`DEFAULT_CONNECT_TIMEOUT`] unless the location says otherwise
//! (`?connect_timeout=`, `COFFER_CONNECT_TIMEOUT`).
//!
//! Invariants: a `write` returns only when the object is durable (the local
//! directory writes a temporary file, fsyncs it, and moves it into place, so
//! a reader never sees half an object); the vault layer never overwrites or
//! renames an object.

#![deny(missing_docs)]

mod aws;
mod failure;
mod faulty;
mod local_perms;
mod local_stage;
mod memory;
mod opendal_backend;
mod retry;
mod s3lock;
mod store_lock;
mod thaw;
mod url;

pub use aws::{sns_default_endpoint, AwsCredentials, AwsSigner, SnsClient, SnsError, SnsMessage};
pub use faulty::{Fault, FaultyBackend};
pub use memory::MemoryBackend;
pub use opendal_backend::OpendalBackend;
pub use retry::{on_retry, RetryNotice, ATTEMPTS, TIMEOUT_ATTEMPTS};
pub use s3lock::{
    CheckStatus, HeadInfo, ObjectLockClient, ProbeCheck, ProbeReport, RestoreAnswer, S3Client,
    S3Error,
};
pub use store_lock::{lock_vault, probe_location, LockOutcome, StoreLockError, StoreProbe};
pub use url::{open_location, parse_timeout, Location, S3Location, DEFAULT_CONNECT_TIMEOUT};
