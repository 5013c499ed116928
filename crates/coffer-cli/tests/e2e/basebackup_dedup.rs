//! Issue 3: base backups are cut on PostgreSQL's page boundaries, so a
//! second base backup after a few hundred rows changed stores only the
//! changed runs of pages, and it still restores.
//!
//! Needs root (initdb and the server run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.

use std::path::Path;
use std::process::Command;

use crate::common::pg::*;

fn json(c: &mut Command, what: &str) -> serde_json::Value {
    let out = must(c, &format!("coffer {what}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("coffer {what}: {e}: {out}"))
}

fn summary(snap: &serde_json::Value, field: &str) -> u64 {
    snap["summary"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no summary.{field} in {snap}"))
}

/// The same tar cut by the vault's content-defined chunker, for the figure
/// to compare with: pg_basebackup into a file, then `coffer backup --stdin`
/// into a second vault.
fn fastcdc_backup(s: &Scratch, vault: &Path, key: &Path, port: u16, n: u32) -> serde_json::Value {
    let tar = s.path(&format!("plain-{n}.tar"));
    must(
        as_pg(&format!("{PG_BIN}/pg_basebackup"))
            .args(["-D", "-", "-Ft", "-X", "none", "--checkpoint=fast", "-w"])
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p", &port.to_string()])
            .stdout(std::fs::File::create(&tar).unwrap()),
        "pg_basebackup to a file",
    );
    let snap = json(
        coffer_pg_cmd(
            vault,
            key,
            &["backup", "--stdin", "--stdin-name", "base.tar", "--json"],
        )
        .stdin(std::fs::File::open(&tar).unwrap()),
        "backup --stdin",
    );
    std::fs::remove_file(&tar).unwrap();
    snap
}

#[test]
fn issue_3_second_base_backup_stores_only_changed_pages() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let cdc_vault = s.path("vault-fastcdc");
    let key = s.path("vault.key");
    let cdc_key = s.path("vault-fastcdc.key");
    let data1 = s.path("data1");
    let port1 = free_port();

    must(
        &mut coffer_pg_cmd(&cdc_vault, &cdc_key, &["init"]),
        "coffer init (FastCDC vault)",
    );
    archiving_cluster(&mut s, &vault, &key, &data1, port1, "autovacuum = off\n");
    let log1 = s.log(&data1);

    // About 20 MB of random md5 rows, frozen so that reading them later sets
    // no hint bits (which would change every page).
    psql(
        port1,
        "create table t (id int primary key, s text); \
         insert into t select g, md5(random()::text) from generate_series(1, 300000) g",
    );
    psql(port1, "vacuum (freeze, analyze) t");
    psql(port1, "checkpoint");
    let table_bytes: u64 = psql(port1, "select pg_table_size('t')").parse().unwrap();
    assert!(table_bytes > 18 << 20, "table of {table_bytes} bytes");

    let url = format!("postgres://postgres@127.0.0.1:{port1}/");
    let base = ["pg", "basebackup", "--postgres", &url, "--json"];
    let cdc1 = fastcdc_backup(&s, &cdc_vault, &cdc_key, port1, 1);
    let snap1 = json(&mut coffer_pg_cmd(&vault, &key, &base), "pg basebackup (1)");
    assert_eq!(snap1["source"]["kind"], "postgres-base", "{snap1}");
    assert_eq!(
        snap1["source"]["details"]["chunking"], "page-aligned, 128 KiB",
        "{snap1}"
    );

    // A day's changes: a few hundred rows at the end updated, some inserted.
    psql(port1, "update t set s = md5(s) where id > 299700");
    psql(
        port1,
        "insert into t select g, md5(random()::text) from generate_series(300001, 300500) g",
    );
    psql(port1, "checkpoint");
    let expect = psql(
        port1,
        "select count(*) || ':' || md5(string_agg(id || '=' || s, ',' order by id)) from t",
    );

    let cdc2 = fastcdc_backup(&s, &cdc_vault, &cdc_key, port1, 2);
    let snap2 = json(&mut coffer_pg_cmd(&vault, &key, &base), "pg basebackup (2)");
    let snap2_id = snap2["id"].as_str().unwrap().to_string();
    assert!(
        snap2["source"]["details"]
            .get("chunking_fixed_from")
            .is_none(),
        "the splitter fell back to fixed cuts: {snap2}"
    );

    let (r1, r2) = (summary(&snap1, "bytes_read"), summary(&snap2, "bytes_read"));
    let (a1, a2) = (
        summary(&snap1, "bytes_added"),
        summary(&snap2, "bytes_added"),
    );
    let (st1, st2) = (
        summary(&snap1, "bytes_stored"),
        summary(&snap2, "bytes_stored"),
    );
    eprintln!(
        "page-aligned: base backup 1 read {r1} B, added {a1} B, stored {st1} B; \
         base backup 2 read {r2} B, added {a2} B, stored {st2} B ({:.2}% of the first)",
        100.0 * st2 as f64 / st1 as f64
    );
    eprintln!(
        "FastCDC (coffer backup --stdin, same changes): base backup 1 read {} B, stored {} B; \
         base backup 2 read {} B, added {} B, stored {} B ({:.2}% of the first)",
        summary(&cdc1, "bytes_read"),
        summary(&cdc1, "bytes_stored"),
        summary(&cdc2, "bytes_read"),
        summary(&cdc2, "bytes_added"),
        summary(&cdc2, "bytes_stored"),
        100.0 * summary(&cdc2, "bytes_stored") as f64 / summary(&cdc1, "bytes_stored") as f64
    );
    assert!(r1 > 40 << 20, "the first base backup read only {r1} bytes");
    assert!(
        st2 * 10 < st1,
        "the second base backup stored {st2} bytes, not under 10% of the first's {st1}"
    );

    // The WAL up to the second backup's end is archived.
    archive_all(port1, &log1);
    s.stop(&data1, "fast");

    let report = json(
        &mut coffer_pg_cmd(&vault, &key, &["check", "--read-data", "--json"]),
        "check --read-data",
    );
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );

    // Restore the second base backup and recover to its consistent point.
    let data2 = s.path("data2");
    restore_pgdata(
        &vault,
        &key,
        &snap2_id[..12],
        &data2,
        &["--target", "immediate"],
    );
    let port2 = start_recovered(&mut s, &data2);
    let got = psql(
        port2,
        "select count(*) || ':' || md5(string_agg(id || '=' || s, ',' order by id)) from t",
    );
    assert_eq!(got, expect, "the restored table differs");
    assert!(got.starts_with("300500:"), "{got}");
    s.stop(&data2, "fast");
}
