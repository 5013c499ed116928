//! `POST /vaults/{vault}/forget` ([`ForgetRequest`]): the answer
//! ([`ForgetAnswer`]) holds the plan ([`ForgetPlanView`], the JSON of
//! `coffer_core::ForgetPlan`), what executing it did ([`ForgetStatsView`])
//! and the refusals of a lock or a hold.

use super::holds::HoldView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /vaults/{vault}/forget`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForgetRequest {
    /// The snapshots to forget (ids or short ids).
    pub snapshots: Vec<String>,
    /// Only show the plan (the default); `false` forgets for real (admin).
    #[serde(default)]
    #[schema(default = true)]
    pub dry_run: Option<bool>,
    /// Override governance-mode protections (never a compliance lock or a
    /// legal hold).
    #[serde(default)]
    #[schema(default = false)]
    pub bypass_governance: Option<bool>,
}

/// A retention policy (absent counts are not set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionPolicyView {
    /// Keep the newest N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Remove every snapshot older than this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
}

/// A vault lock's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LockPolicyView {
    /// Snapshots younger than this cannot be deleted.
    pub min_retention_days: u32,
    /// A rule whose retention is longer fails.
    pub max_retention_days: u32,
    /// Compliance mode with this grace period; absent: governance mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changeable_for_days: Option<u32>,
}

/// A vault lock's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LockModeView {
    /// An admin can change or remove the lock; governance can be bypassed.
    Governance,
    /// Nobody can change the lock after its grace period or delete a
    /// snapshot younger than its retention.
    Compliance,
}

/// The vault lock in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultLockView {
    /// The id of the record that set it.
    pub record: String,
    /// Its bounds.
    pub policy: LockPolicyView,
    /// Its mode.
    pub mode: LockModeView,
    /// When it was set (RFC 3339).
    pub created: String,
    /// Compliance mode: until when it can be changed or removed.
    pub changeable_until: Option<String>,
    /// Who set it.
    pub who: String,
    /// Whether the store enforces it too (S3 Object Lock).
    pub store_enforced: bool,
}

/// Something that keeps a snapshot until a time, whatever was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProtectionView {
    /// Until when (RFC 3339, exclusive).
    pub until: String,
    /// What protects it (`locked (compliance)`, …).
    pub what: String,
    /// Whether nothing can override it (compliance mode).
    pub absolute: bool,
}

/// One snapshot of the plan and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForgetItemView {
    /// The snapshot's id.
    pub id: String,
    /// When its backup started (RFC 3339).
    pub time: String,
    /// Its group.
    pub group: String,
    /// Whether it stays.
    pub keep: bool,
    /// Whether the request alone would keep it (`keep` and not `by_policy`:
    /// only a hold or a protection keeps it).
    pub by_policy: bool,
    /// Why, in order.
    pub reasons: Vec<String>,
    /// Its host.
    pub hostname: String,
    /// Its paths.
    pub paths: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its source's kind.
    pub kind: String,
    /// Until when it must be kept; absent when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    /// Its legal hold; absent when not held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldView>,
    /// What protects it; absent when nothing does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protections: Vec<ProtectionView>,
    /// Its stored time, when that does not parse; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsable_time: Option<String>,
}

/// What the forget planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForgetPlanView {
    /// Every snapshot considered.
    pub items: Vec<ForgetItemView>,
    /// The policy applied; absent when snapshots are named by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RetentionPolicyView>,
    /// The vault lock in force; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<VaultLockView>,
    /// Lock records that were ignored; absent when none were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_warnings: Vec<String>,
    /// Whether governance protections were bypassed.
    pub bypass_governance: bool,
    /// The plan's "now" (RFC 3339).
    pub now: String,
    /// The time zone of the policy's periods.
    pub time_zone: String,
}

/// A snapshot the execution did not delete, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefusalView {
    /// The snapshot's id.
    pub id: String,
    /// What keeps it and what would be needed.
    pub message: String,
}

/// What executing the plan did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForgetStatsView {
    /// Snapshots deleted (ids).
    pub removed: Vec<String>,
    /// Snapshots the plan kept.
    pub kept: u64,
    /// Snapshots a hold or protection placed after the plan kept.
    pub refused: Vec<RefusalView>,
}

/// The answer of a forget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForgetAnswer {
    /// Whether this was only a preview.
    pub dry_run: bool,
    /// The plan.
    pub plan: ForgetPlanView,
    /// What executing it did; `null` for a dry run.
    pub stats: Option<ForgetStatsView>,
    /// Each named snapshot a lock or a hold kept, with why (empty when
    /// everything asked was done).
    pub refusals: Vec<String>,
}
