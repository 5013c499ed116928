//! The retention decision: [`plan_retention`] applies a policy to a list of
//! [`Candidate`]s, [`plan_removal`] removes named ones, and both keep what a
//! hold or an active [`Protection`] keeps.
//!
//! Pure functions: no storage and no clock are read; the caller passes
//! "now" and the time zone, so a dry run and the real run agree.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Serialize, Serializer};

use crate::format::id::Id;
use crate::ops::retention::policy::{Period, RetentionPolicy};

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
    /// The group it belongs to ([`GroupBy::key`](crate::retention::GroupBy::key)); counts run per group.
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
    let order = in_decision_order(snapshots);
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

/// `snapshots` in the order decisions are listed: by group, newest first
/// (ties by id, so the order is the same on every run).
fn in_decision_order(snapshots: &[Candidate]) -> Vec<&Candidate> {
    let mut order: Vec<&Candidate> = snapshots.iter().collect();
    order.sort_by(|a, b| {
        a.group
            .cmp(&b.group)
            .then(b.time.cmp(&a.time))
            .then(b.id.cmp(&a.id))
    });
    order
}

/// Decisions that remove exactly `snapshots` (named one by one), except
/// where a hold or protection keeps them. Ordered like [`plan_retention`].
pub fn plan_removal(snapshots: &[Candidate], now: Timestamp) -> Vec<Decision> {
    let mut order = in_decision_order(snapshots);
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
