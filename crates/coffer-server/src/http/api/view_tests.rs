//! The views of `crate::model::api` write exactly the JSON of the types
//! they mirror (coffer-core's snapshot, forget plan and hold, the server's
//! source health and report), with every optional part both present and
//! absent: a field a view lacked or renamed would fail here.

use super::respond::{view, view_of};
use crate::model::api as m;
use coffer_core::Id;
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

/// `orig`'s JSON read through the view `T` comes out unchanged.
fn same<T: Serialize + DeserializeOwned>(orig: &impl Serialize) {
    let want = serde_json::to_value(orig).unwrap();
    let v: T = view_of(orig).unwrap();
    assert_eq!(serde_json::to_value(&v).unwrap(), want);
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn health(full: bool) -> crate::records::SourceHealth {
    crate::records::SourceHealth {
        source: "db".into(),
        evaluated_at: ts("2026-03-01T02:00:00Z"),
        newest_good_at: full.then(|| ts("2026-03-01T01:00:00.5Z")),
        rpo_seconds: full.then_some(3600.0),
        rpo_ok: full.then_some(true),
        wal_newest_at: full.then(|| ts("2026-03-01T01:59:00Z")),
        wal_lag_seconds: full.then_some(60.25),
        last_restore_seconds: full.then_some(12.5),
        rto_seconds: full.then_some(600.0),
        rto_ok: full.then_some(false),
    }
}

#[test]
fn source_health_and_report() {
    use crate::report::{Control, ControlStatus, JobCount, Report, SourceStatus, Summary};
    for full in [true, false] {
        same::<m::SourceHealthView>(&health(full));
    }
    let report = Report {
        generated_at: ts("2026-03-01T02:00:00Z"),
        period_start: ts("2026-02-01T02:00:00Z"),
        config: "/etc/coffer/coffer.toml".into(),
        summary: Summary {
            pass: 1,
            fail: 1,
            not_evaluated: 1,
        },
        controls: [
            ControlStatus::Pass,
            ControlStatus::Fail,
            ControlStatus::NotEvaluated,
        ]
        .into_iter()
        .map(|status| Control {
            id: "rpo".into(),
            title: "every source meets its RPO".into(),
            status,
            evidence: vec!["db: 1h old".into()],
            failing: vec![],
        })
        .collect(),
        sources: [true, false]
            .into_iter()
            .map(|full| SourceStatus {
                status: crate::health::Status::overall(&health(full)),
                health: health(full),
            })
            .collect(),
        jobs: vec![JobCount {
            kind: "backup".into(),
            states: [("COMPLETED".to_string(), 3)].into_iter().collect(),
        }],
    };
    same::<m::ReportView>(&report);
}

fn snapshot(full: bool) -> coffer_core::Snapshot {
    coffer_core::Snapshot {
        version: 1,
        time: "2026-03-01T02:00:00Z".into(),
        tree: Id([1; 32]),
        paths: vec!["/srv".into()],
        hostname: "h".into(),
        username: "u".into(),
        tags: vec!["source:db".into()],
        parent: full.then_some(Id([2; 32])),
        source: coffer_core::SourceInfo {
            kind: "files".into(),
            details: if full {
                [("k".to_string(), "v".to_string())].into_iter().collect()
            } else {
                Default::default()
            },
        },
        program_version: "0.1.0".into(),
        summary: Default::default(),
        retain_until: full.then(|| "2026-04-01T00:00:00Z".into()),
        origin: full.then(|| coffer_core::Origin {
            vault: "ab".repeat(16),
            snapshot: Id([3; 32]),
        }),
        rewritten_from: full.then_some(Id([4; 32])),
    }
}

#[test]
fn snapshots_and_holds() {
    for full in [true, false] {
        let mut j = serde_json::to_value(snapshot(full)).unwrap();
        j["id"] = json!(Id([4; 32]).to_hex());
        j["short_id"] = json!(Id([4; 32]).short());
        j["held"] = json!(full);
        if full {
            j["source_name"] = json!("docs");
        }
        let v: m::SnapshotView = view(j.clone()).unwrap();
        assert_eq!(serde_json::to_value(v).unwrap(), j);
    }
    let hold = coffer_core::HoldRecord {
        version: 1,
        snapshot: Id([5; 32]),
        reason: "audit".into(),
        who: "token:ci (api)".into(),
        created: "2026-03-01T02:00:00Z".into(),
    };
    same::<m::HoldView>(&hold);
    let mut placed = serde_json::to_value(&hold).unwrap();
    placed["new"] = json!(true);
    let p = m::HoldPlaced {
        hold: view_of(&hold).unwrap(),
        new: true,
    };
    assert_eq!(serde_json::to_value(p).unwrap(), placed);
}

#[test]
fn forget_plans_and_stats() {
    use coffer_core::{Decision, ForgetItem, ForgetPlan, LockMode, LockPolicy, Protection};
    for full in [true, false] {
        let item = ForgetItem {
            decision: Decision {
                id: Id([6; 32]),
                time: ts("2026-03-01T02:00:00Z"),
                group: "h /srv".into(),
                keep: full,
                by_policy: !full,
                reasons: vec!["held".into()],
            },
            hostname: "h".into(),
            paths: vec!["/srv".into()],
            tags: vec![],
            kind: "files".into(),
            retain_until: full.then(|| "2026-04-01T00:00:00Z".into()),
            hold: full.then(|| coffer_core::HoldRecord {
                version: 1,
                snapshot: Id([6; 32]),
                reason: String::new(),
                who: "w".into(),
                created: "2026-03-01T02:00:00Z".into(),
            }),
            protections: if full {
                vec![Protection {
                    until: ts("2026-04-01T00:00:00Z"),
                    what: "locked (compliance)".into(),
                    absolute: true,
                }]
            } else {
                vec![]
            },
            unparsable_time: full.then(|| "yesterday".into()),
        };
        let plan = ForgetPlan {
            items: vec![item],
            policy: full.then(|| coffer_core::RetentionPolicy {
                keep_last: Some(3),
                delete_after_days: Some(30),
                ..Default::default()
            }),
            lock: full.then(|| coffer_core::VaultLock {
                record: Id([7; 32]),
                policy: LockPolicy {
                    min_retention_days: 7,
                    max_retention_days: 365,
                    changeable_for_days: Some(3),
                },
                mode: LockMode::Compliance,
                created: ts("2026-01-01T00:00:00Z"),
                changeable_until: None,
                who: "w".into(),
                store_enforced: false,
            }),
            lock_warnings: if full { vec!["ignored".into()] } else { vec![] },
            bypass_governance: full,
            now: ts("2026-03-02T00:00:00Z"),
            time_zone: "UTC".into(),
        };
        same::<m::ForgetPlanView>(&plan);
    }
    let stats = coffer_core::ForgetStats {
        removed: vec![Id([8; 32])],
        kept: 2,
        refused: vec![],
    };
    same::<m::ForgetStatsView>(&stats);
}
