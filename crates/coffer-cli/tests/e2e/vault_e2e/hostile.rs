//! Issue 14, restore confinement: a corpus of hostile snapshots written
//! straight through coffer-core (names with `..`, `/`, absolute paths, NUL,
//! empty names, duplicates, a symlink with children, a symlink to `/etc`
//! with a file below it, a hard link pair whose first path escapes), each
//! restored by `coffer restore`, by the HTTP API's restore and by a files
//! restore test. Each must fail naming the snapshot and the path in it, and
//! nothing may appear outside the target: every file a hostile snapshot
//! holds is called `…HOSTILE…`, and no such name may exist anywhere in the
//! test's directory outside the target (nor in `/etc`).
//!
//! A symlink `x` in one snapshot and a directory `x/` in a second, restored
//! into the same target, are both valid trees: only a restore that never
//! follows a symlink inside its target (directory file descriptors) keeps
//! the second from writing through the first
//! ([`symlink_then_directory_across_snapshots_stays_inside_the_target`]).

use crate::common::*;
use coffer_core::{Archiver, BackupOptions, Id, Node, NodeKind, Secret, Snapshot, Tree, Vault};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The marker in the name of every file a hostile snapshot holds.
const MARK: &str = "HOSTILE";

fn open(env: &Env) -> Vault {
    let backend = coffer_storage::open_location(&env.vault).unwrap();
    Vault::open(backend, &Secret::from_key_file(&env.key).unwrap()).unwrap()
}

fn owned(mut n: Node, mode: u32) -> Node {
    n.mode = mode;
    n.uid = unsafe { libc::geteuid() };
    n.gid = unsafe { libc::getegid() };
    n
}

fn file(a: &Archiver, name: &[u8], data: &[u8]) -> Node {
    let mut n = owned(Node::new(name.to_vec(), NodeKind::File), 0o644);
    n.size = data.len() as u64;
    n.content = a.save_bytes(data, Path::new("hostile")).unwrap();
    n
}

/// A directory of `nodes`, saved in the order given (unsorted on purpose).
fn dir(a: &Archiver, name: &[u8], nodes: Vec<Node>) -> Node {
    let mut n = owned(Node::new(name.to_vec(), NodeKind::Dir), 0o755);
    n.subtree = Some(a.save_tree(&Tree { version: 1, nodes }).unwrap());
    n
}

fn symlink(name: &[u8], target: &[u8]) -> Node {
    let mut n = owned(Node::new(name.to_vec(), NodeKind::Symlink), 0o777);
    n.target = Some(target.to_vec());
    n
}

/// Writes one snapshot of source `docs` (tag `source:docs`, kind `files`)
/// whose root holds `nodes`, `n` seconds after now (so that the newest is
/// the one a restore test picks); returns its id.
fn snapshot(v: &Vault, n: i64, nodes: impl FnOnce(&Archiver) -> Vec<Node>) -> Id {
    let index = v.load_index().unwrap();
    let a = Archiver::new(v, &index, BackupOptions::default());
    let root_nodes = nodes(&a);
    let root = a.save_tree(&Tree {
        version: 1,
        nodes: root_nodes,
    });
    let root = root.unwrap();
    a.finish().unwrap();
    let time = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(n);
    let snap: Snapshot = serde_json::from_value(json!({
        "version": 1, "time": time.to_string(), "tree": root,
        "paths": ["/data"], "hostname": "hostile", "username": "u",
        "tags": ["source:docs"],
        "source": {"kind": "files"}, "program_version": "hostile corpus",
    }))
    .unwrap();
    v.save_snapshot(&snap).unwrap()
}

/// One hostile snapshot: a name, its root nodes, and what the error must
/// name (the path in the snapshot, as `coffer` escapes it).
struct Case {
    name: &'static str,
    nodes: fn(&Archiver, &Ctx) -> Vec<Node>,
    path: fn(&Ctx) -> String,
}

/// What the cases need to aim outside the target.
struct Ctx {
    /// A directory outside every target, with a sentinel file.
    outside: PathBuf,
    /// A unique name in `/etc` that must never appear.
    etc_name: String,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "dotdot-dir",
            nodes: |a, _| vec![dir(a, b"..", vec![file(a, b"escaped-HOSTILE.txt", b"x")])],
            path: |_| "path /..:".into(),
        },
        Case {
            name: "dotdot-in-name",
            nodes: |a, _| vec![file(a, b"../../escaped-HOSTILE.txt", b"x")],
            path: |_| "path /../../escaped-HOSTILE.txt:".into(),
        },
        Case {
            name: "dot",
            nodes: |a, _| vec![dir(a, b".", vec![file(a, b"dot-HOSTILE", b"x")])],
            path: |_| "path /.:".into(),
        },
        Case {
            name: "slash",
            nodes: |a, _| vec![dir(a, b"sub", vec![file(a, b"a/b-HOSTILE", b"x")])],
            path: |_| "path /sub/a/b-HOSTILE:".into(),
        },
        Case {
            name: "absolute",
            nodes: |a, c| {
                let p = c.outside.join("abs-HOSTILE.txt");
                vec![file(a, p.as_os_str().as_bytes(), b"x")]
            },
            path: |c| format!("path /{}:", c.outside.join("abs-HOSTILE.txt").display()),
        },
        Case {
            name: "nul",
            nodes: |a, _| vec![file(a, b"nul\0-HOSTILE", b"x")],
            path: |_| "path /nul\\0-HOSTILE:".into(),
        },
        Case {
            name: "empty",
            nodes: |a, _| vec![dir(a, b"d", vec![file(a, b"", b"HOSTILE")])],
            path: |_| "path /d/:".into(),
        },
        Case {
            // Symlink `x` to the outside, then directory `x` holding a file.
            name: "duplicate",
            nodes: |a, c| {
                vec![
                    symlink(b"x", c.outside.as_os_str().as_bytes()),
                    dir(a, b"x", vec![file(a, b"dup-HOSTILE", b"x")]),
                ]
            },
            path: |_| "path /x:".into(),
        },
        Case {
            // What backing up `/app/current/data.txt` through a symlink
            // `current` recorded before issue 14.
            name: "symlink-with-subtree",
            nodes: |a, c| {
                let mut l = symlink(b"current", c.outside.as_os_str().as_bytes());
                l.subtree = dir(a, b"current", vec![file(a, b"data-HOSTILE.txt", b"x")]).subtree;
                vec![l]
            },
            path: |_| "path /current:".into(),
        },
        Case {
            name: "symlink-to-etc-then-file-below",
            nodes: |a, c| {
                vec![
                    symlink(b"etc", b"/etc"),
                    file(a, format!("etc/{}", c.etc_name).as_bytes(), b"x"),
                ]
            },
            path: |c| format!("path /etc/{}:", c.etc_name),
        },
        Case {
            // A hard link pair: the first path escapes, the second is fine.
            name: "hardlink-first-path-bad",
            nodes: |a, _| {
                let mut bad = file(a, b"../hl-HOSTILE.txt", b"linked");
                bad.inode = 4242;
                bad.dev = 7;
                bad.links = 2;
                let mut good = bad.clone();
                good.name = b"ok-HOSTILE.txt".to_vec();
                vec![bad, good]
            },
            path: |_| "path /../hl-HOSTILE.txt:".into(),
        },
    ]
}

/// Sets up the outside directory with a sentinel file.
fn ctx(env: &Env) -> Ctx {
    let outside = env.path("outside");
    write(&outside.join("sentinel"), b"untouched");
    Ctx {
        outside,
        etc_name: format!(
            "coffer-{MARK}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ),
    }
}

/// Fails if a hostile file exists outside `target`: anywhere in the
/// test's directory (but the vault and the target) or in `/etc`; the
/// sentinel is unchanged.
fn assert_confined(env: &Env, c: &Ctx, target: &Path, what: &str) {
    let etc = Path::new("/etc").join(&c.etc_name);
    if etc.symlink_metadata().is_ok() {
        let _ = std::fs::remove_file(&etc);
        panic!("{what}: wrote {} through a symlink", etc.display());
    }
    let vault = env.path("vault");
    let mut stack = vec![env.dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == vault || p.starts_with(target) {
                continue;
            }
            assert!(
                !p.file_name().unwrap().to_string_lossy().contains(MARK),
                "{what}: {} appeared outside the target {}",
                p.display(),
                target.display()
            );
            if p.symlink_metadata().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    assert_eq!(
        std::fs::read(c.outside.join("sentinel")).unwrap(),
        b"untouched",
        "{what}"
    );
    assert_eq!(
        std::fs::read_dir(&c.outside).unwrap().count(),
        1,
        "{what}: something was written into {}",
        c.outside.display()
    );
}

/// The error must name the snapshot and the path in it.
fn assert_names(msg: &str, id: &Id, path: &str, what: &str) {
    assert!(
        msg.contains(&id.short()),
        "{what}: no snapshot id in: {msg}"
    );
    assert!(msg.contains(path), "{what}: no `{path}` in: {msg}");
}

#[test]
fn issue14_hostile_snapshots_restored_by_the_cli_are_refused() {
    let env = Env::new(Kind::Local, "hostile-cli");
    env.init();
    let v = open(&env);
    let c = ctx(&env);
    for (i, case) in cases().iter().enumerate() {
        let id = snapshot(&v, i as i64, |a| (case.nodes)(a, &c));
        let target = env.path(&format!("cli/{}/a/b", case.name));
        let o = env.run(&[
            "restore",
            &id.to_hex(),
            "--target",
            target.to_str().unwrap(),
        ]);
        let what = format!("coffer restore of case {}", case.name);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert_names(&stderr(&o), &id, &(case.path)(&c), &what);
        assert!(stderr(&o).contains("damaged"), "{what}: {}", stderr(&o));
        assert_confined(&env, &c, &target, &what);
        // Nothing was written into the target either: the trees are read
        // (and refused) before anything is made.
        let made = std::fs::read_dir(&target).map(|d| d.count()).unwrap_or(0);
        assert_eq!(made, 0, "{what}: the target is not empty");
    }
    // `coffer check` names each damaged tree with its snapshot and path.
    let o = env.run(&["check", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = report.to_string();
    for case in cases() {
        let p = (case.path)(&c);
        let at = format!("at {}", p.trim_start_matches("path ").trim_end_matches(':'));
        let at = at.replace('\\', "\\\\");
        assert!(text.contains(&at), "check: no `{at}` in {report:#}");
    }
}

#[test]
fn issue14_stream_names_must_be_one_plain_name() {
    let env = Env::new(Kind::Local, "hostile-stream");
    env.init();
    let before = env.vault_files();
    for name in [
        "../../escaped.txt",
        "/tmp/abs-HOSTILE.txt",
        "a/b",
        "..",
        ".",
        "",
    ] {
        let o = env
            .cmd(&["backup", "--stdin", "--stdin-name", name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                ch.stdin.take().unwrap().write_all(b"x\n")?;
                ch.wait_with_output()
            })
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "--stdin-name {name:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("--stdin-name"), "{}", stderr(&o));
    }
    assert_eq!(
        env.vault_files(),
        before,
        "a refused name wrote to the vault"
    );
    // An old snapshot with such a name is refused at restore (as damage).
    let v = open(&env);
    let id = snapshot(&v, 0, |a| {
        vec![file(a, b"../../escaped-HOSTILE.txt", b"x\n")]
    });
    let target = env.path("t/a/b");
    let o = env.run(&[
        "restore",
        &id.to_hex(),
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_names(
        &stderr(&o),
        &id,
        "path /../../escaped-HOSTILE.txt:",
        "stream",
    );
    let o = env.run(&[
        "restore",
        &id.to_hex(),
        "--to-file",
        env.path("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_names(
        &stderr(&o),
        &id,
        "path /../../escaped-HOSTILE.txt:",
        "stream --to-file",
    );
    assert!(!env.path("t/escaped-HOSTILE.txt").exists());
    assert!(!env.path("out").exists());
    // A copy of its trees is refused too, and writes no snapshot.
    let dst = Env::new(Kind::Local, "hostile-copy");
    dst.init();
    let o = env.run(&[
        "copy",
        &id.to_hex(),
        "--to",
        &dst.vault,
        "--to-key-file",
        dst.key.to_str().unwrap(),
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("escaped-HOSTILE.txt") && stderr(&o).contains(&id.short()),
        "{}",
        stderr(&o)
    );
    assert!(open(&dst)
        .snapshots(&Default::default())
        .unwrap()
        .is_empty());
}

#[test]
fn symlink_then_directory_across_snapshots_stays_inside_the_target() {
    let env = Env::new(Kind::Local, "hostile-two");
    env.init();
    let v = open(&env);
    let c = ctx(&env);
    let outside = c.outside.clone();
    let a = snapshot(&v, 0, |_| {
        vec![symlink(b"x", outside.as_os_str().as_bytes())]
    });
    let b = snapshot(&v, 1, |a| {
        vec![dir(a, b"x", vec![file(a, b"pwned-HOSTILE", b"x")])]
    });
    let target = env.path("t/a/b");
    env.restore(&a.to_hex(), &target);
    assert!(target.join("x").symlink_metadata().unwrap().is_symlink());
    let o = env.run(&["restore", &b.to_hex(), "--target", target.to_str().unwrap()]);
    assert_confined(&env, &c, &target, "the second restore");
    if o.status.success() {
        // Replaced: the symlink was removed, never written through.
        let m = target.join("x").symlink_metadata().unwrap();
        assert!(m.is_dir(), "x is not a directory after the restore");
        assert!(target.join("x/pwned-HOSTILE").is_file());
    } else {
        assert!(stderr(&o).contains('x'), "{}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------
// The HTTP API and a restore test.

fn call(port: u16, method: &str, path: &str, token: &str, body: &Value) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.to_string();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
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
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// A config with vault `main`, source `docs` and restore test `hostile`.
fn config(env: &Env, port: u16) -> PathBuf {
    let p = env.path("coffer.toml");
    std::fs::create_dir_all(env.path("scratch")).unwrap();
    std::fs::write(
        &p,
        format!(
            r#"
state_dir = "state"

[server]
listen = "127.0.0.1:{port}"
storage_refresh = "1h"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[restore_test]]
name = "hostile"
schedule = "@daily"
vault = "main"
sources = ["docs"]
scratch_dir = "scratch"
"#
        ),
    )
    .unwrap();
    p
}

#[test]
fn issue14_hostile_snapshots_restored_by_the_api_and_a_restore_test_fail() {
    let env = Env::new(Kind::Local, "hostile-api");
    env.init();
    let v = open(&env);
    let c = ctx(&env);
    let port = free_port();
    let cfg = config(&env, port);
    let state = env.path("state");
    let o = env
        .cmd(&["token", "create", "--role", "operator", "--name", "op"])
        .env("COFFER_STATE_DIR", &state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let op = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let daemon = serve_cmd(&env, &cfg).spawn().unwrap();
    wait_until("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let prefix = coffer_server::api::PREFIX;
    for (i, case) in cases().iter().enumerate() {
        let id = snapshot(&v, i as i64, |a| (case.nodes)(a, &c));
        let path = (case.path)(&c);

        // The API: a restore job that fails, naming snapshot and path.
        let what = format!("API restore of case {}", case.name);
        let (code, b) = call(
            port,
            "POST",
            &format!("{prefix}/vaults/main/snapshots/{}/restore", id.to_hex()),
            &op,
            &json!({}),
        );
        assert_eq!(code, 202, "{what}: {b}");
        let v: Value = serde_json::from_str(&b).unwrap();
        let job = v["job_id"].as_i64().unwrap();
        let target = PathBuf::from(v["target"].as_str().unwrap());
        let mut done = Value::Null;
        wait_until(
            &format!("the restore job of case {}", case.name),
            60,
            || {
                let (_, b) = call(port, "GET", &format!("{prefix}/jobs"), &op, &Value::Null);
                let jobs: Value = serde_json::from_str(&b).unwrap();
                match jobs.as_array().unwrap().iter().find(|j| j["id"] == job) {
                    Some(j) if j["finished_at"].is_string() => {
                        done = j.clone();
                        true
                    }
                    _ => false,
                }
            },
        );
        assert_eq!(done["state"], "FAILED", "{what}: {done:#}");
        assert_names(done["error"].as_str().unwrap_or(""), &id, &path, &what);
        assert_confined(&env, &c, &target, &what);

        // A files restore test of the newest snapshot of `docs`: FAILED.
        let what = format!("restore test of case {}", case.name);
        let o = env
            .cmd(&["--json", "restore-test", "run", "hostile"])
            .env("COFFER_CONFIG", &cfg)
            .env_remove("COFFER_STATE_DIR")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.contains("FAILED"), "{what}: {out}");
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_names(&r.to_string().replace("\\\\", "\\"), &id, &path, &what);
        // (The scratch directory is walked too: it must be empty again.)
        assert_confined(&env, &c, &env.path("no-target"), &what);
        assert!(
            std::fs::read_dir(env.path("scratch"))
                .unwrap()
                .next()
                .is_none(),
            "{what}: scratch space left behind"
        );
    }
    stop_serve(daemon);
}
