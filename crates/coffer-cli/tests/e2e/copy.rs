//! `coffer copy` with the real binary: local → local and local → S3 with
//! different keys, restores from the destination alone, `check --read-data`
//! on the destination, and a copy killed with SIGKILL then resumed.

use crate::common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Runs `coffer copy ARGS --to DST` from `src`'s environment, with the
/// destination's own key file.
fn copy(src: &Env, dst: &Env, args: &[&str]) -> std::process::Output {
    let mut a = vec!["copy"];
    a.extend_from_slice(args);
    a.extend_from_slice(&[
        "--to",
        &dst.vault,
        "--to-key-file",
        dst.key.to_str().unwrap(),
    ]);
    src.run(&a)
}

fn copy_json(src: &Env, dst: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = copy(src, dst, &a);
    assert!(
        o.status.success(),
        "copy failed ({:?}): {}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn copy_and_restore(src: &Env, dst: &Env) {
    let tree = src.path("tree");
    rich_tree(&tree);
    src.init();
    dst.init();
    let sid = src.backup(&[&tree]);
    let r = copy_json(src, dst, &["latest", "--add-tag", "offsite"]);
    assert_eq!(r["state"], "COMPLETED", "{r}");
    let s = &r["snapshots"][0];
    assert_eq!(s["status"], "copied", "{r}");
    assert_eq!(s["source"], sid.as_str());
    assert!(r["totals"]["blobs_sent"].as_u64().unwrap() > 3, "{r}");
    let did = s["destination"].as_str().unwrap().to_string();
    // The destination alone: its own vault and key.
    let snaps = dst.json(&["snapshots"]);
    let snap = &snaps.as_array().unwrap()[0];
    assert_eq!(snap["id"], did.as_str());
    assert_eq!(snap["origin"]["snapshot"], sid.as_str());
    assert!(snap["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "offsite"));
    let out = dst.path("out");
    dst.restore(&did, &out);
    assert_same_tree(&tree, &out.join(tree.strip_prefix("/").unwrap()));
    dst.ok(&["check", "--read-data"]);
    // Copying again writes nothing and says so.
    let again = copy_json(src, dst, &["--all"]);
    assert_eq!(again["snapshots"][0]["status"], "skipped", "{again}");
    assert_eq!(again["snapshots"][0]["destination"], did.as_str());
    assert_eq!(again["totals"]["blobs_sent"], 0);
    assert_eq!(dst.json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn copy_local_to_local_with_another_key() {
    let src = Env::new(Kind::Local, "copy-src");
    let dst = Env::new(Kind::Local, "copy-dst");
    copy_and_restore(&src, &dst);
    // Human output names what happened.
    let o = copy(&src, &dst, &["latest"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("skipped") && text.contains("0 copied, 1 skipped"),
        "{text}"
    );
}

#[test]
fn copy_local_to_s3_with_another_key() {
    let src = Env::new(Kind::Local, "copy-src");
    let dst = Env::new(Kind::S3, "copy-dst");
    copy_and_restore(&src, &dst);
}

#[test]
fn copy_needs_an_existing_destination_and_its_key() {
    let src = Env::new(Kind::Local, "copy-src");
    let dst = Env::new(Kind::Local, "copy-dst");
    let data = src.path("d");
    write(&data.join("f"), b"data");
    src.init();
    src.backup(&[&data]);
    // No destination vault: nothing is created, and the error says how.
    let o = copy(&src, &dst, &["latest"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("coffer init --vault {}", dst.vault)),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new(&dst.vault).join("config").exists());
    // No --to at all: a usage error.
    let o = src.run(&["copy", "latest"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--to"), "{}", stderr(&o));
    // The source's key does not open the destination.
    dst.init();
    let o = src.run(&[
        "copy",
        "latest",
        "--to",
        &dst.vault,
        "--to-key-file",
        src.key.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--to-key-file"), "{}", stderr(&o));
    // Nothing to copy without snapshots or --all.
    let o = src.run(&["copy", "--to", &dst.vault]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn copy_killed_mid_way_resumes_sending_only_what_is_missing() {
    let src = Env::new(Kind::Local, "copy-kill-src");
    let dst = Env::new(Kind::Local, "copy-kill-dst");
    let data = src.path("data");
    // 96 MiB of incompressible data: the copy writes an index object after
    // 64 MiB, well before it ends.
    for i in 0..96u64 {
        write(&data.join(format!("f{i:02}")), &noise(i, 1 << 20));
    }
    src.init();
    dst.init();
    let sid = src.backup(&[&data]);
    let total = src.json(&["snapshots"])[0]["summary"]["blobs_added"]
        .as_u64()
        .unwrap();
    let index_dir = Path::new(&dst.vault).join("index");
    let mut child = src
        .cmd(&[
            "copy",
            &sid,
            "--to",
            &dst.vault,
            "--to-key-file",
            dst.key.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as the first index object is durable.
    loop {
        let has_index = std::fs::read_dir(&index_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_index {
            child.kill().unwrap();
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the copy ended ({st}) before it wrote an index object");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.wait().unwrap();
    assert!(
        dst.json(&["snapshots"]).as_array().unwrap().is_empty(),
        "the killed copy must not have written its snapshot"
    );
    dst.ok(&["check"]);
    let r = copy_json(&src, &dst, &[&sid]);
    let c = &r["snapshots"][0]["counters"];
    assert_eq!(r["snapshots"][0]["status"], "copied", "{r}");
    let sent = c["blobs_sent"].as_u64().unwrap();
    let skipped = c["blobs_skipped"].as_u64().unwrap();
    assert!(
        sent < total,
        "resumed copy sent {sent} of {total} blobs: {r}"
    );
    assert!(skipped >= 32, "resumed copy skipped only {skipped}: {r}");
    dst.ok(&["check", "--read-data"]);
    let out = dst.path("out");
    dst.restore("latest", &out);
    assert_same_tree(&data, &out.join(data.strip_prefix("/").unwrap()));
}
