//! A retention policy: the GFS counts (`keep_last`, `keep_hourly` …
//! `keep_yearly`) and the age limit `delete_after_days`, as read from a
//! rule's `retention` table, `coffer forget` flags and the HTTP API.
//!
//! Periods are civil periods in the caller's time zone (see the module doc
//! of [`crate::retention`]): a day is a calendar day whether it has 23, 24
//! or 25 hours.

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

/// Which snapshots to keep. Every `keep_*` count keeps the newest snapshot of
/// each of that many most recent periods (hours, days, ISO weeks, months,
/// years) that hold a snapshot; `keep_last` keeps the newest N outright. A
/// snapshot is kept when any count keeps it. When no count is set, every
/// snapshot is kept by the counts. `delete_after_days`, when set, removes
/// every snapshot older than that many days whatever the counts say (AWS
/// Backup's lifecycle `DeleteAfterDays`). Held snapshots and snapshots a
/// vault lock protects are never removed.
///
/// Ages are measured in exact days of 86,400 seconds from the snapshot's
/// time to "now"; a snapshot exactly `delete_after_days` old is kept.
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

    /// Whether the counts keep nothing at all: counts are set, but every one
    /// is 0. Such a policy removes every snapshot it is applied to (but held
    /// or protected ones), so front ends refuse it rather than empty a vault
    /// by a typo. (`delete_after_days = 0` alone is not such a case: a
    /// snapshot taken "now" is 0 days old and kept.)
    pub fn removes_everything(&self) -> bool {
        self.has_counts() && self.counts().iter().all(|(_, n)| n.unwrap_or(0) == 0)
    }

    /// The counts in the order they are applied, with their names.
    pub(super) fn counts(&self) -> [(Period, Option<u32>); 6] {
        [
            (Period::Last, self.keep_last),
            (Period::Hourly, self.keep_hourly),
            (Period::Daily, self.keep_daily),
            (Period::Weekly, self.keep_weekly),
            (Period::Monthly, self.keep_monthly),
            (Period::Yearly, self.keep_yearly),
        ]
    }
}

impl std::fmt::Display for RetentionPolicy {
    /// `keep_last = 3, keep_daily = 7, delete_after_days = 30`, or `keep
    /// everything`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self
            .counts()
            .iter()
            .filter_map(|(p, n)| n.map(|n| format!("{} = {n}", p.field())))
            .collect();
        if let Some(d) = self.delete_after_days {
            parts.push(format!("delete_after_days = {d}"));
        }
        if parts.is_empty() {
            f.write_str("keep everything")
        } else {
            f.write_str(&parts.join(", "))
        }
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

/// One period kind of the GFS counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Period {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Period {
    /// The policy field that sets this count.
    fn field(self) -> &'static str {
        match self {
            Period::Last => "keep_last",
            Period::Hourly => "keep_hourly",
            Period::Daily => "keep_daily",
            Period::Weekly => "keep_weekly",
            Period::Monthly => "keep_monthly",
            Period::Yearly => "keep_yearly",
        }
    }

    /// The period a local date-time falls in, as the label shown in
    /// reasons. Equal labels mean the same period (the formats are fixed
    /// width, and ISO week years are spelled out), so the label doubles as
    /// the period key. `Last` has no period: every snapshot is its own.
    pub(super) fn label(self, dt: DateTime) -> String {
        match self {
            Period::Last => String::new(),
            Period::Hourly => dt.strftime("%Y-%m-%d %H:00").to_string(),
            Period::Daily => dt.strftime("%Y-%m-%d").to_string(),
            Period::Weekly => {
                let w = dt.date().iso_week_date();
                format!("{:04}-W{:02}", w.year(), w.week())
            }
            Period::Monthly => dt.strftime("%Y-%m").to_string(),
            Period::Yearly => dt.strftime("%Y").to_string(),
        }
    }

    /// The reason word (`daily 2026-11-20`).
    pub(super) fn word(self) -> &'static str {
        match self {
            Period::Last => "last",
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }
}
