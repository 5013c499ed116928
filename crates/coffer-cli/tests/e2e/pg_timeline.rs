//! `coffer pg wal-verify` along real timelines (issue 18): a scratch
//! primary archives into a vault, a base backup of it is restored with
//! archiving on into the same vault and promoted, and the promoted server's
//! timeline history file and segments land beside timeline 1's. wal-verify
//! must follow the path a restore with `recovery_target_timeline = 'latest'`
//! takes, and a restore of the base backup must end where it says.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.
//! The cluster harness is tests/e2e/common/pg.rs.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use serde_json::Value;

use crate::common::pg::*;

const SEG: u64 = 16 << 20;

/// Inserts 100 rows of batch `b` into `t`.
fn insert(port: u16, b: u32) {
    psql(
        port,
        &format!("insert into t select {b}, g from generate_series(1, 100) g"),
    );
}

/// Batch `b`, then a WAL switch waited for until archived.
fn batch_and_switch(port: u16, log: &Path, b: u32) {
    insert(port, b);
    archive_all(port, log);
}

/// `coffer pg wal-verify --json`: the output and its report.
fn wal_verify(vault: &Path, key: &Path) -> (Output, Value) {
    let o = coffer_pg(vault, key, &["pg", "wal-verify", "--json"]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("wal-verify --json is not JSON ({e}): {}", out_text(&o)));
    (o, v)
}

/// The vault, opened in the test with its key (to list and delete WAL
/// objects by their PostgreSQL names).
fn open_vault(vault: &Path, key: &Path) -> coffer_core::Vault {
    let backend = coffer_storage::OpendalBackend::local(vault).unwrap();
    let secret = coffer_core::Secret::from_key_file(key).unwrap();
    coffer_core::Vault::open(Arc::new(backend), &secret).unwrap()
}

/// The archived file names.
fn archived(vault: &Path, key: &Path) -> Vec<String> {
    let (files, bad) = coffer_core::wal::list(&open_vault(vault, key)).unwrap();
    assert!(bad.is_empty(), "undecodable WAL names: {bad:?}");
    files.into_iter().map(|f| f.name).collect()
}

/// The segment number of a segment name (16 MiB segments).
fn number(name: &str) -> u64 {
    let p = |r: std::ops::Range<usize>| u64::from_str_radix(&name[r], 16).unwrap();
    p(8..16) * (0x1_0000_0000 / SEG) + p(16..24)
}

fn segment(tl: u32, n: u64) -> String {
    let per_log = 0x1_0000_0000 / SEG;
    format!("{tl:08X}{:08X}{:08X}", n / per_log, n % per_log)
}

/// The last line of timeline `tl`'s history file in `data`'s pg_wal:
/// (parent timeline, switch point LSN).
fn last_branch(data: &Path, tl: u32) -> (u32, u64) {
    let p = data.join(format!("pg_wal/{tl:08X}.history"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let line = text
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{} has no branch line: {text:?}", p.display()));
    let mut f = line.split('\t');
    let parent = f.next().unwrap().parse().unwrap();
    let (hi, lo) = f.next().unwrap().split_once('/').unwrap();
    let lsn = (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap();
    (parent, lsn)
}

/// The current timeline of the server on `port`.
fn timeline(port: u16) -> String {
    psql(
        port,
        "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)::text",
    )
}

/// A primary on timeline 1 archiving into a new vault, with table `t`; a
/// base backup of it, then batches 1 to `batches` each followed by a WAL
/// switch, a restore point `rp`, and batches 98 and 99 (timeline 1 only),
/// each switched and archived. The primary is stopped. Returns the base backup's
/// snapshot (its JSON).
fn primary_with_history(s: &mut Scratch, vault: &Path, key: &Path, batches: u32) -> Value {
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(s, vault, key, &data1, port1, "");
    let log1 = s.log(&data1);
    psql(port1, "create table t (batch int, i int)");
    let snap = base_backup(vault, key, port1);
    for b in 1..=batches {
        batch_and_switch(port1, &log1, b);
    }
    psql(port1, "select pg_create_restore_point('rp')");
    batch_and_switch(port1, &log1, 98);
    batch_and_switch(port1, &log1, 99);
    s.stop(&data1, "fast");
    snap
}

/// Restores `snap` into `name` with `targets`, archiving into the vault
/// (`--archive-mode preserve`), with `extra` appended to its
/// postgresql.auto.conf; starts it until promoted; returns data dir and port.
fn promote_branch(
    s: &mut Scratch,
    vault: &Path,
    key: &Path,
    snap: &str,
    name: &str,
    targets: &[&str],
    extra: &str,
) -> (std::path::PathBuf, u16) {
    let data = s.path(name);
    let mut flags = targets.to_vec();
    flags.extend(["--archive-mode", "preserve"]);
    restore_pgdata(vault, key, snap, &data, &flags);
    if !extra.is_empty() {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.auto.conf"))
            .unwrap();
        f.write_all(extra.as_bytes()).unwrap();
    }
    let port = start_recovered(s, &data);
    (data, port)
}

/// Issue 18: a real promotion. The restore point's restore, archiving into
/// the vault, promotes to timeline 2 and writes there; wal-verify follows
/// timeline 1 then 2 from the base backup and finds the archive whole, and
/// a restore of the base backup to the latest WAL ends on timeline 2 with
/// its rows (and without timeline 1's rows after the branch). Without
/// timeline 2's segment of the switch point, wal-verify reports the gap
/// though timeline 1 has a segment of that number, which a restore would
/// wrongly replay.
#[test]
fn issue18_wal_verify_follows_a_real_promotion() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let snap = primary_with_history(&mut s, &vault, &key, 2);
    let snap_id = snap["id"].as_str().unwrap()[..12].to_string();
    let start = snap["source"]["details"]["start_wal_file"]
        .as_str()
        .unwrap()
        .to_string();

    let (data2, port2) = promote_branch(
        &mut s,
        &vault,
        &key,
        &snap_id,
        "data2",
        &["--target-name", "rp"],
        "",
    );
    let log2 = s.log(&data2);
    assert_eq!(timeline(port2), "00000002");
    assert_eq!(batches(port2), vec!["1:100", "2:100"]);
    let (parent, switch) = last_branch(&data2, 2);
    assert_eq!(parent, 1);
    batch_and_switch(port2, &log2, 20);
    batch_and_switch(port2, &log2, 21);
    let newest2 = psql(port2, "select last_archived_wal from pg_stat_archiver");
    s.stop(&data2, "fast");

    let names = archived(&vault, &key);
    assert!(names.iter().any(|n| n == "00000002.history"), "{names:?}");
    // Timeline 1 went on past the branch: both timelines hold the switch
    // point's segment number, and timeline 1 the next ones too.
    let sw = switch / SEG;
    assert!(names.contains(&segment(1, sw)), "{names:?}");
    assert!(names.contains(&segment(2, sw)), "{names:?}");
    assert!(names.contains(&segment(1, sw + 1)), "{names:?}");

    let (o, v) = wal_verify(&vault, &key);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["timeline_histories"], serde_json::json!([2]), "{v}");
    assert_eq!(v["gaps_in_window"], 0, "{v}");
    let b = &v["base_backups"][0];
    assert_eq!(b["start_wal_file"].as_str(), Some(start.as_str()), "{v}");
    assert_eq!(b["timelines"], serde_json::json!([1, 2]), "{v}");
    assert!(b["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(b["consistent"], true, "{v}");
    assert_eq!(b["recoverable_to"].as_str(), Some(newest2.as_str()), "{v}");
    assert_eq!(v["window"][1].as_str(), Some(newest2.as_str()), "{v}");
    let text = ok(coffer_pg(&vault, &key, &["pg", "wal-verify"]), "wal-verify");
    assert!(text.contains("follows timeline 1 -> 2"), "{text}");

    // The base backup restored to the latest WAL follows timeline 2: the
    // rows written there, not batches 98 and 99 (timeline 1 after the branch); its
    // own promotion branches off timeline 2.
    let data3 = s.path("data3");
    restore_pgdata(&vault, &key, &snap_id, &data3, &[]);
    let port3 = start_recovered(&mut s, &data3);
    assert_eq!(
        batches(port3),
        vec!["1:100", "2:100", "20:100", "21:100"],
        "server log:\n{}",
        std::fs::read_to_string(s.log(&data3)).unwrap_or_default()
    );
    let (parent, end) = last_branch(&data3, 3);
    assert_eq!(parent, 2, "recovery did not end on timeline 2");
    assert!(
        end / SEG >= number(&newest2),
        "ended at {end:X}, before {newest2}"
    );
    s.stop(&data3, "fast");

    // The switch point's segment is read from timeline 2: timeline 1's
    // segment of that number (which goes on with batches 98 and 99) does
    // not stand in for it.
    let gone = segment(2, sw);
    let vh = open_vault(&vault, &key);
    vh.backend()
        .delete(&coffer_core::wal::object_path(&vh, &gone))
        .unwrap();
    let (o, v) = wal_verify(&vault, &key);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    let gaps = v["base_backups"][0]["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v}");
    assert_eq!(
        gaps[0]["first_missing"].as_str(),
        Some(gone.as_str()),
        "{v}"
    );
    assert_eq!(
        v["base_backups"][0]["recoverable_to"].as_str(),
        Some(segment(1, sw - 1).as_str()),
        "{v}"
    );
    // What that gap means: PostgreSQL falls back to timeline 1's segment,
    // replays timeline 1 past the branch (batch 98, which timeline 2 never
    // had), stops at the end of it and promotes, without an error.
    let data4 = s.path("data4");
    restore_pgdata(&vault, &key, &snap_id, &data4, &[]);
    let port4 = start_recovered(&mut s, &data4);
    assert_eq!(
        batches(port4),
        vec!["1:100", "2:100", "98:100"],
        "server log:\n{}",
        std::fs::read_to_string(s.log(&data4)).unwrap_or_default()
    );
    s.stop(&data4, "fast");
}

/// Issue 18: a gap on the followed timeline that a stray branch covers.
/// Timeline 2 branches off the base backup as soon as it is consistent
/// (the stray branch) and writes segments with the numbers of timeline 1's
/// next ones; timeline 3 branches off timeline 1 later, at the restore
/// point, and is what a restore of the base backup follows (the latest
/// timeline). With one segment of timeline 1 between the base backup and
/// timeline 3's switch point deleted from the vault, timeline 2's segment
/// of that number must not hide the gap: wal-verify exits 1, names it and
/// says what to do.
#[test]
fn issue18_wal_verify_reports_a_gap_on_the_followed_timeline() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let snap = primary_with_history(&mut s, &vault, &key, 4);
    let snap_id = snap["id"].as_str().unwrap()[..12].to_string();
    let start = snap["source"]["details"]["start_wal_file"]
        .as_str()
        .unwrap()
        .to_string();

    // The stray branch: timeline 2, from the base backup's end point.
    let (data2, port2) = promote_branch(
        &mut s,
        &vault,
        &key,
        &snap_id,
        "data2",
        &["--target", "immediate"],
        "",
    );
    assert_eq!(timeline(port2), "00000002");
    for b in 30..34 {
        batch_and_switch(port2, &s.log(&data2), b);
    }
    s.stop(&data2, "fast");
    // The followed branch: timeline 3, from timeline 1 at the restore point.
    // coffer restore follows the latest timeline (2 now, where `rp` never
    // comes), so this one restore is told to stay on timeline 1.
    let (data3, port3) = promote_branch(
        &mut s,
        &vault,
        &key,
        &snap_id,
        "data3",
        &["--target-name", "rp"],
        "\nrecovery_target_timeline = '1'\n",
    );
    assert_eq!(timeline(port3), "00000003");
    assert_eq!(batches(port3), vec!["1:100", "2:100", "3:100", "4:100"]);
    let (parent, switch) = last_branch(&data3, 3);
    assert_eq!(parent, 1);
    batch_and_switch(port3, &s.log(&data3), 40);
    s.stop(&data3, "fast");

    let (o, v) = wal_verify(&vault, &key);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    assert_eq!(v["timeline_histories"], serde_json::json!([2, 3]), "{v}");
    assert_eq!(
        v["base_backups"][0]["timelines"],
        serde_json::json!([1, 3]),
        "{v}"
    );
    assert!(
        v["base_backups"][0]["gaps"].as_array().unwrap().is_empty(),
        "{v}"
    );

    // A segment of timeline 1 after the base backup's start and before
    // timeline 3 begins, of which timeline 2 has its own copy.
    let names = archived(&vault, &key);
    let n0 = number(&start);
    let victim = (n0 + 1..switch / SEG)
        .find(|n| names.contains(&segment(2, *n)) && names.contains(&segment(1, *n)))
        .unwrap_or_else(|| {
            panic!(
                "no segment number between {start} and {switch:X} on timelines 1 and 2: {names:?}"
            )
        });
    let gone = segment(1, victim);
    let v2 = open_vault(&vault, &key);
    v2.backend()
        .delete(&coffer_core::wal::object_path(&v2, &gone))
        .unwrap();
    assert!(!archived(&vault, &key).contains(&gone));

    let (o, v) = wal_verify(&vault, &key);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    // Every number still has some timeline's segment: only the path shows it.
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["gaps_in_window"], 1, "{v}");
    let b = &v["base_backups"][0];
    assert_eq!(b["timelines"], serde_json::json!([1, 3]), "{v}");
    let gaps = b["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v}");
    assert_eq!(gaps[0]["missing"], 1, "{v}");
    assert_eq!(
        gaps[0]["first_missing"].as_str(),
        Some(gone.as_str()),
        "{v}"
    );
    assert_eq!(gaps[0]["last_missing"].as_str(), Some(gone.as_str()), "{v}");
    assert_eq!(
        gaps[0]["after"].as_str(),
        Some(segment(1, victim - 1).as_str()),
        "{v}"
    );
    assert_eq!(
        b["recoverable_to"].as_str(),
        Some(segment(1, victim - 1).as_str()),
        "{v}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("gaps inside the recoverable window") && err.contains("coffer pg basebackup"),
        "{err}"
    );
    let o = coffer_pg(&vault, &key, &["pg", "wal-verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("follows timeline 1 -> 3") && text.contains("gap on its timeline path"),
        "{text}"
    );
    assert!(text.contains(&segment(1, victim - 1)), "{text}");

    // What the gap means: a restore of the base backup stops before it
    // (timeline 2's segment is not on its path) and promotes, without
    // timeline 3's rows.
    let data4 = s.path("data4");
    restore_pgdata(&vault, &key, &snap_id, &data4, &[]);
    let port4 = start_recovered(&mut s, &data4);
    let got = batches(port4);
    let log4 = std::fs::read_to_string(s.log(&data4)).unwrap_or_default();
    assert!(!got.contains(&"40:100".to_string()), "{got:?}\n{log4}");
    assert!(
        !log4.contains(&format!("restored log file \"{}\"", segment(2, victim))),
        "{log4}"
    );
    s.stop(&data4, "fast");
}

/// Issue 18: the latest timeline is the newest history file, as PostgreSQL
/// finds it, not the newest one that descends from the base backup. A side
/// restore of an older base backup, archiving into the vault, made timeline
/// 2 before base backup B began; a restore of B then follows timeline 2 and
/// PostgreSQL refuses to start. wal-verify must say B is not recoverable,
/// why, and what to do, instead of following timeline 1 alone.
#[test]
fn issue18_wal_verify_refuses_a_newest_timeline_that_is_not_the_base_backups_child() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);
    psql(port1, "create table t (batch int, i int)");
    let a = base_backup(&vault, &key, port1);
    let a_id = a["id"].as_str().unwrap()[..12].to_string();
    batch_and_switch(port1, &log1, 1);
    // The side restore of A: timeline 2 leaves timeline 1 at A's end.
    let (data2, port2) = promote_branch(
        &mut s,
        &vault,
        &key,
        &a_id,
        "data2",
        &["--target", "immediate"],
        "",
    );
    batch_and_switch(port2, &s.log(&data2), 50);
    s.stop(&data2, "fast");
    let b = base_backup(&vault, &key, port1);
    let b_id = b["id"].as_str().unwrap()[..12].to_string();
    batch_and_switch(port1, &log1, 2);
    s.stop(&data1, "fast");
    ok(coffer_pg(&vault, &key, &["forget", &a_id]), "forget A");

    // PostgreSQL refuses the restore of B.
    let data3 = s.path("data3");
    restore_pgdata(&vault, &key, &b_id, &data3, &[]);
    let log3 = s.log(&data3);
    let o = as_pg(&format!("{PG_BIN}/pg_ctl"))
        .arg("-D")
        .arg(&data3)
        .arg("-l")
        .arg(&log3)
        .arg("-o")
        .arg(format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            free_port(),
            s.dir.path().display()
        ))
        .args(["-w", "-t", "120", "start"])
        .output()
        .unwrap();
    let server_log = std::fs::read_to_string(&log3).unwrap_or_default();
    if o.status.success() {
        s.stop(&data3, "immediate");
        panic!("the restore of B started: {}\n{server_log}", out_text(&o));
    }
    assert!(
        server_log.contains("requested timeline 2 is not a child of this server's history"),
        "{server_log}"
    );

    let (o, v) = wal_verify(&vault, &key);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(v["window"].is_null(), "{v}");
    let bb = &v["base_backups"][0];
    assert_eq!(
        bb["snapshot"].as_str().map(|s| &s[..12]),
        Some(b_id.as_str()),
        "{v}"
    );
    assert_eq!(bb["consistent"], false, "{v}");
    assert!(bb["recoverable_to"].is_null(), "{v}");
    let why = bb["timeline_problem"].as_str().unwrap_or_default();
    assert!(
        why.contains("timeline 2")
            && why.contains("not a child of this server's history")
            && why.contains("00000002.history")
            && why.contains("recovery_target_timeline = '1'"),
        "{v}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot recover any base backup"), "{err}");
}
