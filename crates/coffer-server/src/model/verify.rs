//! What a verification reads.

use super::error::ServerError;
use serde::{Deserialize, Serialize};

/// What a verification read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataScope {
    /// Structure only: index, snapshots, trees; no pack data read.
    Structure,
    /// Every pack read and every blob checked.
    All,
    /// A share of the packs (the least recently verified first).
    Subset,
}

/// What a verification reads besides the structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VerifyData {
    /// Structure only (no pack data).
    Structure,
    /// Every pack's data.
    All,
    /// This percent of the packs (0 < P ≤ 100), least recently verified first.
    Percent(f64),
    /// Part `n` of `m` (1-based) of the packs, by the first byte of their id.
    Part(u32, u32),
}

impl VerifyData {
    /// Parses a subset: `5%` or `n/m`. The error says what was wrong (to
    /// follow the option's or field's name).
    pub fn parse_subset(s: &str) -> Result<VerifyData, ServerError> {
        let bad = || {
            ServerError::usage(format!(
                "`{s}`: give a percentage like 5% (above 0, at most 100) or a part like 1/4"
            ))
        };
        if let Some(p) = s.trim().strip_suffix('%') {
            let f: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(f > 0.0 && f <= 100.0) {
                return Err(bad());
            }
            return Ok(VerifyData::Percent(f));
        }
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let (n, m): (u32, u32) = (
            n.trim().parse().map_err(|_| bad())?,
            m.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(VerifyData::Part(n, m))
    }

    /// The scope recorded in the details.
    pub fn scope(self) -> DataScope {
        match self {
            VerifyData::Structure => DataScope::Structure,
            VerifyData::All => DataScope::All,
            VerifyData::Percent(p) if p >= 100.0 => DataScope::All,
            VerifyData::Percent(_) | VerifyData::Part(..) => DataScope::Subset,
        }
    }

    /// The share asked for, in percent, for a subset.
    pub fn subset_percent(self) -> Option<f64> {
        match self.scope() {
            DataScope::Subset => Some(match self {
                VerifyData::Percent(p) => p,
                VerifyData::Part(_, m) => 100.0 / m as f64,
                _ => unreachable!("a subset"),
            }),
            _ => None,
        }
    }

    /// How it is written in messages (`structure`, `all data`, `5% of the data`).
    pub fn describe(self) -> String {
        match self {
            VerifyData::Structure => "structure".into(),
            VerifyData::All => "structure and all data".into(),
            VerifyData::Percent(p) => format!("structure and {p}% of the data"),
            VerifyData::Part(n, m) => format!("structure and part {n}/{m} of the data"),
        }
    }
}
