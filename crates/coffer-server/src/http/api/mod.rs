//! The HTTP API under `/api/v1` (JSON), served by `coffer serve` beside
//! `/metrics` (see docs/api.md and docs/openapi.json).
//!
//! Every route is one row of [`ROUTES`]: method, path, the lowest
//! [`Role`](crate::auth::Role) allowed, and the operation. The router is
//! built from that table, and so are the OpenAPI document
//! ([`openapi_document`], served at `GET /api/v1/openapi.json`; its schemas
//! come from the request and answer types of [`crate::model::api`]) and the
//! role test, so a route cannot exist without its document entry and its
//! role. Each request is
//! authenticated first (`Authorization: Bearer TOKEN`): no token or an
//! unknown, revoked or expired one is `401` with `WWW-Authenticate:
//! Bearer`; a role too low is `403`; in both cases nothing runs.
//!
//! Every operation calls the same function the command line does
//! (`rule_run::run_rule_now`, `verify::run_job`, `restore_test::run`,
//! `plan_forget`/`execute_forget`, `Vault::hold_snapshot`, …) on a blocking
//! thread. Actions (`POST`) are recorded in the audit trail
//! ([`crate::audit`], through [`audit_api`](dispatch::audit_api)) with the
//! token's name and role, the client's address and their real outcome (a
//! forget a lock refused in part is an error with the refusals); jobs they
//! start run in the background and the answer is `202`. Requests refused
//! with 401 or 403, reads too, are recorded as `refused` with the reason.
//!
//! Files: the router is here; `table` is the route table; `route` says
//! what a route is; `openapi` generates the document; `dispatch` is the
//! path every request takes (authentication, role, audit); `respond` holds
//! the shared request and response helpers (and `view`, which reads a core
//! type's JSON as the API's view of it); one file per resource area holds
//! its operations (`vaults`, `sources`, `rules`, `jobs`, `snapshots`,
//! `restore`, `restore_tests`, `report`, `events`, `forget`, `holds` for
//! legal holds, `me` for `GET /whoami`: the caller's token name, role and
//! what it may do, computed from the route table). `tests` checks the document, `view_tests` the views.

mod dispatch;
mod events;
mod forget;
mod holds;
mod jobs;
mod me;
mod openapi;
mod report;
mod respond;
mod restore;
mod restore_tests;
mod route;
mod rules;
mod snapshots;
mod sources;
mod table;
mod vaults;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod view_tests;

pub use me::FORGET_FOR_REAL_ID;
pub use openapi::openapi_document;
pub use respond::Peer;
pub use route::{Op, Route, FORGET_FOR_REAL, PREFIX};
pub use table::ROUTES;

use crate::http::state::AppState;
use axum::extract::{Request, State};
use axum::routing::{on, MethodFilter};
use axum::Router;

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
