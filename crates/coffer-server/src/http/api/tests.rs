//! The route table's tests: docs/openapi.json documents exactly the
//! routes of [`super::ROUTES`] with their roles; path parameters.

use super::respond::path_params;
use super::*;
use serde_json::Value;

/// Every route of [`ROUTES`] is in docs/openapi.json with its method,
/// and the document has no route the router lacks.
#[test]
fn openapi_matches_routes() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (p, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&m.as_str()) {
                documented.insert((m.to_uppercase(), p.clone()));
            }
        }
    }
    let served: std::collections::BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), format!("{PREFIX}{}", r.path)))
        .collect();
    assert_eq!(
        documented, served,
        "docs/openapi.json and api::ROUTES differ"
    );
    for r in ROUTES {
        let op = &paths[&format!("{PREFIX}{}", r.path)][r.method.to_lowercase()];
        assert_eq!(
            op["x-coffer-role"].as_str(),
            Some(r.role.as_str()),
            "{} {}: x-coffer-role",
            r.method,
            r.path
        );
    }
}

#[test]
fn params_from_path() {
    let p = path_params("/rules/{plan}/{rule}/run", "/api/v1/rules/daily/db/run");
    assert_eq!(p["plan"], "daily");
    assert_eq!(p["rule"], "db");
}
