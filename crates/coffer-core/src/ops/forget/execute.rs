//! Executing a forget plan: [`execute_forget`] deletes only `snapshots/`
//! objects (the data they referenced is removed later by prune). Right
//! before each delete the protections are checked again against freshly
//! read holds and lock records, so a hold or lock placed after the plan was
//! made still wins.

use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;

use crate::backend::ObjectKind;
use crate::clock::{check_store_clock, Skew};
use crate::error::Result;
use crate::format::id::Id;
use crate::ops::forget::plan::{protections_of, refusal, ForgetPlan};
use crate::ops::retention::plan::Protection;
use crate::vault::handle::Vault;

/// A snapshot the execution did not delete, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The snapshot.
    pub id: Id,
    /// What keeps it and what would be needed.
    pub message: String,
}

/// What [`execute_forget`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetStats {
    /// Snapshots deleted.
    pub removed: Vec<Id>,
    /// Snapshots the plan kept.
    pub kept: usize,
    /// Snapshots the plan would remove, but a hold or protection found at
    /// the re-check kept (placed after the plan was made).
    pub refused: Vec<Refusal>,
}

/// Deletes the snapshots `plan` removes, re-checking holds, the lock and
/// `retain_until` right before each delete (at the plan's "now" and with its
/// `bypass_governance`). Refused as a whole when the plan's "now" is ahead
/// of the store's clock ([`crate::clock`]). A snapshot already gone counts
/// as removed, so a plan can be executed again after an interruption.
pub fn execute_forget(vault: &Vault, plan: &ForgetPlan) -> Result<ForgetStats> {
    let mut stats = ForgetStats {
        kept: plan.items.iter().filter(|i| i.decision.keep).count(),
        ..Default::default()
    };
    // Ages were judged at the plan's "now": on a store with a clock of its
    // own, that time must not be ahead of the store's.
    if plan.to_remove().next().is_some() {
        check_store_clock(vault, plan.now, Skew::Ahead, "forget snapshots")?;
    }
    let mut lock_cache = HashMap::new();
    for item in plan.to_remove() {
        let id = item.decision.id;
        let lock = vault.lock_state_cached(&mut lock_cache)?.lock;
        let hold = vault.hold_of(&id)?;
        let retain_until = item
            .retain_until
            .as_ref()
            .map(|s| s.parse().unwrap_or(Timestamp::MAX));
        let time = match &item.unparsable_time {
            Some(t) => t.clone(),
            None => item.decision.time.to_string(),
        };
        let protections: Vec<Protection> =
            protections_of(lock.as_ref(), &time, retain_until, plan.bypass_governance)
                .into_iter()
                .filter(|p| plan.now < p.until)
                .collect();
        if let Some(message) = refusal(&id, hold.as_ref(), &protections) {
            stats.refused.push(Refusal { id, message });
            continue;
        }
        vault
            .backend()
            .delete(&ObjectKind::Snapshot.path(&id))
            .map_err(|e| vault.storage_err(e))?;
        stats.removed.push(id);
    }
    Ok(stats)
}
