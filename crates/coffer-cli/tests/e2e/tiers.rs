//! End-to-end tests of storage classes (issue 17): a vault's storage class
//! applies to its data packs only, so a vault in GLACIER or DEEP_ARCHIVE
//! lists, forgets, prunes, checks its structure and lists files without
//! thawing anything, and a restore of a snapshot whose data packs are not
//! thawed fails before it writes anything, saying which vault, class and
//! snapshot, and what to do (with `--no-thaw`; without it, a restore
//! thaws first: see thaw.rs). On moto (scripts/moto.sh), which keeps storage
//! classes and answers a GET of an archived object with
//! `InvalidObjectState`.

use crate::common::*;
use crate::object_lock::{moto_bucket, Moto};

/// Init, two backups, and everything but a restore, on a vault whose
/// storage class is `class`; then a restore that must fail clearly.
fn cold_vault(class: &str) {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, &format!("&storage_class={class}"));
    let src = m.env.path("src");
    write(&src.join("big.bin"), &noise(5, 300_000));
    write(&src.join("dir/small.txt"), b"small\n");
    m.ok(&["init"]);
    let first = m.backup(&src);
    write(&src.join("dir/small.txt"), b"changed\n");
    write(&src.join("new.bin"), &noise(6, 200_000));
    let second = m.backup(&src);

    // Data packs are in the vault's class; config, key slots, index,
    // snapshots and tree packs in the bucket's default (STANDARD).
    let data_packs = m.data_packs();
    assert!(!data_packs.is_empty());
    let objects = m.objects();
    let mut kinds = std::collections::BTreeSet::new();
    for o in &objects {
        if o.starts_with("sessions/") {
            continue;
        }
        kinds.insert(o.split('/').next().unwrap().to_string());
        let h = m.head(o);
        let got = h.storage_class.as_deref().filter(|c| *c != "STANDARD");
        let want = data_packs.contains(o).then_some(class);
        assert_eq!(got, want, "{o}");
    }
    for k in ["config", "keys", "index", "snapshots", "packs"] {
        assert!(kinds.contains(k), "no {k} object in {objects:?}");
    }
    let tree_packs = objects
        .iter()
        .filter(|o| o.starts_with("packs/") && !data_packs.contains(*o))
        .count();
    assert!(tree_packs >= 1, "no tree pack in {objects:?}");

    // Without thawing anything: listing, ls, check (structure), forget, prune.
    let v = m.json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    let ls = m.ok(&["ls", "latest"]);
    assert!(ls.contains("big.bin") && ls.contains("small.txt"), "{ls}");
    m.ok(&["check"]);
    m.ok(&["forget", &first[..8]]);
    let o = m.run(&["prune"]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "prune failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    let v = m.json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");

    // A restore of the cold snapshot with --no-thaw: a clear error,
    // nothing written, nothing thawed.
    let target = m.env.path("restored");
    let o = m.run(&[
        "restore",
        "latest",
        "--no-thaw",
        "--target",
        target.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(!o.status.success(), "restore succeeded: {err}");
    let vault = format!("s3://{bucket}/{}", m.prefix);
    for needle in [
        format!(
            "snapshot {} of vault {vault} cannot be restored yet",
            &second[..8]
        ),
        format!("in storage class {class} and must be restored (thawed)"),
        "aws s3api restore-object".to_string(),
        format!("--bucket {bucket} --key {}/packs/", m.prefix),
        "nothing was restored".to_string(),
        format!("`coffer thaw {} --wait` thaws them", &second[..8]),
        "without --no-thaw".to_string(),
        "run the restore again".to_string(),
    ] {
        assert!(err.contains(&needle), "stderr lacks `{needle}`: {err}");
    }
    assert!(!err.contains("InvalidObjectState"), "{err}");
    let written = std::fs::read_dir(&target).map_or(0, |d| d.count());
    assert_eq!(written, 0, "the restore wrote into {}", target.display());
    for p in &data_packs {
        assert_eq!(m.head(p).restore, None, "--no-thaw thawed {p}");
    }

    // A read of a data pack that was not thawed (moto answers
    // InvalidObjectState) is translated, naming the pack, vault and class.
    let o = m.run(&["check", "--read-data"]);
    let err = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!o.status.success(), "check --read-data passed: {err}");
    let needle = format!("of vault {vault} is in storage class {class} and must be restored (thawed) before it can be read");
    assert!(err.contains(&needle), "check lacks `{needle}`: {err}");
    assert!(!err.contains("InvalidObjectState"), "{err}");

    // Thawed with S3 RestoreObject (as the message says), the snapshot
    // restores.
    let keys: Vec<String> = data_packs
        .iter()
        .map(|p| format!("{}/{p}", m.prefix))
        .collect();
    thaw(&bucket, &keys);
    m.ok(&[
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
        "-q",
    ]);
    let root = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read(root.join("big.bin")).unwrap(),
        noise(5, 300_000)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("dir/small.txt")).unwrap(),
        "changed\n"
    );
}

/// S3 RestoreObject of `keys` on moto, with boto3 (moto's own dependency,
/// in the Python that runs moto).
fn thaw(bucket: &str, keys: &[String]) {
    let script = "import sys, boto3\n\
        s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test', \
        aws_secret_access_key='test', region_name='us-east-1')\n\
        for k in sys.argv[3:]:\n    \
        s3.restore_object(Bucket=sys.argv[2], Key=k, RestoreRequest={'Days': 1})\n";
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(crate::object_lock::moto_endpoint())
        .arg(bucket)
        .args(keys)
        .output()
        .expect("python3 (which runs moto) is on PATH");
    assert!(
        o.status.success(),
        "RestoreObject with boto3 failed: {}",
        stderr(&o)
    );
}

#[test]
fn moto_glacier_vault_works_without_thawing_and_restore_says_what_to_do() {
    cold_vault("GLACIER");
}

#[test]
fn moto_deep_archive_vault_works_without_thawing_and_restore_says_what_to_do() {
    cold_vault("DEEP_ARCHIVE");
}

/// Issue 17, bad input: a storage class the store rejects fails the
/// backup at its first data pack with an error naming the class, the vault
/// and the setting to fix (exit 2, a configuration error); no snapshot is
/// written and the vault stays usable once the class is fixed.
#[test]
fn issue17_a_storage_class_the_store_rejects_is_named_with_the_fix() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "&storage_class=BOGUS");
    let src = m.env.path("src");
    write(&src.join("a.bin"), &noise(7, 100_000));
    m.ok(&["init"]);
    let o = m.run(&["backup", src.to_str().unwrap()]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("refuses storage class BOGUS")
            && e.contains("?storage_class=")
            && e.contains("no snapshot"),
        "{e}"
    );
    assert!(
        e.contains(&format!("s3://{bucket}")),
        "the vault is named: {e}"
    );
    let v = m.json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
    // The same vault with a class the store has backs up.
    let mut m = m;
    m.env.vault = m
        .env
        .vault
        .replace("storage_class=BOGUS", "storage_class=STANDARD_IA");
    m.backup(&src);
    let v = m.json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
}
