//! What `check` reads: [`ReadData`] picks the packs (and archived WAL
//! files) read in full, all, a fraction, a part of m, or those verified
//! longest ago first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::format::id::Id;

/// Which packs `check` reads in full.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadData {
    /// None: structure only.
    None,
    /// All packs.
    All,
    /// A random fraction of the packs (0 < f ≤ 1).
    Fraction(f64),
    /// Part `n` of `m` (1-based): packs whose first id byte mod m is n-1;
    /// running 1/m … m/m covers the vault.
    Part(u32, u32),
    /// A share of the packs (0 < `fraction` ≤ 1, at least one pack), those
    /// verified longest ago first: packs missing from `verified` (never
    /// verified) come first, then by the time given, then by id. Running it
    /// again with the times updated reads the next packs, so ⌈1/fraction⌉
    /// runs read every pack. Archived WAL files are sampled at random with
    /// the same fraction.
    LeastRecent {
        /// The share of the packs to read.
        fraction: f64,
        /// When each pack's data was last verified.
        verified: Arc<HashMap<Id, jiff::Timestamp>>,
    },
}

impl ReadData {
    /// Picks the packs to read among `packs` (the indexed packs present).
    pub(super) fn select(&self, packs: &[Id]) -> HashSet<Id> {
        match self {
            ReadData::None => HashSet::new(),
            ReadData::All => packs.iter().copied().collect(),
            ReadData::Fraction(f) => packs
                .iter()
                .filter(|_| rand::random::<f64>() < *f)
                .copied()
                .collect(),
            ReadData::Part(n, m) => packs
                .iter()
                .filter(|p| (p.0[0] as u32) % m == n - 1)
                .copied()
                .collect(),
            ReadData::LeastRecent { fraction, verified } => {
                let mut order: Vec<(Option<jiff::Timestamp>, Id)> = packs
                    .iter()
                    .map(|p| (verified.get(p).copied(), *p))
                    .collect();
                // `None` (never verified) sorts first.
                order.sort();
                order.dedup();
                // A hair below, so that 5% of 100 packs is 5, not 6.
                let want = ((fraction * order.len() as f64) - 1e-9).ceil().max(1.0) as usize;
                order.into_iter().take(want).map(|(_, p)| p).collect()
            }
        }
    }

    /// Whether this share selects an archived WAL file whose name starts
    /// with the hex byte `b`.
    pub(super) fn select_wal(&self, b: u32) -> bool {
        match self {
            ReadData::None => false,
            ReadData::All => true,
            ReadData::Fraction(f) | ReadData::LeastRecent { fraction: f, .. } => {
                rand::random::<f64>() < *f
            }
            ReadData::Part(n, m) => b % m == n - 1,
        }
    }
}

/// Options of [`check`](fn@crate::check).
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Which packs to read.
    pub read_data: ReadData,
}
