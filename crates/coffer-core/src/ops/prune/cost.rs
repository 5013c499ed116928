//! What deleting a pack early costs: the minimum storage durations of S3
//! storage classes, in one table.
//!
//! A store bills an object of such a class for at least that long: deleting
//! (or overwriting) it sooner is charged for the remaining days. Repacking
//! a pack copies its used blobs into a new pack and deletes the old one, so
//! repacking a young pack of such a class pays the rest of its minimum
//! *and* stores the blobs again: prune does not repack a data pack before
//! its class's minimum is over, and reports what it skipped
//! ([`super::MinStorageSkip`]). Deleting a pack no snapshot needs at all is
//! done at once whatever its age: its early-deletion charge is owed whether
//! it goes now or later, and keeping it longer only adds storage.
//!
//! Only data packs are in the vault's storage class
//! ([`crate::Backend::write_data_pack`]); every other object, tree packs
//! included, is in the bucket's default class and is never held back. A
//! pack's age is its store's last-modified time ([`crate::Backend::modified`],
//! S3's `Last-Modified`), judged by this machine's clock; a pack whose
//! store gives no time is treated as too young (repacking it later costs
//! nothing, repacking it early might).

use jiff::{SignedDuration, Timestamp};

/// Storage classes with a minimum storage duration, in days (AWS S3's
/// published figures). A class not listed (STANDARD, INTELLIGENT_TIERING's
/// frequent tiers, REDUCED_REDUNDANCY, a store's own names) has none.
pub const MIN_STORAGE_DAYS: &[(&str, u32)] = &[
    ("STANDARD_IA", 30),
    ("ONEZONE_IA", 30),
    ("GLACIER_IR", 90),
    ("GLACIER", 90),
    ("DEEP_ARCHIVE", 180),
];

/// The minimum storage duration of `class` in days, if it has one (case
/// does not matter).
pub fn min_storage_days(class: &str) -> Option<u32> {
    MIN_STORAGE_DAYS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(class))
        .map(|&(_, d)| d)
}

/// When an object of a class with a minimum of `min_days`, written at
/// `written`, may be deleted without an early-deletion charge.
pub fn free_to_delete_at(written: Timestamp, min_days: u32) -> Timestamp {
    written
        .checked_add(SignedDuration::from_hours(24 * i64::from(min_days)))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_cold_class_once() {
        assert_eq!(min_storage_days("STANDARD_IA"), Some(30));
        assert_eq!(min_storage_days("onezone_ia"), Some(30));
        assert_eq!(min_storage_days("GLACIER_IR"), Some(90));
        assert_eq!(min_storage_days("GLACIER"), Some(90));
        assert_eq!(min_storage_days("DEEP_ARCHIVE"), Some(180));
        assert_eq!(min_storage_days("STANDARD"), None);
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(free_to_delete_at(t, 30).to_string(), "2026-01-31T00:00:00Z");
    }
}
