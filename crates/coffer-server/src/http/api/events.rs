//! `GET /events`: recent events ([`crate::events`]), filtered by id,
//! age, name, severity and source.

use crate::catalog::Catalog;
use crate::http::api::respond::{limit, ok, parse_list, Answer, ApiError};
use jiff::Timestamp;
use std::collections::HashMap;

pub(super) fn events(catalog: &Catalog, now: Timestamp, q: &HashMap<String, String>) -> Answer {
    let since = crate::catalog::parse_since(q.get("since").map_or("24h", String::as_str), now)
        .map_err(|e| ApiError::bad(format!("since: {e}")))?;
    let f = crate::events::EventFilter {
        after_id: q
            .get("after_id")
            .map(|a| {
                a.parse()
                    .map_err(|_| ApiError::bad("after_id is not a number"))
            })
            .transpose()?,
        since: Some(since),
        names: parse_list(q, "name")?,
        min_severity: q
            .get("severity")
            .map(|s| {
                s.parse()
                    .map_err(|e: crate::catalog::ParseError| ApiError::bad(e.to_string()))
            })
            .transpose()?,
        source: q.get("source").cloned(),
        limit: Some(limit(q, 200)?),
    };
    ok(catalog.events(&f).map_err(ApiError::internal)?)
}
