//! One evaluated control: its id, title, verdict ([`ControlStatus`]), the
//! evidence it was judged on and the resources that fail it. A control
//! collects evidence with `ok` and `fail`; `judged` turns it into PASS or
//! FAIL once something was judged, NOT_EVALUATED when nothing was.

use serde::{Deserialize, Serialize};

/// A control's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ControlStatus {
    /// Every resource meets it.
    Pass,
    /// At least one resource fails it.
    Fail,
    /// Nothing to judge.
    NotEvaluated,
}

impl ControlStatus {
    /// `PASS`, `FAIL` or `NOT_EVALUATED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "PASS",
            ControlStatus::Fail => "FAIL",
            ControlStatus::NotEvaluated => "NOT_EVALUATED",
        }
    }
}

impl std::fmt::Display for ControlStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluated control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Its stable id (`rpo`, `vault-lock`, …).
    pub id: String,
    /// What it requires, with the configured thresholds.
    pub title: String,
    /// The verdict.
    pub status: ControlStatus,
    /// What was looked at, one line per resource.
    pub evidence: Vec<String>,
    /// The resources that fail it, each with why.
    pub failing: Vec<String>,
}

impl Control {
    pub(super) fn new(id: &str, title: String) -> Control {
        Control {
            id: id.to_string(),
            title,
            status: ControlStatus::NotEvaluated,
            evidence: Vec::new(),
            failing: Vec::new(),
        }
    }

    pub(super) fn ok(&mut self, evidence: String) {
        self.evidence.push(evidence);
    }

    pub(super) fn fail(&mut self, resource: String) {
        self.evidence.push(resource.clone());
        self.failing.push(resource);
    }

    /// PASS or FAIL once something was judged; NOT_EVALUATED otherwise.
    pub(super) fn judged(mut self) -> Control {
        self.status = if !self.failing.is_empty() {
            ControlStatus::Fail
        } else if self.evidence.is_empty() {
            ControlStatus::NotEvaluated
        } else {
            ControlStatus::Pass
        };
        self
    }
}
