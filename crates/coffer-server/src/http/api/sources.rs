//! The sources: `GET /sources`, each configured source with its health
//! (RPO, RTO, anomalies; [`crate::health`]).

use crate::catalog::Catalog;
use crate::config::Config;
use crate::health::Status;
use crate::http::api::respond::{ok, view_of, Answer, ApiError};
use crate::model::api::{HealthStatus, SourceView};
use jiff::Timestamp;

pub(super) fn sources(config: &Config, catalog: &Catalog, now: Timestamp) -> Answer {
    let probe = crate::health::wal_probe(|v| crate::runner::open_vault(config, v));
    let mut out = Vec::new();
    for src in &config.sources {
        let h = crate::health::source_health(config, catalog, src, now, &probe)
            .map_err(ApiError::internal)?;
        out.push(SourceView {
            name: src.name.clone(),
            kind: format!("{:?}", src.kind).to_lowercase(),
            tags: src.tags.clone(),
            status: health_status(Status::overall(&h)),
            health: view_of(&h)?,
        });
    }
    ok(out)
}

/// A source's status as the API names it.
pub(super) fn health_status(s: Status) -> HealthStatus {
    match s {
        Status::Ok => HealthStatus::Ok,
        Status::Violated => HealthStatus::Violated,
        Status::Unknown => HealthStatus::Unknown,
    }
}
