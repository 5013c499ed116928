//! Operations on a vault: each reads and writes the objects of
//! [`crate::format`] through a [`crate::Vault`], takes an `XxxOptions` and
//! returns an `XxxStats`, `XxxReport` or `XxxPlan`. Destructive ones are
//! split into plan and execute, so a dry run, the HTTP preview and the real
//! run share one decision.
//!
//! - [`backup`]: a backup's commit order (session, packs, index, snapshot),
//!   the one place every source goes through.
//! - [`archiver`]: backup (the pipeline that chunks, seals and packs).
//! - [`restore`]: fetching and verifying content for a restore.
//! - [`check`]: the vault's structure and, optionally, every byte.
//! - [`copy`]: copying snapshots into another vault.
//! - [`diff`]: differences between two snapshots.
//! - [`fleet`]: reading and compacting the fleet records under `fleet/`.
//! - [`retention`]: retention policies as pure functions.
//! - [`forget`]: removing snapshots by policy or id (plan, execute).
//! - [`prune`]: removing and repacking data no snapshot needs.
//! - [`rewrite`]: replacing snapshots by copies without excluded paths
//!   (erasure; plan, execute).
//! - [`progress`]: live counters of a backup or restore, for a front end.
//! - [`rotate`]: key rotation to a new key epoch.
//! - [`thaw`]: thawing the data packs a snapshot of a cold vault needs.
//! - [`usage`]: bytes per kind and storage class, and how much of the packs
//!   the snapshots reference.

pub mod archiver;
pub mod backup;
pub mod check;
pub mod copy;
pub mod diff;
pub mod fleet;
pub mod forget;
pub mod progress;
pub mod prune;
pub mod restore;
pub mod retention;
pub mod rewrite;
pub mod rotate;
pub mod thaw;
pub mod usage;
