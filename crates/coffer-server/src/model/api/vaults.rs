//! The vaults: `GET /vaults` ([`VaultView`]) and `POST
//! /vaults/{vault}/verify` ([`VerifyRequest`], answered with
//! [`JobStarted`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A configured vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultView {
    /// Its name in the configuration.
    pub name: String,
    /// Where it is stored (`/srv/vault`, `s3://bucket/prefix`).
    pub url: String,
    /// Its tier: `hot`, `warm`, `cold` or `archive`.
    pub tier: String,
    /// The storage class new objects are written with, when set.
    pub storage_class: Option<String>,
}

/// The body of `POST /vaults/{vault}/verify` (optional: without one, only
/// the structure is checked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// Read and check every pack's data too.
    #[serde(default)]
    pub read_data: Option<bool>,
    /// Read this share of the packs' data (`5%`, `1/10`); wins over
    /// `read_data`.
    #[serde(default)]
    #[schema(example = "5%")]
    pub read_data_subset: Option<String>,
}

/// A job started in the background (`202`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobStarted {
    /// The job's id.
    pub job_id: i64,
    /// Where to follow it (`/api/v1/jobs/ID`).
    pub job: String,
}
