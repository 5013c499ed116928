//! The one path every API request takes: read the request, authenticate
//! its bearer token (`401` with `WWW-Authenticate: Bearer` when missing,
//! unknown, revoked or expired), check the route's role (`403`), parse the
//! body, run the operation on a blocking thread, and record actions and
//! refusals in the audit trail ([`crate::audit`]).

use crate::audit::{self, Action, Actor, Outcome};
use crate::auth::{self, AuthError};
use crate::catalog::Catalog;
use crate::http::api::events;
use crate::http::api::forget;
use crate::http::api::holds;
use crate::http::api::jobs;
use crate::http::api::me;
use crate::http::api::openapi::openapi_document;
use crate::http::api::report;
use crate::http::api::respond::{ok, parse_body, path_params, Answer, ApiError, Call, Peer};
use crate::http::api::restore;
use crate::http::api::restore_tests;
use crate::http::api::route::{Op, Route, FORGET_FOR_REAL, PREFIX};
use crate::http::api::rules;
use crate::http::api::snapshots;
use crate::http::api::sources;
use crate::http::api::vaults;
use crate::http::state::AppState;
use crate::model::ErrorKind;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;
use std::collections::HashMap;

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
pub(super) fn audit_api(
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
    let outcome = Outcome::Refused(format!("{}: {}", e.status(), e.0.message));
    let _ = audit_api(catalog, actor, action, target, &outcome, now);
    e
}

pub(super) async fn handle(s: AppState, route: &'static Route, req: Request) -> Response {
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
                let e = ApiError::of(ErrorKind::Unauthenticated, e.to_string());
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
            let e = ApiError::of(
                ErrorKind::Forbidden,
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
                    let o = Outcome::Error(e.0.message.clone());
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

/// Runs one operation. Actions are recorded in the audit trail with their
/// outcome (reads are not; their 401 and 403 were, by [`handle`]).
fn run(s: &AppState, c: &Call, now: Timestamp) -> Answer {
    let config = &s.config;
    let catalog = &s.catalog;
    match c.route.op {
        Op::OpenApi => return ok(openapi_document()),
        Op::Vaults => return ok(vaults::vaults(config)),
        Op::Sources => return sources::sources(config, catalog, now),
        Op::Rules => return ok(rules::rules(config, now)),
        Op::Jobs => return jobs::jobs(catalog, &c.query),
        Op::Job => return jobs::job(catalog, c.param("id")),
        Op::Snapshots => return snapshots::snapshots(config, c.param("vault")),
        Op::SnapshotFiles => {
            return snapshots::snapshot_files(
                config,
                c.param("vault"),
                c.param("snapshot"),
                c.query.get("path").map_or("/", String::as_str),
            )
        }
        Op::RestoreTests => return restore_tests::restore_tests(catalog, &c.query),
        Op::Report => return report::report(config, catalog, now, &c.query),
        Op::Events => return events::events(catalog, now, &c.query),
        Op::WhoAmI => return ok(me::whoami(&c.principal)),
        Op::Fleet => return ok(crate::fleet::view::stored(catalog).map_err(ApiError::internal)?),
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
    if c.route.op == Op::Forget && !dry_run && c.principal.role < FORGET_FOR_REAL {
        // Refused like a 403 by route: recorded as refused, nothing tried.
        let e = ApiError::of(
            ErrorKind::Forbidden,
            format!(
                "token `{}` has role {}; forgetting for real (`dry_run: false`) needs {FORGET_FOR_REAL} (operators may preview with `dry_run: true`)",
                c.principal.name, c.principal.role
            ),
        );
        return Err(refuse(catalog, &c.actor, (action, &c.target), e, now));
    }
    let r = match c.route.op {
        Op::RuleRun => rules::rule_run(s, c),
        Op::Verify => vaults::verify(s, c, now),
        Op::RestoreTestRun => restore_tests::restore_test_run(s, c),
        Op::Forget => forget::forget(config, c, now, dry_run),
        Op::Hold => holds::hold(config, c, now),
        Op::Release => holds::release(config, c),
        Op::Restore => restore::restore(s, c, now),
        _ => unreachable!("reads returned above"),
    };
    let outcome = match &r {
        Err(e) => Outcome::Error(e.0.message.clone()),
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
