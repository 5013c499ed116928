//! `[[prune]]` entries: scheduled prunes of a vault, run as `prune` jobs
//! through the same code as `coffer prune` (see `crate::prune`).

use super::validate::{Validator, S};
use super::vault::VaultConfig;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;

/// A scheduled prune of a vault (`[[prune]]`): the daemon runs it as a
/// `prune` job when due.
#[derive(Debug, Clone)]
pub struct PruneConfig {
    /// Its name (unique among `[[prune]]` entries).
    pub name: String,
    /// The vault pruned.
    pub vault: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule's local times are read in.
    pub timezone: TimeZone,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    /// Repack packs whose used bytes are below this percent of their size
    /// (0 never repacks), as `coffer prune --repack-below`.
    pub repack_below: f64,
    /// A run still going this long after it started is stopped (ABORTED).
    pub completion_window: SignedDuration,
}

/// The default `repack_below` of a `[[prune]]` entry (percent), as the
/// command line's.
pub const DEFAULT_PRUNE_REPACK_BELOW: f64 = 50.0;

/// The default completion window of a `[[prune]]` entry.
pub const DEFAULT_PRUNE_COMPLETION_WINDOW: SignedDuration = SignedDuration::from_hours(24);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrune {
    pub(super) name: S<String>,
    vault: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    repack_below: Option<S<f64>>,
    completion_window: Option<S<String>>,
}

// `[[prune]]` entries.
impl Validator<'_> {
    pub(super) fn prune(&mut self, e: &RawPrune, vaults: &[VaultConfig]) -> PruneConfig {
        self.name("prune", &e.name);
        let what = format!("prune `{}`", e.name.get_ref());
        self.vault_ref(&what, "vault", &e.vault, vaults);
        let schedule = self.schedule(&what, &e.schedule);
        let (timezone, timezone_name) = self.timezone(&what, e.timezone.as_ref());
        let repack_below = match &e.repack_below {
            Some(p) if !(0.0..=100.0).contains(p.get_ref()) => {
                self.at(
                    p,
                    format!(
                        "{what}: repack_below = {} is not a percentage: give 0 (never repack) to 100",
                        p.get_ref()
                    ),
                );
                DEFAULT_PRUNE_REPACK_BELOW
            }
            Some(p) => *p.get_ref(),
            None => DEFAULT_PRUNE_REPACK_BELOW,
        };
        let completion_window = self.duration(
            "completion_window",
            &e.completion_window,
            DEFAULT_PRUNE_COMPLETION_WINDOW,
        );
        PruneConfig {
            name: e.name.get_ref().clone(),
            vault: e.vault.get_ref().clone(),
            schedule,
            timezone,
            timezone_name,
            repack_below,
            completion_window,
        }
    }
}
