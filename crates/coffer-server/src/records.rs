//! The kind-specific results that verify and restore-test jobs record in
//! their catalog `details` (a JSON object), and that reports, metrics and
//! the API read back. One struct each, so that writer and readers agree.
//!
//! Job state carries the verdict: a verification that found damage is
//! `FAILED`; a restore test is `COMPLETED` when its validation is
//! `SUCCESSFUL` and `FAILED` otherwise, with [`RestoreTestDetails::validation`]
//! telling `FAILED` and `TIMED_OUT` apart. Either is `SKIPPED` when there
//! was nothing to test or verify yet (no snapshot). The restore-test
//! types themselves are at the crate's bottom (`model`), where the API's
//! schema names them.
//!
//! [`SourceHealth`] is a source's protection status against its RPO and
//! RTO, as the health check last evaluated it; it is kept in the catalog's
//! key-value table (`health/SOURCE`) for metrics, the API and the dashboard.

use serde::{Deserialize, Serialize};

use jiff::Timestamp;

use crate::catalog::{time_serde, Catalog, Job};

pub use crate::model::{CheckResult, CheckStatus, DataScope, RestoreTestDetails, Validation};

/// One damaged object a verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damage {
    /// The object's name in the vault (`data/ab/ab12…`, `snapshots/…`).
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The `details` of a `verify` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyDetails {
    /// What was read.
    pub scope: DataScope,
    /// The share asked for, in percent, for [`DataScope::Subset`].
    pub subset_percent: Option<f64>,
    /// Packs whose data this run read.
    pub packs_read: u64,
    /// Packs in the vault.
    pub packs_total: u64,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// Percent of the vault's packs whose data was verified (by this run
    /// or earlier ones) within the coverage window; 100 after `--read-data`.
    pub coverage_percent: f64,
    /// Every damaged object found.
    pub damaged: Vec<Damage>,
    /// Every snapshot that needs a damaged object (ids).
    pub affected_snapshots: Vec<String>,
}

impl VerifyDetails {
    /// The details of a verify job, if it recorded them.
    pub fn of(job: &Job) -> Option<VerifyDetails> {
        serde_json::from_value(job.details.clone()?).ok()
    }

    /// As the JSON object a job records.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("verify details serialize")
    }
}

impl RestoreTestDetails {
    /// The details of a restore-test job, if it recorded them.
    pub fn of(job: &Job) -> Option<RestoreTestDetails> {
        serde_json::from_value(job.details.clone()?).ok()
    }

    /// As the JSON object a job records.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("restore-test details serialize")
    }
}

/// A source's protection status, as the health check last evaluated it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// The source.
    pub source: String,
    /// When this was evaluated.
    #[serde(with = "time_serde")]
    pub evaluated_at: Timestamp,
    /// The time of the newest good (COMPLETED or PARTIAL) snapshot.
    #[serde(with = "time_serde::option", default)]
    pub newest_good_at: Option<Timestamp>,
    /// The RPO in seconds, when the source has one.
    pub rpo_seconds: Option<f64>,
    /// Whether the recovery point (newest good snapshot, or newest archived
    /// WAL for PostgreSQL with WAL archiving) is younger than the RPO.
    pub rpo_ok: Option<bool>,
    /// The time of the newest archived WAL segment (PostgreSQL base backup
    /// sources with WAL archiving).
    #[serde(with = "time_serde::option", default)]
    pub wal_newest_at: Option<Timestamp>,
    /// Seconds since the newest archived WAL segment.
    pub wal_lag_seconds: Option<f64>,
    /// The last measured restore time (restore test), in seconds.
    pub last_restore_seconds: Option<f64>,
    /// The RTO in seconds, when the source has one.
    pub rto_seconds: Option<f64>,
    /// Whether the last measured restore was faster than the RTO.
    pub rto_ok: Option<bool>,
}

impl SourceHealth {
    /// The catalog key-value prefix (`health/SOURCE`).
    pub const KV_PREFIX: &'static str = "health/";

    /// Stores this status in the catalog.
    pub fn store(&self, catalog: &Catalog) -> crate::catalog::Result<()> {
        let json = serde_json::to_string(self).expect("source health serializes");
        catalog.kv_set(&format!("{}{}", Self::KV_PREFIX, self.source), &json)
    }

    /// The status last stored for `source`, if any (an unreadable value
    /// counts as none).
    pub fn load(catalog: &Catalog, source: &str) -> crate::catalog::Result<Option<SourceHealth>> {
        Ok(catalog
            .kv_get(&format!("{}{source}", Self::KV_PREFIX))?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }
}
