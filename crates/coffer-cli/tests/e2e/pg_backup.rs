//! `coffer pg backup --type full|incr|diff` (issue 18): base backups by
//! files, read between pg_backup_start and pg_backup_stop, against a
//! throwaway cluster; restores of each type; the bad input the issue names.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries; nothing is skipped.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::pg::*;

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/")
}

/// `coffer pg backup --type T --json`: the snapshot, and the notes on stderr.
fn pg_backup(vault: &Path, key: &Path, port: u16, args: &[&str]) -> (serde_json::Value, String) {
    let u = url(port);
    let mut a = vec!["pg", "backup", "--postgres", &u, "--json"];
    a.extend_from_slice(args);
    let o = coffer_pg(vault, key, &a);
    assert!(
        o.status.success(),
        "coffer pg backup {args:?} failed: {}",
        out_text(&o)
    );
    (
        serde_json::from_slice(&o.stdout).unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn detail<'a>(snap: &'a serde_json::Value, k: &str) -> &'a str {
    snap["source"]["details"][k].as_str().unwrap_or("")
}

fn snapshot_count(vault: &Path, key: &Path) -> usize {
    let o = coffer_pg(vault, key, &["snapshots", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(o, "snapshots")).unwrap();
    v.as_array().map_or(0, |a| a.len())
}

/// Full, incremental and differential backups by files; each restores on
/// its own to exactly its data, the incremental reads only what changed
/// and stores little, and a missing parent falls back to full, said.
#[test]
fn issue18_pg_backup_full_incr_diff_each_restore_alone() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);
    psql(port1, "create table t (batch int, i int, pad text)");
    psql(
        port1,
        "insert into t select 1, g, repeat(md5(g::text), 8) from generate_series(1, 40000) g",
    );
    psql(
        port1,
        "create unlogged table scratch as select g from generate_series(1, 1000) g",
    );

    // An incremental with no backup by files in the vault: full, said.
    let (full, notes) = pg_backup(&vault, &key, port1, &["--type", "incr"]);
    assert_eq!(detail(&full, "backup_type"), "full", "{full}");
    assert_eq!(detail(&full, "backup_type_requested"), "incr", "{full}");
    assert!(
        notes.contains("taking a full backup instead of incr"),
        "{notes}"
    );
    assert_eq!(detail(&full, "layout"), "files");
    let full_id = full["id"].as_str().unwrap().to_string();

    psql(
        port1,
        "insert into t select 2, g, 'two' from generate_series(1, 100) g",
    );
    psql(port1, "checkpoint");
    let (incr, notes) = pg_backup(&vault, &key, port1, &["--type", "incr"]);
    assert_eq!(detail(&incr, "backup_type"), "incr", "{incr} {notes}");
    assert_eq!(incr["parent"].as_str(), Some(full_id.as_str()), "{incr}");
    let summary = &incr["summary"];
    let unmodified = summary["files_unmodified"].as_u64().unwrap();
    let changed = summary["files_changed"].as_u64().unwrap();
    assert!(
        unmodified > 10 * changed.max(1),
        "an incremental reads only what changed: {summary}"
    );
    let incr_id = incr["id"].as_str().unwrap().to_string();
    let incr_point = psql(port1, "select pg_current_wal_lsn()");

    psql(
        port1,
        "insert into t select 3, g, 'three' from generate_series(1, 100) g",
    );
    let (diff, _) = pg_backup(&vault, &key, port1, &["--type", "diff", "--checksum"]);
    assert_eq!(detail(&diff, "backup_type"), "diff", "{diff}");
    assert_eq!(diff["parent"].as_str(), Some(full_id.as_str()), "{diff}");
    assert_eq!(detail(&diff, "checksum"), "true");
    assert_eq!(
        diff["summary"]["files_unmodified"].as_u64(),
        Some(0),
        "--checksum reads all"
    );
    psql(
        port1,
        "insert into t select 4, g, 'four' from generate_series(1, 100) g",
    );
    archive_all(port1, &log1);

    // The incremental alone, to its end: batches 1 and 2 (the recovery
    // target stops right after its own end, before batch 3 was written).
    let data2 = s.path("data2");
    restore_pgdata(
        &vault,
        &key,
        &incr_id[..12],
        &data2,
        &["--target", "immediate"],
    );
    for gone in [
        "postmaster.pid",
        "pg_wal/000000010000000000000001",
        "standby.signal",
    ] {
        assert!(!data2.join(gone).exists(), "{gone} restored");
    }
    assert!(data2.join("pg_wal/archive_status").is_dir());
    assert!(data2.join("backup_label").is_file());
    let port2 = start_recovered(&mut s, &data2);
    assert_eq!(
        batches_of(port2),
        ["1:40000", "2:100"],
        "incr restored to {incr_point}"
    );
    // The unlogged table is there, empty (its init fork made it anew).
    assert_eq!(psql(port2, "select count(*) from scratch"), "0");
    s.stop(&data2, "fast");

    // The differential, replaying all archived WAL: every batch.
    let data3 = s.path("data3");
    let diff_id = diff["id"].as_str().unwrap();
    restore_pgdata(&vault, &key, &diff_id[..12], &data3, &[]);
    let port3 = start_recovered(&mut s, &data3);
    assert_eq!(batches_of(port3), ["1:40000", "2:100", "3:100", "4:100"]);
    s.stop(&data3, "fast");

    // Forgetting the full one breaks neither child: each is a whole tree.
    ok(
        coffer_pg(&vault, &key, &["forget", &full_id[..12]]),
        "forget",
    );
    let data4 = s.path("data4");
    restore_pgdata(
        &vault,
        &key,
        &incr_id[..12],
        &data4,
        &["--target", "immediate"],
    );
    let o = coffer_pg(&vault, &key, &["check"]);
    assert!(o.status.success(), "{}", out_text(&o));

    // wal-verify sees the backups by files as base backups.
    let o = coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["base_backups"].as_array().unwrap().len(), 2, "{v}");
}

fn batches_of(port: u16) -> Vec<String> {
    psql(
        port,
        "select batch || ':' || count(*) from t group by batch order by batch",
    )
    .lines()
    .map(String::from)
    .collect()
}

/// Bad input: a cluster not in archive mode is refused before anything
/// starts (exit 2, no snapshot); a `--pgdata` of another cluster is
/// refused; and a backup interrupted between start and stop is aborted on
/// the server and writes no snapshot.
#[test]
fn issue18_pg_backup_bad_input_and_an_interrupted_backup() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);

    // Not in archive mode: a second cluster without archiving.
    let data2 = s.path("data2");
    must(
        as_pg(&format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(&data2)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"]),
        "initdb",
    );
    let port2 = free_port();
    s.start(&data2, port2);
    let u2 = url(port2);
    let o = coffer_pg(&vault, &key, &["pg", "backup", "--postgres", &u2]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(
        err.contains("not in archive mode") && err.contains("archive_mode = on"),
        "{err}"
    );
    // The wrong data directory for the server.
    let u1 = url(port1);
    let d2 = data2.to_string_lossy().into_owned();
    let o = coffer_pg(
        &vault,
        &key,
        &["pg", "backup", "--postgres", &u1, "--pgdata", &d2],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(
        err.contains("is not the data directory of the server"),
        "{err}"
    );
    assert_eq!(snapshot_count(&vault, &key), 0);

    // Enough data that the copy takes a while.
    psql(port1, "create table big as select g, md5(g::text) || md5((g + 1)::text) as pad from generate_series(1, 1500000) g");
    psql(port1, "checkpoint");
    for signal in ["INT", "KILL"] {
        let mut child = coffer_pg_cmd(&vault, &key, &["pg", "backup", "--postgres", &u1])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the backup is started on the server (its session is
        // idle after pg_backup_start), freeze coffer, check, then signal.
        let start = Instant::now();
        loop {
            let q = psql(
                port1,
                "select count(*) from pg_stat_activity where application_name = 'coffer pg backup' \
                 and query like '%pg_backup_start%' and state = 'idle'",
            );
            if q == "1" {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the backup never started"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "coffer ended before the backup started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = child.id().to_string();
        // runuser's child is coffer: signal the process group's coffer.
        let coffer_pid = must(Command::new("pgrep").args(["-P", &pid]), "pgrep")
            .trim()
            .to_string();
        let target = if coffer_pid.is_empty() {
            pid.clone()
        } else {
            coffer_pid
        };
        must(Command::new("kill").args(["-STOP", &target]), "kill -STOP");
        assert_eq!(
            psql(
                port1,
                "select count(*) from pg_stat_activity where application_name = 'coffer pg backup'"
            ),
            "1"
        );
        must(
            Command::new("kill").args([&format!("-{signal}"), &target]),
            "kill",
        );
        // runuser stops itself when its child stops: continue both.
        must(
            Command::new("kill").args(["-CONT", &target, &pid]),
            "kill -CONT",
        );
        let o = child.wait_with_output().unwrap();
        assert!(
            !o.status.success(),
            "an interrupted backup fails: {}",
            out_text(&o)
        );
        wait_for(
            "the backup's session to end",
            Duration::from_secs(30),
            || {
                let n = psql(port1, "select count(*) from pg_stat_activity where application_name = 'coffer pg backup'");
                (n != "0").then_some(n)
            },
            &log1,
        );
        assert_eq!(
            snapshot_count(&vault, &key),
            0,
            "no snapshot after SIG{signal}"
        );
    }
    let log = std::fs::read_to_string(&log1).unwrap_or_default();
    assert!(
        log.matches("aborting backup due to backend exiting before pg_backup_stop was called")
            .count()
            >= 2,
        "the server aborted both backups:\n{log}"
    );
    // And the next backup works.
    let (snap, _) = pg_backup(&vault, &key, port1, &[]);
    assert_eq!(detail(&snap, "backup_type"), "full");
    assert_eq!(snapshot_count(&vault, &key), 1);
}

/// A backup from a standby: the files from the standby, start and stop on
/// the primary; it restores to the primary's data. A `--standby` that is
/// not a standby is refused.
#[test]
fn issue18_pg_backup_from_a_standby() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let primary = s.path("primary");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &primary, port1, "");
    let log1 = s.log(&primary);
    psql(port1, "create table t (batch int, i int)");
    psql(
        port1,
        "insert into t select 1, g from generate_series(1, 5000) g",
    );

    let standby = s.path("standby");
    must(
        as_pg(&format!("{PG_BIN}/pg_basebackup"))
            .arg("-D")
            .arg(&standby)
            .args(["-R", "-X", "stream", "-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(port1.to_string()),
        "pg_basebackup of the standby",
    );
    let port2 = free_port();
    s.start(&standby, port2);
    assert_eq!(psql(port2, "select pg_is_in_recovery()"), "t");
    psql(
        port1,
        "insert into t select 2, g from generate_series(1, 100) g",
    );

    let u1 = url(port1);
    let u2 = url(port2);
    // The primary as its own standby: refused.
    let o = coffer_pg(
        &vault,
        &key,
        &["pg", "backup", "--postgres", &u1, "--standby", &u1],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a standby"),
        "{}",
        out_text(&o)
    );

    let (snap, _) = pg_backup(&vault, &key, port1, &["--standby", &u2]);
    assert_eq!(
        detail(&snap, "standby"),
        format!("127.0.0.1:{port2}"),
        "{snap}"
    );
    assert_eq!(detail(&snap, "pgdata"), standby.to_string_lossy(), "{snap}");
    psql(
        port1,
        "insert into t select 3, g from generate_series(1, 100) g",
    );
    archive_all(port1, &log1);

    let data3 = s.path("restored");
    let id = snap["id"].as_str().unwrap();
    restore_pgdata(&vault, &key, &id[..12], &data3, &[]);
    assert!(
        !data3.join("standby.signal").exists(),
        "the standby's signal is not restored"
    );
    let port3 = start_recovered(&mut s, &data3);
    assert_eq!(batches_of(port3), ["1:5000", "2:100", "3:100"]);
}
