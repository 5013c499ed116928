//! Issue 17, thawing on moto (scripts/moto.sh): `coffer thaw SNAPSHOT`
//! requests S3 RestoreObject for exactly the data packs a snapshot of a
//! GLACIER or DEEP_ARCHIVE vault needs, and a second run requests nothing
//! (moto completes a restore at once, so the second run finds them all
//! thawed); `coffer restore` thaws and then restores, `--no-thaw` keeps
//! the refusal; bad tiers and days are refused naming what to give; and a
//! restore test of a cold snapshot (the daemon's job) is PENDING while its
//! packs thaw, with an event saying how many, then completes.

use crate::common::*;
use crate::object_lock::{moto_bucket, moto_endpoint, moto_loc, Moto};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Output;

/// A command of `m` with moto's credentials (as `Moto` gives its own).
fn cmd(m: &Moto, args: &[&str]) -> std::process::Command {
    let mut c = m.env.cmd(args);
    c.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("COFFER_S3_ENDPOINT");
    c
}

/// The data packs snapshot `id` needs, read with the vault's key.
fn needed(m: &Moto, id: &str) -> BTreeSet<String> {
    let backend = coffer_storage::OpendalBackend::s3(&moto_loc(&m.bucket, &m.prefix)).unwrap();
    let secret = coffer_core::Secret::from_key_file(&m.env.key).unwrap();
    let vault = coffer_core::Vault::open(std::sync::Arc::new(backend), &secret).unwrap();
    let index = vault.load_index().unwrap();
    let (_, snap) = vault
        .find_snapshot(id, &coffer_core::SnapshotFilter::default())
        .unwrap();
    coffer_core::snapshot_data_packs(&vault, &index, &snap)
        .unwrap()
        .into_iter()
        .collect()
}

fn fails(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`: {err}");
    }
    err
}

/// A vault in `class` with two snapshots of disjoint data.
fn two_snapshots(class: &str) -> (Moto, std::path::PathBuf, String, String) {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, &format!("&storage_class={class}"));
    let (a, b) = (m.env.path("a"), m.env.path("b"));
    write(&a.join("one.bin"), &noise(11, 400_000));
    write(&b.join("two.bin"), &noise(12, 300_000));
    m.ok(&["init"]);
    let first = m.backup(&a);
    let second = m.backup(&b);
    (m, a, first, second)
}

#[test]
fn issue17_thaw_requests_exactly_the_packs_once_and_restore_thaws_then_restores() {
    let (m, a, first, second) = two_snapshots("GLACIER");
    let (one, two) = (needed(&m, &first), needed(&m, &second));
    assert!(!one.is_empty() && !two.is_empty());
    assert!(one.is_disjoint(&two), "{one:?} {two:?}");

    // Thaw the first snapshot: exactly its packs are requested.
    let v = m.json(&["thaw", &first[..8], "--tier", "bulk", "--days", "2"]);
    assert_eq!(v["packs"], one.len(), "{v}");
    assert_eq!(v["requested"], one.len(), "{v}");
    assert_eq!(v["already_thawing"], 0, "{v}");
    assert_eq!(v["class"], "GLACIER", "{v}");
    assert_eq!(v["tier"], "Bulk", "{v}");
    assert_eq!(v["complete"], true, "moto thaws at once: {v}");
    for p in &one {
        let r = m.head(p).restore.unwrap_or_default();
        assert!(r.contains("ongoing-request=\"false\""), "{p}: {r}");
    }
    for p in &two {
        assert_eq!(m.head(p).restore, None, "{p} was thawed too");
    }
    // Again: nothing requested twice; all ready.
    let v = m.json(&["thaw", &first[..8]]);
    assert_eq!(v["requested"], 0, "{v}");
    assert_eq!(v["ready"], one.len(), "{v}");
    let human = m.ok(&["thaw", &first[..8]]);
    assert!(
        human.contains("0 requested now") && human.contains("all thawed"),
        "{human}"
    );

    // The second snapshot: --no-thaw refuses, naming `coffer thaw`.
    let target = m.env.path("restored");
    let t = target.to_str().unwrap();
    let o = m.run(&["restore", &second[..8], "--no-thaw", "--target", t]);
    fails(
        &o,
        &[
            format!(
                "snapshot {} of vault s3://{}/{}",
                &second[..8],
                m.bucket,
                m.prefix
            )
            .as_str(),
            "in storage class GLACIER",
            format!("`coffer thaw {} --wait`", &second[..8]).as_str(),
        ],
    );
    // A plain restore thaws (its packs only) and restores.
    let o = cmd(&m, &["restore", &second[..8], "--target", t, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let root = target.join(m.env.path("b").strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read(root.join("two.bin")).unwrap(),
        noise(12, 300_000)
    );
    let v = m.json(&["thaw", &second[..8]]);
    assert_eq!(
        (v["requested"].clone(), v["ready"].clone()),
        (0.into(), two.len().into()),
        "{v}"
    );
    // And the first restores at once (already thawed).
    let t1 = m.env.path("restored1");
    m.ok(&[
        "restore",
        &first[..8],
        "--target",
        t1.to_str().unwrap(),
        "-q",
    ]);
    let root = t1.join(a.strip_prefix("/").unwrap());
    assert_eq!(
        std::fs::read(root.join("one.bin")).unwrap(),
        noise(11, 400_000)
    );
}

#[test]
fn issue17_bad_thaw_input_is_refused_naming_what_to_give_and_nothing_is_requested() {
    let (m, _, first, _) = two_snapshots("DEEP_ARCHIVE");
    let o = m.run(&["thaw", &first[..8], "--tier", "fast"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    fails(
        &o,
        &["unknown thaw tier `fast`", "Expedited", "Standard", "Bulk"],
    );
    let o = m.run(&["thaw", &first[..8], "--days", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = m.run(&[
        "restore",
        &first[..8],
        "--no-thaw",
        "--tier",
        "bulk",
        "--target",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    fails(&o, &["--no-thaw thaws nothing"]);
    // DEEP_ARCHIVE has no Expedited tier: refused before any request.
    let o = m.run(&["thaw", &first[..8], "--tier", "expedited"]);
    fails(
        &o,
        &[
            format!(
                "thawing snapshot {} of vault s3://{}/{}",
                &first[..8],
                m.bucket,
                m.prefix
            )
            .as_str(),
            "storage class DEEP_ARCHIVE",
            "does not offer the Expedited tier",
            "--tier Standard",
        ],
    );
    for p in needed(&m, &first) {
        assert_eq!(m.head(&p).restore, None, "{p} was thawed");
    }
}

#[test]
fn issue17_a_hot_vault_has_nothing_to_thaw() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "");
    let src = m.env.path("src");
    write(&src.join("f"), b"hot\n");
    m.ok(&["init"]);
    let id = m.backup(&src);
    let v = m.json(&["thaw", &id[..8]]);
    assert_eq!(v["class"], Value::Null, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    let out = m.ok(&["thaw", &id[..8]]);
    assert!(out.contains("nothing to thaw"), "{out}");
}

#[test]
fn issue17_a_restore_test_of_a_cold_snapshot_is_pending_while_it_thaws() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "");
    let data = m.env.path("data");
    write(&data.join("a.bin"), &noise(21, 250_000));
    write(&data.join("b.txt"), b"bee\n");
    m.ok(&["init"]);
    std::fs::create_dir_all(m.env.path("scratch")).unwrap();
    let config = m.env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[[vault]]
name = "cold"
url = "s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1"
key_file = "vault.key"
storage_class = "GLACIER"
thaw_tier = "Bulk"
thaw_days = 1

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
tags = ["rt"]

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "cold"
source_tags = ["rt"]
schedule = "@daily"

[[restore_test]]
name = "cold-check"
schedule = "@daily"
vault = "cold"
sources = ["docs"]
scratch_dir = "scratch"
"#,
            prefix = m.prefix,
            endpoint = moto_endpoint()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut c = cmd(&m, args);
        c.env("COFFER_CONFIG", &config)
            .env_remove("COFFER_STATE_DIR")
            .current_dir(m.env.dir.path());
        c.output().unwrap()
    };
    let o = run(&["plan", "run", "p/r"]);
    assert!(o.status.success(), "plan run: {}", stderr(&o));
    let snaps = m.json(&["snapshots"]);
    let id = snaps[0]["id"].as_str().unwrap().to_string();
    let packs = needed(&m, &id);
    assert!(!packs.is_empty());
    for p in &packs {
        assert_eq!(m.head(p).storage_class.as_deref(), Some("GLACIER"), "{p}");
    }

    let o = run(&["--json", "restore-test", "run", "cold-check"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stderr(&o)));
    assert_eq!(v["state"], "COMPLETED", "{v:#}\n{}", stderr(&o));
    assert_eq!(v["validation"], "SUCCESSFUL", "{v:#}");
    let job = v["job"].as_i64().unwrap().to_string();
    let o = run(&["--json", "jobs", "show", &job]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    let events = j["events"].as_array().unwrap();
    let states: Vec<&str> = events.iter().filter_map(|e| e["state"].as_str()).collect();
    let pending = states.iter().position(|s| *s == "PENDING");
    let running = states.iter().position(|s| *s == "RUNNING");
    assert!(
        matches!((pending, running), (Some(p), Some(r)) if p < r),
        "not PENDING then RUNNING: {states:?} in {j:#}"
    );
    let pend = events.iter().find(|e| e["state"] == "PENDING").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    let short = &id[..8];
    for needle in [
        format!("thawing {n} of {n} data pack", n = packs.len()),
        format!("of snapshot {short} (GLACIER, tier Bulk, 1 days)"),
        format!("{} requested by this job", packs.len()),
    ] {
        assert!(
            pend.contains(&needle),
            "PENDING event lacks `{needle}`: {pend}"
        );
    }
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("are thawed")),
        "no event says the packs are thawed: {j:#}"
    );
    for p in &packs {
        let r = m.head(p).restore.unwrap_or_default();
        assert!(r.contains("ongoing-request=\"false\""), "{p}: {r}");
    }
}

/// `POST path` with a bearer token and a JSON body: status and body.
fn post(port: u16, path: &str, token: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
    (status, body)
}

#[test]
fn issue17_an_api_restore_of_a_cold_snapshot_is_pending_while_it_thaws() {
    let (bucket, _) = moto_bucket(false);
    let m = Moto::new(&bucket, "");
    let data = m.env.path("data");
    write(&data.join("a.bin"), &noise(31, 200_000));
    m.ok(&["init"]);
    let port = free_port();
    let config = m.env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[server]
listen = "127.0.0.1:{port}"
storage_refresh = "1h"

[[vault]]
name = "cold"
url = "s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1"
key_file = "vault.key"
storage_class = "DEEP_ARCHIVE"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "cold"
sources = ["docs"]
schedule = "0 3 * * *"
"#,
            prefix = m.prefix,
            endpoint = moto_endpoint()
        ),
    )
    .unwrap();
    let with_config = |args: &[&str]| {
        let mut c = cmd(&m, args);
        c.env("COFFER_CONFIG", &config)
            .env_remove("COFFER_STATE_DIR");
        c
    };
    let o = with_config(&["plan", "run", "p/r"]).output().unwrap();
    assert!(o.status.success(), "plan run: {}", stderr(&o));
    let o = with_config(&["token", "create", "--role", "operator", "--name", "op"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let token = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let mut serve = serve_cmd(&m.env, &config);
    serve
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL");
    let daemon = serve.spawn().unwrap();
    wait_until("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let (c, b) = post(
        port,
        &format!(
            "{}/vaults/cold/snapshots/latest/restore",
            coffer_server::api::PREFIX
        ),
        &token,
        "{}",
    );
    assert_eq!(c, 202, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let job = v["job_id"].as_i64().unwrap().to_string();
    let target = std::path::PathBuf::from(v["target"].as_str().unwrap());
    let mut shown = Value::Null;
    wait_until("the restore job", 60, || {
        let o = with_config(&["--json", "jobs", "show", &job])
            .output()
            .unwrap();
        shown = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        shown["state"] == "COMPLETED" || shown["state"] == "FAILED"
    });
    let (_, log) = stop_serve(daemon);
    assert_eq!(shown["state"], "COMPLETED", "{shown:#}\n{log}");
    let events = shown["events"].as_array().unwrap();
    let states: Vec<&str> = events.iter().filter_map(|e| e["state"].as_str()).collect();
    let at = |s: &str| states.iter().position(|x| *x == s);
    assert!(
        matches!((at("PENDING"), at("RUNNING")), (Some(p), Some(r)) if p < r),
        "not PENDING then RUNNING: {states:?} in {shown:#}"
    );
    let pend = events.iter().find(|e| e["state"] == "PENDING").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pend.contains("(DEEP_ARCHIVE, tier Standard, 7 days)")
            && pend.contains("requested by this job"),
        "{pend}"
    );
    let restored = target.join(data.strip_prefix("/").unwrap()).join("a.bin");
    assert_eq!(std::fs::read(&restored).unwrap(), noise(31, 200_000));
}
