//! The sources: `GET /sources`, each configured source with its health
//! (RPO, RTO, anomalies; [`crate::health`]).

use crate::catalog::Catalog;
use crate::config::Config;
use crate::http::api::respond::{ok, Answer, ApiError};
use jiff::Timestamp;
use serde_json::json;

pub(super) fn sources(config: &Config, catalog: &Catalog, now: Timestamp) -> Answer {
    let probe = crate::health::wal_probe(|v| crate::runner::open_vault(config, v));
    let mut out = Vec::new();
    for src in &config.sources {
        let h = crate::health::source_health(config, catalog, src, now, &probe)
            .map_err(ApiError::internal)?;
        out.push(json!({
            "name": src.name,
            "kind": format!("{:?}", src.kind).to_lowercase(),
            "tags": src.tags,
            "status": crate::health::Status::overall(&h).as_str(),
            "health": h,
        }));
    }
    ok(out)
}
