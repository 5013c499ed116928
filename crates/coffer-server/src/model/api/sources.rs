//! The sources: `GET /sources`, each configured source ([`SourceView`])
//! with its status ([`HealthStatus`]) and the numbers behind it
//! ([`SourceHealthView`], the JSON of `records::SourceHealth`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a source stands against its objectives (`health::Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// Every objective set is met.
    Ok,
    /// An objective is missed.
    Violated,
    /// Nothing to judge (no objective, or no data yet).
    Unknown,
}

/// A source's protection status, as the health check evaluated it. Times
/// are RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceHealthView {
    /// The source.
    pub source: String,
    /// When this was evaluated.
    #[schema(format = DateTime)]
    pub evaluated_at: String,
    /// The time of the newest good (COMPLETED or PARTIAL) snapshot.
    #[schema(format = DateTime)]
    pub newest_good_at: Option<String>,
    /// The RPO in seconds, when the source has one.
    pub rpo_seconds: Option<f64>,
    /// Whether the recovery point is younger than the RPO.
    pub rpo_ok: Option<bool>,
    /// The time of the newest archived WAL segment (PostgreSQL with WAL
    /// archiving).
    #[schema(format = DateTime)]
    pub wal_newest_at: Option<String>,
    /// Seconds since the newest archived WAL segment.
    pub wal_lag_seconds: Option<f64>,
    /// The last measured restore time (restore test), in seconds.
    pub last_restore_seconds: Option<f64>,
    /// The RTO in seconds, when the source has one.
    pub rto_seconds: Option<f64>,
    /// Whether the last measured restore was faster than the RTO.
    pub rto_ok: Option<bool>,
}

/// A configured source with its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    /// Its name in the configuration.
    pub name: String,
    /// Its kind (`files`, `postgres`, `mysql`, `redis`, `command`, …).
    pub kind: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its overall status.
    pub status: HealthStatus,
    /// The numbers behind it.
    pub health: SourceHealthView,
}
