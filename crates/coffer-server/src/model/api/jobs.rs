//! Jobs and events: `GET /jobs` ([`JobsQuery`], a list of
//! [`Job`]), `GET /jobs/{id}` ([`JobWithEvents`]), `GET /restore-tests`
//! ([`RestoreTestsQuery`]) and `GET /events` ([`EventsQuery`], a list of
//! `catalog::Event`). The records themselves are the catalog's types.

use crate::catalog::{Job, JobEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One job with its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobWithEvents {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Its history: state changes, warnings, errors, oldest first.
    pub events: Vec<JobEvent>,
}

/// The query of `GET /jobs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Comma-separated job kinds (backup, copy, restore, restore-test,
    /// verify, prune, forget, report).
    pub kind: Option<String>,
    /// Comma-separated states (CREATED … ABORTED, SKIPPED).
    pub state: Option<String>,
    /// This plan.
    pub plan: Option<String>,
    /// This rule.
    pub rule: Option<String>,
    /// This source.
    pub source: Option<String>,
    /// This vault (as source or destination).
    pub vault: Option<String>,
    /// At most this many, the newest (default 100).
    pub limit: Option<u64>,
}

/// The query of `GET /restore-tests`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RestoreTestsQuery {
    /// This source.
    pub source: Option<String>,
    /// At most this many, the newest (default 50).
    pub limit: Option<u64>,
}

/// The query of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Period start: a span back from now (`24h`, the default) or a time.
    pub since: Option<String>,
    /// Comma-separated event names.
    pub name: Option<String>,
    /// At least this severe: info, warning or error.
    pub severity: Option<String>,
    /// This source.
    pub source: Option<String>,
    /// Only events after this id (a consumer's cursor; then the oldest
    /// first).
    pub after_id: Option<i64>,
    /// At most this many (default 200).
    pub limit: Option<u64>,
}
