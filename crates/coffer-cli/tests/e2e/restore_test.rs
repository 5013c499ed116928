//! Restore tests (issue 5), end to end: `coffer plan run` backs a source up,
//! `coffer restore-test run` restores it into scratch space on the
//! machine's real PostgreSQL (127.0.0.1:5432), MariaDB (127.0.0.1:3306) and
//! Redis (127.0.0.1:6379, redis-server for the scratch server), validates it,
//! and removes the scratch resources, also when validation fails or times
//! out. A missing server or tool fails the test with a message.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn uniq(prefix: &str) -> String {
    let r: u32 = rand::random();
    format!("{prefix}_{}_{r:08x}", std::process::id())
}

fn run_tool(c: &mut Command, what: &str) -> String {
    let o = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e} (install it)"));
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn psql(db: &str, sql: &str) -> String {
    run_tool(
        Command::new("psql")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ]),
        "psql on 127.0.0.1:5432 (is PostgreSQL running with trust auth for postgres?)",
    )
}

fn mysql_q(sql: &str) -> String {
    run_tool(
        Command::new("mariadb")
            .args([
                "--protocol=TCP",
                "-h",
                "127.0.0.1",
                "-P",
                "3306",
                "-u",
                "root",
            ])
            .args(["--batch", "--skip-column-names", "-e", sql]),
        "mariadb on 127.0.0.1:3306 (is MariaDB running with root and no password?)",
    )
}

/// Scratch databases a restore test named `test` left on PostgreSQL.
fn pg_scratch(test: &str) -> String {
    psql(
        "postgres",
        &format!(
            "select count(*) from pg_database where datname like 'coffer_rt_{}%'",
            test.to_lowercase()
        ),
    )
}

fn my_scratch(test: &str) -> String {
    mysql_q(&format!(
        "select count(*) from information_schema.schemata where schema_name like 'coffer_rt_{}%'",
        test.to_lowercase()
    ))
}

/// Scratch directories a restore test named `test` left in `dir`.
fn dir_scratch(dir: &Path, test: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("coffer_rt_{}", test.to_lowercase()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A config with one vault, the given sources, one rule backing them all
/// up, and the given restore tests.
struct Setup {
    env: Env,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, sources: &str, tests: &str) -> Setup {
        let env = Env::new(Kind::Local, name);
        env.init();
        std::fs::create_dir_all(env.path("scratch")).unwrap();
        let config = env.path("coffer.toml");
        let text = format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

{sources}

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
source_tags = ["rt"]
schedule = "@daily"

{tests}
"#
        );
        std::fs::write(&config, text).unwrap();
        Setup { env, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env_remove("COFFER_STATE_DIR");
        c
    }

    fn backup(&self) {
        let o = self.cmd(&["plan", "run", "p/r"]).output().unwrap();
        assert!(
            o.status.success(),
            "plan run: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }

    /// `restore-test run NAME --json`: exit code and the JSON.
    fn run(&self, name: &str) -> (Option<i32>, Value, Output) {
        let o = self
            .cmd(&["--json", "restore-test", "run", name])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "restore-test run {name}: not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            )
        });
        (o.status.code(), v, o)
    }

    fn ok(&self, name: &str) -> Value {
        let (code, v, o) = self.run(name);
        assert_eq!(code, Some(0), "{v:#}\n{}", stderr(&o));
        assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
        assert_eq!(v["state"], "COMPLETED", "{v:#}");
        assert!(v["restore_seconds"].as_f64().unwrap() >= 0.0, "{v:#}");
        assert!(
            v["checks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["ok"] == true),
            "{v:#}"
        );
        v
    }

    fn list(&self) -> Vec<Value> {
        let o = self
            .cmd(&["--json", "restore-test", "list"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap()
    }
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {v:#}"))
}

#[test]
fn files_restore_test_compares_every_file_and_is_listed() {
    let s = Setup::new(
        "rt-files",
        r#"[[source]]
name = "docs"
kind = "files"
paths = ["data"]
tags = ["rt"]"#,
        r#"[[restore_test]]
name = "docs-check"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
sample_live = 2"#,
    );
    write(&s.env.path("data/a.txt"), b"alpha");
    write(&s.env.path("data/sub/b.bin"), &noise(3, 700_000));
    std::os::unix::fs::symlink("a.txt", s.env.path("data/link")).unwrap();
    s.backup();
    // A live file changes after the backup: information, not a failure.
    write(&s.env.path("data/a.txt"), b"alpha, edited");
    let v = s.ok("docs-check");
    let cmp = check(&v, "compare files");
    assert!(cmp["detail"].as_str().unwrap().contains("2 files"), "{v:#}");
    assert!(check(&v, "sample 2 live files")["ok"] == true, "{v:#}");
    assert!(dir_scratch(&s.env.path("scratch"), "docs_check").is_empty());
    let list = s.list();
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["details"]["validation"], "SUCCESSFUL");
    assert_eq!(list[0]["source"], "docs");
    // Human output names the test.
    let o = s.cmd(&["restore-test", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("docs-check"));
    // An unknown test is a usage error naming the known ones.
    let o = s.cmd(&["restore-test", "run", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("docs-check"), "{}", stderr(&o));
}

#[test]
fn files_restore_test_detects_a_damaged_vault() {
    let s = Setup::new(
        "rt-damage",
        r#"[[source]]
name = "docs"
kind = "files"
paths = ["data"]
tags = ["rt"]"#,
        r#"[[restore_test]]
name = "dmg"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch""#,
    );
    write(&s.env.path("data/big.bin"), &noise(9, 400_000));
    s.backup();
    // Flip a byte in every data pack.
    let mut n = 0;
    for (rel, mut bytes) in s.env.vault_files() {
        if rel.starts_with("packs/") {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x55;
            std::fs::write(Path::new(&s.env.vault).join(&rel), bytes).unwrap();
            n += 1;
        }
    }
    assert!(n > 0);
    let (code, v, _) = s.run("dmg");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["validation"], "FAILED", "{v:#}");
    assert_eq!(v["state"], "FAILED", "{v:#}");
    assert!(dir_scratch(&s.env.path("scratch"), "dmg").is_empty());
}

#[test]
fn postgres_dump_restore_test_passes_fails_and_times_out_cleanly() {
    let db = uniq("rt_src");
    psql("postgres", &format!("create database {db}"));
    psql(
        &db,
        "create table users (id int primary key, name text); \
         insert into users select g, 'u' || g from generate_series(1, 50) g",
    );
    let (ok, bad, slow) = (uniq("pgok"), uniq("pgbad"), uniq("pgslow"));
    let s = Setup::new(
        "rt-pg",
        &format!(
            r#"[[source]]
name = "app-db"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:5432/{db}"
tags = ["rt"]"#
        ),
        &format!(
            r#"[[restore_test]]
name = "{ok}"
schedule = "@daily"
vault = "main"
sources = ["app-db"]
[[restore_test.query]]
sql = "SELECT count(*) FROM users"
expect = "> 0"
[[restore_test.query]]
sql = "SELECT count(*) FROM users WHERE name = 'u7'"
expect = "= 1"

[[restore_test]]
name = "{bad}"
schedule = "@daily"
vault = "main"
sources = ["app-db"]
[[restore_test.query]]
sql = "SELECT count(*) FROM users"
expect = ">= 1000"

[[restore_test]]
name = "{slow}"
schedule = "@daily"
vault = "main"
sources = ["app-db"]
timeout = "3s"
[[restore_test.query]]
sql = "SELECT pg_sleep(60)"
"#
        ),
    );
    s.backup();
    psql("postgres", &format!("drop database {db} with (force)"));

    let v = s.ok(&ok);
    assert!(check(&v, "pg_amcheck")["ok"] == true, "{v:#}");
    assert!(
        check(&v, "SELECT count(*) FROM users")["detail"]
            .as_str()
            .unwrap()
            .contains("50"),
        "{v:#}"
    );
    assert_eq!(pg_scratch(&ok), "0");

    let (code, v, _) = s.run(&bad);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["validation"], "FAILED", "{v:#}");
    let c = check(&v, "SELECT count(*) FROM users");
    assert_eq!(c["ok"], false);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("returned 50, expected >= 1000"),
        "{v:#}"
    );
    assert!(v["error"].as_str().unwrap().contains(">= 1000"), "{v:#}");
    assert_eq!(pg_scratch(&bad), "0");

    let started = std::time::Instant::now();
    let (code, v, _) = s.run(&slow);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["validation"], "TIMED_OUT", "{v:#}");
    assert_eq!(v["state"], "FAILED", "{v:#}");
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    assert!(v["restore_seconds"].is_number(), "{v:#}");
    assert_eq!(pg_scratch(&slow), "0");

    let list = s.list();
    let validations: Vec<&str> = list
        .iter()
        .map(|j| j["details"]["validation"].as_str().unwrap())
        .collect();
    assert_eq!(
        validations,
        ["TIMED_OUT", "FAILED", "SUCCESSFUL"],
        "{list:#?}"
    );
}

#[test]
fn mysql_restore_test_runs_queries_and_drops_the_scratch_database() {
    let db = uniq("rt_my");
    mysql_q(&format!(
        "create database {db}; create table {db}.items (id int primary key); \
         insert into {db}.items values (1), (2), (3)"
    ));
    let (ok, bad) = (uniq("myok"), uniq("mybad"));
    let s = Setup::new(
        "rt-my",
        &format!(
            r#"[[source]]
name = "shop"
kind = "mysql"
url = "mysql://root@127.0.0.1:3306/{db}"
tags = ["rt"]"#
        ),
        &format!(
            r#"[[restore_test]]
name = "{ok}"
schedule = "@daily"
vault = "main"
sources = ["shop"]
[[restore_test.query]]
sql = "SELECT count(*) FROM items"
expect = "= 3"

[[restore_test]]
name = "{bad}"
schedule = "@daily"
vault = "main"
sources = ["shop"]
[[restore_test.query]]
sql = "SELECT count(*) FROM no_such_table"
"#
        ),
    );
    s.backup();
    mysql_q(&format!("drop database {db}"));
    s.ok(&ok);
    assert_eq!(my_scratch(&ok), "0");
    let (code, v, _) = s.run(&bad);
    assert_eq!(code, Some(1), "{v:#}");
    let c = check(&v, "SELECT count(*) FROM no_such_table");
    assert!(
        c["detail"].as_str().unwrap().contains("no_such_table"),
        "{v:#}"
    );
    assert_eq!(my_scratch(&bad), "0");
}

#[test]
fn redis_restore_test_starts_a_scratch_server() {
    let key = uniq("coffer_rt_key");
    run_tool(
        Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", "6379", "SET", &key, "v"]),
        "redis-cli on 127.0.0.1:6379 (is Redis running?)",
    );
    let s = Setup::new(
        "rt-redis",
        r#"[[source]]
name = "cache"
kind = "redis"
url = "redis://127.0.0.1:6379"
tags = ["rt"]"#,
        &format!(
            r#"[[restore_test]]
name = "cache-check"
schedule = "@daily"
vault = "main"
sources = ["cache"]
scratch_dir = "scratch"
min_keys = 1
keys = ["{key}"]

[[restore_test]]
name = "cache-missing"
schedule = "@daily"
vault = "main"
sources = ["cache"]
scratch_dir = "scratch"
keys = ["{key}-not-there"]
"#
        ),
    );
    s.backup();
    let _ = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "DEL", &key])
        .output();
    let v = s.ok("cache-check");
    assert!(check(&v, &format!("key {key}"))["ok"] == true, "{v:#}");
    let (code, v, _) = s.run("cache-missing");
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(
        check(&v, &format!("key {key}-not-there"))["detail"],
        "missing"
    );
    assert!(dir_scratch(&s.env.path("scratch"), "cache").is_empty());
}

#[test]
fn command_restore_test_feeds_the_stream_and_kills_it_on_timeout() {
    let marker = format!("{}.{}", 40 + std::process::id() % 50, rand::random::<u16>());
    let s = Setup::new(
        "rt-cmd",
        r#"[[source]]
name = "ldap"
kind = "command"
command = "printf 'dn: cn=admin\nok\n'"
tags = ["rt"]"#,
        &format!(
            r#"[[restore_test]]
name = "ldif"
schedule = "@daily"
vault = "main"
sources = ["ldap"]
validate_command = "grep -q 'dn: cn=admin'"

[[restore_test]]
name = "ldif-bad"
schedule = "@daily"
vault = "main"
sources = ["ldap"]
validate_command = "grep -q 'dn: cn=nobody'"

[[restore_test]]
name = "ldif-slow"
schedule = "@daily"
vault = "main"
sources = ["ldap"]
timeout = "2s"
validate_command = "sleep {marker}; cat >/dev/null"
"#
        ),
    );
    s.backup();
    s.ok("ldif");
    let (code, v, _) = s.run("ldif-bad");
    assert_eq!(
        (code, v["validation"].as_str()),
        (Some(1), Some("FAILED")),
        "{v:#}"
    );
    let (code, v, _) = s.run("ldif-slow");
    assert_eq!(
        (code, v["validation"].as_str()),
        (Some(1), Some("TIMED_OUT")),
        "{v:#}"
    );
    // The shell's child went with it.
    let o = Command::new("pgrep")
        .args(["-f", &format!("sleep {marker}")])
        .output()
        .unwrap();
    assert!(
        o.stdout.is_empty(),
        "sleep {marker} still runs: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A PostgreSQL base backup with WAL archived after it: the scratch cluster
/// recovers to the newest archived WAL (the rows inserted after the base
/// backup are there), answers the queries, and is stopped and removed.
#[test]
fn postgres_base_backup_restore_test_recovers_a_scratch_cluster() {
    const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
    assert!(
        is_root(),
        "this test runs initdb and postgres as the postgres user: run it as root"
    );
    assert!(
        Path::new(PG_BIN).join("postgres").exists(),
        "{PG_BIN}/postgres is missing: install postgresql-15"
    );
    let dir = tempfile::Builder::new()
        .prefix("coffer-rt-base-")
        .tempdir_in("/tmp")
        .unwrap();
    let p = |s: &str| dir.path().join(s);
    run_tool(
        Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path()),
        "chown",
    );
    let as_pg = |prog: &str| {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", prog]).stdin(Stdio::null());
        c
    };
    let (vault, key, data) = (p("vault"), p("vault.key"), p("data"));
    run_tool(
        as_pg(BIN)
            .arg("--vault")
            .arg(&vault)
            .arg("--key-file")
            .arg(&key)
            .arg("init"),
        "coffer init",
    );
    run_tool(
        as_pg(&format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync"]),
        "initdb",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = format!(
        "\nwal_level = replica\narchive_mode = on\narchive_command = '{BIN} --vault {} --key-file {} --quiet wal-push %p'\nfsync = off\n",
        vault.display(),
        key.display()
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        f.write_all(conf.as_bytes()).unwrap();
    }
    struct Stop(PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    "/usr/lib/postgresql/15/bin/pg_ctl",
                    "-D",
                ])
                .arg(&self.0)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
    run_tool(
        as_pg(&format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(p("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
                dir.path().display()
            ))
            .args(["-w", "start"]),
        "pg_ctl start",
    );
    let _stop = Stop(data.clone());
    let q = |sql: &str| {
        run_tool(
            Command::new(format!("{PG_BIN}/psql"))
                .args([
                    "-X",
                    "-A",
                    "-t",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                ])
                .args([
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-p",
                    &port.to_string(),
                    "-c",
                    sql,
                ]),
            "psql on the test cluster",
        )
    };
    q("create table t (i int); insert into t select generate_series(1, 10)");
    let config = p("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "state"
[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"
[[source]]
name = "cluster"
kind = "postgres-base"
url = "postgres://postgres@127.0.0.1:{port}/"
tags = ["rt"]
[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
source_tags = ["rt"]
schedule = "@daily"
[[restore_test]]
name = "pitr"
schedule = "@daily"
vault = "main"
sources = ["cluster"]
timeout = "5m"
[[restore_test.query]]
sql = "SELECT count(*) FROM t"
expect = "= 30"
"#
        ),
    )
    .unwrap();
    std::os::unix::fs::chown(&config, Some(0), Some(0)).unwrap();
    run_tool(
        as_pg(BIN)
            .env("COFFER_CONFIG", &config)
            .args(["plan", "run", "p/r"]),
        "coffer plan run (as postgres)",
    );
    // Rows after the base backup reach the vault only as archived WAL.
    q("insert into t select generate_series(11, 30)");
    let last = q("select pg_walfile_name(pg_switch_wal())");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done = q("select coalesce(last_archived_wal, '') from pg_stat_archiver");
        if done >= last {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "WAL {last} was not archived"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let o = Command::new(BIN)
        .env("COFFER_CONFIG", &config)
        .env_remove("COFFER_STATE_DIR")
        .args(["--json", "restore-test", "run", "pitr"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", stderr(&o)));
    assert_eq!(o.status.code(), Some(0), "{v:#}\n{}", stderr(&o));
    assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("coffer_rt_pitr_")
        })
        .collect();
    assert!(left.is_empty(), "scratch left: {left:?}");
    let o = Command::new("pgrep")
        .args(["-f", "coffer_rt_pitr_"])
        .output()
        .unwrap();
    assert!(o.stdout.is_empty(), "a scratch server still runs");
}
