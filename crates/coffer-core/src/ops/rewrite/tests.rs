//! Tests of rewrite on the in-memory backend: the plan lists what goes and
//! writes nothing; execution replaces the snapshot, forgets the original,
//! and prune then drops the excluded content; refusals (hold, compliance
//! lock, a stream, nothing left) write nothing.

use super::*;
use crate::format::id::Id;
use crate::format::keys::Secret;
use crate::format::lock::LockPolicy;
use crate::format::snapshot::{Snapshot, SourceInfo};
use crate::format::tree::{Node, NodeKind, Tree};
use crate::ops::archiver::{Archiver, BackupOptions};
use crate::ops::backup::{run_backup, SnapshotMeta, SourceOutput};
use crate::ops::check::{check, CheckOptions, ReadData};
use crate::ops::prune::{prune, PruneOptions};
use crate::test_backend::Mem;
use crate::vault::handle::Vault;
use crate::vault::InitOptions;
use crate::ErrorKind;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn vault() -> Vault {
    Vault::init(
        Arc::new(Mem::default()),
        &Secret::KeyFile([7; 32]),
        &InitOptions::default(),
    )
    .unwrap()
}

/// Incompressible bytes from `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn file(a: &Archiver, name: &str, data: &[u8]) -> Node {
    let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::File);
    n.size = data.len() as u64;
    n.content = a.save_stream(data, Path::new(name)).unwrap();
    n
}

fn dir(a: &Archiver, name: &str, nodes: Vec<Node>) -> Node {
    let mut n = Node::new(name.as_bytes().to_vec(), NodeKind::Dir);
    n.subtree = Some(a.save_tree(&Tree::new(nodes)).unwrap());
    n
}

const SECRET_SEED: u64 = 99;

/// A files snapshot of `/data` with `keep.txt`, `secret.bin` (200 kB of
/// noise), `logs/a.log`, `logs/b.txt`, tagged `t1`.
fn files_snapshot(v: &Vault) -> Id {
    run_backup(
        v,
        &BackupOptions::default(),
        &SnapshotMeta {
            host: Some("h1".into()),
            tags: vec!["t1".into()],
            retain_until: None,
            time: None,
        },
        |a, _| {
            let logs = dir(
                a,
                "logs",
                vec![file(a, "a.log", b"log line\n"), file(a, "b.txt", b"bee\n")],
            );
            let data = dir(
                a,
                "data",
                vec![
                    file(a, "keep.txt", b"keep me\n"),
                    file(a, "secret.bin", &noise(SECRET_SEED, 200_000)),
                    logs,
                ],
            );
            Ok::<_, crate::Error>(SourceOutput {
                tree: a.save_tree(&Tree::new(vec![data])).unwrap(),
                paths: vec!["/data".into()],
                source: SourceInfo {
                    kind: "files".into(),
                    details: Default::default(),
                },
                summary: crate::BackupSummary {
                    total_bytes: 200_000 + 8 + 9 + 4,
                    ..Default::default()
                },
                warnings: Vec::new(),
                parent: None,
            })
        },
    )
    .unwrap()
    .id
    .unwrap()
}

fn stream_snapshot(v: &Vault) -> Id {
    run_backup(
        v,
        &BackupOptions::default(),
        &SnapshotMeta::default(),
        |a, _| {
            Ok::<_, crate::Error>(SourceOutput {
                tree: a
                    .save_tree(&Tree::new(vec![file(a, "db.sql", b"dump")]))
                    .unwrap(),
                paths: vec!["db.sql".into()],
                source: SourceInfo {
                    kind: "postgres".into(),
                    details: Default::default(),
                },
                summary: Default::default(),
                warnings: Vec::new(),
                parent: None,
            })
        },
    )
    .unwrap()
    .id
    .unwrap()
}

fn objects(v: &Vault) -> BTreeMap<String, u64> {
    v.backend()
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| (o.path, o.size))
        .collect()
}

fn opts<'a>(ids: Vec<Id>, exclude: &'a dyn Fn(&Path) -> bool) -> RewriteOptions<'a> {
    RewriteOptions {
        ids,
        filter: Default::default(),
        exclude,
        bypass_governance: false,
        now: Timestamp::now(),
    }
}

fn by_name(name: &'static str) -> impl Fn(&Path) -> bool {
    move |p: &Path| p.file_name().is_some_and(|n| n == name)
}

/// The names below `/data` of snapshot `id`, recursively (`logs/a.log`).
fn names(v: &Vault, s: &Snapshot) -> Vec<String> {
    let index = v.load_index().unwrap();
    let mut out = Vec::new();
    fn walk(v: &Vault, index: &crate::Index, id: &Id, prefix: &str, out: &mut Vec<String>) {
        for n in v.load_tree(index, id).unwrap().nodes {
            let p = format!("{prefix}{}", n.display_name());
            out.push(p.clone());
            if let Some(sub) = n.subtree {
                walk(v, index, &sub, &format!("{p}/"), out);
            }
        }
    }
    walk(v, &index, &s.tree, "/", &mut out);
    out
}

#[test]
fn plan_lists_what_goes_and_writes_nothing() {
    let v = vault();
    let id = files_snapshot(&v);
    let before = objects(&v);
    let ex = |p: &Path| p == Path::new("/data/secret.bin") || p == Path::new("/data/logs");
    let plan = plan_rewrite(&v, &opts(vec![id], &ex)).unwrap();
    assert_eq!(objects(&v), before);
    assert_eq!(plan.items.len(), 1);
    let item = &plan.items[0];
    assert_eq!(item.action, RewriteAction::Rewrite);
    let got: Vec<(&str, u64, u64)> = item
        .removed
        .iter()
        .map(|r| (r.path.as_str(), r.files, r.bytes))
        .collect();
    assert_eq!(
        got,
        vec![("/data/logs", 2, 13), ("/data/secret.bin", 1, 200_000)]
    );
    assert_eq!((item.files, item.bytes), (3, 200_013));
    assert!(plan.refusals().is_empty());
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["items"][0]["action"], "rewrite");
    assert_eq!(json["items"][0]["removed"][0]["kind"], "Dir");
}

#[test]
fn execute_replaces_forgets_and_prune_drops_the_content() {
    let v = vault();
    let id = files_snapshot(&v);
    let other = stream_snapshot(&v);
    let orig = v.load_snapshot(&id).unwrap();
    let secret_chunks: Vec<Id> = {
        let index = v.load_index().unwrap();
        let node = v
            .find_node(&index, &orig.tree, "data/secret.bin")
            .unwrap()
            .unwrap();
        node.content.iter().map(|c| c.id).collect()
    };
    let ex = by_name("secret.bin");
    let plan = plan_rewrite(&v, &opts(vec![id], &ex)).unwrap();
    let stats = execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert!(stats.refused.is_empty(), "{:?}", stats.refused);
    assert_eq!(stats.rewritten.len(), 1);
    let r = &stats.rewritten[0];
    assert!(r.forgotten && r.original == id && (r.files, r.bytes) == (1, 200_000));
    assert!(matches!(
        v.load_snapshot(&id).unwrap_err().kind(),
        ErrorKind::NotFound
    ));
    let new = v.load_snapshot(&r.new).unwrap();
    assert_eq!(new.rewritten_from, Some(id));
    assert_eq!(
        (
            &new.time,
            &new.hostname,
            &new.username,
            &new.tags,
            &new.paths,
            &new.source
        ),
        (
            &orig.time,
            &orig.hostname,
            &orig.username,
            &orig.tags,
            &orig.paths,
            &orig.source
        )
    );
    assert_eq!(new.summary.total_bytes, orig.summary.total_bytes - 200_000);
    assert_eq!(
        names(&v, &new),
        vec![
            "/data",
            "/data/keep.txt",
            "/data/logs",
            "/data/logs/a.log",
            "/data/logs/b.txt"
        ]
    );
    // The untouched subtree keeps its id.
    let index = v.load_index().unwrap();
    let logs = |s: &Snapshot| {
        v.find_node(&index, &s.tree, "data/logs")
            .unwrap()
            .unwrap()
            .subtree
    };
    assert_eq!(logs(&new), logs(&orig));
    drop(index);
    // The secret's chunks go with prune, and the vault checks clean.
    assert!(secret_chunks
        .iter()
        .all(|c| v.load_index().unwrap().contains(c)));
    prune(&v, &PruneOptions::default()).unwrap();
    let index = v.load_index().unwrap();
    assert!(secret_chunks.iter().all(|c| !index.contains(c)));
    let report = check(
        &v,
        &CheckOptions {
            read_data: ReadData::All,
        },
    )
    .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    v.load_snapshot(&other).unwrap();
}

#[test]
fn nothing_matching_leaves_the_snapshot_alone() {
    let v = vault();
    let id = files_snapshot(&v);
    let before = objects(&v);
    let ex = by_name("no-such-file");
    let plan = plan_rewrite(&v, &opts(vec![id], &ex)).unwrap();
    assert_eq!(plan.items[0].action, RewriteAction::Unchanged);
    let stats = execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert!(stats.rewritten.is_empty() && stats.unchanged == 1);
    assert_eq!(objects(&v), before);
}

#[test]
fn streams_are_refused_by_id_and_skipped_by_filter() {
    let v = vault();
    let files = files_snapshot(&v);
    let stream = stream_snapshot(&v);
    let ex = by_name("db.sql");
    let e = plan_rewrite(&v, &opts(vec![files, stream], &ex)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    let m = e.to_string();
    assert!(
        m.contains(&stream.short()) && m.contains("postgres") && m.contains("coffer forget"),
        "{m}"
    );
    let plan = plan_rewrite(&v, &opts(vec![], &ex)).unwrap();
    let actions: BTreeMap<Id, RewriteAction> =
        plan.items.iter().map(|i| (i.id, i.action)).collect();
    assert_eq!(actions[&stream], RewriteAction::Skipped);
    assert_eq!(actions[&files], RewriteAction::Unchanged);
}

#[test]
fn an_unknown_id_is_not_found() {
    let v = vault();
    files_snapshot(&v);
    let ex = by_name("x");
    let e = plan_rewrite(&v, &opts(vec![Id([3; 32])], &ex)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotFound), "{e}");
}

#[test]
fn a_snapshot_left_empty_is_refused() {
    let v = vault();
    let id = files_snapshot(&v);
    let before = objects(&v);
    let ex = |p: &Path| p == Path::new("/data");
    let plan = plan_rewrite(&v, &opts(vec![id], &ex)).unwrap();
    let r = plan.refusals();
    assert!(r.len() == 1 && r[0].contains("empty snapshot"), "{r:?}");
    let stats = execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert!(stats.rewritten.is_empty() && stats.refused == r);
    assert_eq!(objects(&v), before);
}

#[test]
fn a_hold_or_a_compliance_lock_refuses_and_nothing_changes() {
    let v = vault();
    let id = files_snapshot(&v);
    let free = files_snapshot(&v);
    let now = Timestamp::now();
    v.hold_snapshot(&id, "case 7", "legal@x", now).unwrap();
    let before = objects(&v);
    let ex = by_name("secret.bin");
    // One of two held: nothing is written for either.
    let plan = plan_rewrite(&v, &opts(vec![free, id], &ex)).unwrap();
    let r = plan.refusals();
    assert!(
        r.len() == 1 && r[0].contains("legal hold") && r[0].contains("coffer snapshot release"),
        "{r:?}"
    );
    let stats = execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert!(stats.rewritten.is_empty());
    assert_eq!(objects(&v), before);
    v.release_snapshot(&id).unwrap();

    v.set_lock(
        &LockPolicy {
            min_retention_days: 7,
            max_retention_days: 30,
            changeable_for_days: Some(3),
        },
        "admin",
        now - SignedDuration::from_mins(1),
    )
    .unwrap();
    let before = objects(&v);
    let mut o = opts(vec![id], &ex);
    o.bypass_governance = true;
    let plan = plan_rewrite(&v, &o).unwrap();
    let r = plan.refusals();
    assert!(
        r.len() == 1 && r[0].contains("locked (compliance) until") && r[0].contains("wait until"),
        "{r:?}"
    );
    execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert_eq!(objects(&v), before);
}

#[test]
fn a_hold_placed_after_planning_keeps_the_original() {
    let v = vault();
    let id = files_snapshot(&v);
    let ex = by_name("secret.bin");
    let plan = plan_rewrite(&v, &opts(vec![id], &ex)).unwrap();
    v.hold_snapshot(&id, "late", "me", Timestamp::now())
        .unwrap();
    let stats = execute_rewrite(&v, &plan, &BackupOptions::default()).unwrap();
    assert_eq!(stats.rewritten.len(), 1);
    assert!(!stats.rewritten[0].forgotten);
    assert!(
        stats.refused.len() == 1 && stats.refused[0].contains("original was kept"),
        "{:?}",
        stats.refused
    );
    v.load_snapshot(&id).unwrap();
    v.load_snapshot(&stats.rewritten[0].new).unwrap();
}
