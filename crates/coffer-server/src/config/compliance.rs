//! `[compliance]`: the minimums the compliance report's controls check
//! (see `crate::report`).

use super::validate::{Validator, S};
use jiff::SignedDuration;
use serde::Deserialize;

/// `[compliance]`: the minimums the compliance report's controls check.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceConfig {
    /// Every rule runs at least this often (default 24h).
    pub min_backup_frequency: SignedDuration,
    /// Every rule (and copy) keeps snapshots at least this many days (default 7).
    pub min_retention_days: u32,
    /// Every source has a successful restore test this recent (default 7d).
    pub restore_test_window: SignedDuration,
    /// Every vault has a passed verification this recent (default 7d).
    pub verify_window: SignedDuration,
    /// Every key slot was added within this period (default 90d): the
    /// `key-age` control.
    pub key_rotation: SignedDuration,
}

impl Default for ComplianceConfig {
    fn default() -> Self {
        ComplianceConfig {
            min_backup_frequency: SignedDuration::from_hours(24),
            min_retention_days: 7,
            restore_test_window: SignedDuration::from_hours(7 * 24),
            verify_window: SignedDuration::from_hours(7 * 24),
            key_rotation: SignedDuration::from_hours(90 * 24),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCompliance {
    min_backup_frequency: Option<S<String>>,
    min_retention_days: Option<S<u32>>,
    restore_test_window: Option<S<String>>,
    verify_window: Option<S<String>>,
    key_rotation: Option<S<String>>,
}

impl Validator<'_> {
    pub(super) fn compliance(&mut self, a: Option<&RawCompliance>) -> ComplianceConfig {
        let mut c = ComplianceConfig::default();
        let Some(a) = a else { return c };
        c.min_backup_frequency = self.duration(
            "min_backup_frequency",
            &a.min_backup_frequency,
            c.min_backup_frequency,
        );
        if let Some(d) = &a.min_retention_days {
            c.min_retention_days = *d.get_ref();
        }
        c.restore_test_window = self.duration(
            "restore_test_window",
            &a.restore_test_window,
            c.restore_test_window,
        );
        c.verify_window = self.duration("verify_window", &a.verify_window, c.verify_window);
        c.key_rotation = self.duration("key_rotation", &a.key_rotation, c.key_rotation);
        c
    }
}
