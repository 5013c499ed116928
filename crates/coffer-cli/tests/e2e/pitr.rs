//! PostgreSQL base backups, WAL archiving and point-in-time restore (issue 3),
//! end to end: the real `coffer` binary as a throwaway cluster's
//! archive_command and restore_command.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.

use std::process::Command;
use std::time::Duration;

use crate::common::pg::*;

/// Issue 3: restore to a time between two batches and find exactly the
/// batches before it; wal-fetch of a missing segment writes nothing.
#[test]
fn issue_3_point_in_time_restore_finds_exactly_the_batches_before_the_target() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();

    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);
    psql(port1, "create table t (batch int, i int)");

    let snap = base_backup(&vault, &key, port1);
    let snap_id = snap["id"].as_str().unwrap().to_string();
    assert_eq!(snap["source"]["kind"], "postgres-base", "{snap}");
    let details = &snap["source"]["details"];
    assert!(
        details["start_lsn"]
            .as_str()
            .is_some_and(|l| l.contains('/')),
        "{details}"
    );
    assert_eq!(details["timeline"], "1", "{details}");
    assert!(details["server_version"]
        .as_str()
        .unwrap()
        .starts_with("15"));

    // Three batches; the server's clock between them.
    let mut marks = Vec::new();
    for b in 1..=3 {
        psql(
            port1,
            &format!("insert into t select {b}, g from generate_series(1, 100) g"),
        );
        std::thread::sleep(Duration::from_millis(1100));
        marks.push(psql(port1, "select clock_timestamp()::text"));
        std::thread::sleep(Duration::from_millis(1100));
    }
    archive_all(port1, &log1);
    s.stop(&data1, "fast");

    // wal-verify: no gaps, and the base backup is recoverable.
    let o = coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["base_backups"][0]["consistent"], true, "{v}");
    assert!(v["window"].is_array(), "{v}");

    // Restore (as root: the files go to the owner of the parent, postgres)
    // to the time between batches 2 and 3.
    let data2 = s.path("data2");
    restore_pgdata(
        &vault,
        &key,
        &snap_id[..12],
        &data2,
        &["--target-time", &marks[1]],
    );
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&data2).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        let pg_uid = std::fs::metadata(s.dir.path()).unwrap().uid();
        assert_eq!(m.uid(), pg_uid, "data dir owned like its parent");
        assert_eq!(
            std::fs::metadata(data2.join("PG_VERSION")).unwrap().uid(),
            pg_uid
        );
        assert!(data2.join("recovery.signal").exists());
        let auto = std::fs::read_to_string(data2.join("postgresql.auto.conf")).unwrap();
        assert!(auto.contains("wal-fetch %f %p"), "{auto}");
        assert!(
            auto.contains(&format!("recovery_target_time = '{}'", marks[1])),
            "{auto}"
        );
        assert!(
            auto.contains("recovery_target_action = 'promote'"),
            "{auto}"
        );
    }
    let port2 = start_recovered(&mut s, &data2);
    let log2 = s.log(&data2);
    assert_eq!(
        batches(port2),
        vec!["1:100", "2:100"],
        "marks {marks:?}\nserver log:\n{}",
        std::fs::read_to_string(&log2).unwrap_or_default()
    );
    s.stop(&data2, "fast");
    // Issue 18: recovery went through the prefetching wal-fetch and its spool.
    assert!(
        data2.join("pg_wal/coffer-spool/fetch").is_dir(),
        "no wal-fetch spool in the restored pg_wal"
    );

    // wal-fetch of a segment the vault lacks: exit 1, one line, nothing written.
    let dest = s.path("fetched-missing");
    let o = coffer_pg(
        &vault,
        &key,
        &[
            "wal-fetch",
            "00000001000000FF000000FF",
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("00000001000000FF000000FF"), "{err}");
    assert!(!dest.exists(), "wal-fetch of a missing file wrote {dest:?}");

    // wal-fetch of an archived segment, and wal-push retries of it.
    let start_file = details["start_wal_file"].as_str().unwrap().to_string();
    let dir = s.path("retry");
    std::fs::create_dir(&dir).unwrap();
    must(
        Command::new("chown").arg(PG_USER).arg(&dir),
        "chown retry dir",
    );
    let seg = dir.join(&start_file);
    ok(
        coffer_pg(
            &vault,
            &key,
            &["wal-fetch", &start_file, seg.to_str().unwrap()],
        ),
        "wal-fetch",
    );
    let bytes = std::fs::read(&seg).unwrap();
    assert_eq!(bytes.len(), 16 << 20);
    let again = ok(
        coffer_pg(&vault, &key, &["wal-push", seg.to_str().unwrap()]),
        "wal-push retry",
    );
    assert!(again.contains("already archived"), "{again}");
    let mut changed = bytes.clone();
    changed[100] ^= 0xff;
    std::fs::write(&seg, &changed).unwrap();
    let o = coffer_pg(&vault, &key, &["wal-push", seg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("different content"),
        "{}",
        out_text(&o)
    );

    // check verifies the WAL objects too.
    let report: serde_json::Value = serde_json::from_str(&ok(
        coffer_pg(&vault, &key, &["check", "--read-data", "--json"]),
        "check",
    ))
    .unwrap();
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(report["wal_files"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["wal_files"], report["wal_files_read"], "{report}");
}

/// Issue 3: every other recovery target (immediate, a named restore point,
/// an LSN, a transaction id) stops exactly where it should.
#[test]
fn every_recovery_target_stops_where_it_should() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data = s.path("data");
    let port = free_port();
    archiving_cluster(&mut s, &vault, &key, &data, port, "");
    let log = s.log(&data);
    psql(port, "create table t (batch int, i int)");
    let snap = base_backup(&vault, &key, port)["id"].as_str().unwrap()[..12].to_string();
    let insert = |b: u32| format!("insert into t select {b}, g from generate_series(1, 100) g");
    psql(port, &insert(1));
    psql(port, "select pg_create_restore_point('after-1')");
    psql(port, &insert(2));
    let lsn2 = psql(port, "select pg_current_wal_lsn()");
    // Batch 3 in one transaction whose id is the xid target.
    let xid3 = psql(
        port,
        "with x as (insert into t select 3, g from generate_series(1, 100) g) select txid_current()",
    );
    psql(port, &insert(4));
    archive_all(port, &log);
    s.stop(&data, "fast");
    let other_files = || -> u64 {
        let v: serde_json::Value = serde_json::from_str(&ok(
            coffer_pg(&vault, &key, &["pg", "wal-verify", "--json"]),
            "wal-verify",
        ))
        .unwrap();
        v["other_files"].as_u64().unwrap()
    };
    let before = other_files();

    // Side restores do not archive (archive_mode = off by default): each
    // promotes to timeline 2 without adding it to the vault, so every later
    // restore still finds the original history.
    let cases: [(&str, Vec<&str>, Vec<&str>); 4] = [
        ("immediate", vec!["--target", "immediate"], vec![]),
        ("name", vec!["--target-name", "after-1"], vec!["1:100"]),
        ("lsn", vec!["--target-lsn", &lsn2], vec!["1:100", "2:100"]),
        (
            "xid",
            vec!["--target-xid", &xid3],
            vec!["1:100", "2:100", "3:100"],
        ),
    ];
    for (name, flags, want) in cases {
        let d = s.path(&format!("restored-{name}"));
        restore_pgdata(&vault, &key, &snap, &d, &flags);
        let p = start_recovered(&mut s, &d);
        assert_eq!(
            batches(p),
            want,
            "target {flags:?}\nserver log:\n{}",
            std::fs::read_to_string(s.log(&d)).unwrap_or_default()
        );
        let auto = std::fs::read_to_string(d.join("postgresql.auto.conf")).unwrap();
        assert!(auto.contains("archive_mode = 'off'"), "{auto}");
        s.stop(&d, "fast");
    }
    assert_eq!(
        other_files(),
        before,
        "a side restore archived into the vault"
    );

    // --archive-mode preserve keeps archiving: the promoted server pushes
    // its timeline history file into the vault.
    let d = s.path("restored-preserve");
    restore_pgdata(
        &vault,
        &key,
        &snap,
        &d,
        &["--target-name", "after-1", "--archive-mode", "preserve"],
    );
    let p = start_recovered(&mut s, &d);
    assert_eq!(batches(p), vec!["1:100"]);
    wait_for(
        "the new timeline's history file in the vault",
        Duration::from_secs(60),
        || {
            let n = other_files();
            (n <= before).then(|| format!("{n} other files"))
        },
        &s.log(&d),
    );
    s.stop(&d, "fast");
}

/// A pg_basebackup that dies half way through its stream leaves no snapshot.
#[test]
fn killed_pg_basebackup_leaves_no_snapshot() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    // A cluster in archive mode (a base backup of one that is not is
    // refused before pg_basebackup runs).
    let data = s.path("data");
    let port = free_port();
    archiving_cluster(&mut s, &vault, &key, &data, port, "");
    // A pg_basebackup that writes part of a stream and is killed; the real
    // psql beside it (--pg-bin-dir is searched alone).
    let bin = s.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(format!("{PG_BIN}/psql"), bin.join("psql")).unwrap();
    let fake = bin.join("pg_basebackup");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$1\" in --version) echo 'pg_basebackup (PostgreSQL) 15.99';; \
         *) head -c 3000000 /dev/urandom; kill -9 $$;; esac\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let url = format!("postgres://postgres@127.0.0.1:{port}/");
    let o = coffer_pg(
        &vault,
        &key,
        &[
            "pg",
            "basebackup",
            "--postgres",
            &url,
            "--pg-bin-dir",
            bin.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pg_basebackup") && err.contains("signal 9") && err.contains("no snapshot"),
        "{err}"
    );
    let snaps: serde_json::Value = serde_json::from_str(&ok(
        coffer_pg(&vault, &key, &["snapshots", "--json"]),
        "snapshots",
    ))
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 0, "{snaps}");
    ok(coffer_pg(&vault, &key, &["check"]), "check");
    // The machine's server (archive_mode off) is refused up front.
    let o = coffer_pg(
        &vault,
        &key,
        &[
            "pg",
            "basebackup",
            "--postgres",
            "postgres://postgres@127.0.0.1:5432/",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out_text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not in archive mode"),
        "{}",
        out_text(&o)
    );
}
