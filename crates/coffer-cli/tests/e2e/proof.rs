//! Issue 5 end to end, across its parts: a damaged vault fails
//! verification and the compliance report shows the verification control
//! failing with the vault and the snapshots; the daemon runs
//! `[[restore_test]]` and `[[report]]` entries on their schedules.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Setup {
    env: Env,
    config: PathBuf,
}

impl Setup {
    /// A local vault `main`, a files source `docs` backed up by rule
    /// `p/r`, and `extra` configuration.
    fn new(name: &str, extra: &str) -> Setup {
        let env = Env::new(Kind::Local, name);
        env.init();
        for (i, f) in ["a", "b", "c"].iter().enumerate() {
            write(
                &env.path(&format!("docs/{f}")),
                &noise(70 + i as u64, 200_000),
            );
        }
        let config = env.path("coffer.toml");
        std::fs::write(
            &config,
            format!(
                r#"state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["docs"]
rpo = "24h"
rto = "1h"

[[plan]]
name = "p"
[[plan.rule]]
name = "r"
vault = "main"
sources = ["docs"]
schedule = "@daily"
retention = {{ keep_last = 10 }}
{extra}"#
            ),
        )
        .unwrap();
        Setup { env, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd(args);
        c.env("COFFER_CONFIG", &self.config)
            .env("COFFER_STATE_DIR", self.env.path("state"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let o = self.run(args);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "coffer {args:?}: no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&o.stdout),
                stderr(&o)
            )
        })
    }

    fn jobs(&self) -> Vec<Value> {
        self.json(&["--json", "jobs", "list", "--limit", "0"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn pack_files(vault: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(vault.join("packs")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

#[test]
fn issue5_a_damaged_pack_fails_verify_and_the_reports_verification_control() {
    let s = Setup::new("proof-damaged", "");
    let o = s.run(&["plan", "run", "p/r"]);
    assert!(o.status.success(), "plan run: {}", stderr(&o));
    let snaps = s.json(&["--json", "snapshots"]);
    let snap = snaps[0]["id"].as_str().unwrap().to_string();

    // Before: verification passes, and so does its control.
    let o = s.run(&["verify", "main", "--read-data"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = s.json(&["report", "--format", "json"]);
    let control = |r: &Value| {
        r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "verification")
            .cloned()
            .unwrap()
    };
    assert_eq!(control(&r)["status"], "PASS", "{:#}", control(&r));

    // Damage the biggest pack (file data), in the middle.
    let pack = pack_files(Path::new(&s.env.vault))
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&pack, bytes).unwrap();

    let o = s.run(&["verify", "main", "--read-data"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = s.json(&["report", "--format", "json"]);
    let c = control(&r);
    assert_eq!(c["status"], "FAIL", "{c:#}");
    let failing = c["failing"].to_string();
    assert!(failing.contains("vault `main`"), "{failing}");
    assert!(failing.contains(&snap), "{failing}");
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(failing.contains(&name), "{failing}");
    // The HTML report says the same to an auditor.
    let o = s.run(&["report", "--format", "html"]);
    let html = String::from_utf8_lossy(&o.stdout);
    assert!(html.contains("FAIL") && html.contains(&snap), "{html}");
}

#[test]
fn issue5_the_daemon_runs_restore_test_and_report_entries_on_schedule() {
    let s = Setup::new(
        "proof-daemon",
        r#"
[[restore_test]]
name = "docs-often"
schedule = "@every 2s"
vault = "main"
sources = ["docs"]
timeout = "1m"

[[report]]
name = "often"
schedule = "@every 2s"
format = "json"
to_dir = "reports"
"#,
    );
    let o = s.run(&["plan", "run", "p/r"]);
    assert!(o.status.success(), "plan run: {}", stderr(&o));
    let mut child = s
        .cmd(&["serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let (tests, reports) = loop {
        let jobs = s.jobs();
        let done = |kind: &str| -> Vec<Value> {
            jobs.iter()
                .filter(|j| j["kind"] == kind && j["trigger"] == "schedule")
                .filter(|j| j["state"] == "COMPLETED")
                .cloned()
                .collect()
        };
        let (tests, reports) = (done("restore-test"), done("report"));
        if !tests.is_empty() && !reports.is_empty() {
            break (tests, reports);
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("no scheduled restore test and report completed in 60s: {jobs:#?}");
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
    assert!(log.contains("restore test docs-often"), "{log}");
    assert!(log.contains("writing report often"), "{log}");

    let t = &tests[0];
    assert_eq!(t["source"], "docs");
    assert_eq!(t["rule"], "docs-often");
    assert_eq!(t["details"]["validation"], "SUCCESSFUL", "{t:#}");
    assert!(t["details"]["restore_seconds"].as_f64().unwrap() >= 0.0);

    let r = &reports[0];
    let written = r["details"]["written"]["file"].as_str().unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(written).unwrap()).unwrap();
    assert!(report["controls"].as_array().unwrap().len() >= 9);
    assert!(Path::new(written).starts_with(s.env.path("reports")));
    // The restore-test control sees the scheduled run.
    let rt = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "restore-test")
        .unwrap();
    assert!(rt.to_string().contains("docs"), "{rt:#}");
}
