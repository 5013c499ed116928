//! `[anomaly]`: the thresholds of the checks that raise `SIZE_ANOMALY`
//! and `WAL_ARCHIVE_LAG` (see `crate::health`).

use super::validate::{Validator, S};
use jiff::SignedDuration;
use serde::Deserialize;

/// `[anomaly]`: thresholds of the checks that raise `SIZE_ANOMALY` and
/// `WAL_ARCHIVE_LAG`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyConfig {
    /// A backup whose size deviates more than this many percent from the
    /// moving median of the earlier ones is an anomaly (default 20).
    pub size_change_percent: f64,
    /// How many earlier backups of the source make the median (default 7).
    pub size_window: usize,
    /// The fewest earlier backups before the size check fires (default 3).
    pub size_min_history: usize,
    /// The default WAL archive lag threshold of PostgreSQL base backup
    /// sources (default 1h); a source's `max_wal_lag` overrides it.
    pub max_wal_lag: SignedDuration,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            size_change_percent: 20.0,
            size_window: 7,
            size_min_history: 3,
            max_wal_lag: SignedDuration::from_hours(1),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnomaly {
    size_change_percent: Option<S<f64>>,
    size_window: Option<S<i64>>,
    size_min_history: Option<S<i64>>,
    max_wal_lag: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn anomaly(&mut self, a: Option<&RawAnomaly>) -> AnomalyConfig {
        let mut c = AnomalyConfig::default();
        let Some(a) = a else { return c };
        if let Some(p) = &a.size_change_percent {
            if !(p.get_ref().is_finite() && *p.get_ref() > 0.0) {
                self.at(
                    p,
                    "[anomaly] size_change_percent must be a number above 0 (e.g. 20)",
                );
            } else {
                c.size_change_percent = *p.get_ref();
            }
        }
        for (field, v, out, min) in [
            ("size_window", &a.size_window, &mut c.size_window, 1),
            (
                "size_min_history",
                &a.size_min_history,
                &mut c.size_min_history,
                1,
            ),
        ] {
            if let Some(v) = v {
                match usize::try_from(*v.get_ref()) {
                    Ok(n) if (min..=1000).contains(&n) => *out = n,
                    _ => self.at(
                        v,
                        format!("[anomaly] {field} must be between {min} and 1000"),
                    ),
                }
            }
        }
        if c.size_min_history > c.size_window {
            let span = a.size_min_history.as_ref().map(|v| v.span());
            self.error(
                span,
                format!(
                    "[anomaly] size_min_history ({}) is above size_window ({}): the median never has that many backups",
                    c.size_min_history, c.size_window
                ),
            );
        }
        c.max_wal_lag = self.duration("max_wal_lag", &a.max_wal_lag, c.max_wal_lag);
        c
    }
}
