//! The route table's tests: the generated OpenAPI document has exactly the
//! routes of [`super::ROUTES`] with their roles, a schema for every
//! answer, and references that resolve; docs/openapi.json is that
//! document; path parameters.

use super::respond::path_params;
use super::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// docs/openapi.json, from this crate's directory.
fn doc_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// Every route of [`ROUTES`] is in the document once, with its method,
/// its `x-coffer-role` and security `bearer`, and the document has no
/// route the router lacks.
#[test]
fn openapi_matches_routes() {
    let doc = openapi_document();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = BTreeSet::new();
    for (p, ops) in paths {
        for m in ops.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&m.as_str()) {
                documented.insert((m.to_uppercase(), p.clone()));
            }
        }
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), format!("{PREFIX}{}", r.path)))
        .collect();
    assert_eq!(served.len(), ROUTES.len(), "a route is in ROUTES twice");
    assert_eq!(
        documented, served,
        "the OpenAPI document and api::ROUTES differ"
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
        assert_eq!(
            op["security"],
            serde_json::json!([{"bearer": []}]),
            "{} {}: security",
            r.method,
            r.path
        );
    }
}

/// docs/openapi.json is the generated document. With
/// `COFFER_WRITE_OPENAPI=1` the test writes it instead.
#[test]
fn openapi_file_is_current() {
    let want = serde_json::to_string_pretty(&openapi_document()).unwrap() + "\n";
    let path = doc_file();
    if std::env::var_os("COFFER_WRITE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not the document the code generates (http::api::openapi_document): \
         regenerate it with `COFFER_WRITE_OPENAPI=1 cargo test -p coffer-server --lib openapi` \
         and commit it",
        path.display()
    );
}

/// Every `$ref` below `v`, with where it is.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push((at.to_string(), x.as_str().unwrap_or_default().to_string()));
                } else {
                    refs(x, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every `$ref` resolves, no response or request schema is empty (`{}`),
/// every route answers its 2xx with a schema, its errors with
/// `ErrorBody`, and `ErrorBody` is `{error, kind}`.
#[test]
fn openapi_schemas_are_complete() {
    let doc = openapi_document();
    let mut all = Vec::new();
    refs(&doc, "", &mut all);
    assert!(!all.is_empty());
    for (at, r) in &all {
        let target = r
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .unwrap_or_else(|| panic!("{at}: $ref {r} does not resolve"));
        assert!(target.is_object(), "{at}: $ref {r} is not an object");
    }
    let schema_of = |content: &Value, at: &str| -> Value {
        let s = content["application/json"]["schema"].clone();
        assert!(
            s.as_object().is_some_and(|o| !o.is_empty()),
            "{at}: the schema is missing or empty ({s})"
        );
        s
    };
    for (name, resp) in doc["components"]["responses"].as_object().unwrap() {
        let s = schema_of(&resp["content"], &format!("components/responses/{name}"));
        assert_eq!(s["$ref"], "#/components/schemas/ErrorBody", "{name}");
    }
    for r in ROUTES {
        let at = format!("{} {}", r.method, r.path);
        let op = &doc["paths"][format!("{PREFIX}{}", r.path)][r.method.to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        let ok: Vec<_> = responses.keys().filter(|k| k.starts_with('2')).collect();
        assert_eq!(ok.len(), 1, "{at}: one 2xx answer");
        schema_of(&responses[ok[0]]["content"], &at);
        for code in ["401", "403"] {
            assert!(responses.contains_key(code), "{at}: no {code}");
        }
        if let Some(body) = op.get("requestBody") {
            schema_of(&body["content"], &format!("{at} (request body)"));
        }
    }
    let err = &doc["components"]["schemas"]["ErrorBody"];
    let mut props: Vec<_> = err["properties"].as_object().unwrap().keys().collect();
    props.sort();
    assert_eq!(props, ["error", "kind"]);
    assert_eq!(err["required"], serde_json::json!(["error", "kind"]));
}

/// An error answer is `{"error": …, "kind": …}`.
#[test]
fn error_body_json() {
    let e = crate::model::api::ErrorBody {
        error: "no vault `x`".into(),
        kind: crate::model::ErrorKind::NotFound,
    };
    assert_eq!(
        serde_json::to_value(e).unwrap(),
        serde_json::json!({"error": "no vault `x`", "kind": "not-found"})
    );
}

#[test]
fn params_from_path() {
    let p = path_params("/rules/{plan}/{rule}/run", "/api/v1/rules/daily/db/run");
    assert_eq!(p["plan"], "daily");
    assert_eq!(p["rule"], "db");
}
