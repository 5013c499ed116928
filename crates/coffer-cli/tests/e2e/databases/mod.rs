//! Issue 3: database and command sources, end to end, through the real
//! binary against the machine's PostgreSQL (127.0.0.1:5432, user postgres),
//! MariaDB (127.0.0.1:3306, root without password) and Redis
//! (127.0.0.1:6379). Each test makes its own uniquely named databases,
//! users and keys and removes them afterwards. A missing server or client
//! tool fails the test with a message saying what is missing.
//!
//! One file per engine (`postgres`, `mysql`, `redis`, `command`, and
//! `secrets` for credentials that must never show; `latest` for which
//! snapshot `restore latest` picks among several databases, issue 16);
//! this file holds the helpers they share.

mod command;
mod latest;
mod mysql;
mod postgres;
mod redis;
mod secrets;

use crate::common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const MY: &str = "mysql://root@127.0.0.1:3306";
const REDIS: &str = "redis://127.0.0.1:6379";

/// MariaDB tests that dump all databases must not race tests that create
/// and drop theirs.
static MYSQL_LOCK: Mutex<()> = Mutex::new(());

fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is missing: install the Debian package {package} (scripts/test.sh does)")
        })
}

fn uniq(prefix: &str) -> String {
    let r: u32 = rand::random();
    format!("{prefix}_{}_{r:08x}", std::process::id())
}

fn psql(db: &str, sql: &str) -> String {
    let mut c = Command::new(tool("psql", "postgresql-client"));
    c.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
    ])
    .args(["-U", "postgres", "-d", db, "-c", sql]);
    let o = c.output().expect("run psql");
    assert!(
        o.status.success(),
        "psql on 127.0.0.1:5432/{db} failed (is PostgreSQL running there with trust auth for user postgres?): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A database that is dropped when the test ends.
struct PgDb(String);
impl PgDb {
    fn new(prefix: &str) -> PgDb {
        let name = uniq(prefix);
        psql("postgres", &format!("create database {name}"));
        PgDb(name)
    }
    fn named(name: String) -> PgDb {
        PgDb(name)
    }
}
impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
            ])
            .arg(format!("drop database if exists {} with (force)", self.0))
            .output();
    }
}

fn mysql_q(sql: &str) -> String {
    let mut c = Command::new(tool("mariadb", "mariadb-client"));
    c.args([
        "--protocol=TCP",
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-u",
        "root",
        "--batch",
        "--default-character-set=utf8mb4",
    ])
    .args(["--skip-column-names", "-e", sql]);
    let o = c.output().expect("run mariadb");
    assert!(
        o.status.success(),
        "mariadb on 127.0.0.1:3306 failed (is MariaDB running there with root and no password?): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

struct MyDb(String);
impl MyDb {
    fn new(prefix: &str) -> MyDb {
        let name = uniq(prefix);
        mysql_q(&format!("create database {name}"));
        MyDb(name)
    }
}
impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["--protocol=TCP", "-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("drop database if exists {}", self.0))
            .output();
    }
}

fn redis_cli(port: u16, args: &[&str]) -> Vec<u8> {
    let mut c = Command::new(tool("redis-cli", "redis-tools"));
    c.args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args);
    let o = c.output().expect("run redis-cli");
    assert!(
        o.status.success(),
        "redis-cli -p {port} {args:?} failed (is Redis running on 127.0.0.1:{port}?): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn redis_text(port: u16, args: &[&str]) -> String {
    String::from_utf8_lossy(&redis_cli(port, args))
        .trim()
        .to_string()
}

fn snapshots(env: &Env) -> Vec<serde_json::Value> {
    env.json(&["snapshots"]).as_array().unwrap().clone()
}

/// Asserts that `o` is a failure (exit 1) whose message contains each of
/// `must` and none of `never`, that no snapshot was written, and that the
/// vault passes check.
fn assert_failed_cleanly(env: &Env, o: &Output, must: &[&str], never: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1\nstdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&o.stdout)
    );
    for m in must {
        assert!(err.contains(m), "error message lacks {m:?}: {err}");
    }
    for n in never {
        assert!(!err.contains(n), "error message shows {n:?}: {err}");
    }
    assert_eq!(snapshots(env).len(), 0, "a failed backup wrote a snapshot");
    env.ok(&["check", "--read-data"]);
}

fn backup_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["backup"];
    a.extend_from_slice(args);
    env.json(&a)
}

/// Writes an executable script. A child forked by a parallel test while this
/// process has the file open for writing would make exec fail with "text
/// file busy", so the final file is written by `cp`, not by this process.
fn make_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let draft = path.with_extension("draft");
    std::fs::write(&draft, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&draft, std::fs::Permissions::from_mode(0o755)).unwrap();
    let st = Command::new("cp").arg(&draft).arg(path).status().unwrap();
    assert!(st.success());
}

/// The pid of `coffer`'s child called `name`, if it runs.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let comm = comm.split_once(" (").map(|x| x.1).unwrap_or("");
        let ppid: u32 = rest
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == parent && comm == name {
            return Some(pid);
        }
    }
    None
}

fn written(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("wchar: ")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// Runs `coffer backup ARGS`, kills its child `tool` with SIGKILL once that
/// has written 1 MiB, and checks that the backup failed cleanly. A dump
/// that finishes before it can be killed is tried again in a new vault.
fn kill_dump_midway(name: &str, args: &[&str], tool: &str, must: &[&str]) {
    for _attempt in 0..3 {
        let env = Env::new(Kind::Local, name);
        env.init();
        let mut a = vec!["backup"];
        a.extend_from_slice(args);
        let mut child = env
            .cmd(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut killed = false;
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(pid) = child_named(child.id(), tool) {
                if written(pid) > 1 << 20 {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    killed = true;
                    break;
                }
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let out = child.wait_with_output().unwrap();
        if killed {
            let mut m = vec![tool, "killed by signal 9", "no snapshot was written"];
            m.extend_from_slice(must);
            assert_failed_cleanly(&env, &out, &m, &[]);
            return;
        }
        assert!(out.status.success(), "backup failed: {}", stderr(&out));
    }
    panic!("{tool} finished three times before it could be killed");
}
