//! Opening a vault, and reading and writing its sealed objects.
//!
//! Files: `config.rs` (the plaintext `config` object and the format
//! version), `handle.rs` (the [`Vault`] handle: init, open, its key and key
//! epoch), `key_summary.rs` (how a vault is encrypted, for reports),
//! `objects.rs` (sealed objects, the index, snapshots), `blobs.rs` (blobs
//! and trees read through the index) and `pack_cache.rs` (the cache of
//! whole tree packs).

pub(crate) mod blobs;
pub(crate) mod config;
pub(crate) mod handle;
pub(crate) mod key_summary;
pub(crate) mod objects;
pub(crate) mod pack_cache;
#[cfg(test)]
mod tests;

pub use config::{ChunkerParams, InitOptions, VaultConfig, FORMAT_VERSION};
pub use handle::{EpochInfo, Vault};
pub use key_summary::KeySummary;
pub use objects::SnapshotsAndDamage;
