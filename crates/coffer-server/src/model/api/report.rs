//! `GET /report` ([`ReportQuery`]): the compliance report
//! ([`ReportView`], the JSON of `report::Report`) with its controls,
//! each source's status and the jobs of the period.

use super::sources::{HealthStatus, SourceHealthView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use utoipa::{IntoParams, ToSchema};

/// The query of `GET /report`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Period start: a span back from now (`30d`, the default) or a time.
    pub since: Option<String>,
}

/// A control's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlStatusView {
    /// Every resource meets it.
    Pass,
    /// At least one resource fails it.
    Fail,
    /// Nothing to judge.
    NotEvaluated,
}

/// One evaluated control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlView {
    /// Its stable id (`rpo`, `vault-lock`, …).
    pub id: String,
    /// What it requires, with the configured thresholds.
    pub title: String,
    /// The verdict.
    pub status: ControlStatusView,
    /// What was looked at, one line per resource.
    pub evidence: Vec<String>,
    /// The resources that fail it, each with why.
    pub failing: Vec<String>,
}

/// A source's protection status in the report: its status beside the
/// fields of its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SourceStatusView {
    /// OK, VIOLATED or UNKNOWN.
    pub status: HealthStatus,
    /// The numbers behind it.
    #[serde(flatten)]
    pub health: SourceHealthView,
}

/// Tallies of the controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportSummary {
    /// Controls passed.
    pub pass: u64,
    /// Controls failed.
    pub fail: u64,
    /// Controls not evaluated.
    pub not_evaluated: u64,
}

/// Jobs of one kind in the period, by final state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobCountView {
    /// The job kind.
    pub kind: String,
    /// Jobs per state (`COMPLETED`, `FAILED`, …).
    pub states: BTreeMap<String, u64>,
}

/// A compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    /// When it was made.
    #[schema(format = DateTime)]
    pub generated_at: String,
    /// The start of the period it covers.
    #[schema(format = DateTime)]
    pub period_start: String,
    /// The configuration file evaluated.
    #[schema(value_type = String)]
    pub config: PathBuf,
    /// Tallies of the controls.
    pub summary: ReportSummary,
    /// The controls, in a fixed order.
    pub controls: Vec<ControlView>,
    /// Each source's RPO/RTO status.
    pub sources: Vec<SourceStatusView>,
    /// Jobs in the period.
    pub jobs: Vec<JobCountView>,
}
