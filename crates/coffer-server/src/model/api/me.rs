//! Who the caller is: `GET /whoami` ([`WhoAmI`]): its token's name and
//! role, and every operation of the API with the role it needs and whether
//! this token may call it ([`OperationAccess`]), so a client (the
//! dashboard) shows only what the server would allow.

use crate::auth::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of `GET /whoami`. It never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The token's name (`coffer token create --name`).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Every operation of the API, from the route table the server enforces.
    pub operations: Vec<OperationAccess>,
}

/// One operation of the API and whether the caller may call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationAccess {
    /// Its `operationId` in the OpenAPI document (`ruleRun`, `restore`,
    /// `hold`, …); `forgetForReal` is `forget` with `dry_run: false`.
    pub operation: String,
    /// `GET` or `POST`.
    pub method: String,
    /// Its path, with `{param}` segments (`/api/v1/rules/{plan}/{rule}/run`).
    pub path: String,
    /// The lowest role allowed.
    pub role: Role,
    /// Whether this token's role may call it.
    pub allowed: bool,
}
