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
//! (`http::rule_run::run_rule_now`, `verify::run_job`, `restore_test::run`,
//! `plan_forget`/`execute_forget`, `Vault::hold_snapshot`, …) on a blocking
//! thread. Actions (`POST`) are recorded in the audit trail
//! ([`crate::audit`], through [`audit_api`](dispatch::audit_api)) with the
//! token's name and role, the client's address and their real outcome (a
//! forget a lock refused in part is an error with the refusals); jobs they
//! start run in the background and the answer is `202`. Requests refused
//! with 401 or 403, reads too, are recorded as `refused` with the reason.
//!
//! Files: the route table and the router are here; `route` says what a
//! route is; `dispatch` is the path every request takes (authentication,
//! role, audit); `respond` holds the shared request and response helpers;
//! one file per resource area holds its operations (`vaults`, `sources`,
//! `rules`, `jobs`, `snapshots`, `restore`, `restore_tests`, `report`,
//! `events`, `forget`, `holds` for legal holds).

mod dispatch;
mod events;
mod forget;
mod holds;
mod jobs;
mod report;
mod respond;
mod restore;
mod restore_tests;
mod route;
mod rules;
mod snapshots;
mod sources;
mod vaults;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;

pub use respond::Peer;
pub use route::{Op, Route, OPENAPI, PREFIX};

use crate::auth::Role;
use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::routing::{on, MethodFilter};
use axum::Router;

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
                dispatch::handle(s, route, req)
            }),
        );
    }
    router
}
