//! Retention policies (GFS and age), as pure functions over snapshot lists.
//!
//! The same [`RetentionPolicy`] is read from the configuration file (a rule's
//! `retention` table), from `coffer forget` flags and from the HTTP API, so
//! all three decide identically.

use serde::{Deserialize, Serialize};

/// Which snapshots to keep. Every `keep_*` count keeps the newest snapshot of
/// each of that many most recent periods (hours, days, ISO weeks, months,
/// years) that hold a snapshot; `keep_last` keeps the newest N outright. A
/// snapshot is kept when any count keeps it. When no count is set, every
/// snapshot is kept by the counts. `delete_after_days`, when set, removes
/// every snapshot older than that many days whatever the counts say (AWS
/// Backup's lifecycle `DeleteAfterDays`). Held snapshots and snapshots a
/// vault lock protects are never removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the newest N snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_yearly: Option<u32>,
    /// Remove every snapshot older than this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
}

impl RetentionPolicy {
    /// Whether any count is set.
    pub fn has_counts(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
    }

    /// Whether the policy removes nothing (no counts and no age limit).
    pub fn keeps_everything(&self) -> bool {
        !self.has_counts() && self.delete_after_days.is_none()
    }
}

impl RetentionPolicy {
    /// How long (in days) this policy keeps a snapshot at the longest:
    /// `delete_after_days` when set; otherwise the span of the longest
    /// period count (`keep_yearly = 2` is 2 × 366 days, monthly 31 days,
    /// weekly 7, daily 1, hourly 1/24). `None` when it may keep a snapshot
    /// forever (no counts, or only `keep_last`).
    pub fn retention_days(&self) -> Option<f64> {
        if let Some(d) = self.delete_after_days {
            return Some(d as f64);
        }
        let spans = [
            (self.keep_yearly, 366.0),
            (self.keep_monthly, 31.0),
            (self.keep_weekly, 7.0),
            (self.keep_daily, 1.0),
            (self.keep_hourly, 1.0 / 24.0),
        ];
        spans
            .iter()
            .filter_map(|(n, days)| n.map(|n| n as f64 * days))
            .reduce(f64::max)
    }
}
