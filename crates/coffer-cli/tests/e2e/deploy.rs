//! The deployment files in deploy/ stay true to the binary: the Kubernetes
//! ConfigMap's coffer.toml passes `coffer config check`, the CronJob runs a
//! rule that exists, and the commands the systemd unit, the Dockerfile and
//! the manifests call exist with the flags they pass.
//!
//! Issue 19: every Kubernetes manifest is validated (kubernetes-validate for
//! the built-in kinds, scripts/check-kubernetes.py's structural checks for
//! the Prometheus Operator's ServiceMonitor and PrometheusRule, which it has
//! no schema for), every coffer.toml they embed passes `coffer config
//! check`, the PrometheusRule is the one scripts/prometheus-rule.py
//! generates from alerts.yml, and the Grafana dashboard can be provisioned
//! from a file (a datasource variable, no import input left).

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

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `python3 scripts/NAME ARGS` from the repository: its output, failing
/// the test (with what to install) if python3 cannot run.
fn script(name: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(repo().join("scripts").join(name))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 scripts/{name}: {e}; install python3"))
}

#[test]
fn issue19_kubernetes_manifests_validate_and_their_configs_check() {
    let out = script("check-kubernetes.py", &[]);
    assert!(
        out.status.success(),
        "scripts/check-kubernetes.py failed (exit {:?}; `pip install kubernetes-validate` if it is missing, as scripts/test.sh does):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validated: Vec<&str> = v["validated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for kind in [
        "ServiceAccount/",
        "ConfigMap/",
        "Secret/",
        "PersistentVolumeClaim/",
        "Deployment/",
        "Service/",
        "CronJob/",
    ] {
        assert!(
            validated.iter().any(|w| w.contains(kind)),
            "no {kind} validated: {validated:?}"
        );
    }
    let structural = v["structural"].to_string();
    assert!(
        structural.contains("ServiceMonitor/") && structural.contains("PrometheusRule/"),
        "{structural}"
    );
    let configs = v["configs"].as_array().unwrap();
    assert!(!configs.is_empty());
    let dir = tempfile::tempdir().unwrap();
    for (i, c) in configs.iter().enumerate() {
        let path = dir.path().join(format!("coffer-{i}.toml"));
        std::fs::write(&path, c["toml"].as_str().unwrap()).unwrap();
        let out = coffer(&["--json", "config", "check", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{} is invalid:\n{}\n{}",
            c["where"],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn issue19_the_prometheus_rule_is_generated_from_alerts_yml() {
    let out = script("prometheus-rule.py", &["--stdout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        deploy("kubernetes/coffer-prometheusrule.yaml"),
        generated,
        "deploy/kubernetes/coffer-prometheusrule.yaml is stale: run python3 scripts/prometheus-rule.py"
    );
    assert!(generated.contains("kind: PrometheusRule"));
    assert!(generated.contains("alert: CofferWalArchiveLag"));
}

/// Every `datasource` object of a dashboard (panels, targets, variables).
fn datasources<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "datasource" && x.is_object() {
                    out.push(x);
                }
                datasources(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| datasources(x, out)),
        _ => {}
    }
}

#[test]
fn issue19_the_grafana_dashboard_provisions_from_a_file() {
    let text = deploy("grafana/coffer.json");
    // Provisioning substitutes nothing: no import input may be left.
    assert!(
        !text.contains("${DS_"),
        "an import-only ${{DS_…}} input is left"
    );
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(dash.get("__inputs").is_none());
    let vars = dash["templating"]["list"].as_array().unwrap();
    let ds = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource template variable");
    assert_eq!(ds["name"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let mut all = Vec::new();
    datasources(&dash, &mut all);
    assert!(all.len() >= 20, "{}", all.len());
    for d in all {
        assert_eq!(d["uid"], "${datasource}", "{d}");
    }
    let prov = deploy("grafana/provisioning/coffer-dashboards.yaml");
    for want in [
        "apiVersion: 1",
        "providers:",
        "type: file",
        "path: /var/lib/grafana/dashboards/coffer",
    ] {
        assert!(prov.contains(want), "the provisioning file has no `{want}`");
    }
}
