//! End-to-end tests of S3 Object Lock: `coffer vault probe`, the refusal to
//! call a vault locked on a store that does not enforce it, software-only
//! locks, and, on a bucket with object lock, retention on every object,
//! its extension, and deletes refused by the store.
//!
//! Garage (scripts/garage.sh) has neither versioning nor object lock. The
//! moto server (scripts/moto.sh; `COFFER_TEST_MOTO_ENDPOINT`) has both.

use crate::common::*;
use coffer_core::{Backend, LockMode};
use coffer_storage::{ObjectLockClient, OpendalBackend, S3Location};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::process::{Command, Output};

pub(crate) fn moto_endpoint() -> String {
    std::env::var("COFFER_TEST_MOTO_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "the object lock tests need a moto S3 server: run `bash scripts/test.sh`, or \
                 `scripts/moto.sh start` and `source /tmp/coffer-moto/env` (sets COFFER_TEST_MOTO_ENDPOINT; \
                 moto_server comes from `pip install 'moto[server]'`)"
            )
        })
}

pub(crate) fn moto_loc(bucket: &str, prefix: &str) -> S3Location {
    S3Location {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(moto_endpoint()),
        region: Some("us-east-1".into()),
        path_style: true,
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
        storage_class: None,
        connect_timeout: None,
    }
}

/// A new bucket on moto (with object lock when asked) and a vault prefix in it.
pub(crate) fn moto_bucket(object_lock: bool) -> (String, ObjectLockClient) {
    let bucket = format!("coffer-{:012x}", rand::random::<u64>() >> 16);
    let c = ObjectLockClient::new(&moto_loc(&bucket, "")).unwrap();
    c.block_on(c.client().create_bucket(object_lock)).unwrap();
    (bucket, c)
}

/// A vault on moto: an [`Env`] whose commands carry moto's credentials.
pub(crate) struct Moto {
    pub(crate) env: Env,
    pub(crate) bucket: String,
    pub(crate) prefix: String,
    /// Client for the vault's prefix.
    pub(crate) s3: ObjectLockClient,
}

impl Moto {
    pub(crate) fn new(bucket: &str, query: &str) -> Moto {
        let mut env = Env::new(Kind::Local, "moto");
        let prefix = format!("v-{:08x}", rand::random::<u32>());
        env.vault = format!(
            "s3://{bucket}/{prefix}?endpoint={}&region=us-east-1{query}",
            moto_endpoint()
        );
        env.kind = Kind::S3;
        let s3 = ObjectLockClient::new(&moto_loc(bucket, &prefix)).unwrap();
        Moto {
            env,
            bucket: bucket.into(),
            prefix,
            s3,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("COFFER_S3_ENDPOINT");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "coffer {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub(crate) fn backup(&self, src: &std::path::Path) -> String {
        self.json(&["backup", src.to_str().unwrap()])["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Every object of the vault (vault paths).
    pub(crate) fn objects(&self) -> Vec<String> {
        self.listing().into_iter().map(|o| o.0).collect()
    }

    fn listing(&self) -> Vec<(String, u64)> {
        let b = OpendalBackend::s3(&moto_loc(&self.bucket, &self.prefix)).unwrap();
        b.list("")
            .unwrap()
            .into_iter()
            .map(|o| (o.path, o.size))
            .collect()
    }

    /// The biggest pack: the one holding the big file every snapshot has.
    fn biggest_pack(&self) -> String {
        self.listing()
            .into_iter()
            .filter(|o| o.0.starts_with("packs/"))
            .max_by_key(|o| o.1)
            .unwrap()
            .0
    }

    pub(crate) fn head(&self, path: &str) -> coffer_storage::HeadInfo {
        self.s3.block_on(self.s3.client().head(path)).unwrap()
    }

    /// The packs holding data blobs only (the ones the vault's storage
    /// class applies to), read from the vault's index with its key.
    pub(crate) fn data_packs(&self) -> std::collections::BTreeSet<String> {
        let backend = OpendalBackend::s3(&moto_loc(&self.bucket, &self.prefix)).unwrap();
        let secret = coffer_core::Secret::from_key_file(&self.env.key).unwrap();
        let vault = coffer_core::Vault::open(std::sync::Arc::new(backend), &secret).unwrap();
        let index = vault.load_index().unwrap();
        index
            .packs()
            .iter()
            .enumerate()
            .filter(|(n, _)| !index.is_tree_pack(*n as u32))
            .map(|(_, p)| coffer_core::ObjectKind::Pack.path(p))
            .collect()
    }
}

fn lock_args(min: &'static str) -> Vec<&'static str> {
    vec![
        "vault",
        "lock",
        "--min-retention-days",
        min,
        "--max-retention-days",
        "30",
    ]
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn fails_with(o: &Output, code: i32, needles: &[&str]) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    );
    for n in needles {
        assert!(stderr(o).contains(n), "stderr lacks `{n}`: {}", stderr(o));
    }
}

#[test]
fn garage_does_not_enforce_object_lock_so_lock_needs_software_only() {
    let env = Env::new(Kind::S3, "objlock");
    let src = env.path("src");
    write(&src.join("a.txt"), b"garage\n");
    env.init();
    env.backup(&[&src]);
    // Probe: every check not enforced, exit 3.
    let o = env.run(&["vault", "probe", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["enforced"], false);
    assert_eq!(v["store"], "s3");
    let checks = v["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["versioning", "object_lock", "delete_refused"]);
    assert!(checks.iter().all(|c| c["status"] == "not_enforced"), "{v}");
    let human = env.run(&["vault", "probe"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("does NOT enforce object lock"));

    // Lock refused, naming the failing check and the fix; nothing recorded.
    let o = env.run(&lock_args("7"));
    fails_with(
        &o,
        1,
        &[
            "refusing to lock vault",
            "does not enforce object lock (check `versioning`",
            "Enable versioning and object lock on the bucket",
            "--software-only",
        ],
    );
    assert!(env.ok(&["vault", "lock-status"]).contains("no lock"));

    // With --software-only the lock is recorded and says so.
    let mut a = lock_args("7");
    a.push("--software-only");
    let out = env.ok(&a);
    assert!(
        out.contains("enforced by coffer only; the store does not enforce object lock"),
        "{out}"
    );
    let st = env.json(&["vault", "lock-status"]);
    assert_eq!(st["enforcement"], "coffer-only");
    assert_eq!(st["lock"]["store_enforced"], false);
    let out = env.ok(&["vault", "lock-status"]);
    assert!(
        out.contains("enforced by coffer only; the store does not enforce object lock"),
        "{out}"
    );
    // Nothing to extend on a software-only lock.
    let x = env.json(&["vault", "extend-retention"]);
    assert_eq!(x["store_enforced"], false);

    // The compliance report does not count a software-only lock on S3.
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"
[[vault]]
name = "s3"
url = "{}"
key_file = "{}"
[[source]]
name = "src"
kind = "files"
paths = ["{}"]
[[plan]]
name = "p"
[[plan.rule]]
name = "daily"
vault = "s3"
sources = ["src"]
schedule = "0 3 * * *"
retention = {{ keep_daily = 7 }}
"#,
            env.vault,
            env.key.display(),
            src.display()
        ),
    )
    .unwrap();
    let o = env.run(&[
        "--config",
        config.to_str().unwrap(),
        "report",
        "--format",
        "json",
    ]);
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("report --format json: {e}: {}", stderr(&o)));
    let lock = r["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vault-lock")
        .unwrap();
    assert_eq!(lock["status"], "FAIL", "{lock}");
    assert!(
        lock["failing"][0]
            .as_str()
            .unwrap()
            .contains("enforced by coffer only: the S3 bucket accepts deletes"),
        "{lock}"
    );
}

#[test]
fn local_lock_works_and_is_software_only() {
    let env = Env::new(Kind::Local, "objlock-local");
    env.init();
    let o = env.run(&["vault", "probe"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("a local directory enforces nothing"));
    let v = env.json(&[
        "vault",
        "lock",
        "--min-retention-days",
        "1",
        "--max-retention-days",
        "9",
    ]);
    assert_eq!(v["enforcement"], "coffer-only");
    let out = env.ok(&["vault", "lock-status"]);
    assert!(
        out.contains("enforced by coffer only; the store does not enforce object lock"),
        "{out}"
    );
}

#[test]
fn moto_locked_vault_retains_every_object_and_extends_retention() {
    let (bucket, _) = moto_bucket(true);
    let m = Moto::new(&bucket, "&storage_class=STANDARD_IA");
    let src = m.env.path("src");
    write(&src.join("big.bin"), &noise(3, 2_000_000));
    write(&src.join("v.txt"), b"one\n");
    m.ok(&["init"]);
    let first = m.backup(&src);

    // The store enforces object lock.
    let p = m.json(&["vault", "probe"]);
    assert_eq!(p["enforced"], true, "{p}");
    assert!(p["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "ok"));
    assert!(
        !m.objects().iter().any(|o| o.contains("coffer-probe")),
        "probe object left behind"
    );

    // Lock: recorded as store-enforced, existing objects get retention.
    let t0 = Timestamp::now();
    let v = m.json(&lock_args("7"));
    assert_eq!(v["enforcement"], "store+coffer");
    assert!(v["retention"]["extended"].as_u64().unwrap() >= 5, "{v}");
    let st = m.ok(&["vault", "lock-status"]);
    assert!(
        st.contains("enforced by the store (S3 Object Lock, GOVERNANCE"),
        "{st}"
    );

    // A second backup: new objects are written with retention.
    write(&src.join("v.txt"), b"two\n");
    write(&src.join("new.bin"), &noise(4, 500_000));
    let second = m.backup(&src);
    let objects = m.objects();
    assert!(objects.iter().filter(|o| o.starts_with("packs/")).count() >= 2);
    let data_packs = m.data_packs();
    assert!(!data_packs.is_empty());
    for o in &objects {
        // Sessions and fleet records are no part of what a snapshot needs
        // (a fleet record written before the lock keeps none; later ones
        // get the write retention, and compaction leaves what it cannot
        // delete yet).
        if o.starts_with("sessions/") || o.starts_with("fleet/") {
            continue;
        }
        let h = m.head(o);
        let r = h
            .retention
            .unwrap_or_else(|| panic!("{o} has no object lock retention"));
        assert_eq!(r.mode, LockMode::Governance, "{o}");
        assert!(
            r.until >= t0 + days(7),
            "{o} retained only until {}",
            r.until
        );
        // The cold vault's storage class went with its data packs' writes
        // only; every other object is in the bucket's default class.
        let want = data_packs.contains(o).then_some("STANDARD_IA");
        let class = h.storage_class.as_deref().filter(|c| *c != "STANDARD");
        assert_eq!(class, want, "{o}");
    }

    // A direct delete of a locked object version fails at the store.
    let pack = objects.iter().find(|o| o.starts_with("packs/")).unwrap();
    let h = m.head(pack);
    let version = h.version_id.clone().expect("versioned bucket");
    let e =
        m.s3.block_on(m.s3.client().delete_version(pack, &version, false))
            .unwrap_err();
    assert_eq!(e.status, Some(403), "{e}");
    assert!(m.head(pack).retention.is_some());

    // Forget of a snapshot under retention is refused by coffer.
    let o = m.run(&["forget", &first[..8]]);
    fails_with(&o, 1, &["cannot be forgotten", "locked (governance)"]);

    // Raising the lock's minimum extends the retention of what snapshots need.
    let v = m.json(&lock_args("20"));
    assert!(v["retention"]["extended"].as_u64().unwrap() >= 5, "{v}");
    let r = m.head(pack).retention.unwrap();
    assert!(
        r.until >= t0 + days(20),
        "pack retained only until {}",
        r.until
    );

    // An object whose retention fell short (set here directly) is extended
    // by the next backup that needs it...
    let big = m.biggest_pack();
    let short = coffer_core::ObjectRetention {
        mode: LockMode::Governance,
        until: Timestamp::now() + days(2),
    };
    let shorten = || {
        m.s3.block_on(m.s3.client().put_retention(&big, short))
            .unwrap();
        assert!(m.head(&big).retention.unwrap().until < t0 + days(3));
    };
    shorten();
    let third = m.backup(&src);
    assert!(m.head(&big).retention.unwrap().until >= t0 + days(20));
    // ... and by `vault extend-retention`; a dry run changes nothing.
    shorten();
    let d = m.json(&["vault", "extend-retention", "--dry-run"]);
    assert_eq!(d["snapshots"], 3);
    assert!(d["extended"].is_null());
    assert!(m.head(&big).retention.unwrap().until < t0 + days(3));
    let x = m.json(&["vault", "extend-retention"]);
    assert_eq!(x["extended"], 1, "{x}");
    assert_eq!(x["missing"], serde_json::json!([]));
    assert!(m.head(&big).retention.unwrap().until >= t0 + days(20));

    // Restore still works.
    for (id, text) in [(&first, "one\n"), (&second, "two\n"), (&third, "two\n")] {
        let out = m.env.path(&format!("restore-{}", &id[..8]));
        m.ok(&["restore", id, "--target", out.to_str().unwrap(), "-q"]);
        let root = out.join(src.strip_prefix("/").unwrap());
        assert_eq!(std::fs::read_to_string(root.join("v.txt")).unwrap(), text);
        assert_eq!(
            std::fs::read(root.join("big.bin")).unwrap(),
            noise(3, 2_000_000)
        );
    }
    m.ok(&["check"]);
}

#[test]
fn moto_cold_vault_sends_its_storage_class() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "&storage_class=STANDARD_IA");
    let src = m.env.path("src");
    write(&src.join("a.bin"), &noise(9, 100_000));
    m.ok(&["init"]);
    m.backup(&src);
    let packs: Vec<String> = m
        .objects()
        .into_iter()
        .filter(|o| o.starts_with("packs/"))
        .collect();
    assert!(!packs.is_empty());
    let data_packs = m.data_packs();
    assert!(!data_packs.is_empty());
    for p in &packs {
        let h = m.head(p);
        // Data packs in the vault's class; tree packs in the default.
        let want = data_packs.contains(p).then_some("STANDARD_IA");
        let class = h.storage_class.as_deref().filter(|c| *c != "STANDARD");
        assert_eq!(class, want, "{p}");
        assert!(h.retention.is_none());
    }
    // Without object lock on the bucket, the probe says so.
    let o = m.run(&["vault", "probe", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checks"][0]["status"], "not_enforced");
    assert_eq!(v["checks"][1]["status"], "not_enforced");
}

#[test]
fn probe_bad_endpoint_and_bad_credentials_fail_clearly() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::new(Kind::Local, "probe-bad");
    let url = format!("s3://b/p?endpoint=http://127.0.0.1:{port}");
    let o = env.run(&["vault", "probe", &url]);
    fails_with(
        &o,
        1,
        &[
            &format!("connection refused at 127.0.0.1:{port}"),
            "check the endpoint URL",
        ],
    );
    // Wrong credentials (Garage checks signatures).
    let g = Env::new(Kind::S3, "probe-creds");
    let o = g
        .cmd(&["vault", "probe"])
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .output()
        .unwrap();
    fails_with(
        &o,
        1,
        &["rejected the credentials", "AWS_SECRET_ACCESS_KEY"],
    );
    assert!(!stderr(&o).contains("not-the-secret"));
    // An unknown access key too.
    let o = g
        .cmd(&["vault", "probe"])
        .env("AWS_ACCESS_KEY_ID", "GK00000000000000000000ffff")
        .output()
        .unwrap();
    fails_with(&o, 1, &["rejected the credentials"]);
}

#[test]
fn moto_compliance_lock_writes_compliance_retention() {
    let (bucket, _) = moto_bucket(true);
    let m = Moto::new(&bucket, "");
    let src = m.env.path("src");
    write(&src.join("a.txt"), b"compliance\n");
    m.ok(&["init"]);
    let mut a = lock_args("1");
    a.extend(["--changeable-for-days", "3"]);
    let v = m.json(&a);
    assert_eq!(v["enforcement"], "store+coffer");
    m.backup(&src);
    let pack = m.biggest_pack();
    let h = m.head(&pack);
    assert_eq!(h.retention.unwrap().mode, LockMode::Compliance);
    // Not even the governance bypass deletes a COMPLIANCE version.
    let e =
        m.s3.block_on(
            m.s3.client()
                .delete_version(&pack, &h.version_id.unwrap(), true),
        )
        .unwrap_err();
    assert_eq!(e.status, Some(403), "{e}");
    let st = m.ok(&["vault", "lock-status"]);
    assert!(st.contains("COMPLIANCE retention on every object"), "{st}");
}

/// Issue 14: on S3 ages are judged by the store's clock too. A time ahead
/// of the store's (here forged with the test clock, COFFER_NOW, of a
/// `test-clock` build) cannot forget a snapshot under a compliance lock,
/// and a time off either way cannot remove the lock; a small skew is
/// tolerated, and then the lock itself decides.
#[test]
fn moto_store_clock_overrules_a_forged_clock() {
    require_test_clock();
    let (bucket, _) = moto_bucket(true);
    let m = Moto::new(&bucket, "");
    let src = m.env.path("src");
    write(&src.join("a.txt"), b"clock\n");
    m.ok(&["init"]);
    let mut a = lock_args("1");
    a.extend(["--changeable-for-days", "3"]);
    m.ok(&a);
    m.backup(&src);
    // The store answers with its own time.
    let store = m.s3.block_on(m.s3.client().server_time()).unwrap();
    assert!(
        store.duration_since(Timestamp::now()).abs() < SignedDuration::from_mins(1),
        "moto's Date {store} is not this machine's time"
    );
    let at = |t: Timestamp, args: &[&str]| {
        m.cmd(args)
            .env("COFFER_NOW", t.to_string())
            .output()
            .unwrap()
    };
    let forged: Timestamp = "2099-01-01T00:00:00Z".parse().unwrap();
    for args in [&["forget", "latest"][..], &["vault", "unlock"][..]] {
        let o = at(forged, args);
        let what = if args[0] == "forget" {
            "refusing to forget snapshots"
        } else {
            "refusing to remove the lock"
        };
        fails_with(&o, 1, &[what, "ahead of the store's", "set-ntp"]);
    }
    // A clock behind would reopen a grace period: refused for the lock.
    let o = at(Timestamp::now() - days(1), &["vault", "unlock"]);
    fails_with(
        &o,
        1,
        &["refusing to remove the lock", "behind the store's"],
    );
    // Two minutes ahead is tolerated: the compliance lock refuses.
    let o = at(
        Timestamp::now() + SignedDuration::from_mins(2),
        &["forget", "latest"],
    );
    fails_with(&o, 1, &["cannot be forgotten", "compliance"]);
    assert_eq!(m.json(&["snapshots"]).as_array().unwrap().len(), 1);
    let st = m.ok(&["vault", "lock-status"]);
    assert!(st.contains("compliance"), "{st}");
}
