//! Test harness: runs the real `coffer` binary against a local or S3 vault.
#![allow(dead_code)]

pub mod pg;

// The data generators and tree comparisons are coffer-testing's, shared
// with the other crates' tests; this module keeps the process, daemon and
// HTTP helpers of the end-to-end tests.
pub use coffer_testing::{assert_same_tree, is_root, noise, rich_tree, write};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_coffer");

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Local,
    S3,
}

/// A scratch directory with a vault location and a key file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vault: String,
    pub key: PathBuf,
    pub kind: Kind,
}

pub fn s3_url(name: &str) -> String {
    let bucket = std::env::var("COFFER_TEST_S3_BUCKET").unwrap_or_default();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if bucket.is_empty() || endpoint.is_empty() || std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        panic!(
            "S3 tests need a running Garage: run `bash scripts/test.sh`, or `scripts/garage.sh start` and \
             `source /tmp/coffer-garage/env` (sets COFFER_TEST_S3_BUCKET, AWS_ENDPOINT_URL and the AWS keys)"
        );
    }
    let r: u64 = rand::random();
    format!("s3://{bucket}/{name}-{r:016x}")
}

impl Env {
    pub fn new(kind: Kind, name: &str) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("coffer-test-")
            .tempdir()
            .unwrap();
        let vault = match kind {
            Kind::Local => dir.path().join("vault").to_string_lossy().into_owned(),
            Kind::S3 => s3_url(name),
        };
        let key = dir.path().join("vault.key");
        Env {
            dir,
            vault,
            key,
            kind,
        }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A command with the vault and key set and a private data dir and
    /// state dir (`state/`: where the CLI's audit trail goes, and where the
    /// tests' configurations put `state_dir`).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("COFFER_VAULT", &self.vault)
            .env("COFFER_KEY_FILE", &self.key)
            .env("XDG_DATA_HOME", self.path("xdg"))
            .env("COFFER_STATE_DIR", self.path("state"))
            .env_remove("COFFER_PASSWORD")
            .env_remove("COFFER_PASSWORD_FILE")
            // No S3 credentials must not send the AWS chain to the EC2
            // instance metadata address: tests only ever reach loopback.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts exit code 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "coffer {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn init(&self) {
        self.ok(&["init"]);
    }

    /// Backs up and returns the snapshot id.
    pub fn backup(&self, paths: &[&Path]) -> String {
        let mut a = vec!["backup".to_string(), "--json".into()];
        a.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let v: serde_json::Value = serde_json::from_str(&self.ok(&a)).unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    pub fn restore(&self, snap: &str, target: &Path) {
        self.ok(&["restore", snap, "--target", target.to_str().unwrap(), "-q"]);
    }

    /// The local vault's files (relative path → bytes), for "nothing written" checks.
    pub fn vault_files(&self) -> BTreeMap<String, Vec<u8>> {
        assert_eq!(self.kind, Kind::Local);
        let mut out = BTreeMap::new();
        let root = PathBuf::from(&self.vault);
        if root.exists() {
            walk_files(&root, &root, &mut out);
        }
        out
    }
}

fn walk_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk_files(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

/// The entries of the audit log in `state` (one JSON object a line).
pub fn audit_entries(state: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(state.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A free TCP port on 127.0.0.1 (bound once, then released for the caller).
pub fn free_port() -> u16 {
    // A port is free when it is handed out, but a test may start its server
    // on it only seconds later (after initdb): never hand the same port to
    // two tests of this process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Polls `f` until it holds; fails the test after `secs` seconds, naming
/// `what`.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(secs),
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `coffer --json jobs list --limit 0 [--kind KIND]` run as `base` (a coffer
/// command with the caller's environment and no arguments yet): every job
/// the catalog of its state directory holds, newest first.
pub fn list_jobs(mut base: Command, kind: Option<&str>) -> Vec<serde_json::Value> {
    base.args(["--json", "jobs", "list", "--limit", "0"]);
    if let Some(k) = kind {
        base.args(["--kind", k]);
    }
    let o = base.output().unwrap();
    assert!(o.status.success(), "jobs list: {}", stderr(&o));
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `coffer serve` with `config` (and no COFFER_STATE_DIR from the
/// environment): standard error piped, for [`stop_serve`]. Callers add
/// what else they need, then spawn.
pub fn serve_cmd(env: &Env, config: &Path) -> Command {
    let mut c = env.cmd(&["serve"]);
    c.env("COFFER_CONFIG", config)
        .env_remove("COFFER_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Stops a daemon started from [`serve_cmd`] with SIGTERM and waits for it:
/// its exit code and its log (standard error).
pub fn stop_serve(child: std::process::Child) -> (Option<i32>, String) {
    // SAFETY: kill on a child we own.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Fails, naming the fix, unless these tests (and so the `coffer` binary
/// they run, built with the same features) were built with the
/// `test-clock` feature: only such a build reads `COFFER_NOW`, and without
/// it a test that moves time would run against the real clock instead.
/// Call it wherever a test sets `COFFER_NOW`.
pub fn require_test_clock() {
    if !cfg!(feature = "test-clock") {
        panic!(
            "this test moves \"now\" with COFFER_NOW, which only a coffer built with the `test-clock` feature reads: \
             run it with `--features coffer-cli/test-clock` (scripts/test.sh does)"
        );
    }
}
