//! The HTTP API under `/api/v1` (JSON), served by `coffer serve` beside
//! `/metrics` (see docs/api.md and docs/openapi.json).
//!
//! Every route is one row of [`ROUTES`]: method, path, the lowest
//! [`Role`] allowed, and the operation. The router is built from that
//! table, and so are the OpenAPI test and the role test, so a route cannot
//! exist without its document entry and its role. Each request is
//! authenticated first (`Authorization: Bearer TOKEN`): no token or an
//! unknown, revoked or expired one is `401` with `WWW-Authenticate:
//! Bearer`; a role too low is `403`; in both cases nothing runs.
//!
//! Every operation calls the same function the command line does
//! (`daemon::run_rule_now`, `verify::run_job`, `restore_test::run`,
//! `plan_forget`/`execute_forget`, `Vault::hold_snapshot`, …) on a blocking
//! thread. Actions (`POST`) are recorded in the audit trail
//! ([`crate::audit`], through [`audit_api`]) with the token's name and role,
//! the client's address and their real outcome (a forget a lock refused in
//! part is an error with the refusals); jobs they start run in the
//! background and the answer is `202`. Requests refused with 401 or 403,
//! reads too, are recorded as `refused` with the reason.

use crate::audit::{self, Action, Actor, Outcome};
use crate::auth::{self, AuthError, Principal, Role};
use crate::catalog::{Catalog, JobFilter, JobId, Trigger};
use crate::config::Config;
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use coffer_core::{Cancel, SnapshotFilter};
use jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The path prefix of the API.
pub const PREFIX: &str = "/api/v1";

/// The OpenAPI document of the API (served at `/api/v1/openapi.json`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The OpenAPI document.
    OpenApi,
    /// The configured vaults.
    Vaults,
    /// The configured sources with their health.
    Sources,
    /// Plans and their rules.
    Rules,
    /// Jobs (filters: kind, state, plan, rule, source, vault, limit).
    Jobs,
    /// One job with its events.
    Job,
    /// The snapshots of a vault.
    Snapshots,
    /// One directory of a snapshot.
    SnapshotFiles,
    /// Recent restore-test results.
    RestoreTests,
    /// The compliance report.
    Report,
    /// Recent events.
    Events,
    /// Run a rule now.
    RuleRun,
    /// Verify a vault.
    Verify,
    /// Run a restore test now.
    RestoreTestRun,
    /// Forget snapshots (dry run: operator; for real: admin).
    Forget,
    /// Place a legal hold.
    Hold,
    /// Release a legal hold.
    Release,
    /// Restore a files snapshot into the state directory's `restores/`.
    Restore,
}

impl Op {
    /// The audited action of a route that acts (a `POST`); reads have none.
    pub fn action(self) -> Option<Action> {
        Some(match self {
            Op::RuleRun => Action::RuleRun,
            Op::Verify => Action::VerifyRun,
            Op::RestoreTestRun => Action::RestoreTestRun,
            Op::Forget => Action::Forget,
            Op::Hold => Action::SnapshotHold,
            Op::Release => Action::SnapshotRelease,
            Op::Restore => Action::Restore,
            Op::OpenApi
            | Op::Vaults
            | Op::Sources
            | Op::Rules
            | Op::Jobs
            | Op::Job
            | Op::Snapshots
            | Op::SnapshotFiles
            | Op::RestoreTests
            | Op::Report
            | Op::Events => return None,
        })
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path below [`PREFIX`], with `{param}` segments.
    pub path: &'static str,
    /// The lowest role allowed.
    pub role: Role,
    /// What it does.
    pub op: Op,
}

const fn r(method: &'static str, path: &'static str, role: Role, op: Op) -> Route {
    Route {
        method,
        path,
        role,
        op,
    }
}

/// Every route of the API: the router, the OpenAPI document's test and the
/// role test all read this table.
pub const ROUTES: &[Route] = &[
    r("GET", "/openapi.json", Role::Viewer, Op::OpenApi),
    r("GET", "/vaults", Role::Viewer, Op::Vaults),
    r(
        "GET",
        "/vaults/{vault}/snapshots",
        Role::Viewer,
        Op::Snapshots,
    ),
    r(
        "GET",
        "/vaults/{vault}/snapshots/{snapshot}/files",
        Role::Viewer,
        Op::SnapshotFiles,
    ),
    r("GET", "/sources", Role::Viewer, Op::Sources),
    r("GET", "/rules", Role::Viewer, Op::Rules),
    r("GET", "/jobs", Role::Viewer, Op::Jobs),
    r("GET", "/jobs/{id}", Role::Viewer, Op::Job),
    r("GET", "/restore-tests", Role::Viewer, Op::RestoreTests),
    r("GET", "/report", Role::Viewer, Op::Report),
    r("GET", "/events", Role::Viewer, Op::Events),
    r(
        "POST",
        "/rules/{plan}/{rule}/run",
        Role::Operator,
        Op::RuleRun,
    ),
    r("POST", "/vaults/{vault}/verify", Role::Operator, Op::Verify),
    r(
        "POST",
        "/restore-tests/{name}/run",
        Role::Operator,
        Op::RestoreTestRun,
    ),
    r("POST", "/vaults/{vault}/forget", Role::Operator, Op::Forget),
    r(
        "POST",
        "/vaults/{vault}/snapshots/{snapshot}/restore",
        Role::Operator,
        Op::Restore,
    ),
    r(
        "POST",
        "/vaults/{vault}/snapshots/{snapshot}/hold",
        Role::Admin,
        Op::Hold,
    ),
    r(
        "POST",
        "/vaults/{vault}/snapshots/{snapshot}/release",
        Role::Admin,
        Op::Release,
    ),
];

/// The client's address, for the audit trail (from the plain or the TLS
/// listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Adds every API route to `router`.
pub fn routes(mut router: Router<AppState>) -> Router<AppState> {
    for route in ROUTES {
        let filter = match route.method {
            "GET" => MethodFilter::GET,
            _ => MethodFilter::POST,
        };
        let path = format!("{PREFIX}{}", route.path);
        router = router.route(
            &path,
            on(filter, move |State(s): State<AppState>, req: Request| {
                handle(s, route, req)
            }),
        );
    }
    router
}

/// An error answer: a status and a message (`{"error": "…"}`).
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad(m: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, m.into())
    }
    fn not_found(m: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, m.into())
    }
    fn internal(m: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, m.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, axum::Json(json!({"error": self.1}))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"coffer\""),
            );
        }
        r
    }
}

/// A request, parsed: what an operation needs.
struct Call {
    route: &'static Route,
    params: HashMap<String, String>,
    query: HashMap<String, String>,
    body: Value,
    actor: Actor,
    principal: Principal,
    /// What the audit trail records this request as, and on what.
    action: Action,
    target: String,
}

impl Call {
    fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The audited action of a request to `route` and its target: a rule, a
/// vault, a snapshot, a restore test; for a read, the method and path.
fn audited(route: &Route, params: &HashMap<String, String>, path: &str) -> (Action, String) {
    let p = |n: &str| params.get(n).cloned().unwrap_or_default();
    match route.op.action() {
        Some(a) => (
            a,
            match route.op {
                Op::RuleRun => format!("{}/{}", p("plan"), p("rule")),
                Op::Verify | Op::Forget => p("vault"),
                Op::RestoreTestRun => p("name"),
                _ => p("snapshot"),
            },
        ),
        None => (Action::ApiRead, format!("{} {path}", route.method)),
    }
}

/// The API's one way into the audit trail: records `action` on `target`
/// by `actor` with its `outcome`. A failure is logged and returned.
fn audit_api(
    catalog: &Catalog,
    actor: &Actor,
    action: Action,
    target: &str,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<(), audit::AuditError> {
    audit::record(catalog, actor, action, Some(target), outcome, now)
        .map(|_| ())
        .inspect_err(|e| tracing::error!("{e}"))
}

/// Records a request refused with 401 or 403 (nothing ran) and returns
/// the refusal. A failure to record does not change the answer.
fn refuse(
    catalog: &Catalog,
    actor: &Actor,
    (action, target): (Action, &str),
    e: ApiError,
    now: Timestamp,
) -> ApiError {
    let outcome = Outcome::Refused(format!("{}: {}", e.0, e.1));
    let _ = audit_api(catalog, actor, action, target, &outcome, now);
    e
}

fn path_params(template: &str, path: &str) -> HashMap<String, String> {
    let full = format!("{PREFIX}{template}");
    full.split('/')
        .zip(path.split('/'))
        .filter_map(|(t, v)| {
            t.strip_prefix('{')
                .and_then(|t| t.strip_suffix('}'))
                .map(|n| (n.to_string(), v.to_string()))
        })
        .collect()
}

async fn handle(s: AppState, route: &'static Route, req: Request) -> Response {
    let remote = req
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0 .0.to_string());
    let auth_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let params = path_params(route.path, req.uri().path());
    let (action, target) = audited(route, &params, req.uri().path());
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let is_post = req.method() == Method::POST;
    let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad(format!("cannot read the request body: {e}")).into_response()
        }
    };
    let r = tokio::task::spawn_blocking(move || {
        let now = Timestamp::now();
        let principal = match auth::authenticate(&s.catalog, auth_header.as_deref(), now) {
            Ok(p) => p,
            Err(e @ (AuthError::Missing | AuthError::Invalid)) => {
                let e = ApiError(StatusCode::UNAUTHORIZED, e.to_string());
                let anon = Actor::Unauthenticated { remote };
                return Err(refuse(&s.catalog, &anon, (action, &target), e, now));
            }
            Err(e) => return Err(ApiError::internal(e)),
        };
        let actor = Actor::Token {
            principal: principal.clone(),
            remote,
        };
        if principal.role < route.role {
            let e = ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "token `{}` has role {}; {} {}{} needs {}",
                    principal.name, principal.role, route.method, PREFIX, route.path, route.role
                ),
            );
            return Err(refuse(&s.catalog, &actor, (action, &target), e, now));
        }
        let body = match parse_body(is_post, &body) {
            Ok(b) => b,
            Err(e) => {
                if action != Action::ApiRead {
                    let o = Outcome::Error(e.1.clone());
                    let _ = audit_api(&s.catalog, &actor, action, &target, &o, now);
                }
                return Err(e);
            }
        };
        let call = Call {
            route,
            params,
            query,
            body,
            actor,
            principal,
            action,
            target,
        };
        run(&s, &call, now)
    })
    .await;
    match r {
        Ok(Ok((code, v))) => (code, axum::Json(v)).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal(format!("the request failed: {e}")).into_response(),
    }
}

fn parse_body(is_post: bool, body: &Bytes) -> Result<Value, ApiError> {
    if !is_post || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the request body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad("the request body must be a JSON object"));
    }
    Ok(v)
}

type Answer = Result<(StatusCode, Value), ApiError>;

fn ok(v: impl serde::Serialize) -> Answer {
    Ok((
        StatusCode::OK,
        serde_json::to_value(v).map_err(ApiError::internal)?,
    ))
}

/// Runs one operation. Actions are recorded in the audit trail with their
/// outcome (reads are not; their 401 and 403 were, by [`handle`]).
fn run(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let config = &s.config;
    let catalog = &s.catalog;
    match c.route.op {
        Op::OpenApi => {
            let v: Value = serde_json::from_str(OPENAPI).map_err(ApiError::internal)?;
            return ok(v);
        }
        Op::Vaults => return ok(vaults(config)),
        Op::Sources => return sources(config, catalog, now),
        Op::Rules => return ok(rules(config, now)),
        Op::Jobs => return jobs(catalog, &c.query),
        Op::Job => return job(catalog, c.param("id")),
        Op::Snapshots => return snapshots(config, c.param("vault")),
        Op::SnapshotFiles => {
            return snapshot_files(
                config,
                c.param("vault"),
                c.param("snapshot"),
                c.query.get("path").map_or("/", String::as_str),
            )
        }
        Op::RestoreTests => return restore_tests(catalog, &c.query),
        Op::Report => return report(config, catalog, now, &c.query),
        Op::Events => return events(catalog, now, &c.query),
        Op::RuleRun
        | Op::Verify
        | Op::RestoreTestRun
        | Op::Forget
        | Op::Hold
        | Op::Release
        | Op::Restore => {}
    }
    let dry_run = c.route.op == Op::Forget && c.body.get("dry_run") != Some(&json!(false));
    let action = if dry_run {
        Action::ForgetPreview
    } else {
        c.action
    };
    if c.route.op == Op::Forget && !dry_run && c.principal.role < Role::Admin {
        // Refused like a 403 by route: recorded as refused, nothing tried.
        let e = ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` has role {}; forgetting for real (`dry_run: false`) needs admin (operators may preview with `dry_run: true`)",
                c.principal.name, c.principal.role
            ),
        );
        return Err(refuse(catalog, &c.actor, (action, &c.target), e, now));
    }
    let r = match c.route.op {
        Op::RuleRun => rule_run(s, c),
        Op::Verify => verify(s, c, now),
        Op::RestoreTestRun => restore_test_run(s, c),
        Op::Forget => forget(config, c, now, dry_run),
        Op::Hold => hold(config, c, now),
        Op::Release => release(config, c),
        Op::Restore => restore(s, c, now),
        _ => unreachable!("reads returned above"),
    };
    let outcome = match &r {
        Err(e) => Outcome::Error(e.1.clone()),
        // A forget that a lock or a hold refused in part answers 200 with
        // the refusals: for the audit trail it did not do what was asked.
        Ok((_, v)) if action == Action::Forget => match v["refusals"].as_array() {
            Some(rs) if !rs.is_empty() => Outcome::Error(
                rs.iter()
                    .map(|r| r.as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => Outcome::Ok,
        },
        Ok(_) => Outcome::Ok,
    };
    if let Err(e) = audit_api(catalog, &c.actor, action, &c.target, &outcome, now) {
        return Err(ApiError::internal(format!(
            "{e}; the action ran but was not recorded"
        )));
    }
    r
}

fn vaults(config: &Config) -> Value {
    json!(config
        .vaults
        .iter()
        .map(|v| json!({"name": v.name, "url": v.url, "tier": format!("{:?}", v.tier).to_lowercase(), "storage_class": v.storage_class}))
        .collect::<Vec<_>>())
}

fn sources(config: &Config, catalog: &Catalog, now: Timestamp) -> Answer {
    let probe = crate::health::wal_probe(|v| crate::runner::open_vault(config, v));
    let mut out = Vec::new();
    for src in &config.sources {
        let h = crate::health::source_health(config, catalog, src, now, &probe)
            .map_err(ApiError::internal)?;
        out.push(json!({
            "name": src.name,
            "kind": format!("{:?}", src.kind).to_lowercase(),
            "tags": src.tags,
            "status": crate::health::Status::overall(&h).as_str(),
            "health": h,
        }));
    }
    ok(out)
}

fn rules(config: &Config, now: Timestamp) -> Value {
    json!(config
        .plans
        .iter()
        .map(|p| json!({
            "name": p.name,
            "rules": p.rules.iter().map(|r| json!({
                "id": format!("{}/{}", r.plan, r.name),
                "name": r.name,
                "vault": r.vault,
                "sources": r.sources,
                // As written in the configuration (Display), not the
                // parsed form's Debug.
                "schedule": r.schedule.to_string(),
                "next_run": r.schedule.next_after(now, &r.timezone).map(|t| t.to_string()),
            })).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}

fn parse_list<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
) -> Result<Vec<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    match q.get(key) {
        None => Ok(Vec::new()),
        Some(v) => v
            .split(',')
            .map(|x| {
                x.parse()
                    .map_err(|e: T::Err| ApiError::bad(format!("{key}: {e}")))
            })
            .collect(),
    }
}

fn limit(q: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    q.get("limit")
        .map(|l| {
            l.parse()
                .map_err(|_| ApiError::bad(format!("limit `{l}` is not a number")))
        })
        .unwrap_or(Ok(default))
}

fn jobs(catalog: &Catalog, q: &HashMap<String, String>) -> Answer {
    let f = JobFilter {
        states: parse_list(q, "state")?,
        kinds: parse_list(q, "kind")?,
        plan: q.get("plan").cloned(),
        rule: q.get("rule").cloned(),
        source: q.get("source").cloned(),
        vault: q.get("vault").cloned(),
        since: None,
        limit: Some(limit(q, 100)?),
    };
    ok(catalog.list_jobs(&f).map_err(ApiError::internal)?)
}

fn job(catalog: &Catalog, id: &str) -> Answer {
    let id: JobId = id
        .parse()
        .map_err(|_| ApiError::bad(format!("`{id}` is not a job id")))?;
    let j = catalog.get_job(id).map_err(|e| {
        if e.is_not_found() {
            ApiError::not_found(e.to_string())
        } else {
            ApiError::internal(e)
        }
    })?;
    let ev = catalog.job_events(id).map_err(ApiError::internal)?;
    let mut v = serde_json::to_value(j).map_err(ApiError::internal)?;
    v["events"] = serde_json::to_value(ev).map_err(ApiError::internal)?;
    ok(v)
}

fn open_vault(config: &Config, name: &str) -> Result<coffer_core::Vault, ApiError> {
    if config.vault(name).is_none() {
        return Err(ApiError::not_found(format!(
            "no vault `{name}` in {} (GET {PREFIX}/vaults lists them)",
            config.path.display()
        )));
    }
    crate::runner::open_vault(config, name).map_err(ApiError::internal)
}

fn snapshots(config: &Config, name: &str) -> Answer {
    let v = open_vault(config, name)?;
    let snaps = v
        .snapshots(&SnapshotFilter::default())
        .map_err(ApiError::internal)?;
    let holds: std::collections::HashSet<_> = v
        .holds()
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|h| h.snapshot)
        .collect();
    ok(snaps
        .into_iter()
        .map(|(id, s)| {
            let mut j = serde_json::to_value(&s).unwrap_or(Value::Null);
            j["id"] = json!(id.to_hex());
            j["short_id"] = json!(id.short());
            j["held"] = json!(holds.contains(&id));
            j
        })
        .collect::<Vec<_>>())
}

fn core_error(e: coffer_core::Error) -> ApiError {
    match e.kind() {
        coffer_core::ErrorKind::NotFound => ApiError::not_found(e.to_string()),
        coffer_core::ErrorKind::InvalidInput => ApiError::bad(e.to_string()),
        _ => ApiError::internal(e),
    }
}

/// The entries of one directory of a snapshot (what `coffer ls` walks),
/// for the dashboard's snapshot browser.
fn snapshot_files(config: &Config, vault: &str, snapshot: &str, path: &str) -> Answer {
    let v = open_vault(config, vault)?;
    let (id, snap) = v
        .find_snapshot(snapshot, &SnapshotFilter::default())
        .map_err(core_error)?;
    let index = v.load_index().map_err(core_error)?;
    let dir = path.trim_end_matches('/');
    let tree = match v.find_node(&index, &snap.tree, dir).map_err(core_error)? {
        None => snap.tree,
        Some(n) => n.subtree.ok_or_else(|| {
            ApiError::bad(format!(
                "{path} in snapshot {} is not a directory",
                id.short()
            ))
        })?,
    };
    let entries: Vec<Value> = v
        .load_tree(&index, &tree)
        .map_err(core_error)?
        .nodes
        .iter()
        .map(|n| {
            json!({
                "name": n.display_name(),
                "path": format!("{dir}/{}", n.display_name()),
                "type": format!("{:?}", n.kind).to_lowercase(),
                "size": n.size,
                "mode": format!("{:o}", n.mode),
                "user": n.user,
                "group": n.group,
                "mtime": jiff::Timestamp::from_second(n.mtime.secs).ok().map(|t| t.to_string()),
            })
        })
        .collect();
    ok(
        json!({"snapshot": id.to_hex(), "path": if dir.is_empty() { "/" } else { dir }, "entries": entries}),
    )
}

fn restore_tests(catalog: &Catalog, q: &HashMap<String, String>) -> Answer {
    let f = JobFilter {
        kinds: vec![crate::catalog::JobKind::RestoreTest],
        source: q.get("source").cloned(),
        limit: Some(limit(q, 50)?),
        ..Default::default()
    };
    ok(catalog.list_jobs(&f).map_err(ApiError::internal)?)
}

fn report(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    q: &HashMap<String, String>,
) -> Answer {
    let since = crate::catalog::parse_since(q.get("since").map_or("30d", String::as_str), now)
        .map_err(|e| ApiError::bad(format!("since: {e}")))?;
    let opener = |v: &str| crate::runner::open_vault(config, v);
    ok(crate::report::build(config, catalog, now, since, &opener).map_err(ApiError::internal)?)
}

fn events(catalog: &Catalog, now: Timestamp, q: &HashMap<String, String>) -> Answer {
    let since = crate::catalog::parse_since(q.get("since").map_or("24h", String::as_str), now)
        .map_err(|e| ApiError::bad(format!("since: {e}")))?;
    let f = crate::events::EventFilter {
        after_id: q
            .get("after_id")
            .map(|a| {
                a.parse()
                    .map_err(|_| ApiError::bad("after_id is not a number"))
            })
            .transpose()?,
        since: Some(since),
        names: parse_list(q, "name")?,
        min_severity: q
            .get("severity")
            .map(|s| {
                s.parse()
                    .map_err(|e: crate::catalog::ParseError| ApiError::bad(e.to_string()))
            })
            .transpose()?,
        source: q.get("source").cloned(),
        limit: Some(limit(q, 200)?),
    };
    ok(catalog.events(&f).map_err(ApiError::internal)?)
}

fn accepted(v: Value) -> Answer {
    Ok((StatusCode::ACCEPTED, v))
}

fn rule_run(s: &AppState, c: &Call) -> Answer {
    let id = format!("{}/{}", c.param("plan"), c.param("rule"));
    let Some(rule) = s.config.rule(&id) else {
        return Err(ApiError::not_found(format!(
            "no rule `{id}` in {} (GET {PREFIX}/rules lists them)",
            s.config.path.display()
        )));
    };
    let only = c
        .body
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(src) = &only {
        if !rule.sources.contains(src) {
            return Err(ApiError::bad(format!(
                "rule {id} does not back up source `{src}` (it backs up: {})",
                rule.sources.join(", ")
            )));
        }
    }
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    let rid = id.clone();
    std::thread::spawn(move || {
        let r = crate::daemon::run_rule_now(
            &config,
            catalog,
            &rid,
            only.as_deref(),
            &Cancel::default(),
            None,
            Trigger::Api,
        );
        if let Err(e) = r {
            tracing::error!("rule {rid} started through the API: {e}");
        }
    });
    accepted(
        json!({"rule": id, "status": "started", "jobs": format!("{PREFIX}/jobs?kind=backup&plan={}&rule={}", c.param("plan"), c.param("rule"))}),
    )
}

fn verify(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let name = c.param("vault").to_string();
    if s.config.vault(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "no vault `{name}` in {}",
            s.config.path.display()
        )));
    }
    let data = match c.body.get("read_data_subset").and_then(Value::as_str) {
        Some(sub) => crate::model::VerifyData::parse_subset(sub)
            .map_err(|m| ApiError::bad(format!("read_data_subset {m}")))?,
        None if c.body.get("read_data") == Some(&json!(true)) => crate::model::VerifyData::All,
        None => crate::model::VerifyData::Structure,
    };
    let id = s
        .catalog
        .create_job(&crate::verify::new_job(&name, None, Trigger::Api))
        .map_err(ApiError::internal)?;
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    std::thread::spawn(move || {
        let vault = crate::runner::open_vault(&config, &name);
        crate::verify::run_job(&catalog, id, &name, vault, data, &Cancel::default(), now);
    });
    accepted(json!({"job_id": id.0, "job": format!("{PREFIX}/jobs/{}", id.0)}))
}

/// Restores a files snapshot (optionally `subpath` and `include` globs of
/// the body) into a new directory under the state directory's `restores/`,
/// as a `restore` job: the client names no server path, so the API can
/// write nowhere else. Streams (database dumps) are restored with the CLI.
fn restore(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let vault = c.param("vault").to_string();
    let v = open_vault(&s.config, &vault)?;
    let (id, snap) = v
        .find_snapshot(c.param("snapshot"), &SnapshotFilter::default())
        .map_err(core_error)?;
    if snap.source.kind != "files" {
        return Err(ApiError::bad(format!(
            "snapshot {} holds a {} stream: restore it with `coffer restore {} --to-file|--postgres|...`",
            id.short(),
            snap.source.kind,
            id.short()
        )));
    }
    let includes: Vec<String> = match c.body.get("include") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad("include: give a list of globs (strings)"))?,
        Some(_) => return Err(ApiError::bad("include: give a list of globs")),
    };
    let includes = coffer_sources::filter::Patterns::new(&includes, "include")
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let subpath = c
        .body
        .get("subpath")
        .and_then(Value::as_str)
        .map(str::to_string);
    let target = s.config.state_dir.join("restores").join(format!(
        "{vault}-{}-{}",
        id.short(),
        now.strftime("%Y%m%dT%H%M%SZ")
    ));
    let mut job = crate::catalog::NewJob::new(crate::catalog::JobKind::Restore, Trigger::Api);
    job.vault = Some(vault.clone());
    job.source = snap
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("source:"))
        .map(str::to_string);
    let job_id = s.catalog.create_job(&job).map_err(ApiError::internal)?;
    let catalog = s.catalog.clone();
    let t2 = target.clone();
    std::thread::spawn(move || {
        if catalog.start_job(job_id).is_err() {
            return;
        }
        // The one restore of every front end: names are validated as trees
        // decode, and a hostile snapshot fails the job naming its path.
        let run = || -> Result<coffer_sources::files::RestoreStats, String> {
            let index = v.load_index().map_err(|e| e.to_string())?;
            let destination = coffer_sources::restore::Destination::Directory {
                target: t2.clone(),
                includes,
                subpath,
            };
            let context = destination.context(&id);
            let req = coffer_sources::restore::RestoreRequest {
                vault: &v,
                index: &index,
                id,
                snapshot: &snap,
                destination,
                cancel: None,
            };
            coffer_sources::restore::restore(req, &Default::default())
                .map(|o| o.files.unwrap_or_default())
                .map_err(|e| format!("{context}: {e}"))
        };
        let o = match run() {
            Ok(st) => crate::catalog::JobOutcome {
                details: Some(json!({
                    "snapshot": id.to_string(),
                    "target": t2,
                    "files": st.files,
                    "bytes": st.bytes,
                    "warnings": st.warnings,
                })),
                counters: crate::catalog::JobCounters {
                    bytes_read: st.bytes,
                    warnings: st.warnings.len() as u64,
                    ..Default::default()
                },
                ..crate::catalog::JobOutcome::new(crate::catalog::JobState::Completed)
            },
            Err(e) => crate::catalog::JobOutcome::failed(e),
        };
        let _ = catalog.finish_job(job_id, &o);
    });
    accepted(json!({
        "job_id": job_id.0,
        "job": format!("{PREFIX}/jobs/{}", job_id.0),
        "target": target,
    }))
}

fn restore_test_run(s: &AppState, c: &Call) -> Answer {
    let name = c.param("name").to_string();
    if s.config.restore_test(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "no restore test `{name}` in {}",
            s.config.path.display()
        )));
    }
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    let n = name.clone();
    std::thread::spawn(move || {
        if let Err(e) =
            crate::restore_test::run(&config, &catalog, &n, Trigger::Api, &Cancel::default())
        {
            tracing::error!("restore test {n} started through the API: {e}");
        }
    });
    accepted(
        json!({"restore_test": name, "status": "started", "jobs": format!("{PREFIX}/restore-tests")}),
    )
}

fn actor_name(c: &Call) -> String {
    format!("token:{} (api)", c.principal.name)
}

fn find(v: &coffer_core::Vault, name: &str) -> Result<coffer_core::Id, ApiError> {
    v.find_snapshot(name, &SnapshotFilter::default())
        .map(|(id, _)| id)
        .map_err(|e| match e.kind() {
            coffer_core::ErrorKind::NotFound => ApiError::not_found(e.to_string()),
            _ => ApiError::bad(e.to_string()),
        })
}

fn forget(config: &Config, c: &Call, now: Timestamp, dry_run: bool) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let names: Vec<String> = match c.body.get("snapshots") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        return Err(ApiError::bad(
            "give the snapshots to forget: {\"snapshots\": [\"ID\", …], \"dry_run\": true}",
        ));
    }
    let mut ids = Vec::new();
    for n in &names {
        ids.push(find(&v, n)?);
    }
    let opts = coffer_core::ForgetOptions {
        policy: Default::default(),
        filter: SnapshotFilter::default(),
        ids,
        group_by: Default::default(),
        bypass_governance: c.body.get("bypass_governance") == Some(&json!(true)),
        now,
        time_zone: jiff::tz::TimeZone::UTC,
    };
    let plan = coffer_core::plan_forget(&v, &opts).map_err(|e| ApiError::bad(e.to_string()))?;
    let stats = if dry_run {
        None
    } else {
        Some(coffer_core::execute_forget(&v, &plan).map_err(ApiError::internal)?)
    };
    let mut refusals = plan.refusals();
    if let Some(s) = &stats {
        refusals.extend(s.refused.iter().map(|r| r.message.clone()));
    }
    ok(json!({"dry_run": dry_run, "plan": plan, "stats": stats, "refusals": refusals}))
}

fn hold(config: &Config, c: &Call, now: Timestamp) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let sid = find(&v, c.param("snapshot"))?;
    let reason = c.body.get("reason").and_then(Value::as_str).unwrap_or("");
    let (h, new) = v
        .hold_snapshot(&sid, reason, &actor_name(c), now)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut j = serde_json::to_value(&h).map_err(ApiError::internal)?;
    j["new"] = json!(new);
    ok(j)
}

fn release(config: &Config, c: &Call) -> Answer {
    let v = open_vault(config, c.param("vault"))?;
    let sid = find(&v, c.param("snapshot"))?;
    let h = v
        .release_snapshot(&sid)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of [`ROUTES`] is in docs/openapi.json with its method,
    /// and the document has no route the router lacks.
    #[test]
    fn openapi_matches_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (p, ops) in paths {
            for m in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&m.as_str()) {
                    documented.insert((m.to_uppercase(), p.clone()));
                }
            }
        }
        let served: std::collections::BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), format!("{PREFIX}{}", r.path)))
            .collect();
        assert_eq!(
            documented, served,
            "docs/openapi.json and api::ROUTES differ"
        );
        for r in ROUTES {
            let op = &paths[&format!("{PREFIX}{}", r.path)][r.method.to_lowercase()];
            assert_eq!(
                op["x-coffer-role"].as_str(),
                Some(r.role.as_str()),
                "{} {}: x-coffer-role",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn params_from_path() {
        let p = path_params("/rules/{plan}/{rule}/run", "/api/v1/rules/daily/db/run");
        assert_eq!(p["plan"], "daily");
        assert_eq!(p["rule"], "db");
    }
}
