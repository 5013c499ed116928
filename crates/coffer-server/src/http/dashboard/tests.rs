//! The dashboard's tests: only embedded assets, and only API routes that
//! exist.

use super::*;

#[test]
fn page_loads_only_embedded_assets() {
    assert!(INDEX_HTML.contains("/ui/app.js"));
    assert!(INDEX_HTML.contains("/ui/app.css"));
    for text in [INDEX_HTML, APP_CSS, APP_JS] {
        assert!(!text.contains("http://"), "an external http:// reference");
        assert!(!text.contains("https://"), "an external https:// reference");
    }
}

#[test]
fn script_uses_only_api_routes_that_exist() {
    // Every `/api/v1/...` literal in the script matches a route of the table.
    let routes: Vec<&str> = crate::api::ROUTES.iter().map(|r| r.path).collect();
    for lit in APP_JS.split('\'').filter(|s| s.starts_with("/api/v1/")) {
        let p = lit.trim_start_matches(crate::api::PREFIX);
        let head = p.split(['?', '{']).next().unwrap_or(p);
        assert!(
            routes.iter().any(|r| r.starts_with(head)),
            "app.js calls {lit}, which is no API route"
        );
    }
}
