//! The monitoring routes: `GET /metrics` (Prometheus metrics,
//! [`crate::metrics`]) and `GET /healthz` (`200 {"status": "ok", …}` while
//! the daemon runs and its catalog answers, `503` otherwise). Both read
//! the catalog through `spawn_blocking`.

use crate::http::state::AppState;
use crate::metrics::MetricsSources;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

pub(super) async fn metrics(State(s): State<AppState>) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        crate::metrics::render(&MetricsSources {
            config: &s.config,
            catalog: &s.catalog,
            storage: &s.storage,
            notify: &s.notify,
            started_at: s.started_at,
        })
    })
    .await;
    match r {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the catalog: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("metrics failed: {e}\n"),
        )
            .into_response(),
    }
}

pub(super) async fn healthz(State(s): State<AppState>) -> Response {
    let started = s.started_at;
    let r = tokio::task::spawn_blocking(move || s.catalog.kv_get("health/ping").map(|_| ())).await;
    let uptime = Timestamp::now().duration_since(started).as_secs_f64();
    let (code, status, error) = match r {
        Ok(Ok(())) => (StatusCode::OK, "ok", None),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            Some(e.to_string()),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            Some(e.to_string()),
        ),
    };
    (
        code,
        axum::Json(serde_json::json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": uptime,
            "error": error,
        })),
    )
        .into_response()
}
