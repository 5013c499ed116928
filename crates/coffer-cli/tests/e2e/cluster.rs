//! Issue 7: a real distributed store. A three-node Garage cluster on
//! loopback (scripts/garage-cluster.sh, replication factor 3, one zone per
//! node): backups into it and restores from it, copies between it and a
//! local vault; one node killed in the middle of a backup (the backup
//! completes and every snapshot restores); two nodes stopped (the backup
//! fails cleanly with a clear error, and the vault is intact once the
//! nodes return).
//!
//! One test, phases in order: stopping nodes would disturb any test
//! running beside it.

use crate::common::{noise, stderr, write};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_coffer");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/garage-cluster.sh")
}

/// The running cluster; stopped (and its state removed) on drop.
struct Cluster {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let o = Command::new("bash")
            .arg(script())
            .arg("start")
            .env("COFFER_CLUSTER_DIR", dir)
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/garage-cluster.sh");
        assert!(
            o.status.success(),
            "scripts/garage-cluster.sh start failed (garage is installed by scripts/garage.sh; \
             ports 127.0.0.1:4010-4033 must be free):\n{}",
            stderr(&o)
        );
        let env_file = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let env = std::fs::read_to_string(&env_file)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Cluster {
            dir: dir.to_path_buf(),
            env,
        }
    }

    fn node(&self, action: &str, n: u8) {
        let o = Command::new("bash")
            .arg(script())
            .args([action, &n.to_string()])
            .env("COFFER_CLUSTER_DIR", &self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{action} {n}: {}", stderr(&o));
    }

    /// `coffer` with the cluster's credentials and endpoint, no vault.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env(
            "AWS_ACCESS_KEY_ID",
            &self.env["COFFER_CLUSTER_ACCESS_KEY_ID"],
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            &self.env["COFFER_CLUSTER_SECRET_ACCESS_KEY"],
        )
        .env("AWS_ENDPOINT_URL", &self.env["COFFER_CLUSTER_ENDPOINT"])
        .env("AWS_REGION", "garage")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .env_remove("COFFER_PASSWORD_FILE")
        .env_remove("COFFER_CONFIG")
        .stdin(Stdio::null());
        c
    }

    /// `s3://BUCKET/PREFIX` of the cluster.
    fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.env["COFFER_CLUSTER_BUCKET"])
    }

    /// `coffer ARGS` against vault `PREFIX` of the cluster.
    fn coffer(&self, prefix: &str, key: &Path, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(args)
            .args(["--vault", &self.url(prefix)])
            .args(["--key-file", key.to_str().unwrap()]);
        c
    }

    fn ok(&self, prefix: &str, key: &Path, args: &[&str]) -> String {
        let o = self.coffer(prefix, key, args).output().unwrap();
        assert!(o.status.success(), "coffer {args:?}: {}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .env("COFFER_CLUSTER_DIR", &self.dir)
            .stdin(Stdio::null())
            .output();
    }
}

/// The snapshot id a `--json` backup printed.
fn snapshot_id(out: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no snapshot id in {v}"))
        .to_string()
}

/// Every regular file below `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Restores `snap` into a new directory and checks it holds `src`'s files.
fn restores_exactly(run: &dyn Fn(&[&str]) -> Output, snap: &str, src: &Path, into: &Path) {
    let o = run(&["restore", snap, "--target", into.to_str().unwrap()]);
    assert!(o.status.success(), "restore {snap}: {}", stderr(&o));
    let restored = into.join(src.strip_prefix("/").unwrap());
    assert!(
        tree(&restored) == tree(src),
        "snapshot {snap} does not restore {} exactly",
        src.display()
    );
}

#[test]
fn issue7_three_node_garage_cluster_survives_one_node_and_fails_cleanly_without_two() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cluster = Cluster::start(&t.join("cluster"));
    let key = t.join("cluster.key");
    let o = cluster.coffer("v", &key, &["init"]).output().unwrap();
    assert!(o.status.success(), "init: {}", stderr(&o));
    let on_cluster = |args: &[&str]| cluster.coffer("v", &key, args).output().unwrap();

    // 1. Backup, restore, and copies both ways with a local vault.
    let a = t.join("a");
    for i in 0..5u64 {
        write(&a.join(format!("f{i}")), &noise(100 + i, 300_000));
    }
    let sa = snapshot_id(&cluster.ok("v", &key, &["--json", "backup", a.to_str().unwrap()]));
    restores_exactly(&on_cluster, &sa, &a, &t.join("r1"));
    let local = t.join("local");
    let local_key = t.join("local.key");
    // A local vault, driven with the cluster's environment so that copies
    // can reach the cluster from either side.
    let local_run = |args: &[&str]| {
        cluster
            .cmd()
            .args(args)
            .args(["--vault", local.to_str().unwrap()])
            .args(["--key-file", local_key.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = local_run(&["init"]);
    assert!(o.status.success(), "init local: {}", stderr(&o));
    cluster.ok(
        "v",
        &key,
        &[
            "copy",
            &sa,
            "--to",
            local.to_str().unwrap(),
            "--to-key-file",
            local_key.to_str().unwrap(),
        ],
    );
    restores_exactly(&local_run, "latest", &a, &t.join("r2"));
    // And from the local vault into a second vault on the cluster.
    let key2 = t.join("cluster2.key");
    let o = cluster.coffer("v2", &key2, &["init"]).output().unwrap();
    assert!(o.status.success(), "init v2: {}", stderr(&o));
    let o = local_run(&[
        "copy",
        "latest",
        "--to",
        &cluster.url("v2"),
        "--to-key-file",
        key2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "copy local -> cluster: {}", stderr(&o));
    restores_exactly(
        &|args: &[&str]| cluster.coffer("v2", &key2, args).output().unwrap(),
        "latest",
        &a,
        &t.join("r3"),
    );

    // 2. One node stopped in the middle of a backup: it completes.
    let b = t.join("b");
    for i in 0..16u64 {
        write(&b.join(format!("g{i}")), &noise(200 + i, 6_000_000));
    }
    let mut child = cluster
        .coffer("v", &key, &["--json", "backup", b.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    // Node 3 dies at once (SIGKILL: a crashed machine, no goodbye).
    let pid: i32 = std::fs::read_to_string(t.join("cluster/node3/garage.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: a signal to the test's own garage node.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before node 3 stopped: give it more data"
    );
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the backup failed with one node of three stopped: {}",
        stderr(&o)
    );
    let sb = snapshot_id(&String::from_utf8_lossy(&o.stdout));
    restores_exactly(&on_cluster, &sa, &a, &t.join("r4"));
    restores_exactly(&on_cluster, &sb, &b, &t.join("r5"));

    // 3. Two nodes stopped: the backup fails cleanly, in bounded time,
    // naming the store.
    cluster.node("stop-node", 2);
    let c = t.join("c");
    write(&c.join("h"), &noise(300, 1_000_000));
    let started = Instant::now();
    let o = on_cluster(&["backup", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&cluster.url("v")),
        "the error names the vault: {}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(180),
        "failing took {:?}",
        started.elapsed()
    );

    // 4. The nodes return: the vault is intact and takes backups again.
    cluster.node("start-node", 2);
    cluster.node("start-node", 3);
    let t0 = Instant::now();
    loop {
        let o = on_cluster(&["check", "--read-data"]);
        if o.status.success() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "check --read-data fails after the nodes returned: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    restores_exactly(&on_cluster, &sb, &b, &t.join("r6"));
    let sc = snapshot_id(&cluster.ok("v", &key, &["--json", "backup", c.to_str().unwrap()]));
    restores_exactly(&on_cluster, &sc, &c, &t.join("r7"));
}
