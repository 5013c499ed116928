//! Issue 3: database and command sources, end to end, through the real
//! binary against the machine's PostgreSQL (127.0.0.1:5432, user postgres),
//! MariaDB (127.0.0.1:3306, root without password) and Redis
//! (127.0.0.1:6379). Each test makes its own uniquely named databases,
//! users and keys and removes them afterwards. A missing server or client
//! tool fails the test with a message saying what is missing.

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

// ---------------------------------------------------------------- PostgreSQL

const PG_FINGERPRINT: &str = "select md5(string_agg(t::text, ',' order by id)) || ':' || \
     (select count(*) from items) || ':' || (select last_value from t_id_seq) from t";

fn pg_fill(db: &str, rows: u32) {
    psql(
        db,
        &format!(
            "create table t (id serial primary key, name text not null, data bytea, at timestamptz);
             insert into t (name, data, at)
               select 'row ' || g || ' ' || md5(g::text), decode(md5((g * 7)::text), 'hex'),
                      '2024-01-01'::timestamptz + g * interval '1 minute'
               from generate_series(1, {rows}) g;
             insert into t (name) values ('coffer-marker-row ünïcödé');
             create index t_name on t (name);
             create table items (k text primary key, v jsonb);
             insert into items select 'k' || g, jsonb_build_object('n', g) from generate_series(1, 500) g;
             create view t_view as select id, name from t where id % 2 = 0;"
        ),
    );
}

#[test]
fn issue3_postgres_dump_restores_into_new_databases_and_deduplicates() {
    let env = Env::new(Kind::Local, "pg");
    env.init();
    let src = PgDb::new("coffer_pg_src");
    pg_fill(&src.0, 100_000);
    let want = psql(&src.0, PG_FINGERPRINT);
    let url = format!("{PG}/{}", src.0);

    let first = backup_json(&env, &["--postgres", &url, "--tag", "nightly"]);
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["source"]["kind"], "postgres");
    let d = &first["source"]["details"];
    assert_eq!(d["database"], src.0.as_str());
    assert!(
        d["server_version"].as_str().unwrap().starts_with("15"),
        "{d}"
    );
    assert!(d["pg_dump"].as_str().unwrap().contains("PostgreSQL"), "{d}");
    assert!(
        d["restore_needs"].as_str().unwrap().contains("pg_restore"),
        "{d}"
    );
    assert_eq!(
        first["paths"][0],
        format!("postgres://127.0.0.1:5432/{}", src.0)
    );
    let total = first["summary"]["total_bytes"].as_u64().unwrap();
    assert!(total > 5_000_000, "dump of {total} bytes is too small");

    // An unchanged database dumps to nearly the same bytes: little is added.
    let second = backup_json(&env, &["--postgres", &url]);
    let added = second["summary"]["bytes_added"].as_u64().unwrap();
    assert!(
        added < total / 3,
        "second dump added {added} of {total} bytes: the dump does not deduplicate"
    );

    // --to-file: the custom-format dump, uncompressed (rows are readable).
    let file = env.path("dump.pgdump");
    env.ok(&["restore", &id[..8], "--to-file", file.to_str().unwrap()]);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"PGDMP"), "not a pg_dump custom archive");
    assert_eq!(bytes.len() as u64, total);
    assert!(
        bytes.windows(17).any(|w| w == b"coffer-marker-row"),
        "the dump is compressed by pg_dump"
    );

    // Restore in parallel (spooled) and streamed, into new databases.
    for jobs in ["2", "1"] {
        let new = PgDb::named(uniq("coffer_pg_dst"));
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
            "--jobs",
            jobs,
        ]);
        assert_eq!(
            psql(&new.0, PG_FINGERPRINT),
            want,
            "restore with --jobs {jobs}"
        );
        assert_eq!(psql(&new.0, "select count(*) from t_view"), "50000");
        // --create refuses an existing database; --clean replaces it.
        let o = env.run(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
        ]);
        assert_ne!(o.status.code(), Some(0));
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        psql(&new.0, "delete from t where id < 100");
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--create",
            "--clean",
        ]);
        assert_eq!(psql(&new.0, PG_FINGERPRINT), want);
        // --clean alone drops and recreates each object in place.
        psql(&new.0, "delete from t where id < 100");
        env.ok(&[
            "restore",
            &id[..8],
            "--postgres",
            &format!("{PG}/{}", new.0),
            "--clean",
        ]);
        assert_eq!(psql(&new.0, PG_FINGERPRINT), want);
    }
    // Without --create, a missing database is named.
    let missing = uniq("coffer_pg_nodb");
    let o = env.run(&[
        "restore",
        &id[..8],
        "--postgres",
        &format!("{PG}/{missing}"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&missing) && stderr(&o).contains("--create"));
    env.ok(&["check", "--read-data"]);
}

#[test]
fn issue3_postgres_all_databases_one_snapshot_each_and_globals_once() {
    let env = Env::new(Kind::Local, "pg-all");
    env.init();
    let prefix = uniq("coffer_pg_all");
    let a = PgDb::named(format!("{prefix}_a"));
    let b = PgDb::named(format!("{prefix}_b"));
    for db in [&a, &b] {
        psql("postgres", &format!("create database {}", db.0));
        psql(
            &db.0,
            &format!("create table x (v text); insert into x values ('{}')", db.0),
        );
    }
    let role = uniq("coffer_role");
    psql("postgres", &format!("create role {role} nologin"));
    let v = backup_json(
        &env,
        &[
            "--postgres",
            PG,
            "--all-databases",
            "--globals",
            "--include-database",
            &format!("{prefix}_*"),
        ],
    );
    psql("postgres", &format!("drop role {role}"));
    let list = v.as_array().expect("a list of snapshots");
    let kinds: Vec<&str> = list
        .iter()
        .map(|s| s["source"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["postgres-globals", "postgres", "postgres"], "{v}");
    let dbs: Vec<&str> = list[1..]
        .iter()
        .map(|s| s["source"]["details"]["database"].as_str().unwrap())
        .collect();
    assert_eq!(dbs, [a.0.as_str(), b.0.as_str()]);
    assert_eq!(snapshots(&env).len(), 3);
    // The globals hold the roles; restoring them recreates the dropped role.
    let g = list[0]["id"].as_str().unwrap();
    let file = env.path("globals.sql");
    env.ok(&["restore", g, "--to-file", file.to_str().unwrap()]);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(&format!("CREATE ROLE {role}")), "{sql}");
    let o = env.run(&["restore", g, "--postgres", PG]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        psql(
            "postgres",
            &format!("select count(*) from pg_roles where rolname = '{role}'")
        ),
        "1"
    );
    psql("postgres", &format!("drop role {role}"));
    // Each database restores on its own.
    let new = PgDb::named(uniq("coffer_pg_one"));
    env.ok(&[
        "restore",
        list[2]["id"].as_str().unwrap(),
        "--postgres",
        &format!("{PG}/{}", new.0),
        "--create",
    ]);
    assert_eq!(psql(&new.0, "select v from x"), b.0);
    // Templates are never among the databases.
    let o = env.run(&[
        "backup",
        "--postgres",
        PG,
        "--all-databases",
        "--include-database",
        "template*",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no database"), "{}", stderr(&o));
}

#[test]
fn issue3_postgres_unreachable_wrong_credentials_and_missing_database() {
    let env = Env::new(Kind::Local, "pg-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--postgres",
        &format!("postgres://postgres:pw-Secret-1@127.0.0.1:{port}/shop"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("127.0.0.1:{port}"), "database shop"],
        &["pw-Secret-1"],
    );
    let o = env.run(&[
        "backup",
        "--postgres",
        "postgres://nosuchrole_coffer:pw-Secret-2@127.0.0.1:5432/postgres",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:5432", "database postgres", "nosuchrole_coffer"],
        &["pw-Secret-2"],
    );
    let missing = uniq("coffer_missing");
    let o = env.run(&["backup", "--postgres", &format!("{PG}/{missing}")]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "127.0.0.1:5432",
            &format!("database {missing}"),
            "does not exist",
        ],
        &[],
    );
    // A URL that is not one is a usage error (exit 2) that does not echo it.
    let o = env.run(&["backup", "--postgres", "mysql://u:pw-Secret-3@h/db"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("pw-Secret-3"), "{}", stderr(&o));
}

#[test]
fn issue3_postgres_missing_or_old_pg_dump_is_named() {
    let env = Env::new(Kind::Local, "pg-tools");
    env.init();
    let db = PgDb::new("coffer_pg_tools");
    let url = format!("{PG}/{}", db.0);
    let empty = env.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = env.run(&[
        "backup",
        "--postgres",
        &url,
        "--pg-bin-dir",
        empty.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "psql not found",
            empty.to_str().unwrap(),
            "postgresql-client",
        ],
        &[],
    );
    // psql is there, pg_dump is not (the variable works like the flag).
    let only_psql = env.path("only-psql");
    std::fs::create_dir_all(&only_psql).unwrap();
    std::os::unix::fs::symlink(tool("psql", "postgresql-client"), only_psql.join("psql")).unwrap();
    let o = env
        .cmd(&["backup", "--postgres", &url])
        .env("COFFER_PG_BIN_DIR", &only_psql)
        .output()
        .unwrap();
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "pg_dump not found",
            only_psql.to_str().unwrap(),
            "postgresql-client-15",
        ],
        &[],
    );
    // A pg_dump older than the server.
    make_script(
        &only_psql.join("pg_dump"),
        "echo 'pg_dump (PostgreSQL) 9.6.24'; [ \"$1\" = --version ] || exit 1",
    );
    let o = env
        .cmd(&["backup", "--postgres", &url])
        .env("COFFER_PG_BIN_DIR", &only_psql)
        .output()
        .unwrap();
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "pg_dump 9.6.24",
            "too old",
            "PostgreSQL 15",
            "127.0.0.1:5432",
            "pg_dump 15 or newer",
        ],
        &[],
    );
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

#[test]
fn issue3_postgres_dump_killed_midway_leaves_no_snapshot() {
    let db = PgDb::new("coffer_pg_kill");
    psql(
        &db.0,
        "create table big as select g as id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) as v \
         from generate_series(1, 600000) g",
    );
    let url = format!("{PG}/{}", db.0);
    kill_dump_midway("pg-kill", &["--postgres", &url], "pg_dump", &[&db.0]);
}

// ---------------------------------------------------------------- MariaDB

const MY_FINGERPRINT: &str = "set session group_concat_max_len = 1000000000; \
     select md5(group_concat(concat_ws('|', id, name, hex(data), price, at) order by id separator ',')), count(*) from {db}.t";

fn my_fill(db: &str) {
    mysql_q(&format!(
        "create table {db}.t (id int primary key auto_increment, name varchar(200) character set utf8mb4, \
           data blob, price decimal(10,2), at datetime);
         insert into {db}.t (name, data, price, at)
           select concat('row ', seq, ' ', md5(seq)), unhex(md5(seq * 7)), seq / 100, '2024-01-01' + interval seq minute
           from {db}.seq_1_to_20000;
         insert into {db}.t (name, data) values ('ünïcödé 🦀', x'00ff0a0d27225c');
         create view {db}.v as select id from {db}.t where id % 2 = 0;"
    ));
}

#[test]
fn issue3_mysql_dump_restores_into_a_new_database() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new(Kind::Local, "my");
    env.init();
    let src = MyDb::new("coffer_my_src");
    my_fill(&src.0);
    let want = mysql_q(&MY_FINGERPRINT.replace("{db}", &src.0));
    let v = backup_json(&env, &["--mysql", &format!("{MY}/{}", src.0)]);
    assert_eq!(v["source"]["kind"], "mysql");
    let d = &v["source"]["details"];
    assert_eq!(d["database"], src.0.as_str());
    assert!(
        d["server_version"].as_str().unwrap().contains("MariaDB"),
        "{d}"
    );
    assert!(d["dump_tool"].as_str().unwrap().contains("Distrib"), "{d}");
    assert!(
        d["restore_needs"].as_str().unwrap().contains("10.11"),
        "{d}"
    );
    let id = v["id"].as_str().unwrap();
    let dst = MyDb(uniq("coffer_my_dst"));
    env.ok(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
    ]);
    assert_eq!(mysql_q(&MY_FINGERPRINT.replace("{db}", &dst.0)), want);
    assert_eq!(
        mysql_q(&format!("select count(*) from {}.v", dst.0)),
        mysql_q(&format!("select count(*) from {}.v", src.0))
    );
    // The restore did not touch the source's name: it restores under any name.
    let o = env.run(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
    ]);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    env.ok(&[
        "restore",
        id,
        "--mysql",
        &format!("{MY}/{}", dst.0),
        "--create",
        "--clean",
    ]);
    assert_eq!(mysql_q(&MY_FINGERPRINT.replace("{db}", &dst.0)), want);

    // All databases in one consistent dump.
    let all = backup_json(&env, &["--mysql", MY]);
    assert_eq!(all["source"]["details"]["scope"], "all-databases");
    let all_id = all["id"].as_str().unwrap();
    let file = env.path("all.sql");
    env.ok(&["restore", all_id, "--to-file", file.to_str().unwrap()]);
    let sql = std::fs::read_to_string(&file).unwrap();
    assert!(sql.contains(&format!(
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{}`",
        src.0
    )));
    let o = env.run(&["restore", all_id, "--mysql", &format!("{MY}/{}", dst.0)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("all databases"), "{}", stderr(&o));
    // (Replaying it would rewrite every database of this shared server, so
    // the test stops at the dump's content.)
    env.ok(&["check", "--read-data"]);
}

#[test]
fn issue3_mysql_unreachable_wrong_password_and_missing_database() {
    let env = Env::new(Kind::Local, "my-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--mysql",
        &format!("mysql://root:pw-Secret-4@127.0.0.1:{port}/shop"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("127.0.0.1:{port}"), "database shop"],
        &["pw-Secret-4"],
    );
    let o = env.run(&[
        "backup",
        "--mysql",
        "mysql://root:pw-Secret-5@127.0.0.1:3306/mysql",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:3306", "database mysql", "Access denied"],
        &["pw-Secret-5"],
    );
    let missing = uniq("coffer_missing");
    let o = env.run(&["backup", "--mysql", &format!("{MY}/{missing}")]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "127.0.0.1:3306",
            &format!("database {missing}"),
            "Unknown database",
        ],
        &[],
    );
}

#[test]
fn issue3_mysql_missing_or_old_dump_tool_is_named() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new(Kind::Local, "my-tools");
    env.init();
    let db = MyDb::new("coffer_my_tools");
    let url = format!("{MY}/{}", db.0);
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(tool("mariadb", "mariadb-client"), bin.join("mariadb")).unwrap();
    let o = env.run(&[
        "backup",
        "--mysql",
        &url,
        "--mysql-bin-dir",
        bin.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "mariadb-dump or mysqldump not found",
            bin.to_str().unwrap(),
            "mariadb-client",
        ],
        &[],
    );
    make_script(
        &bin.join("mariadb-dump"),
        "echo 'mariadb-dump  Ver 10.19 Distrib 10.3.39-MariaDB, for debian-linux-gnu (x86_64)'; \
         [ \"$1\" = --version ] || exit 1",
    );
    let o = env.run(&[
        "backup",
        "--mysql",
        &url,
        "--mysql-bin-dir",
        bin.to_str().unwrap(),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "mariadb-dump 10.3",
            "too old",
            "127.0.0.1:3306",
            "MariaDB 10.11 or newer",
        ],
        &[],
    );
}

#[test]
fn issue3_mysql_dump_killed_midway_leaves_no_snapshot() {
    let _l = MYSQL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let db = MyDb::new("coffer_my_kill");
    mysql_q(&format!(
        "create table {0}.big (id int primary key, v varchar(100)) \
         select seq as id, concat(md5(seq), md5(seq * 7), md5(seq * 13)) as v from {0}.seq_1_to_600000",
        db.0
    ));
    let url = format!("{MY}/{}", db.0);
    kill_dump_midway("my-kill", &["--mysql", &url], "mariadb-dump", &[&db.0]);
}

// ---------------------------------------------------------------- Redis

/// A scratch redis-server, killed when dropped.
struct ScratchRedis(std::process::Child, u16);
impl Drop for ScratchRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(dir: &Path) -> ScratchRedis {
    let port = free_port();
    let child = Command::new(tool("redis-server", "redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args([
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let r = ScratchRedis(child, port);
    let start = Instant::now();
    loop {
        let o = Command::new("redis-cli")
            .args(["-p", &port.to_string(), "ping"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&o.stdout).trim() == "PONG" {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "scratch redis-server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn redis_set_binary(key: &str, value: &[u8]) {
    let mut c = Command::new(tool("redis-cli", "redis-tools"))
        .args(["-h", "127.0.0.1", "-p", "6379", "-x", "SET", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(value).unwrap();
    assert!(c.wait().unwrap().success());
}

/// Keys written by a test, removed when dropped.
struct RedisKeys(String);
impl Drop for RedisKeys {
    fn drop(&mut self) {
        let keys = redis_text(6379, &["--scan", "--pattern", &format!("{}*", self.0)]);
        for k in keys.lines() {
            let _ = Command::new("redis-cli").args(["del", k]).output();
        }
    }
}

fn redis_state(port: u16, p: &str) -> Vec<Vec<u8>> {
    vec![
        redis_cli(port, &["GET", &format!("{p}str")]),
        redis_cli(port, &["GET", &format!("{p}bin")]),
        redis_cli(port, &["GET", &format!("{p}big")]),
        redis_cli(port, &["HGETALL", &format!("{p}hash")]),
        redis_cli(port, &["LRANGE", &format!("{p}list"), "0", "-1"]),
        redis_cli(port, &["SORT", &format!("{p}set"), "ALPHA"]),
        redis_cli(
            port,
            &["ZRANGE", &format!("{p}zset"), "0", "-1", "WITHSCORES"],
        ),
    ]
}

#[test]
fn issue3_redis_rdb_over_the_network_restores_every_key() {
    tool("redis-server", "redis-server");
    let env = Env::new(Kind::Local, "redis");
    env.init();
    let keys = RedisKeys(format!("coffer-test:{}:", uniq("r")));
    let p = keys.0.clone();
    redis_text(6379, &["SET", &format!("{p}str"), "hello world"]);
    redis_set_binary(&format!("{p}bin"), b"\x00\x01\xff\r\n binary \x00");
    redis_set_binary(&format!("{p}big"), &noise(3, 3_000_000));
    redis_text(6379, &["HSET", &format!("{p}hash"), "a", "1", "b", "two"]);
    redis_text(6379, &["RPUSH", &format!("{p}list"), "x", "y", "z", "x"]);
    redis_text(6379, &["SADD", &format!("{p}set"), "m1", "m2", "m3"]);
    redis_text(
        6379,
        &["ZADD", &format!("{p}zset"), "1.5", "one", "2", "two"],
    );
    // A key in another logical database.
    redis_text(6379, &["-n", "3", "SET", &format!("{p}db3"), "in db 3"]);
    let want = redis_state(6379, &p);

    let v = backup_json(&env, &["--redis", REDIS]);
    redis_text(6379, &["-n", "3", "DEL", &format!("{p}db3")]);
    assert_eq!(v["source"]["kind"], "redis");
    let d = &v["source"]["details"];
    assert!(
        d["server_version"].as_str().unwrap().starts_with('7'),
        "{d}"
    );
    assert!(
        d["rdb_version"].as_str().unwrap().parse::<u32>().unwrap() >= 9,
        "{d}"
    );
    assert!(
        d["restore_needs"]
            .as_str()
            .unwrap()
            .contains("redis-server"),
        "{d}"
    );
    assert!(v["summary"]["total_bytes"].as_u64().unwrap() > 3_000_000);
    let id = v["id"].as_str().unwrap();

    let dir = env.path("redis-restore");
    env.ok(&["restore", id, "--redis-dir", dir.to_str().unwrap()]);
    assert!(dir.join("dump.rdb").is_file());
    // Not over an existing dump.rdb.
    let o = env.run(&["restore", id, "--redis-dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dump.rdb"), "{}", stderr(&o));

    let scratch = start_redis(&dir);
    assert_eq!(redis_state(scratch.1, &p), want);
    assert_eq!(
        redis_text(scratch.1, &["-n", "3", "GET", &format!("{p}db3")]),
        "in db 3"
    );
    assert_eq!(
        d["transfer"], "diskless",
        "the machine's Redis syncs diskless"
    );
    // The disk-based transfer (`$<len>` payload) from a server configured
    // for it: the scratch server, which holds the same keys.
    redis_text(scratch.1, &["CONFIG", "SET", "repl-diskless-sync", "no"]);
    let v2 = backup_json(
        &env,
        &["--redis", &format!("redis://127.0.0.1:{}", scratch.1)],
    );
    assert_eq!(v2["source"]["details"]["transfer"], "disk");
    let dir2 = env.path("redis-restore-2");
    env.ok(&[
        "restore",
        v2["id"].as_str().unwrap(),
        "--redis-dir",
        dir2.to_str().unwrap(),
    ]);
    drop(scratch);
    let scratch2 = start_redis(&dir2);
    assert_eq!(redis_state(scratch2.1, &p), want);
    drop(scratch2);
    env.ok(&["check", "--read-data"]);
}

/// An ACL user, deleted when dropped.
struct RedisUser(String);
impl Drop for RedisUser {
    fn drop(&mut self) {
        let _ = Command::new("redis-cli")
            .args(["ACL", "DELUSER", &self.0])
            .output();
    }
}

#[test]
fn issue3_redis_auth_wrong_password_and_unreachable() {
    let env = Env::new(Kind::Local, "redis-bad");
    env.init();
    let port = free_port();
    let o = env.run(&[
        "backup",
        "--redis",
        &format!("redis://:pw-Secret-6@127.0.0.1:{port}"),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[&format!("Redis at 127.0.0.1:{port}")],
        &["pw-Secret-6"],
    );
    let user = RedisUser(uniq("coffer-user"));
    assert_eq!(
        redis_text(
            6379,
            &[
                "ACL",
                "SETUSER",
                &user.0,
                "on",
                ">pw-Secret-7",
                "~*",
                "&*",
                "+@all"
            ]
        ),
        "OK"
    );
    let o = env.run(&[
        "backup",
        "--redis",
        &format!("redis://{}:pw-Wrong-8@127.0.0.1:6379", user.0),
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["127.0.0.1:6379", "authentication failed"],
        &["pw-Wrong-8"],
    );
    let v = backup_json(
        &env,
        &[
            "--redis",
            &format!("redis://{}:pw-Secret-7@127.0.0.1:6379", user.0),
        ],
    );
    assert_eq!(v["source"]["details"]["user"], user.0.as_str());
    let shown = serde_json::to_string(&v).unwrap();
    assert!(!shown.contains("pw-Secret-7"), "{shown}");
}

// ---------------------------------------------------------------- commands

#[test]
fn issue3_command_output_is_stored_with_its_restore_command() {
    let env = Env::new(Kind::Local, "cmd");
    env.init();
    let out = env.path("restored");
    let restore_cmd = format!("cat > '{}'", out.display());
    let v = backup_json(
        &env,
        &[
            "--command",
            "printf 'head\\n'; head -c 3000000 /dev/zero | tr '\\0' x; echo progress >&2",
            "--name",
            "blob",
            "--restore-command",
            &restore_cmd,
        ],
    );
    assert_eq!(v["source"]["kind"], "command");
    let d = &v["source"]["details"];
    assert!(d["command"].as_str().unwrap().starts_with("printf"));
    assert_eq!(d["exit_status"], "0");
    assert_eq!(d["restore_command"], restore_cmd.as_str());
    assert_eq!(v["paths"][0], "blob");
    let id = v["id"].as_str().unwrap();
    let mut want = b"head\n".to_vec();
    want.extend(std::iter::repeat_n(b'x', 3_000_000));

    let file = env.path("blob.out");
    env.ok(&["restore", id, "--to-file", file.to_str().unwrap()]);
    assert_eq!(std::fs::read(&file).unwrap(), want);
    // --to-file - writes to standard output.
    let mut c = env
        .cmd(&["restore", id, "--to-file", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    c.stdout.take().unwrap().read_to_end(&mut got).unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(got, want);
    env.ok(&["restore", id, "--run-restore-command"]);
    assert_eq!(std::fs::read(&out).unwrap(), want);
    let other = env.path("other");
    env.ok(&[
        "restore",
        id,
        "--restore-command",
        &format!("cat > '{}'", other.display()),
    ]);
    assert_eq!(std::fs::read(&other).unwrap(), want);
    // A restore command that fails is reported.
    let o = env.run(&["restore", id, "--restore-command", "exit 7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("exited with status 7"),
        "{}",
        stderr(&o)
    );
    // A command snapshot is not a database dump.
    let o = env.run(&["restore", id, "--postgres", &format!("{PG}/x")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("command snapshot"), "{}", stderr(&o));
    // --command without --name is a usage error.
    let o = env.run(&["backup", "--command", "true"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn issue3_command_failure_or_kill_writes_no_snapshot() {
    let env = Env::new(Kind::Local, "cmd-fail");
    env.init();
    let o = env.run(&[
        "backup",
        "--command",
        "echo partial; echo 'it broke' >&2; exit 3",
        "--name",
        "x",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &[
            "command `echo partial",
            "exited with status 3",
            "it broke",
            "no snapshot was written",
        ],
        &[],
    );
    let o = env.run(&[
        "backup",
        "--command",
        "head -c 50M /dev/urandom; kill -9 $$",
        "--name",
        "killed",
    ]);
    assert_failed_cleanly(
        &env,
        &o,
        &["killed by signal 9", "no snapshot was written"],
        &[],
    );
    // The chunks of the killed run are unreferenced, not damage.
    let report = env.json(&["check"]);
    assert!(
        report["unreferenced_packs"].as_u64().unwrap() > 0,
        "{report}"
    );
    // And --stdin still works beside the new sources.
    let mut c = env
        .cmd(&["backup", "--stdin", "--stdin-name", "s.txt", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"]["kind"], "stdin");
}
