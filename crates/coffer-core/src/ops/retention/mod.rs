//! Retention policies (GFS and age), as pure functions over snapshot lists.
//!
//! The same [`RetentionPolicy`] is read from the configuration file (a rule's
//! `retention` table), from `coffer forget` flags and from the HTTP API, so
//! all three decide identically.
//!
//! [`plan_retention`] decides, for each snapshot, whether it is kept and why.
//! It reads no storage and no clock: the caller passes the snapshots (as
//! [`Candidate`]s), the time it calls "now" and the time zone whose calendar
//! defines hours, days, weeks, months and years. That makes the decision
//! reproducible (a dry run and the real run agree) and testable over
//! simulated years.
//!
//! The GFS algorithm is the one restic and borg use. Snapshots are grouped
//! (by default per host, source kind and paths: see [`GroupBy`]); within a
//! group they are walked newest first, and each `keep_*` count keeps the
//! newest snapshot of each distinct period until its count is used up. Only
//! periods that hold a snapshot count, so `keep_daily = 7` keeps the newest
//! snapshot of each of the 7 most recent days that have one, however far
//! apart those days are. Periods are civil periods in the given time zone
//! (jiff's civil dates), so a day is a calendar day whether it has 23, 24 or
//! 25 hours, and an hour that repeats when the clocks go back is one period.
//!
//! Files: `policy.rs` (the policy and its counts), `plan.rs` (the decision
//! per snapshot), `group_by.rs` (which snapshots form a group).

pub(crate) mod group_by;
pub(crate) mod plan;
pub(crate) mod policy;
#[cfg(test)]
mod tests;

pub use group_by::GroupBy;
pub use plan::{add_days, plan_removal, plan_retention, Candidate, Decision, Protection};
pub use policy::RetentionPolicy;
