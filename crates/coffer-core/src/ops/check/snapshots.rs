//! The structure check of chosen snapshots only, without reading any data
//! pack: what a tier move verifies in the vault it copied into before it
//! forgets the snapshots in the vault they came from.
//!
//! For each snapshot: its object opens and parses; every tree below it is
//! indexed, loads, verifies against its id and decodes under the name
//! rules; every chunk a file names is in the index; and every pack the
//! index places one of those blobs in exists and is long enough. Trees
//! shared by several snapshots are walked once. Data packs are not read, so
//! this works on a vault whose data packs are in an archive storage class.

use std::collections::{BTreeSet, HashMap};

use crate::backend::ObjectKind;
use crate::error::Result;
use crate::format::id::Id;
use crate::ops::archiver::Cancel;
use crate::ops::check::report::{split, Problem};
use crate::ops::check::trees::walk;
use crate::vault::handle::Vault;

/// What [`check_snapshots`] found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SnapshotsCheck {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Distinct trees walked.
    pub trees: usize,
    /// Each problem, with the snapshots (of those checked) it affects.
    pub problems: Vec<Problem>,
}

impl SnapshotsCheck {
    /// Whether every snapshot checked is whole.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the structure of snapshots `ids` of `vault` (see the module
/// docs). `Err` when the vault's index or pack listing cannot be read, or
/// on `cancel`; a damaged snapshot is a [`Problem`] of the result.
pub fn check_snapshots(vault: &Vault, ids: &[Id], cancel: &Cancel) -> Result<SnapshotsCheck> {
    let index = vault.load_index()?;
    let listed: HashMap<Id, u64> = vault.list(ObjectKind::Pack)?.into_iter().collect();
    // Packs that are missing or shorter than the index says, and the blobs
    // they make unreadable.
    let mut pack_end: HashMap<u32, u64> = HashMap::new();
    for (_, loc) in index.iter() {
        let e = pack_end.entry(loc.pack).or_default();
        *e = (*e).max(loc.offset as u64 + loc.len as u64);
    }
    let mut bad_packs: Vec<(String, String)> = Vec::new();
    let mut bad_pack_no: HashMap<u32, usize> = HashMap::new();
    for (n, pack) in index.packs().iter().enumerate() {
        let detail = match listed.get(pack) {
            None => "pack is missing".to_string(),
            Some(&size) if size < pack_end.get(&(n as u32)).copied().unwrap_or(0) => {
                format!("pack is truncated ({size} bytes)")
            }
            _ => continue,
        };
        bad_pack_no.insert(n as u32, bad_packs.len());
        bad_packs.push((ObjectKind::Pack.path(pack), detail));
    }
    let damaged: HashMap<Id, usize> = index
        .iter()
        .filter_map(|(id, loc)| bad_pack_no.get(&loc.pack).map(|&p| (id, p)))
        .collect();

    let mut out = SnapshotsCheck::default();
    let mut affected: Vec<BTreeSet<Id>> = vec![BTreeSet::new(); bad_packs.len()];
    let mut extra: Vec<(String, String, BTreeSet<Id>)> = Vec::new();
    let mut extra_pos: HashMap<String, usize> = HashMap::new();
    let mut memo = HashMap::new();
    let mut seen = BTreeSet::new();
    for sid in ids {
        if !seen.insert(*sid) {
            continue;
        }
        cancel.check("checking the copied snapshots")?;
        out.snapshots += 1;
        let mut missing = Vec::new();
        let mut found = BTreeSet::new();
        match vault.load_snapshot(sid) {
            Err(e) => {
                let (o, d) = split(&e);
                missing.push((o, d));
            }
            Ok(snap) => walk(
                vault,
                &index,
                &snap.tree,
                "",
                &damaged,
                &mut memo,
                &mut out.trees,
                &mut found,
                &mut missing,
            ),
        }
        for p in found {
            affected[p].insert(*sid);
        }
        for (object, detail) in missing {
            let i = *extra_pos.entry(object.clone()).or_insert_with(|| {
                extra.push((object, detail, BTreeSet::new()));
                extra.len() - 1
            });
            extra[i].2.insert(*sid);
        }
    }
    for ((object, detail), snaps) in bad_packs.into_iter().zip(affected) {
        if !snaps.is_empty() {
            out.problems
                .push(Problem::new(object, detail, snaps.into_iter().collect()));
        }
    }
    for (object, detail, snaps) in extra {
        out.problems
            .push(Problem::new(object, detail, snaps.into_iter().collect()));
    }
    Ok(out)
}
