//! A throwaway PostgreSQL 15 cluster for the tests of base backups, WAL
//! archiving and point-in-time restore: made with `initdb` as the `postgres`
//! user (through `runuser`) in a scratch directory, started on a free port,
//! and stopped and removed when the [`Scratch`] is dropped, also when the
//! test fails. Needs root and PostgreSQL 15's server binaries; a missing
//! piece fails the test with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use super::free_port;
use super::{is_root, BIN};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
pub const PG_USER: &str = "postgres";

pub fn require_setup() {
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

/// A command run as the postgres user.
pub fn as_pg(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", PG_USER, "--", program]).stdin(Stdio::null());
    c
}

pub fn out_text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn must(c: &mut Command, what: &str) -> String {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(o.status.success(), "{what} failed: {}", out_text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The scratch directory (owned by postgres), and the servers started in
/// it: stopped and removed on drop, also when the test fails.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    data_dirs: Vec<PathBuf>,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("coffer-pitr-")
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

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn log(&self, data: &Path) -> PathBuf {
        data.with_extension("log")
    }

    pub fn start(&mut self, data: &Path, port: u16) {
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

    pub fn stop(&self, data: &Path, mode: &str) {
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

pub fn psql(port: u16, sql: &str) -> String {
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

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<String>, log: &Path) {
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
pub fn coffer_pg_cmd(vault: &Path, key: &Path, args: &[&str]) -> Command {
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

/// [`coffer_pg_cmd`], run.
pub fn coffer_pg(vault: &Path, key: &Path, args: &[&str]) -> Output {
    coffer_pg_cmd(vault, key, args).output().unwrap()
}

pub fn ok(o: Output, what: &str) -> String {
    assert!(o.status.success(), "coffer {what} failed: {}", out_text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// A new vault, and a new cluster in `data` archiving its WAL into it with
/// `coffer wal-push`, started on `port`; `extra_conf` is appended to its
/// postgresql.conf.
pub fn archiving_cluster(
    s: &mut Scratch,
    vault: &Path,
    key: &Path,
    data: &Path,
    port: u16,
    extra_conf: &str,
) {
    ok(coffer_pg(vault, key, &["init"]), "init");
    must(
        as_pg(&format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(data)
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
         max_wal_senders = 5\nfsync = off\n{extra_conf}"
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        f.write_all(conf.as_bytes()).unwrap();
    }
    s.start(data, port);
}

/// Restores base backup `snap` into `data` with `targets` (flags).
pub fn restore_pgdata(vault: &Path, key: &Path, snap: &str, data: &Path, targets: &[&str]) {
    let o = Command::new(BIN)
        .arg("--vault")
        .arg(vault)
        .arg("--key-file")
        .arg(key)
        .args(["restore", snap, "--pgdata"])
        .arg(data)
        .args(targets)
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "restore --pgdata {targets:?} failed: {}",
        out_text(&o)
    );
}

/// Starts a restored data directory on a free port and waits until
/// recovery has ended; returns the port.
pub fn start_recovered(s: &mut Scratch, data: &Path) -> u16 {
    let port = free_port();
    s.start(data, port);
    let log = s.log(data);
    wait_for(
        "recovery to end",
        Duration::from_secs(120),
        || {
            let r = psql(port, "select pg_is_in_recovery()");
            (r != "f").then_some(r)
        },
        &log,
    );
    port
}

/// The batches in table `t`, as "batch:rows" lines.
pub fn batches(port: u16) -> Vec<String> {
    psql(
        port,
        "select batch || ':' || count(*) from t group by batch order by batch",
    )
    .lines()
    .map(String::from)
    .collect()
}

/// Waits until the current WAL segment, switched, is archived.
pub fn archive_all(port: u16, log: &Path) {
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
}

/// `coffer pg basebackup --json` of the cluster on `port`: the snapshot.
pub fn base_backup(vault: &Path, key: &Path, port: u16) -> serde_json::Value {
    let url = format!("postgres://postgres@127.0.0.1:{port}/");
    serde_json::from_str(&ok(
        coffer_pg(
            vault,
            key,
            &["pg", "basebackup", "--postgres", &url, "--json"],
        ),
        "pg basebackup",
    ))
    .unwrap()
}

/// A tablespace `name` of the cluster on `port` in a new directory `dir`
/// of the scratch directory (owned by postgres); returns its location.
pub fn tablespace(s: &Scratch, port: u16, name: &str, dir: &str) -> PathBuf {
    let loc = s.path(dir);
    std::fs::create_dir(&loc).unwrap();
    must(
        Command::new("chown")
            .arg(format!("{PG_USER}:{PG_USER}"))
            .arg(&loc),
        "chown of the tablespace directory",
    );
    psql(
        port,
        &format!("create tablespace {name} location '{}'", loc.display()),
    );
    loc
}
