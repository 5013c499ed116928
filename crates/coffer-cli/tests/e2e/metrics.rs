//! Issue 6, metrics: the real `coffer serve` with a `[server]` section
//! exports Prometheus metrics about the jobs it ran (and those the catalog
//! holds), `/healthz` answers, a bad `[server]` is refused; the alert rules
//! pass `promtool check rules` and `promtool test rules`; and every metric
//! the alert rules and the Grafana dashboard name is one coffer exports.

use crate::common::*;
use coffer_server::catalog::{Catalog, JobOutcome, JobState, NewJob, Trigger};
use coffer_server::records::{DataScope, RestoreTestDetails, Validation, VerifyDetails};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

// ---------------------------------------------------------------------------
// Metric names in PromQL.

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    // Aggregations, which may precede `by (…)` instead of `(`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// The metric names a PromQL expression (or a Grafana `label_values(…)`
/// query) reads: identifiers that are not functions, keywords, label
/// names in `{…}`/`by (…)`, ranges, strings or `$variables`.
fn metric_names_in(expr: &str) -> Vec<String> {
    let expr = expr.trim();
    if let Some(rest) = expr.strip_prefix("label_values(") {
        let first = rest.split([',', ')']).next().unwrap_or("");
        return metric_names_in(first);
    }
    // Drop strings, label matchers and ranges.
    let mut clean = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_str: Option<char> = None;
    for c in expr.chars() {
        if let Some(q) = in_str {
            if c == q {
                in_str = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_str = Some(c),
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            _ => clean.push(c),
        }
    }
    let chars: Vec<char> = clean.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            // A number (1e3, 0.5).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let call = j < chars.len() && chars[j] == '(';
            if matches!(
                word.as_str(),
                "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
            ) && call
            {
                // Skip the label list.
                while j < chars.len() && chars[j] != ')' {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            if !call && !KEYWORDS.contains(&word.as_str()) {
                names.push(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// The `expr:` values of a Prometheus rules file (single-line, or a
/// `>-`/`|` block).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        if let Some(v) = t.strip_prefix("expr:") {
            let v = v.trim();
            if v.starts_with('>') || v.starts_with('|') {
                let indent = l.len() - t.len();
                let mut block = Vec::new();
                i += 1;
                while i < lines.len() {
                    let n = lines[i];
                    let nt = n.trim_start();
                    if !nt.is_empty() && n.len() - nt.len() <= indent {
                        break;
                    }
                    block.push(nt);
                    i += 1;
                }
                out.push(block.join(" "));
                continue;
            }
            out.push(v.trim_matches('\'').to_string());
        }
        i += 1;
    }
    out
}

/// Every `expr` (and templating `definition`) of a Grafana dashboard.
fn dashboard_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if (k == "expr" || k == "definition") && x.is_string() {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    dashboard_exprs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| dashboard_exprs(x, out)),
        _ => {}
    }
}

#[test]
fn promql_name_extraction() {
    assert_eq!(
        metric_names_in(
            r#"sum by (kind, state) (increase(coffer_jobs_total{kind="backup",state=~"A|B"}[1h])) / on (source) group_left x_y > 0.5 and bool 1e3"#
        ),
        vec!["coffer_jobs_total", "x_y"]
    );
    assert_eq!(
        metric_names_in("label_values(backup_storage_usage_bytes, vault)"),
        vec!["backup_storage_usage_bytes"]
    );
    assert_eq!(
        metric_names_in("time() - m{source=~\"$source\"}"),
        vec!["m"]
    );
}

#[test]
fn issue6_alerts_and_dashboard_name_only_exported_metrics() {
    let exported = coffer_server::metrics::metric_names();
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    let exprs = rule_exprs(&alerts);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("deploy/grafana/coffer.json")).unwrap(),
    )
    .expect("deploy/grafana/coffer.json is JSON");
    let mut dexprs = Vec::new();
    dashboard_exprs(&dash, &mut dexprs);
    assert!(dexprs.len() >= 15, "{dexprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for (file, e) in exprs
        .iter()
        .map(|e| ("alerts.yml", e))
        .chain(dexprs.iter().map(|e| ("coffer.json", e)))
    {
        let names = metric_names_in(e);
        assert!(!names.is_empty(), "{file}: `{e}` names no metric");
        for n in names {
            assert!(
                exported.contains(&n.as_str()),
                "{file}: `{e}` reads `{n}`, which coffer does not export (coffer_server::metrics::METRICS)"
            );
            used.insert(n);
        }
    }
    // The dashboard shows what the task asks for.
    for m in [
        "coffer_jobs_total",
        "backup_duration_seconds",
        "backup_size_bytes",
        "backup_storage_usage_bytes",
        "coffer_rpo_compliant",
        "coffer_restore_test_last_restore_seconds",
    ] {
        assert!(
            dexprs
                .iter()
                .any(|e| metric_names_in(e).iter().any(|n| n == m)),
            "the dashboard shows no {m}"
        );
    }
    // Every panel reads the `datasource` variable (issue 19: provisioning
    // from a file resolves no import input; deploy.rs checks the rest).
    assert_eq!(dash["templating"]["list"][0]["type"], "datasource");
}

fn promtool() -> Command {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "promtool is missing: install the Debian package `prometheus` (scripts/test.sh does)"
    );
    let mut c = Command::new("promtool");
    c.current_dir(repo().join("deploy/prometheus"));
    c
}

#[test]
fn issue6_promtool_checks_and_tests_the_alert_rules() {
    let o = promtool()
        .args(["check", "rules", "alerts.yml"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let o = promtool()
        .args(["test", "rules", "alerts_test.yml"])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "promtool test rules: {}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------
// The daemon.

/// A plain HTTP/1.1 GET; returns the status and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// One sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let (series, value) = l.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        for kv in labels.split("\",").filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        out.push((name.to_string(), map, value.parse().unwrap()));
    }
    out
}

/// The value of the sample of `name` whose labels include `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
}

/// Scrapes until `pred` holds (at most `secs`).
fn scrape_until(
    port: u16,
    secs: u64,
    what: &str,
    pred: impl Fn(&[Sample]) -> bool,
) -> (String, Vec<Sample>) {
    let t = Instant::now();
    loop {
        if let Ok((200, body)) = http_get(port, "/metrics") {
            let s = parse_metrics(&body);
            if pred(&s) {
                return (body, s);
            }
            if t.elapsed() > Duration::from_secs(secs) {
                panic!("timed out after {secs}s waiting for {what}; metrics:\n{body}");
            }
        } else if t.elapsed() > Duration::from_secs(secs) {
            panic!("timed out after {secs}s: /metrics on 127.0.0.1:{port} does not answer");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        n += if m.is_dir() {
            dir_size(&e.path())
        } else {
            m.len()
        };
    }
    n
}

#[test]
fn issue6_serve_exports_metrics_of_its_jobs_and_the_catalog() {
    let env = Env::new(Kind::Local, "metrics");
    env.init();
    // A second vault that no rule writes: its size is fixed.
    let spare = env.path("spare");
    let o = env
        .cmd(&["init"])
        .env("COFFER_VAULT", &spare)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    write(&env.path("data/a.txt"), b"alpha");
    write(&env.path("data/b.bin"), &noise(3, 200_000));
    let port = free_port();
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
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

[[vault]]
name = "spare"
url = "spare"
key_file = "vault.key"
capacity = "10GB"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
rpo = "1h"
rto = "10m"

[[source]]
name = "nodb"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:1/nothere"

[[plan]]
name = "p"

[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 2s"
retention = {{ keep_last = 3 }}

[[plan.rule]]
name = "broken"
vault = "main"
sources = ["nodb"]
schedule = "@every 2s"
"#
        ),
    )
    .unwrap();

    // What the verify, restore-test and health-check jobs of other parts
    // record: metrics read them from the catalog.
    std::fs::create_dir_all(env.path("state")).unwrap();
    let catalog = Catalog::open(&env.path("state")).unwrap();
    let mut v = NewJob::new(coffer_server::catalog::JobKind::Verify, Trigger::Cli);
    v.vault = Some("spare".into());
    let id = catalog.create_job(&v).unwrap();
    catalog.start_job(id).unwrap();
    let details = VerifyDetails {
        scope: DataScope::Subset,
        subset_percent: Some(10.0),
        packs_read: 1,
        packs_total: 4,
        bytes_read: 100,
        coverage_percent: 25.0,
        damaged: vec![],
        affected_snapshots: vec![],
    };
    catalog
        .finish_job(
            id,
            &JobOutcome {
                details: Some(details.to_json()),
                ..JobOutcome::new(JobState::Failed)
            },
        )
        .unwrap();
    let mut r = NewJob::new(coffer_server::catalog::JobKind::RestoreTest, Trigger::Cli);
    r.source = Some("docs".into());
    r.vault = Some("main".into());
    let id = catalog.create_job(&r).unwrap();
    catalog.start_job(id).unwrap();
    let details = RestoreTestDetails {
        test: "docs-weekly".into(),
        snapshot: None,
        validation: Validation::Successful,
        restore_seconds: Some(12.5),
        validation_seconds: Some(1.0),
        checks: vec![],
    };
    catalog
        .finish_job(
            id,
            &JobOutcome {
                details: Some(details.to_json()),
                ..JobOutcome::new(JobState::Completed)
            },
        )
        .unwrap();
    // The daemon evaluates each source's health (RPO, RTO) itself: at
    // start, after every job and once a minute.
    drop(catalog);

    let before = jiff::Timestamp::now().as_second() as f64;
    let daemon = serve_cmd(&env, &config).spawn().unwrap();
    let (body, s) = scrape_until(port, 90, "a completed and a failed backup", |s| {
        value(s, "backup_last_job_success", &[("source", "docs")]) == Some(1.0)
            && value(s, "backup_last_job_success", &[("source", "nodb")]) == Some(0.0)
            && value(s, "coffer_snapshots", &[("vault", "main")]).unwrap_or(0.0) >= 1.0
            && value(s, "coffer_rpo_compliant", &[("source", "docs")]) == Some(1.0)
    });
    let docs = [
        ("source", "docs"),
        ("vault", "main"),
        ("plan", "p"),
        ("rule", "often"),
    ];
    // Backups, with the rule's labels.
    let last = value(&s, "backup_last_success_timestamp_seconds", &docs).unwrap();
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(last >= before - 1.0 && last <= now + 1.0, "{last} {body}");
    let logical = [docs.as_slice(), &[("kind", "logical")]].concat();
    assert_eq!(
        value(&s, "backup_size_bytes", &logical),
        Some(200_005.0),
        "{body}"
    );
    let stored = [docs.as_slice(), &[("kind", "stored")]].concat();
    assert!(value(&s, "backup_size_bytes", &stored).is_some(), "{body}");
    assert!(value(&s, "backup_duration_seconds", &docs).unwrap() >= 0.0);
    assert!(
        value(
            &s,
            "backup_last_success_timestamp_seconds",
            &[("source", "nodb")]
        )
        .is_none(),
        "{body}"
    );
    assert!(
        value(
            &s,
            "coffer_jobs_total",
            &[("kind", "backup"), ("state", "COMPLETED")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        value(
            &s,
            "coffer_jobs_total",
            &[("kind", "backup"), ("state", "FAILED")]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        value(
            &s,
            "coffer_jobs_total",
            &[("kind", "prune"), ("state", "FAILED")]
        ),
        Some(0.0),
        "every kind and state is exported from zero: {body}"
    );
    assert!(
        value(
            &s,
            "coffer_events_total",
            &[("name", "BACKUP_JOB_FAILED"), ("severity", "error")]
        )
        .unwrap()
            >= 1.0
    );
    // Verification and restore tests, from the records.
    assert_eq!(
        value(&s, "backup_verification_status", &[("vault", "spare")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "backup_verification_coverage_ratio",
            &[("vault", "spare")]
        ),
        Some(0.25)
    );
    assert!(value(&s, "backup_verification_status", &[("vault", "main")]).is_none());
    assert_eq!(
        value(
            &s,
            "coffer_restore_test_status",
            &[("source", "docs"), ("test", "docs-weekly")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "coffer_restore_test_last_restore_seconds",
            &[("source", "docs")]
        ),
        Some(12.5)
    );
    // Objectives, from the config and the health record.
    assert_eq!(
        value(&s, "coffer_rpo_target_seconds", &[("source", "docs")]),
        Some(3600.0)
    );
    assert_eq!(
        value(&s, "coffer_rto_target_seconds", &[("source", "docs")]),
        Some(600.0)
    );
    assert_eq!(
        value(&s, "coffer_rpo_compliant", &[("source", "docs")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "coffer_rto_compliant", &[("source", "docs")]),
        Some(1.0)
    );
    // A files source archives no WAL; its recovery point is its newest
    // good backup's start.
    assert!(value(&s, "coffer_wal_archive_lag_seconds", &[("source", "docs")]).is_none());
    let point = value(
        &s,
        "coffer_recovery_point_timestamp_seconds",
        &[("source", "docs")],
    )
    .unwrap();
    assert!(
        point >= before - 1.0 && point <= last + 1.0,
        "{point} {body}"
    );
    assert!(value(&s, "coffer_rpo_target_seconds", &[("source", "nodb")]).is_none());
    // Storage: the spare vault's size is exactly its files'.
    let spare_bytes = dir_size(&spare) as f64;
    assert_eq!(
        value(&s, "backup_storage_usage_bytes", &[("vault", "spare")]),
        Some(spare_bytes),
        "{body}"
    );
    assert_eq!(
        value(&s, "coffer_storage_capacity_bytes", &[("vault", "spare")]),
        Some(10e9)
    );
    assert_eq!(
        value(&s, "coffer_storage_free_bytes", &[("vault", "spare")]),
        Some(10e9 - spare_bytes)
    );
    assert_eq!(
        value(&s, "coffer_snapshots", &[("vault", "spare")]),
        Some(0.0)
    );
    // A local vault without capacity reports its file system's.
    assert!(value(&s, "coffer_storage_capacity_bytes", &[("vault", "main")]).unwrap() > 0.0);
    assert!(value(&s, "backup_storage_usage_bytes", &[("vault", "main")]).unwrap() > 0.0);
    assert_eq!(
        value(&s, "coffer_storage_refresh_success", &[("vault", "main")]),
        Some(1.0)
    );
    // The daemon itself.
    assert_eq!(value(&s, "coffer_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &s,
            "coffer_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Every exported family is in the one list, and the list is exported.
    let names = coffer_server::metrics::metric_names();
    for l in body.lines().filter(|l| l.starts_with("# HELP ")) {
        let family = l.split_whitespace().nth(2).unwrap();
        assert!(
            names.contains(&family) || names.contains(&format!("{family}_total").as_str()),
            "{family} is exported but not listed in METRICS"
        );
    }
    for n in &names {
        let family = n.strip_suffix("_total").unwrap_or(n);
        assert!(
            body.contains(&format!("# HELP {family} ")),
            "{n} is listed but not exported"
        );
    }
    // /healthz.
    let (code, h) = http_get(port, "/healthz").unwrap();
    assert_eq!(code, 200, "{h}");
    let h: Value = serde_json::from_str(&h).unwrap();
    assert_eq!(h["status"], "ok");
    let (code, _) = http_get(port, "/nothing").unwrap();
    assert_eq!(code, 404);

    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{log}"
    );
    // It says where the dashboard is (issue 16).
    assert!(
        log.contains(&format!("the dashboard is at http://127.0.0.1:{port}/")),
        "{log}"
    );
    // The listener is gone with the daemon.
    assert!(http_get(port, "/metrics").is_err());
}

#[test]
fn issue6_bad_server_section_and_busy_port_are_refused() {
    let env = Env::new(Kind::Local, "metrics-bad");
    env.init();
    let config = env.path("coffer.toml");
    let base = "state_dir = \"state\"\n[[vault]]\nname = \"main\"\nurl = \"vault\"\nkey_file = \"vault.key\"\n";
    std::fs::write(
        &config,
        format!("{base}[server]\nlisten = \"everywhere\"\n"),
    )
    .unwrap();
    let o = env
        .cmd(&["serve"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("coffer.toml:7:10:") && e.contains("not an address with a port"),
        "{e}"
    );
    // A port in use: a clear error naming it, exit 1, nothing left running.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    std::fs::write(
        &config,
        format!("{base}[server]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let o = env
        .cmd(&["serve"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "cannot listen on 127.0.0.1:{port} ([server] listen)"
        )),
        "{e}"
    );
}

#[test]
fn issue6_events_command_lists_recent_events() {
    let env = Env::new(Kind::Local, "events");
    std::fs::create_dir_all(env.path("state")).unwrap();
    let catalog = Catalog::open(&env.path("state")).unwrap();
    let mut e = coffer_server::events::NewEvent::new(
        coffer_server::events::EventName::RpoViolated,
        "newest good snapshot of db is 3h old (RPO 1h)",
    );
    e.source = Some("db".into());
    catalog.emit(&e).unwrap();
    catalog
        .emit(&coffer_server::events::NewEvent::new(
            coffer_server::events::EventName::SizeAnomaly,
            "grew tenfold",
        ))
        .unwrap();
    drop(catalog);
    let state = env.path("state");
    let state = state.to_str().unwrap();
    let out = env.ok(&["events", "--state-dir", state]);
    assert!(
        out.contains("RPO_VIOLATED (error) [source db]: newest good snapshot of db is 3h old"),
        "{out}"
    );
    assert!(out.contains("2 events since"), "{out}");
    let v = env.json(&["events", "--state-dir", state, "--severity", "error"]);
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 1, "{v:#}");
    assert_eq!(a[0]["name"], "RPO_VIOLATED");
    assert_eq!(a[0]["source"], "db");
    let v = env.json(&[
        "events",
        "--state-dir",
        state,
        "--name",
        "SIZE_ANOMALY",
        "--since",
        "1h",
    ]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    // Bad input: a clear error, exit 2.
    let o = env.run(&["events", "--state-dir", state, "--since", "yesterday-ish"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("yesterday-ish"), "{}", stderr(&o));
    let o = env.run(&["events", "--state-dir", state, "--name", "NOPE"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn issue6_storage_metrics_of_an_s3_vault() {
    let env = Env::new(Kind::S3, "metrics-s3");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    env.backup(&[&env.path("data")]);
    let port = free_port();
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [[vault]]\nname = \"s3\"\nurl = \"{}\"\nkey_file = \"vault.key\"\ncapacity = \"1GB\"\n",
            env.vault
        ),
    )
    .unwrap();
    let daemon = serve_cmd(&env, &config).spawn().unwrap();
    let (body, s) = scrape_until(port, 60, "the S3 vault measured", |s| {
        value(s, "coffer_storage_refresh_success", &[("vault", "s3")]).is_some()
    });
    assert_eq!(
        value(&s, "coffer_storage_refresh_success", &[("vault", "s3")]),
        Some(1.0),
        "{body}"
    );
    assert_eq!(value(&s, "coffer_snapshots", &[("vault", "s3")]), Some(1.0));
    let used = value(&s, "backup_storage_usage_bytes", &[("vault", "s3")]).unwrap();
    assert!(used > 0.0, "{body}");
    assert_eq!(
        value(&s, "coffer_storage_free_bytes", &[("vault", "s3")]),
        Some(1e9 - used)
    );
    assert!(value(&s, "coffer_storage_objects", &[("vault", "s3")]).unwrap() >= 4.0);
    let (code, log) = stop_serve(daemon);
    assert_eq!(code, Some(0), "{log}");
}
