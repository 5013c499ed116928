//! Tests of the vault lock: policy validation, retention bounds, protections
//! by mode, and the store retention plan.

use super::*;
use crate::backend::ObjectKind;
use crate::format::id::Id;
use crate::vault::handle::Vault;
use crate::RetentionPolicy;
use jiff::Timestamp;

#[test]
fn validate_policy() {
    let p = |min, max, d| LockPolicy {
        min_retention_days: min,
        max_retention_days: max,
        changeable_for_days: d,
    };
    assert!(p(7, 365, None).validate().is_ok());
    assert!(p(7, 365, Some(3)).validate().is_ok());
    let e = p(7, 365, Some(2)).validate().unwrap_err();
    assert!(e.to_string().contains("at least 3 days"), "{e}");
    assert!(p(30, 7, None).validate().is_err());
    assert_eq!(p(7, 365, Some(3)).mode(), LockMode::Compliance);
}

#[test]
fn retention_bounds() {
    let lock = LockPolicy {
        min_retention_days: 7,
        max_retention_days: 90,
        changeable_for_days: None,
    };
    let hourly = RetentionPolicy {
        keep_hourly: Some(2),
        ..Default::default()
    };
    let e = lock.check_retention(&hourly).unwrap_err();
    assert!(
        e.to_string()
            .contains("0.08 days, below the lock's minimum of 7"),
        "{e}"
    );
    let ok = RetentionPolicy {
        delete_after_days: Some(30),
        ..Default::default()
    };
    assert!(lock.check_retention(&ok).is_ok());
}

#[test]
fn protections_by_mode() {
    let t: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    let mut lock = VaultLock {
        record: Id::default(),
        policy: LockPolicy {
            min_retention_days: 7,
            max_retention_days: 90,
            changeable_for_days: None,
        },
        mode: LockMode::Governance,
        created: t,
        changeable_until: None,
        who: String::new(),
        store_enforced: false,
    };
    let ru: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
    let p = snapshot_protections(Some(&lock), t, Some(ru), false);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].until, "2026-11-08T00:00:00Z".parse().unwrap());
    assert!(!p[0].absolute);
    assert!(snapshot_protections(Some(&lock), t, Some(ru), true).is_empty());
    assert_eq!(snapshot_protections(None, t, Some(ru), false).len(), 1);
    lock.mode = LockMode::Compliance;
    let p = snapshot_protections(Some(&lock), t, Some(ru), true);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|p| p.absolute));
    assert_eq!(p[0].what, "locked (compliance)");
}

#[test]
fn store_retention_plan_covers_what_snapshots_need() {
    use crate::format::tree::{Node, NodeKind, Tree};
    use crate::test_backend::Mem;
    use crate::{Archiver, BackupOptions, InitOptions, Secret, Snapshot};
    use std::sync::Arc;
    let v = Vault::init(
        Arc::new(Mem::default()),
        &Secret::KeyFile([7; 32]),
        &InitOptions::default(),
    )
    .unwrap();
    let index = v.load_index().unwrap();
    let a = Archiver::new(&v, &index, BackupOptions::default());
    let mut f = Node::new(b"f".to_vec(), NodeKind::File);
    f.content = a
        .save_bytes(&[42u8; 100_000], std::path::Path::new("f"))
        .unwrap();
    let tree = a.save_tree(&Tree::new(vec![f])).unwrap();
    a.finish().unwrap();
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
    let day = jiff::SignedDuration::from_hours(24);
    let snap = |time: Timestamp, retain_until: Option<Timestamp>| {
        let mut j = serde_json::json!({
            "version": 1, "time": time.to_string(), "tree": tree,
            "paths": ["/d"], "hostname": "h", "username": "u",
            "source": {"kind": "files"}, "program_version": "test",
        });
        if let Some(r) = retain_until {
            j["retain_until"] = r.to_string().into();
        }
        v.save_snapshot(&serde_json::from_value::<Snapshot>(j).unwrap())
            .unwrap()
    };
    let young = snap(now - day, None);
    let kept = snap(now - day, Some(now + day * 60));
    let old = snap(now - day * 30, None);
    let policy = LockPolicy {
        min_retention_days: 7,
        max_retention_days: 90,
        changeable_for_days: None,
    };
    // A software-only lock needs no store retention.
    v.set_lock(&policy, "t", now - day * 2).unwrap();
    assert!(v
        .plan_store_retention(None, now)
        .unwrap()
        .objects
        .is_empty());
    v.set_lock_with(&policy, "t", now - day, true).unwrap();
    let plan = v.plan_store_retention(None, now).unwrap();
    assert_eq!(plan.mode, Some(LockMode::Governance));
    assert_eq!(plan.snapshots, 2, "the old snapshot's protection is over");
    let o = &plan.objects;
    assert_eq!(o[&ObjectKind::Snapshot.path(&young)], now + day * 6);
    assert_eq!(o[&ObjectKind::Snapshot.path(&kept)], now + day * 60);
    assert!(!o.contains_key(&ObjectKind::Snapshot.path(&old)));
    let packs: Vec<_> = o.keys().filter(|k| k.starts_with("packs/")).collect();
    assert!(!packs.is_empty());
    // The packs both need are kept as long as the longer-kept one.
    assert!(packs.iter().all(|p| o[*p] == now + day * 60));
    assert_eq!(o["config"], now + day * 60);
    for prefix in ["index/", "keys/", "locks/"] {
        assert!(o.keys().any(|k| k.starts_with(prefix)), "{prefix}");
    }
    assert_eq!(plan.latest, Some(now + day * 60));
    // Without object lock the backend refuses to extend.
    assert!(v.extend_store_retention(&plan).is_err());
}
