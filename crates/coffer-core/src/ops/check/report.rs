//! What `check` found: each [`Problem`] names the damaged or missing object
//! and the snapshots that need it; the [`CheckReport`] counts what was
//! checked and read.

use serde::Serialize;
use std::collections::BTreeSet;

use crate::error::Error;
use crate::format::id::Id;

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The damaged or missing object (`packs/…`, `index/…`, `snapshots/…`, `tree …`).
    pub object: String,
    /// What is wrong.
    pub detail: String,
    /// Snapshots that need it (short ids).
    pub snapshots: Vec<String>,
    /// The same snapshots, full ids (for records; not in the JSON output,
    /// which names them by `snapshots`).
    #[serde(skip)]
    pub snapshot_ids: Vec<Id>,
}

impl Problem {
    pub(super) fn new(object: String, detail: String, snapshot_ids: Vec<Id>) -> Problem {
        Problem {
            object,
            detail,
            snapshots: snapshot_ids.iter().map(Id::short).collect(),
            snapshot_ids,
        }
    }
}

/// What check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Index objects read.
    pub index_objects: usize,
    /// Packs listed in the index.
    pub packs: usize,
    /// Packs read in full.
    pub packs_read: usize,
    /// Blobs verified by reading.
    pub blobs_read: u64,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// The packs read in full whose every blob verified (to remember as
    /// verified; not in the JSON output).
    #[serde(skip)]
    pub verified_packs: Vec<Id>,
    /// The indexed packs present in storage: the vault's current packs,
    /// against which a coverage is measured (not in the JSON output).
    #[serde(skip)]
    pub pack_ids: Vec<Id>,
    /// Trees loaded.
    pub trees: usize,
    /// Packs no index lists (interrupted or running backups; prune removes them).
    pub unreferenced_packs: usize,
    /// Writer sessions (`sessions/`) found.
    pub sessions: usize,
    /// Prune plans (`prune/`) found.
    pub prune_plans: usize,
    /// Indexed packs that a prune plan condemns.
    pub condemned_packs: usize,
    /// Archived WAL files (`wal/`) whose names decrypted.
    pub wal_files: usize,
    /// Archived WAL files read, decrypted and decompressed (with read-data).
    pub wal_files_read: usize,
    /// Problems; empty means the vault is sound.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Every snapshot some problem affects (full ids, sorted, each once).
    pub fn affected_snapshots(&self) -> Vec<Id> {
        let set: BTreeSet<Id> = self
            .problems
            .iter()
            .flat_map(|p| p.snapshot_ids.iter().copied())
            .collect();
        set.into_iter().collect()
    }
}

pub(super) fn split(e: &Error) -> (String, String) {
    match e {
        Error::Damaged { object, detail } => (object.clone(), detail.clone()),
        other => ("vault".into(), other.to_string()),
    }
}
