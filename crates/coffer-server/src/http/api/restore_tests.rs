//! Restore tests: `GET /restore-tests` (recent results) and
//! `POST /restore-tests/{name}/run` (runs one now in the background,
//! answered `202`).

use crate::catalog::{Catalog, JobFilter, Trigger};
use crate::http::api::respond::{accepted, limit, ok, Answer, ApiError, Call};
use crate::http::api::route::PREFIX;
use crate::http::state::AppState;
use crate::model::api::RestoreTestStarted;
use coffer_core::Cancel;
use std::collections::HashMap;

pub(super) fn restore_tests(catalog: &Catalog, q: &HashMap<String, String>) -> Answer {
    let f = JobFilter {
        kinds: vec![crate::catalog::JobKind::RestoreTest],
        source: q.get("source").cloned(),
        limit: Some(limit(q, 50)?),
        ..Default::default()
    };
    ok(catalog.list_jobs(&f).map_err(ApiError::internal)?)
}

pub(super) fn restore_test_run(s: &AppState, c: &Call) -> Answer {
    let name = c.param("name").to_string();
    if s.config.restore_test(&name).is_none() {
        return Err(ApiError::not_found(format!(
            "no restore test `{name}` in {}",
            s.config.path.display()
        )));
    }
    let (config, catalog) = (s.config.clone(), s.catalog.clone());
    let n = name.clone();
    std::thread::spawn(move || {
        if let Err(e) =
            crate::restore_test::run(&config, &catalog, &n, Trigger::Api, &Cancel::default())
        {
            tracing::error!("restore test {n} started through the API: {e}");
        }
    });
    accepted(RestoreTestStarted {
        restore_test: name,
        status: "started".into(),
        jobs: format!("{PREFIX}/restore-tests"),
    })
}
