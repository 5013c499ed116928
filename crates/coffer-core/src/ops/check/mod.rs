//! `check`: the vault's structure, and optionally every byte of its data.
//!
//! Structure: every snapshot and index object opens; every pack the index
//! names exists and is long enough; every tree of every snapshot loads and
//! every chunk it names is indexed. With `read_data`, the selected packs are
//! downloaded, their names checked against their bytes, and every blob opened
//! and verified against its id. Each problem names the damaged object and the
//! snapshots that need it ([`Problem::snapshot_ids`]). [`ReadData::LeastRecent`]
//! reads the packs verified longest ago first, so that repeated partial runs
//! cover the whole vault; [`CheckReport::verified_packs`] names the packs
//! read and found sound, for the caller to remember. Packs no index lists (left by an interrupted or
//! running backup) are reported as unreferenced, not as errors. An indexed
//! pack that is missing is no problem when a prune plan condemns it (a
//! prune's delete phase removes it while this check runs); a blob that a
//! snapshot needs is still reported if no readable copy is left. Session
//! (`sessions/`) and prune plan (`prune/`) objects must open and parse.
//!
//! Files: `options.rs` (which packs to read), `report.rs` (problems and the
//! report), `run.rs` (the order of the checks, packs and read data),
//! `trees.rs` (the walk of every snapshot's trees), `snapshots.rs` (the
//! structure of chosen snapshots only, for a tier move's verification) and `objects.rs` (lock
//! records and holds, sessions and prune plans, archived WAL files).

pub(crate) mod objects;
pub(crate) mod options;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod snapshots;
#[cfg(test)]
mod tests;
pub(crate) mod trees;

pub use options::{CheckOptions, ReadData};
pub use report::{CheckReport, Problem};
pub use run::{check, check_with_cancel};
pub use snapshots::{check_snapshots, SnapshotsCheck};
