//! How a source stands against its objectives ([`Status`]).

use crate::records::SourceHealth;
use serde::{Deserialize, Serialize};

/// How a source stands against its objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Every objective set is met.
    Ok,
    /// An objective is missed.
    Violated,
    /// Nothing to judge (no objective, or no data yet).
    Unknown,
}

impl Status {
    /// `OK`, `VIOLATED` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Violated => "VIOLATED",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The status one objective's verdict gives.
    pub fn of(ok: Option<bool>) -> Status {
        match ok {
            Some(true) => Status::Ok,
            Some(false) => Status::Violated,
            None => Status::Unknown,
        }
    }

    /// A source's overall status: violated if any objective is missed, OK
    /// if at least one is met and none missed.
    pub fn overall(h: &SourceHealth) -> Status {
        let v = [h.rpo_ok, h.rto_ok];
        if v.contains(&Some(false)) {
            Status::Violated
        } else if v.contains(&Some(true)) {
            Status::Ok
        } else {
            Status::Unknown
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
