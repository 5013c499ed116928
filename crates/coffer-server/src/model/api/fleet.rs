//! The fleet: `GET /fleet` ([`FleetStatus`]): every host that writes fleet
//! records into the configured vaults, when it was last heard of, and each
//! of its sources against its RPO and RTO, as the daemon's fleet thread last
//! read them (`crate::fleet`). `coffer status --fleet --json` prints the
//! same type.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The fleet at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetStatus {
    /// When it was read.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<Timestamp>,
    /// Every host seen, by name.
    pub hosts: Vec<FleetHost>,
    /// Vaults whose records could not be read, with why.
    pub unreadable: BTreeMap<String, String>,
    /// Objects that failed authentication or did not parse (forged or
    /// damaged), one line each.
    pub damaged: Vec<String>,
    /// Records refused by validation, one line each.
    pub rejected: Vec<String>,
    /// Fleet objects listed, over every vault.
    pub objects: usize,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetHost {
    /// Its name.
    pub host: String,
    /// Its newest record of any kind.
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
    /// Whether it has been silent longer than `[fleet] silent_after`.
    pub silent: bool,
    /// What wrote its newest heartbeat (`serve`, `plan run`, `backup`).
    pub agent: Option<String>,
    /// Its coffer version.
    pub version: Option<String>,
    /// Its sources.
    pub sources: Vec<FleetSource>,
    /// Its jobs that failed in the records kept.
    pub failed_jobs: usize,
}

/// One source of one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FleetSource {
    /// The source's name.
    pub source: String,
    /// Its RPO (seconds), as the host's heartbeat says.
    pub rpo_secs: Option<u64>,
    /// Its RTO (seconds).
    pub rto_secs: Option<u64>,
    /// When its newest good backup (COMPLETED or PARTIAL) ended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub newest_good_at: Option<Timestamp>,
    /// Whether that is within its RPO (`None`: no RPO set).
    pub rpo_ok: Option<bool>,
    /// The state of its newest backup job.
    pub last_backup_state: Option<String>,
    /// Its newest restore test's measured time (seconds), when it passed.
    pub last_restore_secs: Option<f64>,
    /// Whether the newest restore test passed within the RTO.
    pub rto_ok: Option<bool>,
}
