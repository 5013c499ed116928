//! The API's shared request and response helpers: the parsed request
//! ([`Call`]) with its path and query parameters and JSON body, the error
//! answer ([`ApiError`], `{"error": "…", "kind": "…"}` with the status its
//! [`ErrorKind`] maps to), the `200` and
//! `202` answers, the client's address ([`Peer`]), and opening a vault or
//! finding a snapshot named in a path.

use crate::audit::{Action, Actor};
use crate::auth::Principal;
use crate::config::Config;
use crate::http::api::route::{Route, PREFIX};
use crate::model::api::ErrorBody;
use crate::model::{ErrorKind, ServerError};
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use coffer_core::SnapshotFilter;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The client's address, for the audit trail (from the plain or the TLS
/// listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// An error answer: `{"error": "…", "kind": "…"}`, with the HTTP status
/// that [`ErrorKind::http_status`] gives its kind (the one table shared
/// with the CLI's exit codes).
#[derive(Debug)]
pub(super) struct ApiError(pub(super) ServerError);

impl ApiError {
    pub(super) fn bad(m: impl Into<String>) -> ApiError {
        ApiError(ServerError::usage(m))
    }
    pub(super) fn not_found(m: impl Into<String>) -> ApiError {
        ApiError(ServerError::not_found(m))
    }
    pub(super) fn internal(m: impl std::fmt::Display) -> ApiError {
        ApiError(ServerError::internal(m.to_string()))
    }
    pub(super) fn of(kind: ErrorKind, m: impl Into<String>) -> ApiError {
        ApiError(ServerError::new(kind, m))
    }
    pub(super) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> ApiError {
        ApiError(e)
    }
}

/// A vault error as an answer: its kind decides the status (a storage
/// outage is 503, a refusal by a lock or hold 400, a missing snapshot 404).
impl From<coffer_core::Error> for ApiError {
    fn from(e: coffer_core::Error) -> ApiError {
        ApiError(ServerError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: self.0.message,
            kind: self.0.kind,
        };
        let mut r = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"coffer\""),
            );
        }
        r
    }
}

/// A request, parsed: what an operation needs.
pub(super) struct Call {
    pub(super) route: &'static Route,
    pub(super) params: HashMap<String, String>,
    pub(super) query: HashMap<String, String>,
    pub(super) body: Value,
    pub(super) actor: Actor,
    pub(super) principal: Principal,
    /// What the audit trail records this request as, and on what.
    pub(super) action: Action,
    pub(super) target: String,
}

impl Call {
    pub(super) fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// The JSON body as the route's request type (`model::api::…Request`,
    /// the type the OpenAPI document names): a field of the wrong type is a
    /// `400` naming it, never silently read as absent. `hint` says what to
    /// send.
    pub(super) fn request<T: serde::de::DeserializeOwned>(
        &self,
        hint: &str,
    ) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(self.body.clone()).map_err(|e| {
            let field = e.path().to_string();
            ApiError::bad(format!(
                "the body of {} {PREFIX}{}: `{field}`: {}; {hint}",
                self.route.method,
                self.route.path,
                e.inner()
            ))
        })
    }
}

pub(super) fn path_params(template: &str, path: &str) -> HashMap<String, String> {
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

pub(super) fn parse_body(is_post: bool, body: &Bytes) -> Result<Value, ApiError> {
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

pub(super) type Answer = Result<(StatusCode, Value), ApiError>;

pub(super) fn ok(v: impl Serialize) -> Answer {
    Ok((
        StatusCode::OK,
        serde_json::to_value(v).map_err(ApiError::internal)?,
    ))
}

pub(super) fn accepted(v: impl Serialize) -> Answer {
    Ok((
        StatusCode::ACCEPTED,
        serde_json::to_value(v).map_err(ApiError::internal)?,
    ))
}

/// `value` (the JSON of a type without a schema of its own: coffer-core's,
/// or another module's) read as the view `T` of `crate::model::api` that
/// mirrors it. A debug build checks that the view writes back exactly the
/// same JSON, so a field the view lacks fails the tests instead of
/// vanishing from the answer.
pub(super) fn view<T: Serialize + DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let t: T = serde_json::from_value(value.clone()).map_err(|e| {
        ApiError::internal(format!(
            "{} does not read its JSON: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    debug_assert_eq!(
        serde_json::to_value(&t).ok().as_ref(),
        Some(&value),
        "the view {} differs from the JSON it mirrors",
        std::any::type_name::<T>()
    );
    Ok(t)
}

/// [`view`] of a serializable value.
pub(super) fn view_of<T: Serialize + DeserializeOwned>(v: &impl Serialize) -> Result<T, ApiError> {
    view(serde_json::to_value(v).map_err(ApiError::internal)?)
}

pub(super) fn parse_list<T: std::str::FromStr>(
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

pub(super) fn limit(q: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    q.get("limit")
        .map(|l| {
            l.parse()
                .map_err(|_| ApiError::bad(format!("limit `{l}` is not a number")))
        })
        .unwrap_or(Ok(default))
}

pub(super) fn open_vault(config: &Config, name: &str) -> Result<coffer_core::Vault, ApiError> {
    if config.vault(name).is_none() {
        return Err(ApiError::not_found(format!(
            "no vault `{name}` in {} (GET {PREFIX}/vaults lists them)",
            config.path.display()
        )));
    }
    crate::runner::open_vault(config, name).map_err(ApiError::from)
}

pub(super) fn actor_name(c: &Call) -> String {
    format!("token:{} (api)", c.principal.name)
}

pub(super) fn find(v: &coffer_core::Vault, name: &str) -> Result<coffer_core::Id, ApiError> {
    v.find_snapshot(name, &SnapshotFilter::default())
        .map(|(id, _)| id)
        .map_err(ApiError::from)
}
