//! Retention policies (GFS and age), as pure functions over snapshot lists.
//!
//! The same [`RetentionPolicy`] is read from the configuration file (a rule's
//! `retention` table), from `coffer forget` flags and from the HTTP API, so
//! all three decide identically.
//!
//! [`plan_retention`] decides, for each snapshot, whether it is kept and why.
//! It reads no storage and no clock: the caller passes the snapshots (as
//! [`Candidate`]s), the time it calls "now" and the time zone whose calendar
//! defines hours, days, weeks, months and years. That makes the decision
//! reproducible (a dry run and the real run agree) and testable over
//! simulated years.
//!
//! The GFS algorithm is the one restic and borg use. Snapshots are grouped
//! (by default per host, source kind and paths: see [`GroupBy`]); within a
//! group they are walked newest first, and each `keep_*` count keeps the
//! newest snapshot of each distinct period until its count is used up. Only
//! periods that hold a snapshot count, so `keep_daily = 7` keeps the newest
//! snapshot of each of the 7 most recent days that have one, however far
//! apart those days are. Periods are civil periods in the given time zone
//! (jiff's civil dates), so a day is a calendar day whether it has 23, 24 or
//! 25 hours, and an hour that repeats when the clocks go back is one period.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize, Serializer};

use crate::id::Id;
use crate::snapshot::Snapshot;

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
    fn counts(&self) -> [(Period, Option<u32>); 6] {
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
enum Period {
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
    fn label(self, dt: DateTime) -> String {
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
    fn word(self) -> &'static str {
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

/// Something that keeps a snapshot until a time, whatever the policy says:
/// a vault lock's minimum retention, or the snapshot's own `retain_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Protection {
    /// Until when (exclusive): from this instant on the protection is over.
    #[serde(serialize_with = "ser_ts")]
    pub until: Timestamp,
    /// What protects it, e.g. `locked (compliance)`; the plan's reason is
    /// this followed by ` until <time>`.
    pub what: String,
    /// Whether nothing can override it (compliance mode). Governance-mode
    /// protections are left out by the caller when it bypasses governance,
    /// so this only tells front ends what to suggest.
    pub absolute: bool,
}

/// A snapshot as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The snapshot id.
    pub id: Id,
    /// When the backup started.
    pub time: Timestamp,
    /// The group it belongs to ([`GroupBy::key`]); counts run per group.
    pub group: String,
    /// Under a legal hold: never removed.
    pub held: bool,
    /// Protections that keep it until a time (lock, `retain_until`).
    pub protections: Vec<Protection>,
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The snapshot id.
    pub id: Id,
    /// When the backup started.
    #[serde(serialize_with = "ser_ts")]
    pub time: Timestamp,
    /// Its group.
    pub group: String,
    /// Whether it stays.
    pub keep: bool,
    /// Whether the policy (or the explicit request) alone would keep it;
    /// `keep && !by_policy` means only a hold or a protection keeps it.
    pub by_policy: bool,
    /// Why, in order: the policy's reasons (`last 1 of 3`, `daily
    /// 2026-11-20`, `older than delete_after_days = 30`, `not kept by any
    /// rule`), then `held` and active protections (`locked (compliance)
    /// until …`).
    pub reasons: Vec<String>,
}

/// Serializes a timestamp as RFC 3339 (jiff's `serde` feature is off).
pub(crate) fn ser_ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// `t` plus `days` exact days, saturating at the end of jiff's range.
pub fn add_days(t: Timestamp, days: u32) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(days as i64 * 86_400))
        .unwrap_or(Timestamp::MAX)
}

/// Applies `policy` to `snapshots` as of `now`, with periods in `tz`.
///
/// Returns one decision per candidate, ordered by group (ascending) and,
/// within a group, newest first (the order in which the counts are applied,
/// so a listing reads like the algorithm). Ties in time are broken by id so
/// the result does not depend on the input order.
pub fn plan_retention(
    snapshots: &[Candidate],
    policy: &RetentionPolicy,
    now: Timestamp,
    tz: &TimeZone,
) -> Vec<Decision> {
    let mut order: Vec<&Candidate> = snapshots.iter().collect();
    order.sort_by(|a, b| {
        a.group
            .cmp(&b.group)
            .then(b.time.cmp(&a.time))
            .then(b.id.cmp(&a.id))
    });
    let mut out = Vec::with_capacity(order.len());
    let mut i = 0;
    while i < order.len() {
        let end = order[i..]
            .iter()
            .position(|c| c.group != order[i].group)
            .map_or(order.len(), |n| i + n);
        plan_group(&order[i..end], policy, now, tz, &mut out);
        i = end;
    }
    out
}

/// Decisions for one group, whose candidates are sorted newest first.
fn plan_group(
    group: &[&Candidate],
    policy: &RetentionPolicy,
    now: Timestamp,
    tz: &TimeZone,
    out: &mut Vec<Decision>,
) {
    struct Counter {
        period: Period,
        total: u32,
        left: u32,
        last: Option<String>,
    }
    let mut counters: Vec<Counter> = policy
        .counts()
        .iter()
        .filter_map(|&(period, n)| {
            n.map(|n| Counter {
                period,
                total: n,
                left: n,
                last: None,
            })
        })
        .collect();
    let max_age = policy
        .delete_after_days
        .map(|d| SignedDuration::from_secs(d as i64 * 86_400));
    for c in group {
        let mut reasons = Vec::new();
        let dt = tz.to_datetime(c.time);
        // Every counter sees every snapshot (a snapshot may use up a slot of
        // several counts at once, as in restic), so each count's periods are
        // independent of the others.
        let mut counted = false;
        for k in counters.iter_mut().filter(|k| k.left > 0) {
            if k.period == Period::Last {
                reasons.push(format!("last {} of {}", k.total - k.left + 1, k.total));
                k.left -= 1;
                counted = true;
                continue;
            }
            let label = k.period.label(dt);
            if k.last.as_deref() != Some(&label) {
                reasons.push(format!("{} {label}", k.period.word()));
                k.last = Some(label);
                k.left -= 1;
                counted = true;
            }
        }
        let too_old = max_age.is_some_and(|m| now.duration_since(c.time) > m);
        let mut keep = if policy.has_counts() { counted } else { true };
        if too_old {
            keep = false;
            reasons.clear();
            reasons.push(format!(
                "older than delete_after_days = {}",
                policy.delete_after_days.unwrap_or(0)
            ));
        } else if keep && !policy.has_counts() {
            reasons.push(match policy.delete_after_days {
                Some(d) => format!("within delete_after_days = {d}"),
                None => "the policy keeps everything".into(),
            });
        } else if !keep {
            reasons.push("not kept by any rule".into());
        }
        out.push(protect(c, keep, reasons, now));
    }
}

/// Decisions that remove exactly `snapshots` (named one by one), except
/// where a hold or protection keeps them. Ordered like [`plan_retention`].
pub fn plan_removal(snapshots: &[Candidate], now: Timestamp) -> Vec<Decision> {
    let mut order: Vec<&Candidate> = snapshots.iter().collect();
    order.sort_by(|a, b| {
        a.group
            .cmp(&b.group)
            .then(b.time.cmp(&a.time))
            .then(b.id.cmp(&a.id))
    });
    order.dedup_by(|a, b| a.id == b.id);
    order
        .into_iter()
        .map(|c| protect(c, false, vec!["named for removal".into()], now))
        .collect()
}

/// The decision once holds and active protections are applied on top of the
/// policy's: each of them keeps the snapshot and adds its reason.
fn protect(c: &Candidate, by_policy: bool, mut reasons: Vec<String>, now: Timestamp) -> Decision {
    let mut keep = by_policy;
    if c.held {
        keep = true;
        reasons.push("held".into());
    }
    for p in c.protections.iter().filter(|p| now < p.until) {
        keep = true;
        // Whole seconds: reasons are for reading (the exact time is in
        // `Protection::until`).
        if p.until == Timestamp::MAX {
            // Kept for good (e.g. a snapshot time that does not parse).
            reasons.push(p.what.clone());
        } else {
            reasons.push(format!("{} until {:.0}", p.what, p.until));
        }
    }
    Decision {
        id: c.id,
        time: c.time,
        group: c.group.clone(),
        keep,
        by_policy,
        reasons,
    }
}

/// Which snapshot fields form a retention group, as restic's `--group-by`.
/// Counts run separately in each group, so one policy applied to a whole
/// vault keeps N of each source rather than N in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// The host name.
    pub host: bool,
    /// The source kind (`files`, `postgres`, …).
    pub kind: bool,
    /// The backed-up paths (as a set).
    pub paths: bool,
    /// The tags (as a set).
    pub tags: bool,
}

impl Default for GroupBy {
    /// Host, source kind and paths: each source separately.
    fn default() -> Self {
        GroupBy {
            host: true,
            kind: true,
            paths: true,
            tags: false,
        }
    }
}

impl GroupBy {
    /// One group for everything.
    pub const NONE: GroupBy = GroupBy {
        host: false,
        kind: false,
        paths: false,
        tags: false,
    };

    /// The group key of a snapshot, e.g. `host=web1 kind=files
    /// paths=/etc,/home`; empty when grouping by nothing. Paths and tags are
    /// sorted, so their order in the snapshot does not matter.
    pub fn key(&self, s: &Snapshot) -> String {
        let mut parts = Vec::new();
        if self.host {
            parts.push(format!("host={}", s.hostname));
        }
        if self.kind {
            parts.push(format!("kind={}", s.source.kind));
        }
        if self.paths {
            let mut p = s.paths.clone();
            p.sort();
            parts.push(format!("paths={}", p.join(",")));
        }
        if self.tags {
            let mut t = s.tags.clone();
            t.sort();
            parts.push(format!("tags={}", t.join(",")));
        }
        parts.join(" ")
    }
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    /// A comma-separated list of `host`, `kind`, `paths`, `tags`; an empty
    /// string groups nothing (one policy over all snapshots).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut g = GroupBy::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "kind" => g.kind = true,
                "paths" | "path" => g.paths = true,
                "tags" | "tag" => g.tags = true,
                other => {
                    return Err(format!(
                        "unknown group-by field `{other}`: give a comma-separated list of host, kind, paths, tags (or an empty string for one group)"
                    ))
                }
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// US Eastern time as a POSIX rule (independent of the system's tz
    /// database): DST from the second Sunday of March to the first Sunday of
    /// November.
    fn eastern() -> TimeZone {
        TimeZone::posix("EST5EDT,M3.2.0,M11.1.0").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn id(n: u64) -> Id {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&n.to_be_bytes());
        Id(b)
    }

    fn cand(n: u64, time: Timestamp) -> Candidate {
        Candidate {
            id: id(n),
            time,
            group: String::new(),
            held: false,
            protections: vec![],
        }
    }

    fn kept(d: &[Decision]) -> Vec<Timestamp> {
        let mut v: Vec<Timestamp> = d.iter().filter(|d| d.keep).map(|d| d.time).collect();
        v.sort();
        v
    }

    /// Hourly snapshots (on the hour, UTC) from `from` to `to` inclusive.
    fn hourly(from: &str, to: &str) -> Vec<Candidate> {
        let (mut t, end) = (ts(from), ts(to));
        let mut out = Vec::new();
        let mut n = 0;
        while t <= end {
            out.push(cand(n, t));
            n += 1;
            t += SignedDuration::from_hours(1);
        }
        out
    }

    fn policy(f: impl FnOnce(&mut RetentionPolicy)) -> RetentionPolicy {
        let mut p = RetentionPolicy::default();
        f(&mut p);
        p
    }

    #[test]
    fn hand_checked_small_case() {
        // Five snapshots over three days, UTC.
        let snaps = vec![
            cand(1, ts("2026-11-18T10:00:00Z")),
            cand(2, ts("2026-11-19T09:00:00Z")),
            cand(3, ts("2026-11-19T18:00:00Z")),
            cand(4, ts("2026-11-20T08:00:00Z")),
            cand(5, ts("2026-11-20T12:00:00Z")),
        ];
        let p = policy(|p| {
            p.keep_last = Some(1);
            p.keep_daily = Some(2);
        });
        let now = ts("2026-11-20T13:00:00Z");
        let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
        let by_id: BTreeMap<Id, &Decision> = d.iter().map(|d| (d.id, d)).collect();
        assert_eq!(
            by_id[&id(5)].reasons,
            vec!["last 1 of 1", "daily 2026-11-20"]
        );
        assert!(!by_id[&id(4)].keep);
        assert_eq!(by_id[&id(4)].reasons, vec!["not kept by any rule"]);
        assert_eq!(by_id[&id(3)].reasons, vec!["daily 2026-11-19"]);
        assert!(!by_id[&id(2)].keep && !by_id[&id(1)].keep);
        // Newest first.
        assert_eq!(
            d.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![id(5), id(4), id(3), id(2), id(1)]
        );
    }

    #[test]
    fn reasons_name_weeks_months_years() {
        let snaps = vec![cand(1, ts("2026-11-20T12:00:00Z"))];
        let p = policy(|p| {
            p.keep_hourly = Some(1);
            p.keep_weekly = Some(1);
            p.keep_monthly = Some(1);
            p.keep_yearly = Some(1);
        });
        let d = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(
            d[0].reasons,
            vec![
                "hourly 2026-11-20 12:00",
                "weekly 2026-W47",
                "monthly 2026-11",
                "yearly 2026"
            ]
        );
    }

    #[test]
    fn iso_week_year_differs_from_calendar_year() {
        // 2027-01-01 is a Friday: ISO week 53 of 2026. With 2026-12-31 it
        // forms one week, so keep_weekly = 1 keeps only the newer one.
        let snaps = vec![
            cand(1, ts("2026-12-31T12:00:00Z")),
            cand(2, ts("2027-01-01T12:00:00Z")),
        ];
        let p = policy(|p| p.keep_weekly = Some(2));
        let d = plan_retention(&snaps, &p, ts("2027-01-02T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(d[0].reasons, vec!["weekly 2026-W53"]);
        assert_eq!(d[1].reasons, vec!["not kept by any rule"]);
    }

    #[test]
    fn days_follow_the_time_zone() {
        // 03:00 UTC on the 20th is still the 19th in New York.
        let snaps = vec![
            cand(1, ts("2026-11-19T20:00:00Z")),
            cand(2, ts("2026-11-20T03:00:00Z")),
        ];
        let p = policy(|p| p.keep_daily = Some(5));
        let utc = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(kept(&utc).len(), 2);
        let ny = plan_retention(&snaps, &p, ts("2026-11-21T00:00:00Z"), &eastern());
        assert_eq!(kept(&ny), vec![ts("2026-11-20T03:00:00Z")]);
        assert_eq!(ny[0].reasons, vec!["daily 2026-11-19"]);
    }

    #[test]
    fn delete_after_days_overrides_counts() {
        let snaps = vec![
            cand(1, ts("2026-10-01T00:00:00Z")),
            cand(2, ts("2026-11-01T00:00:00Z")),
            cand(3, ts("2026-11-30T00:00:00Z")),
        ];
        let now = ts("2026-12-01T00:00:00Z");
        let p = policy(|p| {
            p.keep_daily = Some(12);
            p.delete_after_days = Some(30);
        });
        let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
        // Exactly 30 days old is kept; 31 days old is not.
        assert_eq!(
            kept(&d),
            vec![ts("2026-11-01T00:00:00Z"), ts("2026-11-30T00:00:00Z")]
        );
        assert_eq!(d[2].reasons, vec!["older than delete_after_days = 30"]);
        // Without counts, age alone decides.
        let p = policy(|p| p.delete_after_days = Some(10));
        let d = plan_retention(&snaps, &p, now, &TimeZone::UTC);
        assert_eq!(kept(&d), vec![ts("2026-11-30T00:00:00Z")]);
        assert_eq!(d[0].reasons, vec!["within delete_after_days = 10"]);
    }

    #[test]
    fn holds_and_protections_keep_and_explain() {
        let mut a = cand(1, ts("2026-11-01T00:00:00Z"));
        a.held = true;
        let mut b = cand(2, ts("2026-11-02T00:00:00Z"));
        b.protections.push(Protection {
            until: ts("2026-12-02T00:00:00Z"),
            what: "locked (compliance)".into(),
            absolute: true,
        });
        let mut c = cand(3, ts("2026-11-03T00:00:00Z"));
        c.protections.push(Protection {
            until: ts("2026-11-10T00:00:00Z"),
            what: "locked (governance)".into(),
            absolute: false,
        });
        let d4 = cand(4, ts("2026-11-30T00:00:00Z"));
        let snaps = vec![a, b, c, d4];
        let p = policy(|p| p.keep_last = Some(1));
        let d = plan_retention(&snaps, &p, ts("2026-12-01T00:00:00Z"), &TimeZone::UTC);
        let by_id: BTreeMap<Id, &Decision> = d.iter().map(|d| (d.id, d)).collect();
        assert!(by_id[&id(1)].keep && !by_id[&id(1)].by_policy);
        assert_eq!(by_id[&id(1)].reasons, vec!["not kept by any rule", "held"]);
        assert_eq!(
            by_id[&id(2)].reasons,
            vec![
                "not kept by any rule",
                "locked (compliance) until 2026-12-02T00:00:00Z"
            ]
        );
        // An expired protection does nothing.
        assert!(!by_id[&id(3)].keep);
        assert!(by_id[&id(4)].keep && by_id[&id(4)].by_policy);
        // Explicit removal honours the same protections.
        let r = plan_removal(&snaps, ts("2026-12-01T00:00:00Z"));
        assert_eq!(
            r.iter()
                .filter(|d| d.keep)
                .map(|d| d.id)
                .collect::<Vec<_>>(),
            vec![id(2), id(1)]
        );
    }

    #[test]
    fn groups_count_separately() {
        let mut snaps = Vec::new();
        for (n, g) in ["a", "a", "b", "b", "b"].iter().enumerate() {
            let mut c = cand(
                n as u64,
                ts("2026-11-01T00:00:00Z") + SignedDuration::from_hours(n as i64),
            );
            c.group = g.to_string();
            snaps.push(c);
        }
        let p = policy(|p| p.keep_last = Some(1));
        let d = plan_retention(&snaps, &p, ts("2026-12-01T00:00:00Z"), &TimeZone::UTC);
        assert_eq!(d.iter().filter(|d| d.keep).count(), 2);
        assert_eq!(d[0].group, "a");
        assert!(d[0].keep && d[2].keep && d[2].group == "b");
    }

    #[test]
    fn group_by_parses_and_keys() {
        assert_eq!(
            "host,paths".parse::<GroupBy>().unwrap(),
            GroupBy {
                host: true,
                kind: false,
                paths: true,
                tags: false
            }
        );
        assert_eq!("".parse::<GroupBy>().unwrap(), GroupBy::NONE);
        assert!("hosts".parse::<GroupBy>().is_err());
        // Built from JSON, as a reader would, so fields added later with
        // defaults need no change here.
        let s: Snapshot = serde_json::from_value(serde_json::json!({
            "version": 1, "time": "2026-11-01T00:00:00Z", "tree": Id::default(),
            "paths": ["/b", "/a"], "hostname": "web1", "username": "root",
            "tags": ["y", "x"], "source": {"kind": "files"}, "program_version": "0",
        }))
        .unwrap();
        assert_eq!(
            GroupBy::default().key(&s),
            "host=web1 kind=files paths=/a,/b"
        );
        assert_eq!("tags".parse::<GroupBy>().unwrap().key(&s), "tags=x,y");
        assert_eq!(GroupBy::NONE.key(&s), "");
    }

    #[test]
    fn empty_and_zero_policies() {
        let snaps = vec![cand(1, ts("2026-11-01T00:00:00Z"))];
        let d = plan_retention(
            &snaps,
            &RetentionPolicy::default(),
            ts("2026-12-01T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert!(d[0].keep);
        let zero = policy(|p| p.keep_daily = Some(0));
        assert!(zero.removes_everything());
        assert!(!policy(|p| {
            p.keep_daily = Some(0);
            p.keep_last = Some(1)
        })
        .removes_everything());
        assert!(!RetentionPolicy::default().removes_everything());
        assert_eq!(
            policy(|p| {
                p.keep_last = Some(3);
                p.delete_after_days = Some(30)
            })
            .to_string(),
            "keep_last = 3, delete_after_days = 30"
        );
    }

    // ---- Simulated years ---------------------------------------------

    /// Two years of hourly snapshots in US Eastern time, through four DST
    /// changes: each rule alone keeps exactly its count, each kept snapshot
    /// is the last one of its local period, and the periods are consecutive.
    #[test]
    fn two_years_hourly_through_dst() {
        let tz = eastern();
        // Ends 2026-11-01 at 12:00 UTC: the clocks went back that morning
        // at 06:00 UTC (02:00 EDT -> 01:00 EST).
        let snaps = hourly("2024-11-01T12:00:00Z", "2026-11-01T12:00:00Z");
        let now = ts("2026-11-01T12:30:00Z");
        let local = |t: Timestamp| tz.to_datetime(t);

        // Daily: the last snapshot of each local day is at 23:00 local,
        // whether the day had 23, 24 or 25 hours.
        let d = plan_retention(&snaps, &policy(|p| p.keep_daily = Some(400)), now, &tz);
        let k = kept(&d);
        assert_eq!(k.len(), 400);
        let days: BTreeSet<_> = k.iter().map(|t| local(*t).date()).collect();
        assert_eq!(days.len(), 400);
        // All but the newest (today, partial) end at 23:00 local.
        for t in &k[..k.len() - 1] {
            assert_eq!(local(*t).hour(), 23, "{t} is not the day's last");
        }
        // Consecutive days, across both DST changes of 2025 and 2026.
        let days: Vec<_> = days.into_iter().collect();
        for w in days.windows(2) {
            assert_eq!(w[0].tomorrow().unwrap(), w[1]);
        }

        // Weekly: each kept one is Sunday 23:00 local (ISO weeks end on
        // Sunday), but the newest.
        let d = plan_retention(&snaps, &policy(|p| p.keep_weekly = Some(60)), now, &tz);
        let k = kept(&d);
        assert_eq!(k.len(), 60);
        for t in &k[..59] {
            let l = local(*t);
            assert_eq!((l.weekday(), l.hour()), (jiff::civil::Weekday::Sunday, 23));
        }

        // Monthly: the last day of each month at 23:00 local.
        let d = plan_retention(&snaps, &policy(|p| p.keep_monthly = Some(24)), now, &tz);
        let k = kept(&d);
        assert_eq!(k.len(), 24);
        for t in &k[..23] {
            let l = local(*t);
            assert_eq!(l.date().tomorrow().unwrap().day(), 1);
            assert_eq!(l.hour(), 23);
        }
        // The data starts on 2024-11-01 08:00 local: 25 months hold a
        // snapshot, so a larger count keeps 25.
        let d = plan_retention(&snaps, &policy(|p| p.keep_monthly = Some(100)), now, &tz);
        assert_eq!(kept(&d).len(), 25);

        // Yearly: 2024, 2025, 2026 hold snapshots.
        let d = plan_retention(&snaps, &policy(|p| p.keep_yearly = Some(10)), now, &tz);
        let k = kept(&d);
        assert_eq!(k.len(), 3);
        assert_eq!(local(k[0]).to_string(), "2024-12-31T23:00:00");
        assert_eq!(local(k[1]).to_string(), "2025-12-31T23:00:00");

        // Hourly across the fall-back: 01:00-02:00 local happened twice
        // (05:00 and 06:00 UTC) and is one period, so 12 hourly periods
        // span 13 real hours, and the earlier 01:xx snapshot is dropped.
        let d = plan_retention(&snaps, &policy(|p| p.keep_hourly = Some(12)), now, &tz);
        let k = kept(&d);
        assert_eq!(k.len(), 12);
        assert_eq!(k[0], ts("2026-11-01T00:00:00Z"));
        assert!(!k.contains(&ts("2026-11-01T05:00:00Z")));
        assert!(k.contains(&ts("2026-11-01T06:00:00Z")));
        let hours: BTreeSet<_> = k
            .iter()
            .map(|t| local(*t).strftime("%d %H").to_string())
            .collect();
        assert_eq!(hours.len(), 12);

        // keep_last is plain.
        let d = plan_retention(&snaps, &policy(|p| p.keep_last = Some(5)), now, &tz);
        assert_eq!(kept(&d).len(), 5);
    }

    /// Spring forward: 02:00-03:00 local does not exist, so the day has 23
    /// hourly snapshots and its last is still 23:00 local.
    #[test]
    fn spring_forward_day() {
        let tz = eastern();
        // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC).
        let snaps = hourly("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z");
        assert_eq!(snaps.len(), 24);
        let days: BTreeSet<_> = snaps
            .iter()
            .map(|c| tz.to_datetime(c.time).date())
            .collect();
        // 00:00 EST on the 8th to 00:00 EDT on the 9th: 23 hours on the 8th.
        assert_eq!(days.len(), 2);
        let d = plan_retention(
            &snaps,
            &policy(|p| p.keep_hourly = Some(100)),
            ts("2026-03-10T00:00:00Z"),
            &tz,
        );
        assert_eq!(kept(&d).len(), 24);
        let d = plan_retention(
            &snaps,
            &policy(|p| p.keep_daily = Some(100)),
            ts("2026-03-10T00:00:00Z"),
            &tz,
        );
        let k = kept(&d);
        assert_eq!(k.len(), 2);
        assert_eq!(tz.to_datetime(k[0]).to_string(), "2026-03-08T23:00:00");
    }

    /// Deterministic pseudo-random numbers (no test dependency needed).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Properties over random schedules and policies: the kept set is the
    /// union of what each rule keeps alone; each count keeps min(N, periods)
    /// snapshots, each the newest of its period and of the N newest periods;
    /// the input order does not matter; the newest snapshot is kept when any
    /// count is positive.
    #[test]
    fn random_schedules_properties() {
        let tz = eastern();
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let start = ts("2024-01-01T00:00:00Z");
        for round in 0..200 {
            let n = 1 + rng.below(400) as usize;
            let span_h = 1 + rng.below(24 * 800) as i64;
            let mut snaps: Vec<Candidate> = (0..n)
                .map(|i| {
                    let secs = rng.below(span_h as u64 * 3600) as i64;
                    cand(i as u64, start + SignedDuration::from_secs(secs))
                })
                .collect();
            let now = start + SignedDuration::from_hours(span_h + 1);
            let mut pick = || match rng.below(3) {
                0 => None,
                _ => Some(rng.below(40) as u32),
            };
            let p = RetentionPolicy {
                keep_last: pick(),
                keep_hourly: pick(),
                keep_daily: pick(),
                keep_weekly: pick(),
                keep_monthly: pick(),
                keep_yearly: pick(),
                delete_after_days: None,
            };
            let d = plan_retention(&snaps, &p, now, &tz);
            assert_eq!(d.len(), n);
            let all: BTreeSet<Id> = d.iter().filter(|d| d.keep).map(|d| d.id).collect();

            // Union of single-rule plans.
            let mut union = BTreeSet::new();
            for (period, count) in p.counts() {
                let Some(count) = count else { continue };
                let mut single = RetentionPolicy::default();
                match period {
                    Period::Last => single.keep_last = Some(count),
                    Period::Hourly => single.keep_hourly = Some(count),
                    Period::Daily => single.keep_daily = Some(count),
                    Period::Weekly => single.keep_weekly = Some(count),
                    Period::Monthly => single.keep_monthly = Some(count),
                    Period::Yearly => single.keep_yearly = Some(count),
                }
                let sd = plan_retention(&snaps, &single, now, &tz);
                let ks: Vec<&Decision> = sd.iter().filter(|d| d.keep).collect();
                // Expected: the newest snapshot of each of the `count`
                // newest periods.
                let mut newest: BTreeMap<String, (Timestamp, Id)> = BTreeMap::new();
                for c in &snaps {
                    let key = match period {
                        Period::Last => c.id.to_hex(),
                        _ => period.label(tz.to_datetime(c.time)),
                    };
                    let e = newest.entry(key).or_insert((c.time, c.id));
                    if (c.time, c.id) > *e {
                        *e = (c.time, c.id);
                    }
                }
                let mut tops: Vec<(Timestamp, Id)> = newest.into_values().collect();
                tops.sort();
                tops.reverse();
                tops.truncate(count as usize);
                let expect: BTreeSet<Id> = tops.iter().map(|t| t.1).collect();
                let got: BTreeSet<Id> = ks.iter().map(|d| d.id).collect();
                assert_eq!(got, expect, "round {round}: {period:?} = {count}");
                union.extend(got);
            }
            if p.has_counts() {
                assert_eq!(all, union, "round {round}: union");
            } else {
                assert_eq!(all.len(), n);
            }
            if p.counts().iter().any(|(_, c)| c.unwrap_or(0) > 0) {
                let newest = snaps.iter().max_by_key(|c| (c.time, c.id)).unwrap().id;
                assert!(all.contains(&newest), "round {round}: newest not kept");
            }

            // Order independence.
            for i in (1..snaps.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                snaps.swap(i, j);
            }
            assert_eq!(plan_retention(&snaps, &p, now, &tz), d);
        }
    }
}
