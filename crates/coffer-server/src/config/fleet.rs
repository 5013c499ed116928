//! `[fleet]`: fleet records (see `crate::fleet`): the host name this
//! machine records under, how often it writes a heartbeat, when a host that
//! stopped reporting is silent, and how long the records are kept.

use super::validate::{Validator, S};
use jiff::SignedDuration;
use serde::Deserialize;

/// `[fleet]`: the fleet records this host writes and reads.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Whether this host writes fleet records (default true).
    pub enabled: bool,
    /// The host name records carry (default: the system's host name).
    pub host: String,
    /// How often `coffer serve` writes a heartbeat (default 5 minutes);
    /// `plan run` and `backup` write one per run.
    pub heartbeat: SignedDuration,
    /// A host with no record for this long is silent (default 15 minutes,
    /// at least the heartbeat).
    pub silent_after: SignedDuration,
    /// Records older than this are dropped when compacted (default 90 days).
    pub keep_records: SignedDuration,
    /// Objects whose records are all older than this are compacted
    /// (default 1 hour).
    pub compact_after: SignedDuration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            enabled: true,
            host: coffer_core::hostname(),
            heartbeat: SignedDuration::from_mins(5),
            silent_after: SignedDuration::from_mins(15),
            keep_records: SignedDuration::from_hours(24 * 90),
            compact_after: SignedDuration::from_hours(1),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFleet {
    enabled: Option<S<bool>>,
    host: Option<S<String>>,
    heartbeat: Option<S<String>>,
    silent_after: Option<S<String>>,
    keep_records_days: Option<S<i64>>,
    compact_after: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn fleet(&mut self, f: Option<&RawFleet>) -> FleetConfig {
        let d = FleetConfig::default();
        let Some(f) = f else { return d };
        let host = match &f.host {
            Some(h) => {
                let v = h.get_ref();
                if v.is_empty()
                    || v.len() > coffer_core::fleet::MAX_NAME_LEN
                    || v.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    self.at(h, "[fleet] host must be a host name: 1 to 253 characters, no spaces or control characters");
                }
                v.clone()
            }
            None => d.host.clone(),
        };
        let heartbeat = self.duration("[fleet] heartbeat", &f.heartbeat, d.heartbeat);
        let silent_after = self.duration("[fleet] silent_after", &f.silent_after, d.silent_after);
        if let Some(s) = &f.silent_after {
            if silent_after < heartbeat {
                self.at(
                    s,
                    format!(
                        "[fleet] silent_after ({}) must be at least the heartbeat ({}), or every host would look silent between two heartbeats",
                        s.get_ref(),
                        f.heartbeat.as_ref().map_or("5m".to_string(), |h| h.get_ref().clone())
                    ),
                );
            }
        }
        let keep_records = match &f.keep_records_days {
            Some(v) if !(1..=36_600).contains(v.get_ref()) => {
                self.at(v, "[fleet] keep_records_days must be between 1 and 36600");
                d.keep_records
            }
            Some(v) => SignedDuration::from_hours(24 * v.get_ref()),
            None => d.keep_records,
        };
        let compact_after =
            self.duration("[fleet] compact_after", &f.compact_after, d.compact_after);
        FleetConfig {
            enabled: f.enabled.as_ref().is_none_or(|e| *e.get_ref()),
            host,
            heartbeat,
            silent_after,
            keep_records,
            compact_after,
        }
    }
}
