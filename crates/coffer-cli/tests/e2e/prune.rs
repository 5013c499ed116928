//! `coffer prune` end to end with the real binary: freed bytes, repacking,
//! backups and prunes running together (local directory and Garage S3),
//! and prune killed with SIGKILL at random moments.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// "Forgets" a snapshot of a local vault by deleting its object (what
/// `coffer forget` does, without its retention rules).
fn forget_local(env: &Env, id: &str) {
    let p = Path::new(&env.vault).join("snapshots").join(id);
    std::fs::remove_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn prune_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["prune", "--json"];
    a.extend_from_slice(args);
    let o = env.run(&a);
    assert_eq!(
        o.status.code(),
        Some(0),
        "coffer {a:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Whether prune plans are left (through `check --json`, which works for
/// S3 vaults too).
fn env_has_plans(env: &Env) -> bool {
    env.json(&["check"])["prune_plans"].as_u64().unwrap() > 0
}

fn restore_same(env: &Env, id: &str, src: &Path, out: &Path) {
    env.restore(id, out);
    assert_same_tree(src, &out.join(src.strip_prefix("/").unwrap()));
}

fn pack_bytes(env: &Env) -> u64 {
    env.vault_files()
        .iter()
        .filter(|(p, _)| p.starts_with("packs/"))
        .map(|(_, b)| b.len() as u64)
        .sum()
}

#[test]
fn prune_reports_freed_bytes_and_repacks() {
    let env = Env::new(Kind::Local, "prune");
    env.init();
    // One data pack holds a big file and a small one; the second snapshot
    // keeps only the small one, so that pack ends up mostly unused.
    let s1_dir = env.path("s1");
    write(&s1_dir.join("big"), &noise(1, 5_000_000));
    write(&s1_dir.join("small"), &noise(2, 900_000));
    let s2_dir = env.path("s2");
    write(&s2_dir.join("small"), &noise(2, 900_000));
    let s1 = env.backup(&[&s1_dir]);
    let s2 = env.backup(&[&s2_dir]);
    forget_local(&env, &s1);

    let before = env.vault_files();
    let dry = prune_json(&env, &["--dry-run"]);
    assert_eq!(
        env.vault_files(),
        before,
        "--dry-run wrote or deleted something"
    );
    assert_eq!(dry["dry_run"], true);
    assert!(dry["packs_repacked"].as_u64().unwrap() >= 1, "{dry}");

    let bytes_before = pack_bytes(&env);
    let r = prune_json(&env, &[]);
    assert!(r["packs_repacked"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["packs_deleted"].as_u64().unwrap() >= 2, "{r}");
    let freed = r["bytes_freed"].as_u64().unwrap();
    assert!(freed > 4_500_000, "{r}");
    // The dry run cannot know the size of the new packs' headers.
    let estimate = dry["bytes_freed"].as_u64().unwrap();
    assert!(
        estimate.abs_diff(freed) < 16_384,
        "dry run: {dry}\nreal: {r}"
    );
    assert_eq!(dry["packs_deleted"], r["packs_deleted"]);
    assert_eq!(pack_bytes(&env), bytes_before - freed);
    assert_eq!(r["plans_deferred"].as_array().unwrap().len(), 0);
    env.ok(&["check", "--read-data"]);
    restore_same(&env, &s2, &s2_dir, &env.path("out"));

    // The human report names the freed bytes.
    let s3 = env.backup(&[&s1_dir]);
    forget_local(&env, &s3);
    let text = env.ok(&["prune"]);
    assert!(text.contains("freed"), "{text}");
    assert!(text.contains("MiB"), "{text}");
    // Bad flags are a usage error.
    let o = env.run(&["prune", "--repack-below", "150"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Files for writer `w`'s backup `i`: one new file, one shared by all
/// writers that changes every other round, one that never changes.
fn make_source(dir: &Path, w: u64, i: u64) {
    write(&dir.join("own"), &noise(1000 * (w + 1) + i, 1_200_000));
    write(&dir.join("shared"), &noise(500 + i / 2, 1_300_000));
    write(&dir.join("constant"), &noise(99, 1_100_000));
}

/// `writers` processes each back up `rounds` times into one vault while
/// prune runs over and over and snapshots are forgotten.
fn parallel_backups_and_prunes(kind: Kind, writers: u64, rounds: u64) {
    let env = Arc::new(Env::new(kind, "prune-parallel"));
    env.init();
    let done: Arc<Mutex<Vec<(String, PathBuf)>>> = Arc::default();
    let writers_left = Arc::new(std::sync::atomic::AtomicUsize::new(writers as usize));
    let mut threads = Vec::new();
    for w in 0..writers {
        let (env, done, left) = (env.clone(), done.clone(), writers_left.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0..rounds {
                let dir = env.path(&format!("src-{w}-{i}"));
                make_source(&dir, w, i);
                let id = env.backup(&[&dir]);
                done.lock().unwrap().push((id, dir));
            }
            left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    // Prune over and over while the writers run, and forget a snapshot
    // now and then, so data they share becomes unused.
    let mut forgotten = Vec::new();
    let mut prunes = 0;
    let mut deferred = 0;
    while writers_left.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        let picked = {
            let mut d = done.lock().unwrap();
            let n = d.len();
            (n >= 2).then(|| d.remove(rand::random::<usize>() % n).0)
        };
        if picked.is_none() && forgotten.is_empty() {
            // Forget one as soon as two snapshots exist, while the writers
            // still run (a prune on S3 takes long enough for them all to
            // finish before the next turn).
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if let Some(id) = picked {
            match kind {
                Kind::Local => forget_local(&env, &id),
                Kind::S3 => {
                    env.ok(&["forget", &id]);
                }
            }
            forgotten.push(id);
        }
        let r = prune_json(&env, &[]);
        deferred += r["plans_deferred"].as_array().unwrap().len();
        prunes += 1;
        // Let the writers get ahead a little between prunes.
        std::thread::sleep(Duration::from_millis(50));
        assert!(prunes < 500, "writers never finish");
    }
    for t in threads {
        t.join().unwrap();
    }
    // With no backup running, one prune runs every plan.
    let r = prune_json(&env, &[]);
    assert_eq!(r["plans_deferred"].as_array().unwrap().len(), 0, "{r}");
    assert!(!env_has_plans(&env), "{r}");
    env.ok(&["check", "--read-data"]);
    let done = done.lock().unwrap();
    assert_eq!(done.len() + forgotten.len(), (writers * rounds) as usize);
    assert!(!forgotten.is_empty());
    for (n, (id, dir)) in done.iter().enumerate() {
        restore_same(&env, id, dir, &env.path(&format!("out-{n}")));
    }
    eprintln!(
        "{prunes} prunes ({deferred} plans deferred) during {} backups by {writers} writers; {} snapshots forgotten",
        writers * rounds,
        forgotten.len()
    );
}

#[test]
fn backups_and_prunes_in_parallel_on_a_local_vault() {
    parallel_backups_and_prunes(Kind::Local, 3, 8);
}

#[test]
fn eight_writers_and_prunes_in_parallel_on_s3() {
    parallel_backups_and_prunes(Kind::S3, 8, 3);
}

#[test]
fn prune_killed_at_random_moments_leaves_a_sound_vault() {
    let env = Env::new(Kind::Local, "prune-kill");
    env.init();
    let keep_dir = env.path("keep");
    write(&keep_dir.join("a"), &noise(1, 1_000_000));
    let keep = env.backup(&[&keep_dir]);
    let mut kept = vec![(keep, keep_dir)];
    let mut kills = 0;
    let mut round = 0u64;
    let mut span = Duration::from_millis(100);
    while kills < 20 {
        round += 1;
        // New garbage every round: a snapshot to forget that shares a file
        // with one to keep, so prune both deletes and repacks.
        let gone_dir = env.path(&format!("gone-{round}"));
        write(&gone_dir.join("big"), &noise(10_000 + round, 3_000_000));
        write(&gone_dir.join("shared"), &noise(20_000 + round, 600_000));
        let keep_dir = env.path(&format!("keep-{round}"));
        write(&keep_dir.join("shared"), &noise(20_000 + round, 600_000));
        let gone = env.backup(&[&gone_dir]);
        kept.push((env.backup(&[&keep_dir]), keep_dir));
        forget_local(&env, &gone);

        let started = std::time::Instant::now();
        let mut child = env
            .cmd(&["prune", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere in the longest run seen so far (the first one is left to
        // finish), so kills land in every phase, not only at start-up.
        if round > 1 {
            std::thread::sleep(Duration::from_millis(
                rand::random::<u64>() % span.as_millis().max(1) as u64,
            ));
        }
        let status = if round == 1 {
            Some(child.wait().unwrap())
        } else {
            child.try_wait().unwrap()
        };
        match status {
            Some(status) => {
                assert_eq!(status.code(), Some(0));
                span = span.max(started.elapsed());
            }
            None => {
                // SIGKILL: no destructor runs, the session object stays.
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
        env.ok(&["check"]);
        if round.is_multiple_of(5) {
            let (id, dir) = kept.last().unwrap();
            restore_same(&env, id, dir, &env.path(&format!("out-r{round}")));
        }
        assert!(round < 300, "prune finishes too fast to be killed");
    }
    // The killed prunes' sessions belong to dead processes: the next prune
    // neither waits for them nor leaves anything behind.
    let r = prune_json(&env, &[]);
    assert_eq!(r["plans_deferred"].as_array().unwrap().len(), 0, "{r}");
    let files = env.vault_files();
    assert!(
        !files
            .keys()
            .any(|p| p.starts_with("prune/") || p.starts_with("sessions/")),
        "{:?}",
        files
            .keys()
            .filter(|p| !p.starts_with("packs/"))
            .collect::<Vec<_>>()
    );
    env.ok(&["check", "--read-data"]);
    for (n, (id, dir)) in kept.iter().enumerate() {
        restore_same(&env, id, dir, &env.path(&format!("out-{n}")));
    }
    eprintln!("{kills} kills in {round} rounds");
}

/// The jobs of kind `kind` in the catalog of `state`, newest first.
fn jobs_of(env: &Env, state: &Path, kind: &str) -> Vec<serde_json::Value> {
    let mut c = env.cmd(&[]);
    c.env("COFFER_STATE_DIR", state);
    list_jobs(c, Some(kind))
}

/// Issue 15: prune and forget are jobs, through the same code from the
/// command line and the daemon. `coffer prune` records a `prune` job (CLI
/// trigger, its report as details); a `[[prune]]` entry is run by the
/// daemon on its schedule as the same job; the retention a rule applies
/// after its backup is a `forget` job of its own with what it removed, and
/// every one of them raises its events (PRUNE_*, FORGET_COMPLETED).
#[test]
fn issue15_prune_and_forget_are_jobs_from_the_cli_and_the_daemon() {
    let env = Env::new(Kind::Local, "prune-jobs");
    env.init();
    write(&env.path("data/a.txt"), b"first");
    let state = env.path("state");
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[plan]]
name = "p"

[[plan.rule]]
name = "nightly"
vault = "main"
sources = ["docs"]
schedule = "0 3 * * *"
retention = { keep_last = 1 }

[[prune]]
name = "often"
vault = "main"
schedule = "@every 1s"
repack_below = 30
"#,
    )
    .unwrap();
    let check = env
        .cmd(&["config", "check"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    // The rule twice: the second backup's retention forgets the first.
    for round in ["first", "second"] {
        write(&env.path("data/a.txt"), round.as_bytes());
        let o = env
            .cmd(&["plan", "run", "p/nightly"])
            .env("COFFER_CONFIG", &config)
            .env_remove("COFFER_STATE_DIR")
            .output()
            .unwrap();
        assert!(o.status.success(), "plan run: {}", stderr(&o));
    }
    let forgets = jobs_of(&env, &state, "forget");
    assert_eq!(forgets.len(), 2, "{forgets:#?}");
    let removed = forgets
        .iter()
        .find(|j| {
            j["details"]["removed"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
        })
        .unwrap_or_else(|| panic!("no forget job removed a snapshot: {forgets:#?}"));
    assert_eq!(removed["state"], "COMPLETED", "{removed:#}");
    assert_eq!(removed["trigger"], "rule");
    assert_eq!(removed["source"], "docs");
    assert_eq!(removed["vault"], "main");

    // `coffer prune` is a job with the prune's report.
    let report = prune_json(&env, &[]);
    assert!(report["packs_deleted"].as_u64().unwrap() >= 1, "{report:#}");
    let prunes = jobs_of(&env, &state, "prune");
    assert_eq!(prunes.len(), 1, "{prunes:#?}");
    assert_eq!(prunes[0]["state"], "COMPLETED");
    assert_eq!(prunes[0]["trigger"], "cli");
    assert_eq!(
        prunes[0]["details"]["packs_deleted"],
        report["packs_deleted"]
    );

    // The daemon runs the [[prune]] entry on its schedule, as the same job.
    let daemon = serve_cmd(&env, &config).spawn().unwrap();
    wait_until("a scheduled prune job", 60, || {
        jobs_of(&env, &state, "prune")
            .iter()
            .any(|j| j["trigger"] == "schedule" && j["state"] == "COMPLETED")
    });
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("pruning vault main"), "{log}");
    let scheduled = jobs_of(&env, &state, "prune")
        .into_iter()
        .find(|j| j["trigger"] == "schedule")
        .unwrap();
    assert_eq!(scheduled["rule"], "often");
    assert_eq!(scheduled["vault"], "main");
    assert!(scheduled["details"]["packs"].is_u64(), "{scheduled:#}");

    let o = env
        .cmd(&["--json", "events", "--limit", "0"])
        .env("COFFER_STATE_DIR", &state)
        .output()
        .unwrap();
    assert!(o.status.success(), "events: {}", stderr(&o));
    let events = String::from_utf8_lossy(&o.stdout);
    for name in ["PRUNE_STARTED", "PRUNE_COMPLETED", "FORGET_COMPLETED"] {
        assert!(events.contains(name), "no {name} event: {events}");
    }
}
