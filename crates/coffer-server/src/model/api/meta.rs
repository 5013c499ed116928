//! What every route shares: the error body ([`ErrorBody`]) of its 4xx and
//! 5xx answers, and the OpenAPI document that `GET /openapi.json` serves
//! ([`OpenApiDocument`]).

use crate::model::error::ErrorKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answer: what went wrong and what to do, and its kind (the kind
/// decides the HTTP status: usage and refused 400, unauthenticated 401,
/// forbidden 403, not-found 404, interrupted 409, damaged and internal
/// 500, config and unavailable 503).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The message: it names the thing and what the caller can do.
    pub error: String,
    /// The kind of failure.
    pub kind: ErrorKind,
}

/// The OpenAPI 3.1 document of the API (generated from the route table
/// and these types; docs/openapi.json is a copy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct OpenApiDocument(pub serde_json::Value);
