//! `coffer pg wal-prune` end to end (issue 3): after the oldest base backup
//! is forgotten, the WAL only it needed is deleted, the archive still
//! recovers the remaining base backup, and a restore of it starts.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`) and PostgreSQL 15's server binaries in /usr/lib/postgresql/15/bin.
//! A missing piece fails the test with a message; nothing is skipped.
//! The helpers are copied from pitr.rs.

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
        "the PITR test runs initdb and postgres as the `postgres` user through runuser: run it as root"
    );
    for tool in ["initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"] {
        let p = Path::new(PG_BIN).join(tool);
        assert!(
            p.exists(),
            "{} is missing: install postgresql-15 (server and client)",
            p.display()
        );
    }
    let o = Command::new("id").arg(PG_USER).output().unwrap();
    assert!(
        o.status.success(),
        "user {PG_USER} does not exist: install postgresql-15, which creates it"
    );
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
            .prefix("coffer-walprune-")
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
        // The TempDir removes the directory after this.
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
fn coffer_pg(vault: &Path, key: &Path, args: &[&str]) -> Output {
    as_pg(BIN)
        .arg("--vault")
        .arg(vault)
        .arg("--key-file")
        .arg(key)
        .args(args)
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .output()
        .unwrap()
}

fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "coffer {what} failed: {}", out_text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn json(o: Output, what: &str) -> serde_json::Value {
    let text = ok(o, what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// Switches to a new segment after a write and waits until the switched
/// segment is archived; returns its name.
fn switch_and_wait(port: u16, log: &Path) -> String {
    psql(
        port,
        "insert into t select g from generate_series(1, 1000) g",
    );
    let last = psql(port, "select pg_walfile_name(pg_switch_wal())");
    wait_for(
        &format!("segment {last} to be archived"),
        Duration::from_secs(60),
        || {
            let st = psql(
                port,
                "select coalesce(last_archived_wal, '') || '|' || failed_count from pg_stat_archiver",
            );
            let done = st.split('|').next().is_some_and(|w| w >= last.as_str());
            (!done).then_some(st)
        },
        log,
    );
    last
}

#[test]
fn issue_3_wal_prune_after_forgetting_the_oldest_base_backup() {
    require_setup();
    let mut s = Scratch::new();
    let vault = s.path("vault");
    let key = s.path("vault.key");
    let data1 = s.path("data1");
    let port1 = free_port();

    ok(coffer_pg(&vault, &key, &["init"]), "init");
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
         max_wal_senders = 5\nfsync = off\n"
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
    psql(port1, "create table t (i int)");
    let url = format!("postgres://postgres@127.0.0.1:{port1}/");
    let basebackup = || {
        json(
            coffer_pg(
                &vault,
                &key,
                &["pg", "basebackup", "--postgres", &url, "--json"],
            ),
            "pg basebackup",
        )
    };

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
    let o = Command::new(BIN)
        .arg("--vault")
        .arg(&vault)
        .arg("--key-file")
        .arg(&key)
        .args(["restore", &b_id[..12], "--pgdata"])
        .arg(&data2)
        .args(["--target", "immediate"])
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "restore of B failed: {}", out_text(&o));
    let port2 = free_port();
    s.start(&data2, port2);
    let log2 = s.log(&data2);
    wait_for(
        "recovery to end",
        Duration::from_secs(60),
        || {
            let r = psql(port2, "select pg_is_in_recovery()");
            (r != "f").then_some(r)
        },
        &log2,
    );
    assert_eq!(psql(port2, "select count(*) from t"), "3000");
    s.stop(&data2, "fast");
}
