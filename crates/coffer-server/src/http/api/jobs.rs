//! The jobs: `GET /jobs` (filtered by kind, state, plan, rule, source,
//! vault; with a limit) and `GET /jobs/{id}` (one job with its events).

use crate::catalog::{Catalog, JobFilter, JobId};
use crate::http::api::respond::{limit, ok, parse_list, Answer, ApiError};
use crate::model::api::JobWithEvents;
use std::collections::HashMap;

pub(super) fn jobs(catalog: &Catalog, q: &HashMap<String, String>) -> Answer {
    let f = JobFilter {
        states: parse_list(q, "state")?,
        kinds: parse_list(q, "kind")?,
        plan: q.get("plan").cloned(),
        rule: q.get("rule").cloned(),
        source: q.get("source").cloned(),
        vault: q.get("vault").cloned(),
        since: None,
        limit: Some(limit(q, 100)?),
    };
    ok(catalog.list_jobs(&f).map_err(ApiError::internal)?)
}

pub(super) fn job(catalog: &Catalog, id: &str) -> Answer {
    let id: JobId = id
        .parse()
        .map_err(|_| ApiError::bad(format!("`{id}` is not a job id")))?;
    let j = catalog.get_job(id).map_err(|e| {
        if e.is_not_found() {
            ApiError::not_found(e.to_string())
        } else {
            ApiError::internal(e)
        }
    })?;
    let events = catalog.job_events(id).map_err(ApiError::internal)?;
    ok(JobWithEvents { job: j, events })
}
