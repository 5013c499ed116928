//! Prune plans: the sealed `prune/<id>` objects that condemn packs (phase 1
//! writes them, phase 2 deletes what they name).

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use crate::backend::ObjectKind;
use crate::error::{Error, Result};
use crate::format::id::Id;
use crate::vault::handle::Vault;

/// A pack a plan condemns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CondemnedPack {
    /// The pack's name.
    pub id: Id,
    /// Its size in bytes when it was condemned.
    pub size: u64,
}

/// The content of a `prune/` object: packs to delete once no backup that
/// could still reference them is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunePlan {
    /// Format version (1).
    pub version: u32,
    /// RFC 3339 time the plan was made (just before it was written).
    pub created: String,
    /// Host that made it.
    pub host: String,
    /// The condemned packs.
    pub packs: Vec<CondemnedPack>,
}

impl PrunePlan {
    /// `created`, parsed; an unparsable time counts as now, which defers
    /// the plan behind every live session (the safe side).
    pub fn created_at(&self) -> jiff::Timestamp {
        self.created
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }
}

/// Readable plans and the errors of damaged ones.
pub type PlansAndDamage = (Vec<(Id, PrunePlan)>, Vec<Error>);

/// Loads one plan.
pub fn load_plan(vault: &Vault, id: &Id) -> Result<PrunePlan> {
    let body = vault.load_object(ObjectKind::PrunePlan, id)?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::damaged(
            ObjectKind::PrunePlan.path(id),
            format!("does not parse: {e}"),
        )
    })
}

/// Every prune plan, and the errors of damaged ones. A plan deleted between
/// the listing and the read (its delete phase just finished) is left out.
pub fn list_plans(vault: &Vault) -> Result<PlansAndDamage> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (id, _) in vault.list(ObjectKind::PrunePlan)? {
        match load_plan(vault, &id) {
            Ok(p) => good.push((id, p)),
            Err(Error::Storage { source, .. }) if source.not_found => {}
            Err(e @ Error::Damaged { .. }) => bad.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((good, bad))
}

/// The union of the packs the plans condemn.
pub fn condemned_packs(plans: &[(Id, PrunePlan)]) -> HashSet<Id> {
    plans
        .iter()
        .flat_map(|(_, p)| p.packs.iter().map(|c| c.id))
        .collect()
}
