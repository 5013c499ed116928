//! The web dashboard: plain HTML, CSS and JavaScript embedded in the binary
//! and served by `coffer serve` at `/` and `/ui/…` (see docs/dashboard.md).
//!
//! The pages hold no data and need no token to load: everything they show
//! comes from the HTTP API ([`crate::api`]) with the bearer token the user
//! types in, so the dashboard can do exactly what that token's role may and
//! nothing else. The header names the token and its role, and the buttons
//! its role may not press are disabled, both from `GET /api/v1/whoami`
//! (computed from the route table the server enforces). No external asset
//! is loaded (no CDN); a strict Content-Security-Policy keeps it that way.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page (one document; the views are switched by its script).
pub const INDEX_HTML: &str = include_str!("../../assets/index.html");
/// The stylesheet.
pub const APP_CSS: &str = include_str!("../../assets/app.css");
/// The script.
pub const APP_JS: &str = include_str!("../../assets/app.js");

/// Scripts, styles, images and API calls from this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// Adds the dashboard's routes to `router`: `/`, `/ui`, `/ui/app.css`,
/// `/ui/app.js`, and any other `/ui/…` path (the page itself).
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/app.css", get(css))
        .route("/ui/app.js", get(js))
        .route("/ui/{*rest}", get(index))
}

#[cfg(test)]
mod tests;
