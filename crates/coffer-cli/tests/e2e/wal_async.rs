//! Issue 18: asynchronous, parallel WAL archiving (`wal-push` batches with
//! the next ready files, markers that make PostgreSQL's later call instant,
//! `--max-queue` that fails loudly and never drops WAL) and the prefetching
//! `wal-fetch` (a spool of authenticated vault objects; a full spool fails
//! and writes nothing), against a real PostgreSQL 15 cluster and, for the
//! bad-input cases, against a `pg_wal` directory made by hand.
//!
//! Needs root (initdb and the servers run as the `postgres` user through
//! `runuser`; the full-spool case mounts a small tmpfs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::pg::*;
use crate::common::BIN;

/// coffer as root with the vault and key as flags.
fn coffer(vault: &Path, key: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--vault")
        .arg(vault)
        .arg("--key-file")
        .arg(key)
        .args(args)
        .env_remove("COFFER_PASSWORD")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_KEY_FILE")
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap()
}

fn json(o: Output, what: &str) -> serde_json::Value {
    let text = ok(o, what);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"))
}

fn seg(n: u32) -> String {
    format!("00000001000000000000{n:04X}")
}

/// A `pg_wal` made by hand: segments 1..=n (distinct pseudo-random bytes,
/// 256 KiB each: the code never parses WAL) all marked ready.
fn fake_pg_wal(dir: &Path, n: u32) -> PathBuf {
    let pg_wal = dir.join("pg_wal");
    std::fs::create_dir_all(pg_wal.join("archive_status")).unwrap();
    for i in 1..=n {
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let data: Vec<u8> = (0..256 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(pg_wal.join(seg(i)), data).unwrap();
        std::fs::write(
            pg_wal
                .join("archive_status")
                .join(format!("{}.ready", seg(i))),
            "",
        )
        .unwrap();
    }
    pg_wal
}

/// `pg wal-verify --json`: exit 1 without a base backup, the report all
/// the same.
fn verify(vault: &Path, key: &Path) -> serde_json::Value {
    let o = coffer(vault, key, &["pg", "wal-verify", "--json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", out_text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out_text(&o)))
}

/// The `blake3` field of a push marker.
fn marker_hash(pg_wal: &Path, name: &str) -> String {
    let m = std::fs::read(pg_wal.join("coffer-spool/push").join(format!("{name}.ok")))
        .unwrap_or_else(|e| panic!("marker of {name}: {e}"));
    let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
    v["blake3"].as_str().unwrap().to_string()
}

/// Issue 18: a batch pushes the next ready files with the one open key;
/// PostgreSQL's later call for one of them returns from its marker; a file
/// changed after it was pushed fails naming it and both hashes, and the
/// vault's copy is untouched.
#[test]
fn issue18_batch_push_markers_and_a_changed_segment() {
    let s = Scratch::new();
    let (vault, key) = (s.path("vault"), s.path("vault.key"));
    ok(coffer(&vault, &key, &["init"]), "init");
    let pg_wal = fake_pg_wal(s.dir.path(), 6);
    let p = |n: u32| pg_wal.join(seg(n)).to_string_lossy().into_owned();

    let r = json(
        coffer(
            &vault,
            &key,
            &[
                "wal-push",
                &p(1),
                "--max-batch",
                "4",
                "--parallel",
                "3",
                "--json",
            ],
        ),
        "wal-push batch",
    );
    assert_eq!(r["wal_file"], seg(1), "{r}");
    assert_eq!(r["already_archived"], false, "{r}");
    assert_eq!(r["ready"], 6, "{r}");
    let ahead: Vec<&str> = r["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(ahead, vec![seg(2), seg(3), seg(4)], "{r}");
    // Each one pushed ahead is in the vault, byte for byte.
    for n in 2..=4 {
        let dest = s.path(&format!("fetched-{n}"));
        ok(
            coffer(
                &vault,
                &key,
                &[
                    "wal-fetch",
                    &seg(n),
                    dest.to_str().unwrap(),
                    "--prefetch",
                    "0",
                ],
            ),
            "wal-fetch",
        );
        assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(p(n)).unwrap());
    }

    // PostgreSQL's call for 3: from the marker, without the key (a key file
    // that does not exist proves it is not opened).
    let o = coffer(
        &vault,
        &s.path("no-such.key"),
        &["wal-push", &p(3), "--json"],
    );
    let r: serde_json::Value = serde_json::from_str(&ok(o, "wal-push from marker")).unwrap();
    assert_eq!(
        (r["from_spool"].as_bool(), r["already_archived"].as_bool()),
        (Some(true), Some(true)),
        "{r}"
    );

    // 2 changed after it was pushed: the marker does not match, the vault
    // refuses it naming the segment and both hashes.
    let archived_hash = marker_hash(&pg_wal, &seg(2));
    let original = std::fs::read(p(2)).unwrap();
    let mut changed = original.clone();
    changed[1000] ^= 0xff;
    std::fs::write(p(2), &changed).unwrap();
    let o = coffer(&vault, &key, &["wal-push", &p(2)]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains(&seg(2)) && err.contains(&archived_hash),
        "{err}"
    );
    let hashes = err
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(hashes.len(), 2, "both hashes in: {err}");
    let dest = s.path("fetched-2-again");
    ok(
        coffer(
            &vault,
            &key,
            &[
                "wal-fetch",
                &seg(2),
                dest.to_str().unwrap(),
                "--prefetch",
                "0",
            ],
        ),
        "wal-fetch",
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        original,
        "the vault's copy changed"
    );

    // A second push of a pushed segment (no marker any more): already archived.
    let r = json(
        coffer(&vault, &key, &["wal-push", &p(1), "--json"]),
        "push again",
    );
    assert_eq!(r["already_archived"], true, "{r}");
}

/// Issue 18: a vault the archiver cannot write: exit 1 for the requested
/// file, and no marker claims any file of the batch durable.
#[test]
fn issue18_never_exit_0_for_a_segment_not_durable() {
    require_setup();
    let s = Scratch::new();
    let (vault, key) = (s.path("vault"), s.path("vault.key"));
    ok(coffer(&vault, &key, &["init"]), "init");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let pg_wal = fake_pg_wal(s.dir.path(), 3);
    must(
        Command::new("chown").args(["-R", PG_USER]).arg(&pg_wal),
        "chown pg_wal",
    );
    // The vault is the postgres user's but for its wal/ directory, which
    // stays root's: it reads the vault and cannot write WAL objects.
    must(
        Command::new("chown").args(["-R", PG_USER]).arg(&vault),
        "chown vault",
    );
    let _ = std::fs::create_dir(vault.join("wal"));
    must(
        Command::new("chown").arg("root").arg(vault.join("wal")),
        "chown vault/wal",
    );
    std::fs::set_permissions(
        vault.join("wal"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let p1 = pg_wal.join(seg(1));
    let o = coffer_pg(&vault, &key, &["wal-push", p1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains(&seg(1)) && err.contains("ermission denied"),
        "{}",
        out_text(&o)
    );
    let markers = pg_wal.join("coffer-spool/push");
    let n = std::fs::read_dir(&markers).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 0, "markers written for files that are not durable");
    let o = coffer_pg(
        &vault,
        &key,
        &["wal-push", pg_wal.join(seg(2)).to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 18: wal-fetch prefetches into the spool; a spooled file that does
/// not authenticate is discarded and fetched again; a full spool fails the
/// call and writes nothing; a missing segment writes nothing.
#[test]
fn issue18_prefetch_spool_discard_and_full_disk() {
    require_setup();
    let s = Scratch::new();
    let (vault, key) = (s.path("vault"), s.path("vault.key"));
    ok(coffer(&vault, &key, &["init"]), "init");
    let pg_wal = fake_pg_wal(s.dir.path(), 6);
    ok(
        coffer(
            &vault,
            &key,
            &[
                "wal-push",
                pg_wal.join(seg(1)).to_str().unwrap(),
                "--max-batch",
                "6",
            ],
        ),
        "wal-push",
    );
    let want = |n: u32| std::fs::read(pg_wal.join(seg(n))).unwrap();
    let restored = s.path("restored/pg_wal");
    std::fs::create_dir_all(&restored).unwrap();
    let dest = restored.join("RECOVERYXLOG");
    let fetch = |n: u32| {
        coffer(
            &vault,
            &key,
            &["wal-fetch", &seg(n), dest.to_str().unwrap(), "--json"],
        )
    };

    let r = json(fetch(1), "wal-fetch 1");
    assert_eq!(r["from_spool"], false, "{r}");
    let pre: Vec<&str> = r["prefetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pre, vec![seg(2), seg(3), seg(4), seg(5), seg(6)], "{r}");
    assert_eq!(std::fs::read(&dest).unwrap(), want(1));
    let spool = restored.join("coffer-spool/fetch");
    // The spool holds the vault's sealed objects, not the plaintext.
    assert_ne!(std::fs::read(spool.join(seg(2))).unwrap(), want(2));

    let r = json(fetch(2), "wal-fetch 2");
    assert_eq!(r["from_spool"], true, "{r}");
    assert_eq!(std::fs::read(&dest).unwrap(), want(2));
    assert!(!spool.join(seg(2)).exists(), "a used spool file stays");

    // A damaged spool file: discarded, fetched again, right content.
    std::fs::write(spool.join(seg(3)), b"not a sealed object").unwrap();
    let o = fetch(3);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let r: serde_json::Value = serde_json::from_str(&ok(o, "wal-fetch 3")).unwrap();
    assert_eq!(r["discarded"][0], seg(3), "{r}");
    assert_eq!(r["from_spool"], false, "{r}");
    assert!(err.contains("discarded"), "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), want(3));

    // Missing: exit 1, nothing written.
    std::fs::remove_file(&dest).unwrap();
    let o = fetch(0x20);
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    assert!(!dest.exists());

    // A full spool: a clear error naming it, PostgreSQL not told.
    let mnt = s.path("full");
    std::fs::create_dir(&mnt).unwrap();
    must(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&mnt),
        "mount a small tmpfs (the test needs root)",
    );
    let _m = Mount(mnt.clone());
    std::fs::create_dir(mnt.join("fetch")).unwrap();
    let _ = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", mnt.join("fill").display()))
        .arg("bs=4k")
        .output()
        .unwrap();
    let dest2 = s.path("other/RECOVERYXLOG");
    std::fs::create_dir_all(dest2.parent().unwrap()).unwrap();
    let o = coffer(
        &vault,
        &key,
        &[
            "wal-fetch",
            &seg(1),
            dest2.to_str().unwrap(),
            "--spool",
            mnt.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out_text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        err.contains(&mnt.join("fetch").display().to_string()) && err.contains("No space left"),
        "{err}"
    );
    assert!(!dest2.exists(), "PostgreSQL was handed the segment");
}

/// The JSON lines `wal-push --json` printed into the server's log.
fn push_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"from_spool\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A cluster with archiving paused (archive_command = ''), `n` segments
/// written and switched while it is, so that they queue up as ready.
fn queued_cluster(s: &mut Scratch, vault: &Path, key: &Path, n: u32) -> (PathBuf, u16) {
    let data = s.path("data");
    let port = free_port();
    archiving_cluster(s, vault, key, &data, port, "archive_command = ''\n");
    psql(port, "create table t (i int)");
    for i in 0..n {
        psql(
            port,
            &format!("insert into t select g from generate_series(1, 1000) g; select pg_switch_wal(), {i}"),
        );
    }
    (data, port)
}

fn set_archive_command(port: u16, vault: &Path, key: &Path, flags: &str) {
    let cmd = format!(
        "{BIN} --vault {} --key-file {} --json wal-push %p {flags}",
        vault.display(),
        key.display()
    );
    psql(port, &format!("alter system set archive_command = '{cmd}'"));
    psql(port, "select pg_reload_conf()");
}

/// Issue 18: archive_command = coffer wal-push under a write load: every
/// ready file becomes done, every segment is in the vault without a gap,
/// batches pushed ahead and PostgreSQL's later calls returned from markers.
#[test]
fn issue18_archive_command_batches_a_queue_of_ready_segments() {
    require_setup();
    let mut s = Scratch::new();
    let (vault, key) = (s.path("vault"), s.path("vault.key"));
    let (data, port) = queued_cluster(&mut s, &vault, &key, 20);
    let log = s.log(&data);
    let status = data.join("pg_wal/archive_status");
    let ready = || {
        std::fs::read_dir(&status)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".ready")
            })
            .count()
    };
    assert!(ready() >= 20, "{} ready", ready());
    set_archive_command(port, &vault, &key, "--parallel 4 --max-batch 8");
    archive_all(port, &log);
    assert_eq!(ready(), 0, "ready files left");
    let failed = psql(port, "select failed_count from pg_stat_archiver");
    assert_eq!(
        failed,
        "0",
        "server log:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let lines = push_lines(&log);
    let ahead: usize = lines
        .iter()
        .map(|l| l["batch"].as_array().unwrap().len())
        .sum();
    let from_markers = lines.iter().filter(|l| l["from_spool"] == true).count();
    assert!(ahead >= 14, "{ahead} pushed ahead: {lines:?}");
    assert!(from_markers >= 14, "{from_markers} from markers: {lines:?}");
    // Every segment archived, no gap.
    let v = verify(&vault, &key);
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["segments"].as_u64().unwrap() >= 21, "{v}");
    assert_eq!(v["oldest_segment"], seg(1), "{v}");
    s.stop(&data, "fast");
}

/// Issue 18: more ready files than --max-queue: WAL_ARCHIVE_LAG on stderr
/// (the server's log) and as an event, the call exits 1, and still nothing
/// is dropped: every segment ends up archived.
#[test]
fn issue18_max_queue_raises_wal_archive_lag_and_drops_nothing() {
    require_setup();
    let mut s = Scratch::new();
    let (vault, key) = (s.path("vault"), s.path("vault.key"));
    let (data, port) = queued_cluster(&mut s, &vault, &key, 6);
    let log = s.log(&data);
    let state = s.path("state");
    std::fs::create_dir(&state).unwrap();
    must(
        Command::new("chown").arg(PG_USER).arg(&state),
        "chown state",
    );
    set_archive_command(
        port,
        &vault,
        &key,
        &format!(
            "--max-batch 3 --max-queue 2 --state-dir {}",
            state.display()
        ),
    );
    archive_all(port, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("WAL_ARCHIVE_LAG: ") && text.contains("more than max_queue 2"),
        "{text}"
    );
    let failed: u64 = psql(port, "select failed_count from pg_stat_archiver")
        .parse()
        .unwrap();
    assert!(failed >= 1, "no failed call:\n{text}");
    let v = verify(&vault, &key);
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    assert!(v["segments"].as_u64().unwrap() >= 7, "{v}");
    let o = Command::new(BIN)
        .args([
            "events",
            "--json",
            "--name",
            "WAL_ARCHIVE_LAG",
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let ev: serde_json::Value = serde_json::from_str(&ok(o, "events")).unwrap();
    let ev = ev.as_array().unwrap();
    assert!(!ev.is_empty(), "no WAL_ARCHIVE_LAG event");
    assert_eq!(ev[0]["details"]["max_queue"], 2, "{ev:?}");
    s.stop(&data, "fast");
}
