//! Forget: remove snapshots by a retention policy or by id, honouring legal
//! holds, the vault lock and each snapshot's `retain_until`.
//!
//! Split into [`plan_forget`] (reads only) and [`execute_forget`] (deletes),
//! so `--dry-run`, the HTTP preview and the real run share one decision.
//!
//! Protection, whatever the options:
//! - a held snapshot is kept;
//! - with a vault lock, a snapshot younger than the lock's
//!   `min_retention_days` is kept (compliance: always; governance: unless
//!   `bypass_governance`);
//! - a snapshot's own `retain_until` keeps it until then (under a
//!   compliance lock always; otherwise unless `bypass_governance`).
//!
//! A policy whose retention is shorter than a lock's minimum is refused as a
//! whole (unless it bypasses a governance lock), before anything is planned.
//!
//! Executing deletes only `snapshots/` objects; the data they referenced is
//! removed later by prune. Right before each delete the protections are
//! checked again against freshly read holds and lock records, so a hold or
//! lock placed after the plan was made still wins.
//!
//! Files: `plan.rs` (the options, the decision per snapshot, the plan),
//! `execute.rs` (the deletes and their re-check).

pub(crate) mod execute;
pub(crate) mod plan;
#[cfg(test)]
mod tests;

pub use execute::{execute_forget, ForgetStats, Refusal};
pub use plan::{plan_forget, protections_of, ForgetItem, ForgetOptions, ForgetPlan};
