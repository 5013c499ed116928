//! The route table: every route of the API, one row each ([`ROUTES`]).
//! The router (`super::routes`), the OpenAPI document
//! ([`super::openapi_document`]) and the role test all read it.

use crate::auth::Role;
use crate::http::api::route::{Op, Route};

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
    r("GET", "/whoami", Role::Viewer, Op::WhoAmI),
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
    r("GET", "/fleet", Role::Viewer, Op::Fleet),
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
