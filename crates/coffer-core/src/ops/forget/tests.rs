//! Tests of forget: plans by policy and by id, holds, vault locks in both
//! modes, `retain_until`, and the re-check at execution.

use super::*;
use crate::backend::ObjectKind;
use crate::format::id::Id;
use crate::format::keys::Secret;
use crate::format::lock::LockMode;
use crate::format::lock::LockPolicy;
use crate::format::snapshot::Snapshot;
use crate::ops::retention::RetentionPolicy;
use crate::test_backend::Mem;
use crate::vault::handle::Vault;
use crate::vault::InitOptions;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use jiff::Timestamp;
use std::sync::Arc;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn vault() -> Vault {
    Vault::init(
        Arc::new(Mem::default()),
        &Secret::KeyFile([7; 32]),
        &InitOptions::default(),
    )
    .unwrap()
}

fn snap(v: &Vault, time: Timestamp, host: &str, retain_until: Option<&str>) -> Id {
    // Built from JSON, as a reader would, so fields added later with
    // defaults need no change here.
    let mut j = serde_json::json!({
        "version": 1, "time": time.to_string(), "tree": Id::default(),
        "paths": ["/data"], "hostname": host, "username": "u",
        "source": {"kind": "files"}, "program_version": "test",
    });
    if let Some(r) = retain_until {
        j["retain_until"] = r.into();
    }
    v.save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
        .unwrap()
}

/// One snapshot a day at noon for `days` days before `now`, oldest first.
fn daily(v: &Vault, now: Timestamp, days: i64) -> Vec<Id> {
    (0..days)
        .rev()
        .map(|d| snap(v, now - SignedDuration::from_hours(24 * d + 12), "h", None))
        .collect()
}

fn opts(now: Timestamp, f: impl FnOnce(&mut ForgetOptions)) -> ForgetOptions {
    let mut o = ForgetOptions {
        now,
        time_zone: TimeZone::UTC,
        ..Default::default()
    };
    f(&mut o);
    o
}

fn remaining(v: &Vault) -> usize {
    v.list(ObjectKind::Snapshot).unwrap().len()
}

const NOW: &str = "2026-12-01T00:00:00Z";

#[test]
fn policy_plan_then_execute() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 10);
    snap(&v, now - SignedDuration::from_hours(30), "other", None);
    let o = opts(now, |o| o.policy.keep_last = Some(3));
    let plan = plan_forget(&v, &o).unwrap();
    // Two groups: "other" keeps its only snapshot.
    assert_eq!(plan.items.len(), 11);
    assert_eq!(plan.to_remove().count(), 7);
    assert!(plan.refusals().is_empty());
    // Planning wrote nothing; executing removes exactly the plan.
    assert_eq!(remaining(&v), 11);
    let stats = execute_forget(&v, &plan).unwrap();
    assert_eq!(stats.removed.len(), 7);
    assert_eq!(stats.kept, 4);
    assert_eq!(remaining(&v), 4);
    for id in &ids[7..] {
        v.load_snapshot(id).unwrap();
    }
    // Executing again is harmless.
    assert_eq!(execute_forget(&v, &plan).unwrap().removed.len(), 7);
}

#[test]
fn holds_survive_and_release() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 5);
    let (h, new) = v
        .hold_snapshot(&ids[0], "audit 42", "me@here", now)
        .unwrap();
    assert!(new && h.reason == "audit 42");
    let (_, new) = v.hold_snapshot(&ids[0], "again", "me@here", now).unwrap();
    assert!(!new);
    assert_eq!(v.holds().unwrap().len(), 1);
    let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
    let held = plan.items.iter().find(|i| i.decision.id == ids[0]).unwrap();
    assert!(held.decision.keep && held.decision.reasons.contains(&"held".to_string()));
    execute_forget(&v, &plan).unwrap();
    assert_eq!(remaining(&v), 2);
    // Named explicitly, still refused, with the way out in the message.
    let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![ids[0]])).unwrap();
    let r = plan.refusals();
    assert_eq!(r.len(), 1);
    assert!(
        r[0].contains("legal hold") && r[0].contains("coffer snapshot release"),
        "{}",
        r[0]
    );
    // Even bypassing governance.
    let plan = plan_forget(
        &v,
        &opts(now, |o| {
            o.ids = vec![ids[0]];
            o.bypass_governance = true;
        }),
    )
    .unwrap();
    assert_eq!(plan.to_remove().count(), 0);
    v.release_snapshot(&ids[0]).unwrap();
    assert!(v.release_snapshot(&ids[0]).is_err());
    let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![ids[0]])).unwrap();
    assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![ids[0]]);
    assert!(
        v.hold_snapshot(&ids[0], "", "", now).is_err(),
        "gone snapshot"
    );
}

/// A snapshot whose stored time does not parse is never taken for old
/// (issue 14): no policy removes it, a compliance lock keeps it for
/// good, and without a lock only `--bypass-governance` by id forgets it.
#[test]
fn unparsable_snapshot_time_is_protected_not_epoch() {
    let v = vault();
    let now = ts(NOW);
    let old = snap(&v, now - SignedDuration::from_hours(24 * 400), "h", None);
    let mut j = serde_json::to_value(v.load_snapshot(&old).unwrap()).unwrap();
    j["time"] = "yesterday-ish".into();
    let bad = v
        .save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
        .unwrap();
    let young = snap(&v, now - SignedDuration::from_hours(1), "h", None);
    let plan = plan_forget(&v, &opts(now, |o| o.policy.delete_after_days = Some(30))).unwrap();
    let removed: Vec<Id> = plan.to_remove().map(|i| i.decision.id).collect();
    assert_eq!(removed, vec![old]);
    let item = plan.items.iter().find(|i| i.decision.id == bad).unwrap();
    assert_eq!(item.unparsable_time.as_deref(), Some("yesterday-ish"));
    assert!(
        item.decision
            .reasons
            .iter()
            .any(|r| r.contains("does not parse")),
        "{:?}",
        item.decision.reasons
    );
    execute_forget(&v, &plan).unwrap();
    assert_eq!(remaining(&v), 2);
    // By id, refused with the way out.
    let plan = plan_forget(&v, &opts(now, |o| o.ids = vec![bad])).unwrap();
    let r = plan.refusals();
    assert!(
        r.len() == 1
            && r[0].contains("`yesterday-ish` does not parse")
            && r[0].contains("--bypass-governance"),
        "{r:?}"
    );
    // Under a compliance lock nothing removes it.
    v.set_lock(
        &LockPolicy {
            min_retention_days: 1,
            max_retention_days: 100,
            changeable_for_days: Some(3),
        },
        "admin",
        now - SignedDuration::from_hours(1),
    )
    .unwrap();
    let bypass = |o: &mut ForgetOptions| {
        o.ids = vec![bad];
        o.bypass_governance = true;
    };
    let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
    assert_eq!(plan.to_remove().count(), 0);
    assert!(
        plan.refusals()[0].contains("nothing can"),
        "{:?}",
        plan.refusals()
    );
    // A plan made before the lock is re-checked at execution.
    let min = SignedDuration::from_mins;
    v.remove_lock("admin", now - min(30)).unwrap();
    let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
    assert_eq!(plan.to_remove().count(), 1);
    v.set_lock(
        &LockPolicy {
            min_retention_days: 1,
            max_retention_days: 100,
            changeable_for_days: Some(3),
        },
        "admin",
        now - min(20),
    )
    .unwrap();
    let stats = execute_forget(&v, &plan).unwrap();
    assert!(stats.removed.is_empty() && stats.refused.len() == 1);
    // Without a lock, bypassing governance forgets it by id.
    v.remove_lock("admin", now - min(10)).unwrap();
    let plan = plan_forget(&v, &opts(now, bypass)).unwrap();
    assert_eq!(execute_forget(&v, &plan).unwrap().removed, vec![bad]);
    v.load_snapshot(&young).unwrap();
}

#[test]
fn hold_placed_after_planning_wins() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 3);
    let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
    v.hold_snapshot(&ids[0], "late", "me", now).unwrap();
    let stats = execute_forget(&v, &plan).unwrap();
    assert_eq!(stats.removed, vec![ids[1]]);
    assert_eq!(stats.refused.len(), 1);
    assert_eq!(stats.refused[0].id, ids[0]);
}

#[test]
fn governance_lock_keeps_young_snapshots_unless_bypassed() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 10);
    v.set_lock(
        &LockPolicy {
            min_retention_days: 5,
            max_retention_days: 100,
            changeable_for_days: None,
        },
        "admin",
        now - SignedDuration::from_hours(1),
    )
    .unwrap();
    // A rule's retention is checked against the stored lock's bounds.
    let short = RetentionPolicy {
        keep_daily: Some(3),
        ..Default::default()
    };
    let e = v
        .check_retention_against_lock(&short)
        .unwrap_err()
        .to_string();
    assert!(e.contains("below the lock's minimum of 5 days"), "{e}");
    let fits = RetentionPolicy {
        delete_after_days: Some(30),
        ..Default::default()
    };
    v.check_retention_against_lock(&fits).unwrap();
    // A policy below the minimum is refused as a whole.
    let e = plan_forget(&v, &opts(now, |o| o.policy.delete_after_days = Some(2))).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("below the minimum retention of 5 days") && m.contains("--bypass-governance"),
        "{m}"
    );
    // keep_last has no duration: the lock keeps the young ones.
    let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
    // Snapshots are 0.5, 1.5, … 9.5 days old: 0.5..4.5 are protected.
    assert_eq!(plan.to_remove().count(), 5);
    let young = plan.items.iter().find(|i| i.decision.id == ids[8]).unwrap();
    assert!(young
        .decision
        .reasons
        .iter()
        .any(|r| r.starts_with("locked (governance) until")));
    // Bypassing governance removes them.
    let plan = plan_forget(
        &v,
        &opts(now, |o| {
            o.policy.keep_last = Some(1);
            o.bypass_governance = true;
        }),
    )
    .unwrap();
    assert_eq!(plan.to_remove().count(), 9);
    // The governance lock can be removed at any time.
    v.remove_lock("admin", now).unwrap();
    assert!(v.lock_state().unwrap().lock.is_none());
    assert!(v
        .remove_lock("admin", now + SignedDuration::from_secs(1))
        .is_err());
}

#[test]
fn compliance_lock_and_retain_until_are_absolute() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 10);
    let retained = snap(
        &v,
        now - SignedDuration::from_hours(24 * 40),
        "h",
        Some("2027-01-01T00:00:00Z"),
    );
    let set_at = now - SignedDuration::from_hours(24 * 5);
    v.set_lock(
        &LockPolicy {
            min_retention_days: 5,
            max_retention_days: 100,
            changeable_for_days: Some(3),
        },
        "admin",
        set_at,
    )
    .unwrap();
    let e = plan_forget(
        &v,
        &opts(now, |o| {
            o.policy.delete_after_days = Some(2);
            o.bypass_governance = true;
        }),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot be bypassed"), "{e}");
    let plan = plan_forget(
        &v,
        &opts(now, |o| {
            o.policy.keep_last = Some(1);
            o.bypass_governance = true;
        }),
    )
    .unwrap();
    let mut removed: Vec<Id> = plan.to_remove().map(|i| i.decision.id).collect();
    removed.sort();
    let mut expect = ids[..5].to_vec();
    expect.sort();
    assert_eq!(removed, expect);
    let r = plan
        .items
        .iter()
        .find(|i| i.decision.id == retained)
        .unwrap();
    assert!(r.decision.keep);
    assert!(r
        .decision
        .reasons
        .iter()
        .any(|x| x.starts_with("retained (compliance) until 2027-01-01")));
    // Explicitly named: refused with the date to wait for.
    let plan = plan_forget(
        &v,
        &opts(now, |o| {
            o.ids = vec![ids[9], retained];
            o.bypass_governance = true;
        }),
    )
    .unwrap();
    let r = plan.refusals();
    assert_eq!(r.len(), 2);
    assert!(
        r.iter().all(|m| m.contains("cannot be overridden")),
        "{r:?}"
    );
    // Past its grace period (set 5 days ago, changeable for 3), the lock
    // can be neither changed nor removed.
    let e = v.remove_lock("admin", now).unwrap_err().to_string();
    assert!(e.contains("only until") && e.contains("compliance"), "{e}");
    let e = v
        .set_lock(
            &LockPolicy {
                min_retention_days: 1,
                max_retention_days: 100,
                changeable_for_days: None,
            },
            "admin",
            now,
        )
        .unwrap_err();
    assert!(e.to_string().contains("nobody can change it now"), "{e}");
}

#[test]
fn compliance_lock_changeable_during_grace_period() {
    let v = vault();
    let t0 = ts(NOW);
    let p = LockPolicy {
        min_retention_days: 7,
        max_retention_days: 30,
        changeable_for_days: Some(3),
    };
    let l = v.set_lock(&p, "a", t0).unwrap();
    assert_eq!(l.changeable_until, Some(ts("2026-12-04T00:00:00Z")));
    // Two days in: still changeable; the new record starts a new grace period.
    let t1 = t0 + SignedDuration::from_hours(48);
    v.remove_lock("a", t1).unwrap();
    assert!(v.lock_state().unwrap().lock.is_none());
    let l = v
        .set_lock(&p, "a", t1 + SignedDuration::from_secs(1))
        .unwrap();
    assert!(l.changeable_at(t1 + SignedDuration::from_hours(24)));
    // A record backdated before the newest one is refused.
    let e = v.remove_lock("a", t0).unwrap_err();
    assert!(e.to_string().contains("clock"), "{e}");
    // D < 3 refused.
    let e = v
        .set_lock(
            &LockPolicy {
                changeable_for_days: Some(2),
                ..p.clone()
            },
            "a",
            t1 + SignedDuration::from_hours(1),
        )
        .unwrap_err();
    assert!(e.to_string().contains("at least 3 days"), "{e}");
}

#[test]
fn record_written_after_grace_period_is_ignored() {
    // A client that ignores the rules (or a bad clock) wrote a removal
    // after the compliance lock froze: replaying the records skips it.
    let v = vault();
    let t0 = ts(NOW);
    v.set_lock(
        &LockPolicy {
            min_retention_days: 7,
            max_retention_days: 30,
            changeable_for_days: Some(3),
        },
        "a",
        t0,
    )
    .unwrap();
    let rogue = crate::format::lock::LockRecord {
        version: 1,
        created: (t0 + SignedDuration::from_hours(24 * 10)).to_string(),
        policy: LockPolicy {
            min_retention_days: 0,
            max_retention_days: 0,
            changeable_for_days: None,
        },
        mode: LockMode::Governance,
        changeable_until: None,
        removes: true,
        who: "rogue".into(),
        store_enforced: None,
    };
    v.save_object(ObjectKind::Lock, &serde_json::to_vec(&rogue).unwrap())
        .unwrap();
    let st = v.lock_state().unwrap();
    assert_eq!(st.records, 2);
    assert_eq!(st.lock.unwrap().mode, LockMode::Compliance);
    assert_eq!(st.ignored.len(), 1);
    assert!(st.ignored[0].contains("rogue"));
}

#[test]
fn retain_until_without_lock_is_governance() {
    let v = vault();
    let now = ts(NOW);
    let r = snap(
        &v,
        now - SignedDuration::from_hours(24 * 40),
        "h",
        Some("2026-12-10T00:00:00Z"),
    );
    snap(&v, now - SignedDuration::from_hours(1), "h", None);
    let plan = plan_forget(&v, &opts(now, |o| o.policy.keep_last = Some(1))).unwrap();
    assert_eq!(plan.to_remove().count(), 0);
    let kept = plan.items.iter().find(|i| i.decision.id == r).unwrap();
    assert_eq!(
        kept.decision.reasons,
        vec![
            "not kept by any rule",
            "retained until 2026-12-10T00:00:00Z"
        ]
    );
    let plan = plan_forget(
        &v,
        &opts(now, |o| {
            o.policy.keep_last = Some(1);
            o.bypass_governance = true;
        }),
    )
    .unwrap();
    assert_eq!(plan.to_remove().count(), 1);
    // After the date it goes without bypass.
    let later = ts("2026-12-11T00:00:00Z");
    let plan = plan_forget(&v, &opts(later, |o| o.policy.keep_last = Some(1))).unwrap();
    assert_eq!(plan.to_remove().count(), 1);
}

#[test]
fn bad_requests() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 2);
    assert!(plan_forget(&v, &opts(now, |_| {})).is_err());
    assert!(plan_forget(
        &v,
        &opts(now, |o| {
            o.ids = vec![ids[0]];
            o.policy.keep_last = Some(1);
        })
    )
    .is_err());
    let e = plan_forget(&v, &opts(now, |o| o.policy.keep_daily = Some(0))).unwrap_err();
    assert!(e.to_string().contains("keeps no snapshot"), "{e}");
    let e = plan_forget(&v, &opts(now, |o| o.ids = vec![Id([9; 32])])).unwrap_err();
    assert!(matches!(e.kind(), crate::ErrorKind::NotFound), "{e}");
}

#[test]
fn damaged_hold_object_is_reported() {
    let v = vault();
    let now = ts(NOW);
    let ids = daily(&v, now, 2);
    v.hold_snapshot(&ids[0], "", "", now).unwrap();
    // A hold object copied under another snapshot's hold name.
    let bytes = v.backend().read(&v.hold_path(&ids[0])).unwrap();
    v.backend().write(&v.hold_path(&ids[1]), bytes).unwrap();
    let e = v.holds().unwrap_err().to_string();
    assert!(
        e.contains("not stored under that snapshot's hold name"),
        "{e}"
    );
}
