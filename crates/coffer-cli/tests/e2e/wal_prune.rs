//! `coffer pg wal-prune` end to end (issue 3): after the oldest base backup
//! is forgotten, the WAL only it needed is deleted, the archive still
//! recovers the remaining base backup, and a restore of it starts.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.
//! The cluster harness is tests/e2e/common/pg.rs.

use std::path::Path;
use std::process::Output;

use crate::common::pg::*;

fn json(o: Output, what: &str) -> serde_json::Value {
    let text = ok(o, what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// Switches to a new segment after a write and waits until the switched
/// segment is archived.
fn switch_and_wait(port: u16, log: &Path) {
    psql(
        port,
        "insert into t select g from generate_series(1, 1000) g",
    );
    archive_all(port, log)
}

#[test]
fn issue_3_wal_prune_after_forgetting_the_oldest_base_backup() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();

    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);
    psql(port1, "create table t (i int)");
    let basebackup = || base_backup(&vault, &key, port1);

    let a = basebackup();
    for _ in 0..3 {
        switch_and_wait(port1, &log1);
    }
    let b = basebackup();
    let b_id = b["id"].as_str().unwrap().to_string();
    let b_start = b["source"]["details"]["start_wal_file"]
        .as_str()
        .unwrap()
        .to_string();
    let a_start = a["source"]["details"]["start_wal_file"].as_str().unwrap();
    assert!(a_start[8..] < b_start[8..], "A {a_start}, B {b_start}");
    // B's end and its backup history file are archived.
    switch_and_wait(port1, &log1);
    s.stop(&data1, "fast");

    // With A still there, only the segments before A's start (initdb's) go.
    let r = json(
        coffer_pg(&vault, &key, &["pg", "wal-prune", "--json"]),
        "wal-prune with A",
    );
    assert_eq!(r["horizon"].as_str(), Some(a_start), "{r}");
    assert_eq!(r["horizon_snapshot"], a["id"], "{r}");
    let before = json(
        coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]),
        "wal-verify",
    );
    assert_eq!(before["oldest_segment"].as_str(), Some(a_start), "{before}");
    assert!(before["gaps"].as_array().unwrap().is_empty(), "{before}");
    let segments_before = before["segments"].as_u64().unwrap();

    ok(
        coffer_pg(&vault, &key, &["forget", a["id"].as_str().unwrap()]),
        "forget A",
    );
    let dry = json(
        coffer_pg(&vault, &key, &["pg", "wal-prune", "--dry-run", "--json"]),
        "wal-prune --dry-run",
    );
    let would = dry["segments_deleted"].as_u64().unwrap();
    assert!(would >= 3, "{dry}");
    let v = json(
        coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]),
        "wal-verify after dry run",
    );
    assert_eq!(v["segments"].as_u64(), Some(segments_before), "{v}");

    let o = coffer_pg(&vault, &key, &["pg", "wal-prune"]);
    let text = ok(o, "wal-prune");
    assert!(
        text.contains(&b_start) && text.contains(&b_id[..8]),
        "{text}"
    );
    assert!(
        text.contains(&format!("deleted {would} WAL segments")),
        "{text}"
    );

    let v = json(
        coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]),
        "wal-verify after prune",
    );
    assert_eq!(v["oldest_segment"].as_str(), Some(b_start.as_str()), "{v}");
    assert_eq!(v["segments"].as_u64(), Some(segments_before - would), "{v}");
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["gaps_in_window"], 0, "{v}");
    assert_eq!(v["base_backups"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["base_backups"][0]["snapshot"], b_id.as_str(), "{v}");
    assert_eq!(v["base_backups"][0]["consistent"], true, "{v}");
    assert!(v["window"].is_array(), "{v}");

    // B restores to its end point and starts.
    let data2 = s.path("data2");
    restore_pgdata(
        &vault,
        &key,
        &b_id[..12],
        &data2,
        &["--target", "immediate"],
    );
    let port2 = start_recovered(&mut s, &data2);
    assert_eq!(psql(port2, "select count(*) from t"), "3000");
    s.stop(&data2, "fast");
}
