//! The `retention-minimum` control: every rule and copy keeps snapshots at
//! least `[compliance] min_retention_days`, judged from its retention
//! policy and the rule's longest gap between backups.

use jiff::{SignedDuration, Timestamp};

use super::coverage::longest_gap;
use crate::config::Config;
use crate::report::control::Control;

/// How many days a retention policy keeps a snapshot at least (`None`:
/// forever), given the rule's longest gap between backups.
fn kept_days(p: &coffer_core::RetentionPolicy, gap: Option<SignedDuration>) -> Option<f64> {
    if p.keeps_everything() {
        return None;
    }
    let gap_days = gap.map_or(1.0, |g| g.as_secs_f64() / 86400.0);
    let by_counts = [
        p.keep_last.map(|n| n as f64 * gap_days),
        p.keep_hourly.map(|n| n as f64 / 24.0),
        p.keep_daily.map(|n| n as f64),
        p.keep_weekly.map(|n| n as f64 * 7.0),
        p.keep_monthly.map(|n| n as f64 * 30.0),
        p.keep_yearly.map(|n| n as f64 * 365.0),
    ]
    .into_iter()
    .flatten()
    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
    match (by_counts, p.delete_after_days) {
        (Some(c), Some(d)) => Some(c.min(d as f64)),
        (Some(c), None) => Some(c),
        (None, Some(d)) => Some(d as f64),
        (None, None) => None,
    }
}

/// `retention-minimum`: every rule and copy keeps snapshots at least
/// `min_retention_days`.
pub(in crate::report) fn retention_minimum(config: &Config, now: Timestamp) -> Control {
    let cc = &config.compliance;
    let mut c = Control::new(
        "retention-minimum",
        format!(
            "Every rule and copy keeps snapshots at least {} days",
            cc.min_retention_days
        ),
    );
    for r in config.rules() {
        let gap = longest_gap(r, now);
        let mut check = |what: String, p: &coffer_core::RetentionPolicy| match kept_days(p, gap) {
            None => c.ok(format!("{what}: keeps every snapshot")),
            Some(d) if d >= cc.min_retention_days as f64 => {
                c.ok(format!("{what}: keeps snapshots at least {d:.0} days"))
            }
            Some(d) => c.fail(format!(
                "{what}: keeps snapshots only {d:.1} days (minimum {})",
                cc.min_retention_days
            )),
        };
        check(
            format!("rule {} in vault `{}`", r.id(), r.vault),
            &r.retention,
        );
        for cp in &r.copy_to {
            check(
                format!("rule {} copy in vault `{}`", r.id(), cp.vault),
                &cp.retention,
            );
        }
    }
    c.judged()
}
