//! `[[verify]]` entries: scheduled verifications of a vault, run as
//! `verify` jobs (see `crate::verify`).

use super::validate::{Validator, S};
use super::vault::VaultConfig;
use crate::schedule::Schedule;
use jiff::tz::TimeZone;
use jiff::SignedDuration;
use serde::Deserialize;

/// A scheduled verification of a vault (`[[verify]]`): the daemon runs it
/// as a `verify` job when due (see [`crate::verify`]).
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Its name (unique among `[[verify]]` entries).
    pub name: String,
    /// The vault verified.
    pub vault: String,
    /// When it runs.
    pub schedule: Schedule,
    /// The time zone its schedule's local times are read in.
    pub timezone: TimeZone,
    /// The time zone's name as written (`UTC` by default).
    pub timezone_name: String,
    /// What it reads: structure only, all pack data, or a share of it.
    pub data: crate::model::VerifyData,
    /// A run still going this long after it started is stopped (ABORTED).
    pub completion_window: SignedDuration,
}

/// The default completion window of a `[[verify]]` entry.
pub const DEFAULT_VERIFY_COMPLETION_WINDOW: SignedDuration = SignedDuration::from_hours(24);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub(super) name: S<String>,
    vault: S<String>,
    schedule: S<String>,
    timezone: Option<S<String>>,
    read_data: Option<S<bool>>,
    read_data_subset: Option<S<String>>,
    completion_window: Option<S<String>>,
}

// `[[verify]]` entries.
impl Validator<'_> {
    pub(super) fn verify(&mut self, e: &RawVerify, vaults: &[VaultConfig]) -> VerifyConfig {
        use crate::model::VerifyData;
        self.name("verify", &e.name);
        let what = format!("verify `{}`", e.name.get_ref());
        self.vault_ref(&what, "vault", &e.vault, vaults);
        let schedule = self.schedule(&what, &e.schedule);
        let (timezone, timezone_name) = self.timezone(&what, e.timezone.as_ref());
        let all = e.read_data.as_ref().is_some_and(|b| *b.get_ref());
        let data = match (&e.read_data_subset, all) {
            (Some(s), true) => {
                self.at(
                    s,
                    format!("{what}: give either read_data = true (every pack) or read_data_subset (a share), not both"),
                );
                VerifyData::All
            }
            (Some(s), false) => match VerifyData::parse_subset(s.get_ref()) {
                Ok(d) => d,
                Err(m) => {
                    self.at(s, format!("{what}: read_data_subset {m}"));
                    VerifyData::Structure
                }
            },
            (None, true) => VerifyData::All,
            (None, false) => VerifyData::Structure,
        };
        let completion_window = self.duration(
            "completion_window",
            &e.completion_window,
            DEFAULT_VERIFY_COMPLETION_WINDOW,
        );
        VerifyConfig {
            name: e.name.get_ref().clone(),
            vault: e.vault.get_ref().clone(),
            schedule,
            timezone,
            timezone_name,
            data,
            completion_window,
        }
    }
}
