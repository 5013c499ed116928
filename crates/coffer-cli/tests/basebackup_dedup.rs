//! Issue 3: base backups are cut on PostgreSQL's page boundaries, so a
//! second base backup after a few hundred rows changed stores only the
//! changed runs of pages, and it still restores.
//!
//! Needs root (initdb and the server run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{is_root, BIN};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_USER: &str = "postgres";

fn require_setup() {
    assert!(
        is_root(),
        "this test runs initdb and postgres as the `postgres` user through runuser: run it as root"
    );
    for tool in ["initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"] {
        let p = Path::new(PG_BIN).join(tool);
        assert!(
            p.exists(),
            "{} is missing: install postgresql-15 (server and client)",
            p.display()
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command run as the postgres user.
fn as_pg(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", PG_USER, "--", program]).stdin(Stdio::null());
    c
}

fn out_text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn must(c: &mut Command, what: &str) -> String {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(o.status.success(), "{what} failed: {}", out_text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The scratch directory (owned by postgres), and the servers started in
/// it: stopped and removed on drop, also when the test fails.
struct Scratch {
    dir: tempfile::TempDir,
    data_dirs: Vec<PathBuf>,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("coffer-bbdedup-")
            .tempdir_in("/tmp")
            .unwrap();
        must(
            Command::new("chown")
                .arg(format!("{PG_USER}:{PG_USER}"))
                .arg(dir.path()),
            "chown of the scratch directory",
        );
        Scratch {
            dir,
            data_dirs: Vec::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn log(&self, data: &Path) -> PathBuf {
        data.with_extension("log")
    }

    fn start(&mut self, data: &Path, port: u16) {
        self.data_dirs.push(data.to_path_buf());
        let o = as_pg(&format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(data)
            .arg("-l")
            .arg(self.log(data))
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-w", "-t", "120", "start"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pg_ctl start of {} failed: {}\nserver log:\n{}",
            data.display(),
            out_text(&o),
            std::fs::read_to_string(self.log(data)).unwrap_or_default()
        );
    }

    fn stop(&self, data: &Path, mode: &str) {
        let _ = as_pg(&format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(data)
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for d in &self.data_dirs {
            if d.join("postmaster.pid").exists() {
                self.stop(d, "immediate");
            }
        }
    }
}

fn psql(port: u16, sql: &str) -> String {
    let mut c = Command::new(format!("{PG_BIN}/psql"));
    c.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
        .arg("-p")
        .arg(port.to_string())
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null());
    must(&mut c, &format!("psql -p {port} -c {sql:?}"))
        .trim()
        .to_string()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<String>, log: &Path) {
    let start = Instant::now();
    loop {
        match f() {
            None => return,
            Some(state) if start.elapsed() > timeout => panic!(
                "timed out after {timeout:?} waiting for {what} (last state: {state})\nserver log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
            Some(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// coffer as the postgres user, with the vault and key given as flags.
fn coffer_pg(vault: &Path, key: &Path, args: &[&str]) -> Command {
    let mut c = as_pg(BIN);
    c.arg("--vault")
        .arg(vault)
        .arg("--key-file")
        .arg(key)
        .args(args)
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE");
    c
}

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
        coffer_pg(
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

    must(&mut coffer_pg(&vault, &key, &["init"]), "coffer init");
    must(
        &mut coffer_pg(&cdc_vault, &cdc_key, &["init"]),
        "coffer init (FastCDC vault)",
    );
    must(
        as_pg(&format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(&data1)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        "initdb",
    );
    let archive_command = format!(
        "{BIN} --vault {} --key-file {} --quiet wal-push %p",
        vault.display(),
        key.display()
    );
    let conf = format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{archive_command}'\n\
         max_wal_senders = 5\nfsync = off\nautovacuum = off\n"
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data1.join("postgresql.conf"))
            .unwrap();
        f.write_all(conf.as_bytes()).unwrap();
    }
    s.start(&data1, port1);
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
    let snap1 = json(&mut coffer_pg(&vault, &key, &base), "pg basebackup (1)");
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
    let snap2 = json(&mut coffer_pg(&vault, &key, &base), "pg basebackup (2)");
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
    let last = psql(port1, "select pg_walfile_name(pg_switch_wal())");
    wait_for(
        &format!("segment {last} to be archived"),
        Duration::from_secs(60),
        || {
            let st = psql(
                port1,
                "select coalesce(last_archived_wal, '') || '|' || failed_count from pg_stat_archiver",
            );
            let done = st.split('|').next().is_some_and(|w| w >= last.as_str());
            (!done).then_some(st)
        },
        &log1,
    );
    s.stop(&data1, "fast");

    let report = json(
        &mut coffer_pg(&vault, &key, &["check", "--read-data", "--json"]),
        "check --read-data",
    );
    assert!(
        report["problems"].as_array().unwrap().is_empty(),
        "{report}"
    );

    // Restore the second base backup and recover to its consistent point.
    let data2 = s.path("data2");
    must(
        Command::new(BIN)
            .arg("--vault")
            .arg(&vault)
            .arg("--key-file")
            .arg(&key)
            .args(["restore", &snap2_id[..12], "--pgdata"])
            .arg(&data2)
            .args(["--target", "immediate"])
            .env_remove("COFFER_PASSWORD")
            .env_remove("COFFER_VAULT")
            .env_remove("COFFER_KEY_FILE")
            .stdin(Stdio::null()),
        "coffer restore --pgdata",
    );
    let port2 = free_port();
    s.start(&data2, port2);
    let log2 = s.log(&data2);
    wait_for(
        "recovery to end",
        Duration::from_secs(120),
        || {
            let r = psql(port2, "select pg_is_in_recovery()");
            (r != "f").then_some(r)
        },
        &log2,
    );
    let got = psql(
        port2,
        "select count(*) || ':' || md5(string_agg(id || '=' || s, ',' order by id)) from t",
    );
    assert_eq!(got, expect, "the restored table differs");
    assert!(got.starts_with("300500:"), "{got}");
    s.stop(&data2, "fast");
}
