//! S3 calls that OpenDAL does not expose: object lock retention on writes
//! and afterwards, RestoreObject (thawing GLACIER and DEEP_ARCHIVE objects), bucket versioning and object lock configuration, deleting
//! one object version, and the probe built from them.
//!
//! Requests are signed with reqsign's AWS SigV4 signer and sent with
//! reqwest, the same two crates OpenDAL's S3 service uses, so nothing new is
//! compiled in. Every PUT carries `Content-MD5` (S3 requires it, or a
//! checksum header, on writes with object lock retention). Retention is read
//! with HEAD (`x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date`),
//! which needs the same permission as GetObjectRetention and which every
//! S3 implementation answers.
//!
//! Files: [`client`] holds the signed request (SigV4 signing, retries,
//! error bodies); [`objects`] the per-object calls (PUT with retention, HEAD,
//! PutObjectRetention, DELETE of a version); [`list`] ListObjectsV2 with
//! each object's storage class; [`bucket`] the bucket calls
//! (versioning, object lock configuration, the store's clock, CreateBucket);
//! [`blocking`] the blocking [`ObjectLockClient`] and [`probe`] its probe;
//! [`restore`] RestoreObject (thawing an archived object) and the
//! `x-amz-restore` header; [`retention`] compares retentions; [`encoding`] and [`xml`] the wire
//! forms; [`error`] the typed [`S3Error`].

mod blocking;
mod bucket;
mod client;
mod encoding;
mod error;
mod list;
mod objects;
mod probe;
mod restore;
mod retention;
mod xml;

pub use blocking::ObjectLockClient;
pub use client::S3Client;
pub use error::S3Error;
pub use objects::HeadInfo;
pub use probe::{CheckStatus, ProbeCheck, ProbeReport};
pub use restore::RestoreAnswer;

pub(crate) use encoding::encode;
pub(crate) use error::storage_err;
pub(crate) use restore::state_of;
pub(crate) use retention::{covers, stronger};
pub(crate) use xml::xml_tag;

#[cfg(test)]
mod tests;
