//! The report as a document: [`Report`] (when, the period, the controls,
//! each source's status, the jobs in the period) and the parts it holds
//! ([`Summary`], [`SourceStatus`], [`JobCount`]). It serializes as the JSON
//! format and deserializes back to the same value.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::catalog::time_serde;
use crate::health::Status;
use crate::records::SourceHealth;
use crate::report::control::Control;

/// Jobs of one kind in the period, by final state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobCount {
    /// The job kind.
    pub kind: String,
    /// Jobs per state (`COMPLETED`, `FAILED`, …).
    pub states: BTreeMap<String, u64>,
}

/// A source's protection status in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// OK, VIOLATED or UNKNOWN.
    pub status: Status,
    /// The numbers behind it.
    #[serde(flatten)]
    pub health: SourceHealth,
}

/// Tallies of the controls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Controls passed.
    pub pass: usize,
    /// Controls failed.
    pub fail: usize,
    /// Controls not evaluated.
    pub not_evaluated: usize,
}

/// A compliance report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When it was made.
    #[serde(with = "time_serde")]
    pub generated_at: Timestamp,
    /// The start of the period it covers (jobs since then).
    #[serde(with = "time_serde")]
    pub period_start: Timestamp,
    /// The configuration file evaluated.
    pub config: PathBuf,
    /// Tallies of the controls.
    pub summary: Summary,
    /// The controls, in a fixed order.
    pub controls: Vec<Control>,
    /// Each source's RPO/RTO status.
    pub sources: Vec<SourceStatus>,
    /// Jobs in the period.
    pub jobs: Vec<JobCount>,
}

impl Report {
    /// Whether any control failed.
    pub fn failed(&self) -> bool {
        self.summary.fail > 0
    }
}
