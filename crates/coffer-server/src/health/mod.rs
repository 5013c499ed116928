//! Protection health: each source's recovery point against its RPO, its
//! last measured restore against its RTO, and the anomaly checks that raise
//! events (`RPO_VIOLATED`, `SIZE_ANOMALY`, `WAL_ARCHIVE_LAG`).
//!
//! Everything is read from the catalog (the record of jobs), plus, for
//! PostgreSQL base backup sources, the time of the newest archived WAL file
//! in the vaults their rules write to. That time costs one listing of the
//! vault's `wal/` objects (their names decrypt without reading them) and
//! one `stat` of the newest segment ([`coffer_core::wal::newest`]).
//!
//! - [`evaluate`] computes a [`SourceHealth`](crate::records::SourceHealth) per configured source, stores
//!   it in the catalog's key-value table (`health/SOURCE`) and emits the
//!   events of violations that began since the last evaluation. The daemon
//!   calls it once a minute (and right after each job it ran), `coffer
//!   status` and the report on demand; the time is a parameter, so tests
//!   drive it. [`refresh`] is its part for one source without the events:
//!   a restore test calls it for its source as soon as it ends, whoever
//!   started it (daemon, API, CLI), so `coffer_rto_compliant` is current
//!   at once.
//! - [`check_size`] runs after each successful backup job: the job's size
//!   (the bytes its snapshots cover) against the moving median of the
//!   source's earlier backups.
//!
//! Episodes: a violation raises one event when it begins, not one per
//! evaluation. The open episode is kept in the key-value table
//! (`episode/rpo/SOURCE`, `episode/wal-lag/SOURCE`); it closes when the
//! source is back within its objective, and the next violation is a new
//! episode with a new event.
//!
//! Rules the numbers follow:
//! - the recovery point is the start of the newest COMPLETED or PARTIAL
//!   backup job of the source (a snapshot's time is its start), or the
//!   newest archived WAL file when that is later;
//! - a source never backed up is violated once its first backup job is
//!   older than its RPO (before that, and with no job at all, its RPO
//!   status is unknown);
//! - the last measured restore is the newest finished restore-test job of
//!   the source: a failed or timed-out test misses the RTO; a SKIPPED one
//!   (no snapshot to test yet) is no test and is passed over.
//!
//! Where things are: [`evaluate`] and [`source_health`] in `evaluate.rs`;
//! the recovery point and `RPO_VIOLATED` in `rpo.rs`; the last measured
//! restore in `rto.rs`; the archived WAL probe in `wal.rs`; `SIZE_ANOMALY`
//! and `WAL_ARCHIVE_LAG` in `anomaly.rs`; `COPY_LAG` in `copy_lag.rs`; episodes in `episode.rs`;
//! [`Status`] in `status.rs`.

mod anomaly;
mod copy_lag;
mod duration;
mod episode;
mod evaluate;
mod rpo;
mod rto;
mod status;
mod wal;

#[cfg(test)]
pub(crate) mod tests;

pub use anomaly::{check_size, job_size, TOTAL_BYTES};
pub use copy_lag::{copy_lag_episodes, copy_lags, stored_copy_lags, CopyLag, COPY_LAGS_KEY};
pub(crate) use duration::human_secs;
pub(crate) use episode::episode;
pub use evaluate::{evaluate, refresh, source_health, INTERVAL};
pub use status::Status;
pub use wal::{no_wal, wal_probe, WalProbe};
