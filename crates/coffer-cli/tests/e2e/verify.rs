//! End-to-end tests of `coffer verify` (issue 5): verification as a job of
//! kind `verify` in the catalog, damage named down to the snapshots that
//! need it, subsets that cover the vault over repeated runs, `[[verify]]`
//! entries run by the daemon, and bad input.

use crate::common::*;
use coffer_server::catalog::Catalog;
use coffer_server::events::{EventFilter, EventName};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A local vault with a configuration naming it `main`, and a state dir.
struct Setup {
    env: Env,
    config: PathBuf,
}

impl Setup {
    fn new(name: &str, extra: &str) -> Setup {
        let env = Env::new(Kind::Local, name);
        env.init();
        let config = env.path("coffer.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"state\"\n\n[[vault]]\nname = \"main\"\nurl = \"vault\"\nkey_file = \"vault.key\"\n{extra}"
            ),
        )
        .unwrap();
        Setup { env, config }
    }

    fn state(&self) -> PathBuf {
        self.env.path("state")
    }

    /// A command with the configuration and state dir set.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env("COFFER_STATE_DIR", self.state());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Backs up a new directory `dir` holding `files` (name, seed, size);
    /// returns the snapshot id and the packs the backup added.
    fn backup(&self, dir: &str, files: &[(&str, u64, usize)]) -> (String, Vec<PathBuf>) {
        for (f, seed, len) in files {
            write(&self.env.path(&format!("{dir}/{f}")), &noise(*seed, *len));
        }
        let before = packs(&self.env);
        let id = self.env.backup(&[&self.env.path(dir)]);
        let added = packs(&self.env)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        (id, added)
    }

    /// `coffer verify ARGS --json`: exit code and the JSON printed.
    fn verify(&self, args: &[&str]) -> (Option<i32>, Value) {
        let mut a = vec!["verify", "--json"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "coffer {a:?}: no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            )
        });
        (o.status.code(), v)
    }

    fn catalog(&self) -> Catalog {
        Catalog::open_existing(&self.state()).unwrap()
    }

    fn jobs(&self) -> Vec<Value> {
        list_jobs(self.cmd(&[]), None)
    }
}

/// The pack files of a local vault.
fn packs(env: &Env) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let root = Path::new(&env.vault).join("packs");
    if !root.exists() {
        return out;
    }
    for d in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.insert(f.unwrap().path());
        }
    }
    out
}

/// The vault-relative name of a pack file (`packs/ab/ab12…`).
fn object_name(env: &Env, p: &Path) -> String {
    p.strip_prefix(&env.vault)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Flips one byte inside the first blob of a pack.
fn damage(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    b[40] ^= 0xff;
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(p, perm).unwrap();
    std::fs::write(p, b).unwrap();
}

#[test]
fn issue5_verify_a_clean_vault_is_a_completed_job_with_full_coverage() {
    let s = Setup::new("verify-clean", "");
    s.backup("a", &[("one", 1, 200_000), ("two", 2, 1000)]);
    s.backup("b", &[("three", 3, 100_000)]);
    let (code, v) = s.verify(&["main", "--read-data"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["state"], "COMPLETED");
    assert_eq!(v["vault"], "main");
    let d = &v["details"];
    assert_eq!(d["scope"], "all");
    assert_eq!(d["coverage_percent"], 100.0);
    assert_eq!(d["packs_read"], d["packs_total"]);
    assert_eq!(d["packs_total"], 4);
    assert!(d["bytes_read"].as_u64().unwrap() > 300_000, "{d}");
    assert_eq!(d["damaged"], serde_json::json!([]));
    // The job, as the catalog records it, with the details.
    let jobs = s.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "verify");
    assert_eq!(jobs[0]["state"], "COMPLETED");
    assert_eq!(jobs[0]["vault"], "main");
    assert_eq!(jobs[0]["details"]["coverage_percent"], 100.0);
    let status = coffer_server::verify::last_status(&s.catalog(), "main")
        .unwrap()
        .unwrap();
    assert!(status.passed());
    assert_eq!(status.details.unwrap().coverage_percent, 100.0);
    let ev = s
        .catalog()
        .events(&EventFilter {
            names: vec![EventName::VerifyPassed],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ev.len(), 1);
    // Human output says it too; structure only reads no pack.
    let o = s.run(&["verify", "main"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("COMPLETED: vault main verified (structure)"),
        "{out}"
    );
    assert!(out.contains("0 of 4 packs read"), "{out}");
    // Without a config vault name: the global --vault and key, recorded
    // under the vault's location.
    let o = s
        .env
        .cmd(&["verify", "--read-data", "--json"])
        .env("COFFER_STATE_DIR", s.state())
        .env_remove("COFFER_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["vault"], s.env.vault.as_str());
    assert_eq!(v["details"]["coverage_percent"], 100.0);
}

#[test]
fn issue5_verify_names_the_damaged_pack_and_every_snapshot_that_needs_it() {
    let s = Setup::new("verify-damage", "");
    let (s1, p1) = s.backup("a", &[("one", 11, 300_000)]);
    let (s2, _) = s.backup("b", &[("two", 12, 300_000)]);
    // The same content again, in another directory: deduplicated, so this
    // snapshot needs the first one's data pack too.
    std::fs::create_dir_all(s.env.path("c")).unwrap();
    std::fs::copy(s.env.path("a/one"), s.env.path("c/one")).unwrap();
    let s3 = s.env.backup(&[&s.env.path("c")]);
    let data_pack = p1
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    let before = s.env.vault_files();
    damage(&data_pack);
    let name = object_name(&s.env, &data_pack);

    let (code, v) = s.verify(&["main", "--read-data"]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["state"], "FAILED");
    let d = &v["details"];
    let damaged: Vec<&str> = d["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["object"].as_str().unwrap())
        .collect();
    assert_eq!(damaged, [name.as_str()], "{d:#}");
    assert!(
        d["damaged"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("fail verification"),
        "{d:#}"
    );
    let affected: BTreeSet<&str> = d["affected_snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(affected, BTreeSet::from([s1.as_str(), s3.as_str()]));
    assert!(!affected.contains(s2.as_str()));
    // The damaged pack is not counted as verified.
    assert!(d["coverage_percent"].as_f64().unwrap() < 100.0, "{d:#}");
    assert!(v["error"].as_str().unwrap().contains(&name), "{v:#}");

    // Human output names the pack and the snapshots.
    let o = s.run(&["verify", "main", "--read-data"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("damaged: {name}")), "{out}");
    assert!(
        out.contains(&s1) && out.contains(&s3) && !out.contains(&s2),
        "{out}"
    );
    assert!(
        stderr(&o).contains("vault main is damaged"),
        "{}",
        stderr(&o)
    );
    // Issue 14: the audit trail records the failed verify with its reason.
    let e = audit_entries(&s.state());
    let last = e
        .iter()
        .rev()
        .find(|e| e["action"] == "verify.run")
        .unwrap();
    assert_eq!(last["result"], "error", "{last}");
    assert_eq!(last["target"], "main", "{last}");
    assert!(last["error"].as_str().unwrap().contains(&name), "{last}");

    // The catalog: FAILED jobs with the damage, VERIFY_FAILED events, and
    // the verification status says so.
    let c = s.catalog();
    let ev = c
        .events(&EventFilter {
            names: vec![EventName::VerifyFailed],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0].vault.as_deref(), Some("main"));
    let status = coffer_server::verify::last_status(&c, "main")
        .unwrap()
        .unwrap();
    assert!(!status.passed());
    assert_eq!(status.details.unwrap().damaged[0].object, name);
    // Verify wrote nothing into the vault.
    let mut after = s.env.vault_files();
    after.insert(name.clone(), before[&name].clone());
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
}

#[test]
fn issue5_four_runs_of_a_quarter_cover_every_pack() {
    let s = Setup::new("verify-subset", "");
    for i in 0..4u64 {
        s.backup(&format!("d{i}"), &[("f", 20 + i, 50_000)]);
    }
    let total = packs(&s.env).len();
    assert_eq!(total, 8);
    let mut last = 0.0;
    for run in 1..=4 {
        let (code, v) = s.verify(&["main", "--read-data-subset", "25%"]);
        assert_eq!(code, Some(0), "{v:#}");
        let d = &v["details"];
        assert_eq!(d["scope"], "subset");
        assert_eq!(d["subset_percent"], 25.0);
        assert_eq!(d["packs_read"], 2, "run {run}: {d:#}");
        let cov = d["coverage_percent"].as_f64().unwrap();
        assert_eq!(cov, 25.0 * run as f64, "run {run}");
        assert!(cov > last);
        last = cov;
    }
    let c = s.catalog();
    assert_eq!(c.packs_verified("main").unwrap().len(), total);
    // Part n of m still works.
    let (code, v) = s.verify(&["main", "--read-data-subset", "1/2"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["details"]["subset_percent"], 50.0);
    // 31 days later, a 25% run leaves only its own packs within the window.
    require_test_clock();
    let o = s
        .cmd(&["verify", "main", "--read-data-subset", "25%", "--json"])
        .env(
            "COFFER_NOW",
            (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(31 * 24)).to_string(),
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["details"]["coverage_percent"], 25.0);
}

#[test]
fn issue5_the_daemon_runs_verify_entries_and_verify_rule_runs_one_now() {
    let s = Setup::new(
        "verify-daemon",
        r#"
[[verify]]
name = "often"
vault = "main"
schedule = "@every 2s"
read_data = true
completion_window = "1h"
"#,
    );
    s.backup("a", &[("one", 31, 10_000)]);
    // Now, from the command line.
    let (code, v) = s.verify(&["--rule", "often"]);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["details"]["scope"], "all");
    // And by the daemon, on schedule.
    let mut child = s
        .cmd(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let scheduled = loop {
        let jobs: Vec<Value> = s
            .jobs()
            .into_iter()
            .filter(|j| j["kind"] == "verify" && j["trigger"] != "cli")
            .collect();
        if jobs.iter().filter(|j| j["state"] == "COMPLETED").count() >= 2 {
            break jobs;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the daemon ran no two verify jobs in 30s: {jobs:#?}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let st = child.wait().unwrap();
    let mut log = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut log).ok();
    assert!(st.success(), "{log}");
    assert!(log.contains("verifying vault main"), "{log}");
    for j in &scheduled {
        assert_eq!(j["rule"], "often");
        assert_eq!(j["vault"], "main");
        assert!(j["scheduled_at"].is_string(), "{j:#}");
    }
    let done = scheduled
        .iter()
        .find(|j| j["state"] == "COMPLETED")
        .unwrap();
    assert_eq!(done["details"]["coverage_percent"], 100.0);
}

#[test]
fn issue5_bad_input_is_refused_clearly_and_changes_nothing() {
    let s = Setup::new(
        "verify-bad",
        "[[verify]]\nname = \"weekly\"\nvault = \"main\"\nschedule = \"@weekly\"\n",
    );
    s.backup("a", &[("one", 41, 10_000)]);
    let before = s.env.vault_files();
    let fails = |args: &[&str], code: i32, text: &str| {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(text), "{args:?}: {}", stderr(&o));
    };
    fails(&["verify", "nosuch"], 2, "vault `nosuch` is not in");
    fails(&["verify", "nosuch"], 2, "(vaults: main)");
    fails(
        &["verify", "main", "--read-data-subset", "150%"],
        2,
        "--read-data-subset `150%`: give a percentage like 5%",
    );
    fails(
        &["verify", "main", "--read-data-subset", "lots"],
        2,
        "give a percentage like 5%",
    );
    fails(
        &["verify", "--rule", "daily"],
        2,
        "no [[verify]] entry `daily`",
    );
    fails(
        &["verify", "main", "--read-data", "--read-data-subset", "5%"],
        2,
        "cannot be used with",
    );
    // None of these ran a job.
    assert!(s.jobs().is_empty());
    // A wrong password: a FAILED job that says the secret opens no key slot.
    let o = s
        .env
        .cmd(&["verify", "--read-data"])
        .env("COFFER_STATE_DIR", s.state())
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_KEY_FILE")
        .env("COFFER_PASSWORD", "not the password")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("FAILED"), "{err}");
    assert!(err.contains("key slot") || err.contains("wrong"), "{err}");
    assert!(!err.contains("not the password"), "{err}");
    let jobs = s.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["state"], "FAILED");
    // A configuration with a bad [[verify]] entry is refused with its place.
    std::fs::write(
        &s.config,
        "state_dir = \"state\"\n[[vault]]\nname = \"main\"\nurl = \"vault\"\nkey_file = \"vault.key\"\n[[verify]]\nname = \"x\"\nvault = \"main\"\nschedule = \"@daily\"\nread_data_subset = \"0%\"\n",
    )
    .unwrap();
    fails(
        &["verify", "main"],
        2,
        "coffer.toml:10:20: verify `x`: read_data_subset `0%`",
    );
    assert_eq!(s.env.vault_files(), before);
}
