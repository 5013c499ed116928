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
    /// A run that cannot start this long after its scheduled time (the
    /// daemon was down, the previous run still going) is EXPIRED, as a
    /// rule's run is.
    pub start_window: SignedDuration,
    /// A run still going this long after its scheduled time is stopped at a
    /// safe point (between repacked packs, before a delete) and recorded
    /// ABORTED, leaving a vault `check` passes; the next run goes on.
    pub completion_window: SignedDuration,
    /// At most this percent of the vault's data-pack bytes is repacked per
    /// run (100: no limit), as `coffer prune --max-repack-percent`.
    pub max_repack_percent: f64,
}

/// The default `repack_below` of a `[[prune]]` entry (percent), as the
/// command line's.
pub const DEFAULT_PRUNE_REPACK_BELOW: f64 = 50.0;

/// The default start window of a `[[prune]]` entry (a rule's default).
pub const DEFAULT_PRUNE_START_WINDOW: SignedDuration = super::plan::DEFAULT_START_WINDOW;

/// The default `max_repack_percent` of a `[[prune]]` entry: no limit.
pub const DEFAULT_MAX_REPACK_PERCENT: f64 = 100.0;

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
    max_repack_percent: Option<S<f64>>,
    start_window: Option<S<String>>,
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
        let max_repack_percent = match &e.max_repack_percent {
            Some(p) if !(0.0..=100.0).contains(p.get_ref()) => {
                self.at(
                    p,
                    format!(
                        "{what}: max_repack_percent = {} is not a percentage: give 0 (repack no data pack) to 100 (no limit)",
                        p.get_ref()
                    ),
                );
                DEFAULT_MAX_REPACK_PERCENT
            }
            Some(p) => *p.get_ref(),
            None => DEFAULT_MAX_REPACK_PERCENT,
        };
        let start_window =
            self.duration("start_window", &e.start_window, DEFAULT_PRUNE_START_WINDOW);
        let completion_window = self.duration(
            "completion_window",
            &e.completion_window,
            DEFAULT_PRUNE_COMPLETION_WINDOW,
        );
        if completion_window <= start_window {
            // Both count from the scheduled time, as a rule's.
            let span = e
                .completion_window
                .as_ref()
                .or(e.start_window.as_ref())
                .map(|x| x.span())
                .unwrap_or(e.name.span());
            self.error(
                Some(span),
                format!(
                    "{what}: completion_window ({}) must be longer than start_window ({}): both count from the scheduled time",
                    humantime::format_duration(completion_window.unsigned_abs()),
                    humantime::format_duration(start_window.unsigned_abs())
                ),
            );
        }
        PruneConfig {
            name: e.name.get_ref().clone(),
            vault: e.vault.get_ref().clone(),
            schedule,
            timezone,
            timezone_name,
            repack_below,
            start_window,
            completion_window,
            max_repack_percent,
        }
    }
}
