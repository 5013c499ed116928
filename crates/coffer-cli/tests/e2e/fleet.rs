//! Issue 19, the vault as the fleet's record: hosts that back up into one
//! vault (daemons, a CronJob-style `plan run` loop, a plain `coffer
//! backup`) leave fleet records there, and a fourth `coffer serve` that
//! shares only the vault and its key shows them all, with the host that
//! stopped as silent and its RPO violation raised.

use crate::common::{serve_cmd, stderr, stop_serve, wait_until, Env, Kind};
use crate::metrics::http_get;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A host's configuration: its own state directory, the shared vault, one
/// files source with an RPO, a rule every 2 s; records every second,
/// silent after 5 s.
fn host_config(env: &Env, host: &str, extra: &str) -> PathBuf {
    let dir = env.path(host);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/f.txt"), format!("{host}'s data")).unwrap();
    let config = dir.join("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "state"
{extra}
[fleet]
host = "{host}"
heartbeat = "1s"
silent_after = "5s"

[[vault]]
name = "main"
url = "{vault}"
key_file = "{key}"

[[source]]
name = "docs-{host}"
kind = "files"
paths = ["data"]
rpo = "8s"

[[plan]]
name = "p"

[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs-{host}"]
schedule = "@every 2s"
"#,
            vault = env.vault,
            key = env.key.display(),
        ),
    )
    .unwrap();
    config
}

fn metric(body: &str, name: &str, labels: &str) -> Option<f64> {
    let key = format!("{name}{{{labels}}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
}

fn plan_run(env: &Env, config: &Path) -> std::process::Output {
    env.cmd(&["plan", "run", "p/often"])
        .env("COFFER_CONFIG", config)
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap()
}

#[test]
fn issue19_three_hosts_report_into_one_vault_and_a_fourth_daemon_sees_them() {
    let env = Env::new(Kind::S3, "fleet");
    env.init();
    let a = host_config(&env, "host-a", "");
    let b = host_config(&env, "host-b", "");
    let c = host_config(&env, "host-c", "");
    let port = crate::common::free_port();
    let viewer = env.path("console.toml");
    std::fs::write(
        &viewer,
        format!(
            "state_dir = \"console-state\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [fleet]\nhost = \"console\"\nheartbeat = \"1s\"\nsilent_after = \"5s\"\n\
             [[vault]]\nname = \"main\"\nurl = \"{}\"\nkey_file = \"{}\"\n",
            env.vault,
            env.key.display()
        ),
    )
    .unwrap();
    let da = serve_cmd(&env, &a).spawn().unwrap();
    let db = serve_cmd(&env, &b).spawn().unwrap();
    // host-c is a CronJob: `plan run` every second, no daemon.
    let stop_c = Arc::new(AtomicBool::new(false));
    let cron = {
        let (stop, vault, key, dir, c) = (
            stop_c.clone(),
            env.vault.clone(),
            env.key.clone(),
            env.dir.path().to_path_buf(),
            c.clone(),
        );
        std::thread::spawn(move || {
            let env = Env {
                dir: tempfile::tempdir_in(dir).unwrap(),
                vault,
                key,
                kind: Kind::S3,
            };
            let mut runs = 0;
            while !stop.load(Ordering::SeqCst) {
                let o = plan_run(&env, &c);
                assert!(o.status.success(), "plan run: {}", stderr(&o));
                assert!(
                    !stderr(&o).contains("fleet records could not"),
                    "{}",
                    stderr(&o)
                );
                runs += 1;
                std::thread::sleep(std::time::Duration::from_millis(700));
            }
            runs
        })
    };
    let dv = serve_cmd(&env, &viewer).spawn().unwrap();
    let body = || {
        http_get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    };
    wait_until(
        "the console's /metrics to show all three hosts with a good backup",
        90,
        || {
            let m = body();
            ["host-a", "host-b", "host-c"].iter().all(|h| {
                metric(
                    &m,
                    "coffer_fleet_rpo_compliant",
                    &format!("host=\"{h}\",source=\"docs-{h}\""),
                ) == Some(1.0)
                    && metric(&m, "coffer_fleet_host_silent", &format!("host=\"{h}\"")) == Some(0.0)
            })
        },
    );
    // `coffer status --fleet` from the console's config says the same.
    let o = env
        .cmd(&["status", "--fleet"])
        .env("COFFER_CONFIG", &viewer)
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for h in ["host-a", "host-b", "host-c"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(h))
            .unwrap_or_else(|| panic!("{h} in\n{out}"));
        assert!(
            line.contains(" OK ") && line.contains(&format!("docs-{h}")),
            "{line}"
        );
    }
    assert!(out.contains("plan run"), "host-c's agent: {out}");

    // host-b stops: within silent_after it is silent, and once its RPO has
    // passed its source is in violation; the others stay fine.
    let (code, log) = stop_serve(db);
    assert_eq!(code, Some(0), "{log}");
    wait_until("host-b to show as silent and past its RPO", 60, || {
        let m = body();
        metric(&m, "coffer_fleet_host_silent", "host=\"host-b\"") == Some(1.0)
            && metric(
                &m,
                "coffer_fleet_rpo_compliant",
                "host=\"host-b\",source=\"docs-host-b\"",
            ) == Some(0.0)
    });
    // The API answers the same view, for a viewer token.
    let viewer_token = crate::api::token(&env, &env.path("console-state"), "viewer");
    let (code, _, api) = crate::api::call(port, "GET", "/api/v1/fleet", Some(&viewer_token), None);
    assert_eq!(code, 200, "{api}");
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let hb = api["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "host-b")
        .expect("host-b in GET /api/v1/fleet");
    assert_eq!(hb["silent"], true, "{hb}");
    assert_eq!(hb["sources"][0]["rpo_ok"], false, "{hb}");
    let m = body();
    for h in ["host-a", "host-c"] {
        assert_eq!(
            metric(&m, "coffer_fleet_host_silent", &format!("host=\"{h}\"")),
            Some(0.0),
            "{m}"
        );
    }
    let events = env
        .cmd(&["--json", "events", "--name", "HOST_SILENT,RPO_VIOLATED"])
        .env("COFFER_CONFIG", &viewer)
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap();
    assert!(events.status.success(), "{}", stderr(&events));
    let ev: serde_json::Value = serde_json::from_slice(&events.stdout).unwrap();
    let msgs: Vec<String> = ev
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["name"].as_str().unwrap(),
                e["message"].as_str().unwrap()
            )
        })
        .collect();
    let silent: Vec<&String> = msgs
        .iter()
        .filter(|m| m.starts_with("HOST_SILENT"))
        .collect();
    assert_eq!(silent.len(), 1, "one HOST_SILENT, for host-b: {msgs:?}");
    assert!(silent[0].contains("host `host-b`"), "{msgs:?}");
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("RPO_VIOLATED") && m.contains("host `host-b`")),
        "{msgs:?}"
    );
    assert!(
        !msgs
            .iter()
            .any(|m| m.contains("host-a") || m.contains("host-c")),
        "{msgs:?}"
    );

    stop_c.store(true, Ordering::SeqCst);
    let runs = cron.join().unwrap();
    assert!(runs >= 2, "the CronJob ran {runs} times");
    for d in [da, dv] {
        let (code, log) = stop_serve(d);
        assert_eq!(code, Some(0), "{log}");
    }
}

#[test]
fn issue19_a_plain_backup_leaves_a_record_and_a_forged_one_is_reported_and_ignored() {
    let env = Env::new(Kind::Local, "fleet-local");
    env.init();
    let data = env.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    env.ok(&["backup", "--host", "laptop", data.to_str().unwrap()]);
    // A forged object (no key): it cannot authenticate.
    let fleet = Path::new(&env.vault).join("fleet");
    std::fs::write(fleet.join("ab".repeat(32)), b"forged").unwrap();
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n[[vault]]\nname = \"main\"\nurl = \"{}\"\nkey_file = \"{}\"\n",
            env.vault,
            env.key.display()
        ),
    )
    .unwrap();
    let o = env
        .cmd(&["--json", "status", "--fleet"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("ignored vault `main`") && e.contains("fleet/abab") && e.contains("damaged"),
        "{e}"
    );
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let hosts = st["hosts"].as_array().unwrap();
    let laptop = hosts
        .iter()
        .find(|h| h["host"] == "laptop")
        .expect("the backup's host");
    let src = &laptop["sources"][0];
    assert!(src["newest_good_at"].is_string(), "{laptop}");
    assert_eq!(src["last_backup_state"], "COMPLETED", "{laptop}");

    // A vault whose records cannot be written still backs up, and says so.
    std::fs::remove_dir_all(&fleet).unwrap();
    std::fs::write(&fleet, "not a directory").unwrap();
    let o = env.run(&["backup", data.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("fleet record could not be written")
            && stderr(&o).contains("the backup itself is saved"),
        "{}",
        stderr(&o)
    );
    assert_eq!(env.json(&["snapshots"]).as_array().unwrap().len(), 2);
}
