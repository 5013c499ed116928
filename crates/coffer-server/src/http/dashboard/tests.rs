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

/// The operation of each `gate(button, 'op')` call of app.js: the last
/// string literal before the call's closing parenthesis.
fn gated_operations() -> Vec<&'static str> {
    let mut out = Vec::new();
    for (at, _) in APP_JS.match_indices("gate(") {
        if APP_JS[..at].ends_with("function ") {
            continue;
        }
        let rest = &APP_JS[at + "gate(".len()..];
        let (mut depth, mut quote, mut last) = (0i32, None::<usize>, "");
        for (i, c) in rest.char_indices() {
            match (c, quote) {
                ('\'', Some(q)) => {
                    last = &rest[q + 1..i];
                    quote = None;
                }
                (_, Some(_)) => {}
                ('\'', None) => quote = Some(i),
                ('(', None) => depth += 1,
                (')', None) if depth == 0 => break,
                (')', None) => depth -= 1,
                _ => {}
            }
        }
        out.push(last);
    }
    out
}

#[test]
fn every_gated_button_names_an_operation_of_the_route_table() {
    // Each is an operation id `GET /whoami` reports.
    let ids: Vec<&str> = crate::api::ROUTES
        .iter()
        .map(|r| r.op.id())
        .chain([crate::api::FORGET_FOR_REAL_ID])
        .collect();
    let gated = gated_operations();
    for op in &gated {
        assert!(
            ids.contains(op),
            "app.js gates a button on `{op}`, which is no operation"
        );
    }
    // Every action the dashboard offers is gated on its role.
    for op in [
        "ruleRun",
        "verify",
        "restoreTestRun",
        "restore",
        "hold",
        "release",
        "forgetForReal",
    ] {
        assert!(gated.contains(&op), "no button of app.js is gated on {op}");
    }
}
