//! The deployment files in deploy/ stay true to the binary: the Kubernetes
//! ConfigMap's coffer.toml passes `coffer config check`, the CronJob runs a
//! rule that exists, and the commands the systemd unit, the Dockerfile and
//! the manifests call exist with the flags they pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_coffer");

fn deploy(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn coffer(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("COFFER_CONFIG")
        .env_remove("COFFER_VAULT")
        .env_remove("COFFER_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The block under `coffer.toml: |` in the ConfigMap, unindented.
fn configmap_toml(yaml: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut indent = None;
    for line in yaml.lines() {
        if line.trim_start().starts_with("coffer.toml: |") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if line.starts_with("---") {
            break;
        }
        if line.trim().is_empty() {
            out.push('\n');
            continue;
        }
        let ind = *indent.get_or_insert(line.len() - line.trim_start().len());
        if line.len() - line.trim_start().len() < ind {
            break;
        }
        out.push_str(&line[ind..]);
        out.push('\n');
    }
    assert!(!out.is_empty(), "no coffer.toml block in the ConfigMap");
    out
}

#[test]
fn kubernetes_config_is_valid_and_the_cronjob_runs_one_of_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let toml = configmap_toml(&deploy("kubernetes/coffer.yaml"));
    let path: PathBuf = dir.path().join("coffer.toml");
    std::fs::write(&path, &toml).unwrap();
    let out = coffer(&["--json", "config", "check", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "the ConfigMap's coffer.toml is invalid:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let cron = deploy("kubernetes/coffer-cronjob.yaml");
    let args = cron
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: [\"plan\", \"run\", \""))
        .and_then(|rest| rest.split('"').next())
        .expect("the CronJob runs `coffer plan run RULE`");
    let (plan, rule) = args.split_once('/').unwrap();
    assert!(
        toml.contains(&format!("name = \"{plan}\""))
            && toml.contains(&format!("name = \"{rule}\"")),
        "the CronJob runs {args}, which the ConfigMap does not define"
    );
}

#[test]
fn commands_named_by_the_deployment_files_exist() {
    let unit = deploy("systemd/coffer.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/coffer --config /etc/coffer/coffer.toml serve --state-dir /var/lib/coffer"));
    let docker = deploy("Dockerfile");
    assert!(
        docker.contains("USER coffer:coffer"),
        "the image runs as a non-root user"
    );
    assert!(docker.contains("CMD [\"serve\"]"));
    for args in [
        &["--config", "/x", "serve", "--help"][..],
        &["--config", "/x", "config", "check", "--help"][..],
        &["plan", "run", "--help"][..],
    ] {
        let out = coffer(args);
        assert!(
            out.status.success(),
            "coffer {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let help = String::from_utf8_lossy(&coffer(&["serve", "--help"]).stdout).into_owned();
    assert!(help.contains("--state-dir"), "{help}");
}
