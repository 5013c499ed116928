//! PostgreSQL, logical and physical.
//!
//! - [`logical`]: `pg_dump` of one database per snapshot and the cluster's
//!   globals, restored through `pg_restore` and `psql`; tool discovery and
//!   connection handling shared by everything below. Its items are
//!   re-exported here (`coffer_sources::postgres::Postgres`, …).
//! - [`physical`]: base backups streamed from `pg_basebackup`, cut on page
//!   boundaries by [`pages`], and their restore into a data directory set up
//!   for point-in-time recovery.
//! - [`backup`]: base backups by files (`pg backup`): the low-level backup
//!   API over one session, the data directory and tablespaces read in
//!   parallel, incrementals that read only what changed; [`tablespace`]
//!   reads and places tablespaces.
//! - [`recovery`]: a restored data directory set up for point-in-time
//!   recovery, shared by both layouts of a base backup.
//! - [`wal`]: WAL archiving (`wal-push`, `wal-fetch`, `wal-verify`,
//!   `wal-prune`); segment names and LSNs are in `segment`, shared with
//!   [`physical`], and `wal-prune`'s options and report in `wal_prune_report`.
//!
//! The crate root keeps the older paths `coffer_sources::pg_physical`,
//! `coffer_sources::pg_pages` and `coffer_sources::wal` for these modules.
//!
//! | command | snapshot `source.kind` / objects | restore |
//! | --- | --- | --- |
//! | `--postgres URL/db` ([`logical`]) | `postgres`, file `DB.pgdump` | `pg_restore` into a database |
//! | `--postgres URL --globals` ([`logical`]) | `postgres-globals`, file `globals.sql` | `psql` |
//! | `pg basebackup --postgres URL` ([`physical`], cut on page boundaries by [`pages`]) | `postgres-base`, file `base.tar` | `restore --pgdata DIR` with a recovery target |
//! | `pg backup --postgres URL [--type full\|incr\|diff]` ([`backup`], the data directory read between `pg_backup_start` and `pg_backup_stop`) | `postgres-base`, `layout = files`: `data/…`, `tablespaces/OID/…` | `restore --pgdata DIR [--tablespace-map OLD=NEW]` |
//! | `wal-push PATH` ([`wal`]) | `wal/<encrypted name>` objects, no snapshot | `wal-fetch NAME DEST` (the server's restore_command) |

pub mod backup;
pub mod logical;
pub mod pages;
pub mod physical;
pub mod recovery;
mod segment;
pub mod tablespace;
pub mod wal;
pub(crate) mod wal_prune_report;

pub use logical::{
    pg_major, quote_ident, quote_literal, server_tool, PgOptions, PgRestoreOptions, Postgres,
    DEFAULT_PORT, KIND, KIND_GLOBALS, MAINTENANCE_DB, SCHEMES,
};
