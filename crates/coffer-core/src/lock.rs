//! Vault lock (AWS Backup Vault Lock semantics) and legal holds.

use serde::{Deserialize, Serialize};

/// Governance or compliance mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// An admin can change or remove the lock; `--bypass-governance` deletes.
    Governance,
    /// After the grace period nobody can change or remove the lock, and no
    /// snapshot younger than its retention can be deleted.
    Compliance,
}

/// A vault lock as configured: retention bounds and, for compliance mode, the
/// grace period during which the lock can still be changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockPolicy {
    /// Snapshots younger than this cannot be deleted; a rule whose retention
    /// is shorter fails.
    pub min_retention_days: u32,
    /// A rule whose retention is longer fails.
    pub max_retention_days: u32,
    /// Compliance mode with this grace period (at least 3 days); absent:
    /// governance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeable_for_days: Option<u32>,
}

impl LockPolicy {
    /// The mode this policy makes.
    pub fn mode(&self) -> LockMode {
        if self.changeable_for_days.is_some() {
            LockMode::Compliance
        } else {
            LockMode::Governance
        }
    }
}

impl LockPolicy {
    /// Checks that a rule's retention lies within the lock's bounds, as AWS
    /// Backup does for a recovery point's lifecycle: the retention must keep
    /// every snapshot at least `min_retention_days`, and must not keep any
    /// longer than `max_retention_days`. On failure, says why.
    pub fn check_retention(&self, policy: &crate::RetentionPolicy) -> Result<(), String> {
        match policy.retention_days() {
            None => Err(format!(
                "the retention keeps snapshots indefinitely, beyond the lock's maximum of {} days: set delete_after_days",
                self.max_retention_days
            )),
            Some(d) if d < self.min_retention_days as f64 => Err(format!(
                "the retention keeps snapshots for {d} days, below the lock's minimum of {} days",
                self.min_retention_days
            )),
            Some(d) if d > self.max_retention_days as f64 => Err(format!(
                "the retention keeps snapshots for {d} days, beyond the lock's maximum of {} days",
                self.max_retention_days
            )),
            Some(_) => Ok(()),
        }
    }
}
