//! Base backups of a cluster with a tablespace (issue 18), end to end: the
//! streamed `pg basebackup` through named pipes, and `restore --pgdata` with
//! `--tablespace-map OLD=NEW`, then the restored server started and queried.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::pg::*;
use crate::common::BIN;

/// `coffer restore SNAP --pgdata DATA ARGS…` as root, run.
fn restore(vault: &Path, key: &Path, snap: &str, data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--vault")
        .arg(vault)
        .arg("--key-file")
        .arg(key)
        .args(["restore", snap, "--pgdata"])
        .arg(data)
        .args(args)
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn assert_refused(o: &Output, says: &[&str], untouched: &[&Path]) {
    assert_eq!(o.status.code(), Some(2), "{}", out_text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    for s in says {
        assert!(err.contains(s), "stderr lacks {s:?}: {}", out_text(o));
    }
    for p in untouched {
        assert!(!p.exists(), "{} was written: {}", p.display(), out_text(o));
    }
}

/// Issue 18: a base backup of a cluster with a tablespace holds its tar,
/// and restores with the tablespace moved to NEW; a mapping of something
/// that is no tablespace, or to a directory that is not empty, is refused
/// before anything is written.
#[test]
fn issue18_basebackup_with_a_tablespace_restores_with_a_mapping() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);

    let old = tablespace(&s, port1, "ts1", "ts old");
    let old_s = old.to_str().unwrap().to_string();
    psql(port1, "create table tt (batch int, i int) tablespace ts1");
    psql(
        port1,
        "insert into tt select 1, g from generate_series(1, 1000) g",
    );
    let oid = psql(port1, "select oid from pg_tablespace where spcname = 'ts1'");

    let snap = base_backup(&vault, &key, port1);
    let snap_id = snap["id"].as_str().unwrap()[..12].to_string();
    let details = &snap["source"]["details"];
    assert_eq!(
        details["tablespace_map"].as_str(),
        Some(format!("{oid} {old_s}\n").as_str()),
        "{details}"
    );
    assert!(
        details["tablespaces"]
            .as_str()
            .is_some_and(|t| t.contains("\"ts1\"") && t.contains(&old_s)),
        "{details}"
    );
    // WAL after the backup lands in the tablespace at replay.
    psql(
        port1,
        "insert into tt select 2, g from generate_series(1, 500) g",
    );
    archive_all(port1, &log1);
    s.stop(&data1, "fast");

    let data2 = s.path("data2");
    let new = s.path("ts new");

    // Bad input: each refused with exit 2, nothing written.
    let o = restore(
        &vault,
        &key,
        &snap_id,
        &data2,
        &["--tablespace-map", &format!("/srv/nope={}", new.display())],
    );
    assert_refused(
        &o,
        &[
            "has no tablespace at /srv/nope",
            &format!("its tablespaces: {oid} ({old_s})"),
        ],
        &[&data2, &new],
    );
    let full = s.path("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let o = restore(
        &vault,
        &key,
        &snap_id,
        &data2,
        &["--tablespace-map", &format!("{old_s}={}", full.display())],
    );
    assert_refused(
        &o,
        &[
            &format!("tablespace {oid} would be restored to {}", full.display()),
            "which is not empty",
        ],
        &[&data2],
    );
    // Without a mapping: refused (the snapshot does not say where a
    // restore may write), naming the flag that restores in place.
    let o = restore(&vault, &key, &snap_id, &data2, &[]);
    assert_refused(
        &o,
        &[&format!("--tablespace-map {old_s}={old_s}")],
        &[&data2],
    );
    // In place, while the original is in use: refused too.
    let o = restore(
        &vault,
        &key,
        &snap_id,
        &data2,
        &["--tablespace-map", &format!("{old_s}={old_s}")],
    );
    assert_refused(
        &o,
        &["which is not empty", "--tablespace-map OLD=NEW"],
        &[&data2],
    );
    let o = restore(
        &vault,
        &key,
        &snap_id,
        &data2,
        &["--tablespace-map", "relative=/x"],
    );
    assert_refused(&o, &["not an absolute path"], &[&data2]);

    // The restore with the mapping.
    let o = restore(
        &vault,
        &key,
        &snap_id,
        &data2,
        &["--tablespace-map", &format!("{old_s}={}", new.display())],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out_text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!("(tablespaces {oid} ({}))", new.display())),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(data2.join("tablespace_map")).unwrap(),
        format!("{oid} {}\n", new.display())
    );
    let versioned: Vec<_> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        versioned.len() == 1 && versioned[0].starts_with("PG_15_"),
        "{versioned:?}"
    );
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::metadata(&new).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        let pg_uid = std::fs::metadata(s.dir.path()).unwrap().uid();
        assert_eq!(
            m.uid(),
            pg_uid,
            "the tablespace is owned like the data directory"
        );
    }
    let port2 = start_recovered(&mut s, &data2);
    assert_eq!(
        psql(
            port2,
            "select batch || ':' || count(*) from tt group by batch order by batch"
        ),
        "1:1000\n2:500"
    );
    assert_eq!(
        psql(
            port2,
            "select pg_tablespace_location(oid) from pg_tablespace where spcname = 'ts1'"
        ),
        new.to_str().unwrap()
    );
    assert_eq!(
        std::fs::read_link(data2.join("pg_tblspc").join(&oid)).unwrap(),
        new
    );
    s.stop(&data2, "fast");
    // The original tablespace is as it was.
    assert!(std::fs::read_dir(&old).unwrap().count() == 1);
}

/// A directory with a fake `pg_basebackup` running `script` (after `-D
/// DIR`: `$2` is the directory), beside the real psql.
fn fake_pg_basebackup(s: &Scratch, name: &str, script: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = s.path(name);
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(format!("{PG_BIN}/psql"), bin.join("psql")).unwrap();
    let fake = bin.join("pg_basebackup");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$1\" in --version) echo 'pg_basebackup (PostgreSQL) 15.99';; \
             *) {script};; esac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Issue 18: with tablespaces, a pg_basebackup killed half way through a
/// tablespace's tar, one that creates its tars before coffer made the
/// pipes (every attempt), one that writes no tar for a tablespace (dropped
/// meanwhile) or a tar for one coffer did not list (created meanwhile)
/// fails the backup: exit 1, no snapshot, the vault checks clean.
#[test]
fn issue18_a_failed_or_racing_pg_basebackup_with_a_tablespace_leaves_no_snapshot() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let ts = s.path("ts");
    std::fs::create_dir(&ts).unwrap();
    must(
        Command::new("chown")
            .arg(format!("{PG_USER}:{PG_USER}"))
            .arg(&ts),
        "chown of the tablespace directory",
    );
    psql(
        port1,
        &format!("create tablespace ts1 location '{}'", ts.display()),
    );
    let oid = psql(port1, "select oid from pg_tablespace where spcname = 'ts1'");
    let url = format!("postgres://postgres@127.0.0.1:{port1}/");
    let killed = fake_pg_basebackup(
        &s,
        "bin-killed",
        &format!(
            "ls -A \"$2\" >/dev/null; sleep 0.3; head -c 3000000 /dev/urandom > \"$2/{oid}.tar\"; kill -9 $$"
        ),
    );
    let racing = fake_pg_basebackup(&s, "bin-racing", ": > \"$2/base.tar\"; sleep 0.3; exit 1");
    // A tablespace dropped, or one created, during the backup.
    let dropped = fake_pg_basebackup(
        &s,
        "bin-dropped",
        "ls -A \"$2\" >/dev/null; sleep 0.3; head -c 100000 /dev/urandom > \"$2/base.tar\"",
    );
    let created = fake_pg_basebackup(
        &s,
        "bin-created",
        &format!(
            "ls -A \"$2\" >/dev/null; sleep 0.3; for t in 99999 {oid} base; do \
             head -c 100000 /dev/urandom > \"$2/$t.tar\"; done"
        ),
    );
    for (bin, says) in [
        (&killed, "signal 9".to_string()),
        (
            &racing,
            "created base.tar before coffer could make its pipe, 3 times".into(),
        ),
        (
            &dropped,
            format!(
                "it wrote nothing to {oid}.tar (was its tablespace dropped during the backup?)"
            ),
        ),
        (
            &created,
            "pg_basebackup wrote 99999.tar, which is not one of the tablespaces".into(),
        ),
    ] {
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
        assert!(err.contains(&says) && err.contains("no snapshot"), "{err}");
        let snaps: serde_json::Value = serde_json::from_str(&ok(
            coffer_pg(&vault, &key, &["snapshots", "--json"]),
            "snapshots",
        ))
        .unwrap();
        assert_eq!(snaps.as_array().unwrap().len(), 0, "{snaps}");
    }
    ok(coffer_pg(&vault, &key, &["check"]), "check");
    s.stop(&data1, "fast");
}

/// Issue 18: a restore test of a base backup with a tablespace restores the
/// tablespace into its own scratch directory (never over the original),
/// recovers, answers the query on the table in it, and removes the scratch.
#[test]
fn issue18_a_restore_test_maps_the_tablespace_into_its_scratch_directory() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "");
    let log1 = s.log(&data1);
    let ts = s.path("ts");
    std::fs::create_dir(&ts).unwrap();
    must(
        Command::new("chown")
            .arg(format!("{PG_USER}:{PG_USER}"))
            .arg(&ts),
        "chown of the tablespace directory",
    );
    psql(
        port1,
        &format!("create tablespace ts1 location '{}'", ts.display()),
    );
    psql(port1, "create table t (i int) tablespace ts1");
    psql(port1, "insert into t select generate_series(1, 10)");
    let config = s.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "state"
[[vault]]
name = "main"
url = "{}"
key_file = "{}"
[[source]]
name = "cluster"
kind = "postgres-base"
url = "postgres://postgres@127.0.0.1:{port1}/"
tags = ["rt"]
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
source_tags = ["rt"]
schedule = "@daily"
[[restore_test]]
name = "tblspc"
schedule = "@daily"
vault = "main"
sources = ["cluster"]
timeout = "5m"
[[restore_test.query]]
sql = "SELECT count(*) FROM t"
expect = "= 30"
"#,
            vault.display(),
            key.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    must(
        as_pg(BIN)
            .env("COFFER_CONFIG", &config)
            .args(["plan", "run", "p/r"]),
        "coffer plan run (as postgres)",
    );
    psql(port1, "insert into t select generate_series(11, 30)");
    archive_all(port1, &log1);
    let before: Vec<_> = walk(&ts);
    let o = Command::new(BIN)
        .env("COFFER_CONFIG", &config)
        .env_remove("COFFER_STATE_DIR")
        .args(["--json", "restore-test", "run", "tblspc"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", out_text(&o)));
    assert_eq!(o.status.code(), Some(0), "{v:#}\n{}", out_text(&o));
    assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
    assert_eq!(walk(&ts), before, "the original tablespace was touched");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("coffer_rt_tblspc_")
        })
        .collect();
    assert!(left.is_empty(), "scratch left: {left:?}");
    s.stop(&data1, "fast");
}

/// Every path below `dir`, sorted.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
