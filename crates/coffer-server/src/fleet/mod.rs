//! The fleet: every host that writes into a vault leaves fleet records
//! there (`coffer_core::fleet`: job outcomes and heartbeats), and any
//! daemon with the key reads them all.
//!
//! - [`write`]: turning this host's finished catalog jobs into records and
//!   storing them, with a heartbeat, in the vaults they ran on
//!   ([`write::flush`]); called by `coffer serve` every heartbeat, and by
//!   `coffer plan run` and `coffer backup` at the end of a run, so a
//!   CronJob that lives a minute leaves the same evidence as a daemon.
//! - [`agent`]: the daemon's thread that does both every heartbeat and
//!   compacts old records.
//! - [`view`]: reading every configured vault's records into one
//!   [`view::FleetStatus`] (hosts, their sources against RPO and RTO,
//!   hosts that stopped reporting), kept in the catalog for metrics, and
//!   the events of a silent host or a fleet source past its RPO, once per
//!   episode.
//!
//! The local catalog stays a cache and a record; the vault's records are
//! what every host sees, and the snapshots stay the truth of what can be
//! restored. A record that cannot be written (store down, no permission)
//! never fails the job: the job is already recorded locally, and the next
//! flush writes it.

use crate::model::ServerResult;

/// How the fleet code gets a configured vault by name: the daemon's
/// [`crate::runner::Runner::vault`] (opened once and kept, so a heartbeat
/// does not pay a key slot's Argon2id each time), or
/// [`crate::runner::open_vault`] for a command that runs once.
pub type OpenVault<'a> = &'a dyn Fn(&str) -> ServerResult<coffer_core::Vault>;

pub mod agent;
pub mod view;
pub mod write;

pub use agent::FleetAgent;
pub use view::{FleetHost, FleetSource, FleetStatus};
pub use write::{flush, FlushReport};
