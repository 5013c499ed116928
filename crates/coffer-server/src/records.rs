//! The kind-specific results that verify and restore-test jobs record in
//! their catalog `details` (a JSON object), and that reports, metrics and
//! the API read back. One struct each, so that writer and readers agree.
//!
//! Job state carries the verdict: a verification that found damage is
//! `FAILED`; a restore test is `COMPLETED` when its validation is
//! `SUCCESSFUL` and `FAILED` otherwise, with [`RestoreTestDetails::validation`]
//! telling `FAILED` and `TIMED_OUT` apart.
//!
//! [`SourceHealth`] is a source's protection status against its RPO and
//! RTO, as the health check last evaluated it; it is kept in the catalog's
//! key-value table (`health/SOURCE`) for metrics, the API and the dashboard.

use serde::{Deserialize, Serialize};

use jiff::Timestamp;

use crate::catalog::{time_serde, Catalog, Job};

pub use crate::model::DataScope;

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

/// A restore test's verdict, named as in AWS Backup restore testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Validation {
    /// Restored and validated.
    Successful,
    /// The restore or a validation failed.
    Failed,
    /// The restore and validation did not finish within the time limit.
    TimedOut,
}

/// One validation step of a restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// What was checked (`compare files`, `pg_amcheck`, a query's text, …).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen (a row count, the first mismatch, …).
    pub detail: String,
}

/// The `details` of a `restore-test` job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreTestDetails {
    /// The `[[restore_test]]` entry's name.
    pub test: String,
    /// The snapshot restored.
    pub snapshot: Option<String>,
    /// The verdict.
    pub validation: Validation,
    /// Measured restore time in seconds (restore only, without validation);
    /// absent when the restore did not finish.
    pub restore_seconds: Option<f64>,
    /// Time spent validating, in seconds.
    pub validation_seconds: Option<f64>,
    /// The validation steps, in order.
    pub checks: Vec<CheckResult>,
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
