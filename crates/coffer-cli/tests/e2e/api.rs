//! Issue 6, HTTP API: the real `coffer serve` with tokens of each role.
//! Every route of `api::ROUTES` is walked with no token, a bad token, and a
//! viewer, operator and admin token (401 / 403 / 2xx; a refused action
//! changes nothing); an operator runs a rule and the job completes; the
//! audit log records the actions and holds no secret; TLS works with an
//! rcgen certificate.

use crate::common::*;
use coffer_server::api::{PREFIX, ROUTES};
use coffer_server::auth::Role;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// One HTTP/1.1 request over `s`; returns status, head and body.
fn exchange(
    mut s: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    // A server that refuses the request (plain HTTP to a TLS port) may
    // close before the write ends: that is no answer (status 0), not a
    // test failure.
    let sent = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = sent {
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "sending {method} {path}: {e}"
        );
        return (0, String::new(), String::new());
    }
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

pub(crate) fn call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    exchange(s, method, path, token, body)
}

pub(crate) fn token(env: &Env, state: &Path, role: &str) -> String {
    let o = env
        .cmd(&["token", "create", "--role", role, "--name", role])
        .env("COFFER_STATE_DIR", state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

fn config(env: &Env, port: u16, extra: &str) -> std::path::PathBuf {
    let p = env.path("coffer.toml");
    std::fs::write(
        &p,
        format!(
            r#"
state_dir = "state"

[server]
listen = "127.0.0.1:{port}"
storage_refresh = "1h"
{extra}

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]
rpo = "1h"

[[plan]]
name = "p"

[[plan.rule]]
name = "daily"
vault = "main"
sources = ["docs"]
schedule = "0 3 * * *"
"#
        ),
    )
    .unwrap();
    p
}

/// The concrete path of a route, with this test's names.
fn concrete(path: &str, snap: &str) -> String {
    format!(
        "{PREFIX}{}",
        path.replace("{vault}", "main")
            .replace("{plan}", "p")
            .replace("{rule}", "daily")
            .replace("{id}", "1")
            .replace("{name}", "nosuchtest")
            .replace("{snapshot}", snap)
    )
}

fn held(port: u16, admin: &str) -> bool {
    let (c, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/vaults/main/snapshots"),
        Some(admin),
        None,
    );
    assert_eq!(c, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .any(|s| s["held"] == json!(true))
}

fn jobs(port: u16, tok: &str) -> Vec<Value> {
    let (c, _, b) = call(port, "GET", &format!("{PREFIX}/jobs"), Some(tok), None);
    assert_eq!(c, 200, "{b}");
    serde_json::from_str::<Value>(&b)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn issue6_api_every_route_every_role_and_audit() {
    let env = Env::new(Kind::Local, "api");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    let snap = env.backup(&[&env.path("data")]);
    let snap = snap.trim().to_string();
    let port = free_port();
    let cfg = config(&env, port, "");
    let state = env.path("state");
    let tokens: Vec<(Role, String)> = Role::ALL
        .iter()
        .map(|r| (*r, token(&env, &state, r.as_str())))
        .collect();
    let tok = |r: Role| tokens.iter().find(|(x, _)| *x == r).unwrap().1.clone();
    let daemon = serve_cmd(&env, &cfg).spawn().unwrap();
    wait_until("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    // Every route: no token and a bad token are 401 with WWW-Authenticate.
    for r in ROUTES {
        let path = concrete(r.path, &snap);
        for t in [None, Some("cof_not-a-real-token"), Some("garbage")] {
            let (c, head, b) = call(port, r.method, &path, t, Some(&json!({})));
            assert_eq!(c, 401, "{} {path} with {t:?}: {b}", r.method);
            assert!(
                head.to_ascii_lowercase()
                    .contains("www-authenticate: bearer"),
                "{head}"
            );
        }
    }
    // Roles below the route's: 403 and nothing happens.
    for r in ROUTES {
        let path = concrete(r.path, &snap);
        for (role, t) in &tokens {
            if *role >= r.role {
                continue;
            }
            let (c, _, b) = call(
                port,
                r.method,
                &path,
                Some(t),
                Some(&json!({"dry_run": false, "snapshots": [snap]})),
            );
            assert_eq!(c, 403, "{} {path} as {role}: {b}", r.method);
        }
    }
    assert!(
        jobs(port, &tok(Role::Admin)).is_empty(),
        "a refused action recorded a job"
    );
    assert!(!held(port, &tok(Role::Admin)), "a refused hold was placed");
    // A real forget is admin-only even though a preview is operator's.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/forget"),
        Some(&tok(Role::Operator)),
        Some(&json!({"snapshots": [snap], "dry_run": false})),
    );
    assert_eq!(c, 403, "{b}");

    // Allowed roles: every read route answers 200 for every role allowed.
    for r in ROUTES.iter().filter(|r| r.method == "GET") {
        for (role, t) in &tokens {
            if *role < r.role {
                continue;
            }
            let path = concrete(r.path, &snap);
            let path = if r.path == "/jobs/{id}" {
                format!("{PREFIX}/jobs")
            } else {
                path
            };
            let (c, _, b) = call(port, r.method, &path, Some(t), None);
            assert_eq!(c, 200, "{} {path} as {role}: {b}", r.method);
            serde_json::from_str::<Value>(&b)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {b}"));
        }
    }
    let (_, _, src) = call(
        port,
        "GET",
        &format!("{PREFIX}/sources"),
        Some(&tok(Role::Viewer)),
        None,
    );
    assert!(src.contains("\"docs\"") && src.contains("rpo"), "{src}");

    // Issue 15: a rule's schedule is shown as configured.
    let (c, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/rules"),
        Some(&tok(Role::Viewer)),
        None,
    );
    assert_eq!(c, 200, "{b}");
    let plans: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(plans[0]["rules"][0]["schedule"], "0 3 * * *", "{plans:#}");
    // Operator: a rule run completes as a backup job.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/rules/p/daily/run"),
        Some(&tok(Role::Operator)),
        None,
    );
    assert_eq!(c, 202, "{b}");
    let op = tok(Role::Operator);
    wait_until("the backup job to complete", 60, || {
        jobs(port, &op)
            .iter()
            .any(|j| j["kind"] == "backup" && j["state"] == "COMPLETED")
    });
    let job = jobs(port, &op)
        .into_iter()
        .find(|j| j["kind"] == "backup")
        .unwrap();
    // Issue 15: a job the API started is recorded as started by the API.
    assert_eq!(job["trigger"], "api", "{job:#}");
    let (c, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/jobs/{}", job["id"]),
        Some(&tok(Role::Viewer)),
        None,
    );
    assert_eq!(c, 200, "{b}");
    assert!(
        serde_json::from_str::<Value>(&b).unwrap()["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{b}"
    );
    let (c, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/jobs/999999"),
        Some(&tok(Role::Viewer)),
        None,
    );
    assert_eq!(c, 404, "{b}");
    // Verify: 202 with a job id that completes.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/verify"),
        Some(&op),
        Some(&json!({"read_data": true})),
    );
    assert_eq!(c, 202, "{b}");
    let vid = serde_json::from_str::<Value>(&b).unwrap()["job_id"].clone();
    wait_until("the verify job", 60, || {
        let (_, _, b) = call(
            port,
            "GET",
            &format!("{PREFIX}/jobs/{vid}"),
            Some(&op),
            None,
        );
        serde_json::from_str::<Value>(&b).unwrap()["state"] == "COMPLETED"
    });
    let (_, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/jobs/{vid}"),
        Some(&op),
        None,
    );
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["trigger"],
        "api",
        "{b}"
    );
    // Forget preview by an operator changes nothing.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/forget"),
        Some(&op),
        Some(&json!({"snapshots": [snap]})),
    );
    assert_eq!(c, 200, "{b}");
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["dry_run"],
        json!(true)
    );
    // Unknown restore test, bad body: clear errors.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/restore-tests/nosuchtest/run"),
        Some(&op),
        None,
    );
    assert_eq!(c, 404, "{b}");
    assert!(b.contains("nosuchtest"), "{b}");
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/rules/p/nope/run"),
        Some(&op),
        None,
    );
    assert_eq!(c, 404, "{b}");

    // Operator: restore the files snapshot; it lands under the state
    // directory's restores/, as a restore job.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/snapshots/{snap}/restore"),
        Some(&op),
        Some(&json!({"include": ["a.txt"]})),
    );
    assert_eq!(c, 202, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let target = std::path::PathBuf::from(v["target"].as_str().unwrap());
    assert!(target.starts_with(&state), "{b}");
    let job = v["job_id"].as_i64().unwrap();
    wait_until("the restore job", 60, || {
        jobs(port, &op)
            .iter()
            .any(|j| j["id"] == job && j["state"] == "COMPLETED")
    });
    let data = env.path("data");
    let restored = target.join(data.strip_prefix("/").unwrap()).join("a.txt");
    assert_eq!(std::fs::read(&restored).unwrap(), b"alpha");
    // Issue 16: `latest` is the newest files snapshot (the vault holds one
    // tree's, from the CLI and the rule run).
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/snapshots/latest/restore"),
        Some(&op),
        Some(&json!({"include": ["a.txt"]})),
    );
    assert_eq!(c, 202, "{b}");

    // Admin: hold, then release.
    let admin = tok(Role::Admin);
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/snapshots/{snap}/hold"),
        Some(&admin),
        Some(&json!({"reason": "case 42"})),
    );
    assert_eq!(c, 200, "{b}");
    assert!(held(port, &admin));
    // Issue 14: a real forget of the held snapshot is refused by the hold
    // (200 with the refusal) and the audit trail says so.
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/forget"),
        Some(&admin),
        Some(&json!({"snapshots": [snap], "dry_run": false})),
    );
    assert_eq!(c, 200, "{b}");
    let refusals = serde_json::from_str::<Value>(&b).unwrap()["refusals"].clone();
    assert!(refusals.as_array().is_some_and(|r| !r.is_empty()), "{b}");
    let (c, _, b) = call(
        port,
        "POST",
        &format!("{PREFIX}/vaults/main/snapshots/{snap}/release"),
        Some(&admin),
        None,
    );
    assert_eq!(c, 200, "{b}");
    assert!(!held(port, &admin));

    // A revoked token is refused at once.
    let o = env
        .cmd(&["token", "revoke", "viewer"])
        .env("COFFER_STATE_DIR", &state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (c, _, _) = call(
        port,
        "GET",
        &format!("{PREFIX}/vaults"),
        Some(&tok(Role::Viewer)),
        None,
    );
    assert_eq!(c, 401);
    stop_serve(daemon);

    // The audit log: actions with who, role and address; no secret.
    let log = std::fs::read_to_string(state.join("audit.log")).unwrap();
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |action: &str, actor: &str| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["actor"] == actor && e["result"] == "ok")
    };
    assert!(
        has(
            "token.create",
            &format!("cli:{}", coffer_sources::username())
        ),
        "{log}"
    );
    assert!(has("rule.run", "token:operator"), "{log}");
    assert!(has("verify.run", "token:operator"), "{log}");
    assert!(has("forget.preview", "token:operator"), "{log}");
    assert!(has("snapshot.hold", "token:admin"), "{log}");
    assert!(has("restore", "token:operator"), "{log}");
    assert!(has("snapshot.release", "token:admin"), "{log}");
    assert!(
        has(
            "token.revoke",
            &format!("cli:{}", coffer_sources::username())
        ),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "restore_test.run" && e["result"] == "error"),
        "{log}"
    );
    // Issue 14: 401s and 403s are recorded as refused, with the reason
    // and never the token that was sent.
    let refused = |actor: &str, status: &str| {
        entries
            .iter()
            .filter(|e| {
                e["actor"] == actor
                    && e["result"] == "refused"
                    && e["error"].as_str().is_some_and(|m| m.starts_with(status))
            })
            .collect::<Vec<_>>()
    };
    let unauth = refused("unauthenticated", "401 Unauthorized");
    // 3 per route above, and the revoked viewer's read.
    assert!(unauth.len() > 3 * ROUTES.len(), "{log}");
    assert!(
        unauth
            .iter()
            .any(|e| e["action"] == "rule.run" && e["target"] == "p/daily"),
        "{log}"
    );
    assert!(
        unauth
            .iter()
            .any(|e| e["action"] == "api.read" && e["target"] == format!("GET {PREFIX}/vaults")),
        "{log}"
    );
    assert!(unauth.iter().all(|e| e["remote"].is_string()), "{log}");
    assert!(!log.contains("cof_not-a-real-token") && !log.contains("garbage"));
    let forbidden = refused("token:viewer", "403 Forbidden");
    assert!(
        forbidden
            .iter()
            .any(|e| e["action"] == "rule.run" && e["role"] == "viewer"),
        "{log}"
    );
    assert!(
        refused("token:operator", "403 Forbidden")
            .iter()
            .any(|e| e["action"] == "forget" && e["target"] == "main"),
        "{log}"
    );
    // The forget the hold refused is an error with the refusal, not ok.
    let f = entries
        .iter()
        .find(|e| e["action"] == "forget" && e["actor"] == "token:admin")
        .expect("the admin's forget is recorded");
    assert_eq!(f["result"], "error", "{f}");
    assert_eq!(
        f["error"].as_str().unwrap(),
        refusals
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let rr = entries
        .iter()
        .find(|e| e["action"] == "rule.run" && e["result"] == "ok")
        .unwrap();
    assert_eq!(rr["role"], "operator");
    assert!(
        rr["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{rr}"
    );
    for (_, t) in &tokens {
        assert!(!log.contains(t.as_str()), "a token is in the audit log");
        assert!(!log.contains(&t[4..]), "a token is in the audit log");
    }
    let key = std::fs::read_to_string(env.path("vault.key")).unwrap_or_default();
    if !key.trim().is_empty() {
        assert!(!log.contains(key.trim()), "the key is in the audit log");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("audit.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn issue6_api_over_tls_with_an_rcgen_certificate() {
    let env = Env::new(Kind::Local, "api-tls");
    env.init();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(env.path("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(env.path("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let port = free_port();
    let cfg = config(&env, port, "tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    let state = env.path("state");
    let viewer = token(&env, &state, "viewer");
    let daemon = serve_cmd(&env, &cfg).spawn().unwrap();
    wait_until("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let tls_call = |path: &str, tok: Option<&str>| {
        let conn =
            rustls::ClientConnection::new(client.clone(), "localhost".try_into().unwrap()).unwrap();
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        exchange(rustls::StreamOwned::new(conn, tcp), "GET", path, tok, None)
    };
    let (c, _, b) = tls_call(&format!("{PREFIX}/vaults"), Some(&viewer));
    assert_eq!(c, 200, "{b}");
    assert!(b.contains("\"main\""), "{b}");
    let (c, _, _) = tls_call(&format!("{PREFIX}/vaults"), None);
    assert_eq!(c, 401);
    let (c, _, _) = tls_call("/healthz", None);
    assert_eq!(c, 200);
    // Plain HTTP to the TLS port gets no answer.
    let (c, _, _) = call(port, "GET", "/healthz", None, None);
    assert_eq!(c, 0);
    let (_, err) = stop_serve(daemon);
    assert!(err.contains("https://"), "{err}");
    // A missing key file is refused at start with the path named.
    std::fs::remove_file(env.path("key.pem")).unwrap();
    let o = env
        .cmd(&["serve"])
        .env("COFFER_CONFIG", &cfg)
        .env_remove("COFFER_STATE_DIR")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("key.pem"), "{}", stderr(&o));
}

/// Issue 15: an error's kind decides its status in one place. A storage
/// failure while placing or releasing a hold is `503` with kind
/// `unavailable` (it was a `400`, as if the request were wrong), a vault
/// whose `password_env` is unset `503` with kind `config` (it was a `500`),
/// a missing snapshot `404`, a malformed job id `400`; every error body
/// names its kind.
#[test]
fn issue15_api_status_follows_the_error_kind_storage_failure_on_hold_is_503() {
    let env = Env::new(Kind::Local, "api-kinds");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    let snap = env.backup(&[&env.path("data")]).trim().to_string();
    let port = free_port();
    // A second vault whose password variable the daemon lacks.
    let unset = "\n[[vault]]\nname = \"nopw\"\nurl = \"vault2\"\npassword_env = \"COFFER_TEST_UNSET_PASSWORD\"\n";
    let cfg = config(&env, port, unset);
    let state = env.path("state");
    let admin = token(&env, &state, "admin");
    let mut daemon = serve_cmd(&env, &cfg)
        .env_remove("COFFER_TEST_UNSET_PASSWORD")
        .spawn()
        .unwrap();
    wait_until("the listener", 30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let hold = format!("{PREFIX}/vaults/main/snapshots/{snap}/hold");
    let kind_of = |b: &str| serde_json::from_str::<Value>(b).unwrap()["kind"].clone();

    let (c, _, b) = call(
        port,
        "GET",
        &format!("{PREFIX}/jobs/x1"),
        Some(&admin),
        None,
    );
    assert_eq!((c, kind_of(&b)), (400, json!("usage")), "{b}");
    // The configuration cannot open a vault (its password_env is unset): a
    // 503 of kind config naming the variable (it was a 500).
    let nopw = format!("{PREFIX}/vaults/nopw/snapshots");
    let (c, _, b) = call(port, "GET", &nopw, Some(&admin), None);
    assert_eq!((c, kind_of(&b)), (503, json!("config")), "{b}");
    assert!(b.contains("COFFER_TEST_UNSET_PASSWORD"), "{b}");
    let missing = format!("{PREFIX}/vaults/main/snapshots/ffffffff/hold");
    let (c, _, b) = call(port, "POST", &missing, Some(&admin), Some(&json!({})));
    assert_eq!((c, kind_of(&b)), (404, json!("not-found")), "{b}");

    // A request body is its route's type: a field of the wrong type is a
    // 400 naming the field, not read as absent (issue 15).
    let verify = format!("{PREFIX}/vaults/main/verify");
    let (c, _, b) = call(
        port,
        "POST",
        &verify,
        Some(&admin),
        Some(&json!({"read_data": "yes"})),
    );
    assert_eq!((c, kind_of(&b)), (400, json!("usage")), "{b}");
    assert!(b.contains("`read_data`"), "{b}");
    let forget = format!("{PREFIX}/vaults/main/forget");
    let (c, _, b) = call(
        port,
        "POST",
        &forget,
        Some(&admin),
        Some(&json!({"snapshots": "all"})),
    );
    assert_eq!(c, 400, "{b}");
    assert!(
        b.contains("`snapshots`") && b.contains("give the snapshots to forget"),
        "{b}"
    );

    // The vault's holds/ directory becomes a file: the vault still opens,
    // but no hold can be written or read there.
    let holds = env.path("vault/holds");
    let _ = std::fs::remove_dir_all(&holds);
    std::fs::write(&holds, b"not a directory").unwrap();
    let body = json!({"reason": "audit"});
    let (c, _, b) = call(port, "POST", &hold, Some(&admin), Some(&body));
    assert_eq!((c, kind_of(&b)), (503, json!("unavailable")), "{b}");
    assert!(b.contains("holds"), "the error names the object: {b}");
    let release = format!("{PREFIX}/vaults/main/snapshots/{snap}/release");
    let (c, _, b) = call(port, "POST", &release, Some(&admin), Some(&json!({})));
    assert_eq!((c, kind_of(&b)), (503, json!("unavailable")), "{b}");

    // Storage back: the hold is placed.
    std::fs::remove_file(&holds).unwrap();
    std::fs::create_dir(&holds).unwrap();
    let (c, _, b) = call(port, "POST", &hold, Some(&admin), Some(&body));
    assert_eq!(c, 200, "{b}");
    let _ = daemon.kill();
    let _ = daemon.wait();
}
