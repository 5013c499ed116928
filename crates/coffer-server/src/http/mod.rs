//! `coffer serve`'s HTTP listener (`[server] listen`).
//!
//! [`router`] builds every route from an [`AppState`]; the HTTP API and the
//! web dashboard add theirs there. Routes now:
//!
//! - `GET /metrics`: Prometheus metrics ([`crate::metrics`]);
//! - `GET /healthz`: `200 {"status": "ok", …}` while the daemon runs and its
//!   catalog answers, `503` otherwise;
//! - `/api/v1/…`: the HTTP API ([`api`]), with bearer tokens;
//! - `/` and `/ui/…`: the web dashboard ([`dashboard`]).
//!
//! With `[server] tls_cert` and `tls_key` every route is served over TLS
//! (rustls) instead of plain HTTP.
//!
//! The server runs on a small tokio runtime of its own beside the
//! synchronous scheduler loop. Handlers never touch the catalog or a vault
//! on a runtime worker: they read through `spawn_blocking`.
//!
//! Files: [`router`] is here; `state` holds the [`AppState`] every handler
//! reads; `listener` the listener ([`HttpServer`], plain or TLS);
//! `monitoring` the `/metrics` and `/healthz` handlers; [`api`] the HTTP
//! API; [`dashboard`] the web dashboard.

pub mod api;
pub mod dashboard;
mod listener;
mod monitoring;
pub(crate) mod state;

pub use listener::{HttpError, HttpServer, TlsListener};
pub use state::AppState;

use axum::routing::get;
use axum::Router;

/// Every route of the daemon's HTTP server.
pub fn router(state: AppState) -> Router {
    dashboard::routes(api::routes(
        Router::new()
            .route("/metrics", get(monitoring::metrics))
            .route("/healthz", get(monitoring::healthz)),
    ))
    .with_state(state)
}
