//! coffer-sources: what coffer protects, and how it comes back.
//!
//! - [`files`]: walks directory trees into a vault (parallel, skipping
//!   unchanged files by their parent snapshot's metadata) and restores them
//!   with full fidelity (mode, owners by name and id, times, symlinks, hard
//!   links, xattrs, FIFOs, devices, sparse files, names that are not UTF-8).
//! - [`stream`]: any byte stream (standard input, dumps, command output) as a
//!   one-file snapshot, and [`stream::StreamReader`] to read it back in order.
//! - [`postgres`]: logical dumps of PostgreSQL databases (`pg_dump -Fc -Z0`,
//!   one snapshot per database) and the cluster's globals, restored through
//!   `pg_restore` (parallel with `--jobs`) and `psql`; base backups and WAL
//!   archiving beside them.
//! - [`mysql`]: MariaDB/MySQL dumps (`mariadb-dump --single-transaction`),
//!   restored through the `mariadb` client.
//! - [`redis`]: an RDB snapshot taken over the network with the replication
//!   protocol (as `redis-cli --rdb` does), so it works with persistence off.
//! - [`command`]: the standard output of any command; its exit status decides
//!   whether the snapshot is written.
//!
//! Every restore, whatever the front end, goes through [`restore::restore`]
//! with a [`restore::Destination`]: one place checks a snapshot's kind
//! against where it goes and keeps the restore beneath its target. Which
//! snapshot `latest` means for a destination (the newest of the database a
//! restore goes into, or a refusal listing the candidates) is
//! [`select`]'s one rule.
//!
//! Shared pieces: [`dburl`] parses server URLs and never prints a password;
//! [`process`] runs every child process (dump and restore tools, commands)
//! the same way; [`error`] holds the typed [`SourceError`].
//!
//! Every source runs through [`run_backup`] (the vault's, in
//! `coffer_core::backup`), so the order of writes that makes a kill safe
//! (session, packs, index, then snapshot) is kept in one place, the core. A
//! database or command source returns its tree only after its dump process
//! exited with status 0: a failed or killed dump returns an error before any
//! snapshot is written, leaving at most unreferenced packs for prune.
//!
//! | source | snapshot `source.kind` | file in the snapshot | restore |
//! | --- | --- | --- | --- |
//! | `--postgres URL/db` | `postgres` | `DB.pgdump` (custom format, uncompressed) | `pg_restore` into a database |
//! | `--postgres URL --globals` | `postgres-globals` | `globals.sql` | `psql` |
//! | `--mysql URL[/db]` | `mysql` | `DB.sql` or `all-databases.sql` | `mariadb` client |
//! | `--redis URL` | `redis` | `dump.rdb` | written into a directory for `redis-server` |
//! | `--command CMD --name N` | `command` | `N` | the recorded restore command, or a file |
//!
//! Physical PostgreSQL backups sit beside the logical ones in [`postgres`]
//! and share their tool discovery and connection handling
//! ([`postgres::logical`]):
//!
//! | command | snapshot `source.kind` / objects | restore |
//! | --- | --- | --- |
//! | `pg basebackup --postgres URL` ([`postgres::physical`], cut on page boundaries by [`postgres::pages`]) | `postgres-base`, file `base.tar` | `restore --pgdata DIR` with a recovery target |
//! | `wal-push PATH` ([`postgres::wal`]) | `wal/<encrypted name>` objects, no snapshot | `wal-fetch NAME DEST` (the server's restore_command) |

#![deny(missing_docs)]

pub mod command;
pub mod dburl;
pub mod error;
pub mod files;
pub mod filter;
pub mod mysql;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod restore;
pub mod select;
pub mod spec;
pub mod stream;

pub use error::{SourceError, SourceResult};
pub use postgres::pages as pg_pages;
pub use postgres::physical as pg_physical;
pub use postgres::wal;

pub use coffer_core::backup::{run_backup, username, BackupResult, SnapshotMeta, SourceOutput};
/// Counters a front end may poll to draw progress (the vault's, which the
/// archiver adds to; the sources add entries, and restores what they
/// write).
pub use coffer_core::progress::{Counts, Notices, Part, Progress};

pub(crate) use coffer_core::progress::add;
