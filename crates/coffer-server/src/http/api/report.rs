//! `GET /report`: the compliance report ([`crate::report`]) over a
//! period (`since`, 30 days by default).

use crate::catalog::Catalog;
use crate::config::Config;
use crate::http::api::respond::{ok, view_of, Answer, ApiError};
use crate::model::api::ReportView;
use jiff::Timestamp;
use std::collections::HashMap;

pub(super) fn report(
    config: &Config,
    catalog: &Catalog,
    now: Timestamp,
    q: &HashMap<String, String>,
) -> Answer {
    let since = crate::catalog::parse_since(q.get("since").map_or("30d", String::as_str), now)
        .map_err(|e| ApiError::bad(format!("since: {e}")))?;
    let opener = |v: &str| crate::runner::open_vault(config, v);
    let report =
        crate::report::build(config, catalog, now, since, &opener).map_err(ApiError::internal)?;
    ok(view_of::<ReportView>(&report)?)
}
