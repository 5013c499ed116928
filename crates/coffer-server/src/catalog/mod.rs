//! The job catalog: an embedded SQLite database (`catalog.sqlite` in the
//! state directory) that records every job of coffer — backup, copy,
//! restore, restore-test, verify, prune, forget — with its timings, sizes,
//! counts, errors and state changes.
//!
//! The catalog is a cache and a record; the vault alone is the truth for
//! what can be restored. Losing the catalog loses history, never data.
//!
//! # Concurrency
//!
//! The daemon and CLI commands (`coffer jobs`, `coffer plan run`) use the
//! file at the same time: it is in WAL mode (readers never wait for the
//! writer), every write is one `BEGIN IMMEDIATE` transaction (it takes the
//! write lock up front, so two writers queue instead of failing on a lock
//! upgrade), and each connection waits up to [`BUSY_TIMEOUT`] for a lock.
//! A [`Catalog`] is `Send + Sync`: one value can be shared by the daemon's
//! threads (calls are serialised on one connection).
//!
//! # Job states
//!
//! States follow AWS Backup ([`JobState`]). `CREATED` → (`PENDING`) →
//! `RUNNING` → a final state; `COMPLETED` and `PARTIAL` only from
//! `RUNNING`; `FAILED`, `EXPIRED`, `ABORTED` and `SKIPPED` (coffer's own:
//! nothing to work on yet) from any state that is not final. A final state
//! never changes: [`Catalog::finish_job`] on a
//! finished job is an error, so a late "completed" cannot overwrite an
//! "aborted" written by a restarted daemon.
//!
//! # Owners
//!
//! Each job records the process that owns it: host name, pid, the kernel's
//! boot id and the process's start time (`/proc/PID/stat`). When a daemon
//! starts, [`Catalog::abort_stale_running`] marks `ABORTED` every unfinished
//! job whose owner is gone: a previous boot, or a pid that no longer runs
//! the same process (the start time tells a reused pid apart). Jobs of a
//! live `coffer plan run` are left alone. The catalog belongs to one
//! machine: SQLite over a network file system is not supported.
//!
//! # Format
//!
//! Times are RFC 3339 UTC strings with millisecond precision and a fixed
//! width (`2026-03-01T02:00:00.000Z`), so they sort as text. Job ids are
//! SQLite integers that are never reused (`AUTOINCREMENT`). The schema
//! version is `PRAGMA user_version`; [`Catalog::open`] applies the missing
//! migrations in one transaction and refuses a newer schema.
//!
//! # Files
//!
//! One file per table or concept: [`Catalog`] itself and its transactions
//! (`database.rs`), opening it (`open.rs`), the schema and its migrations
//! (`schema.rs`), the jobs (`job_state.rs`, `job_record.rs`, `jobs.rs`),
//! their owners' liveness (`liveness.rs`, `stale_jobs.rs`), the events
//! (`event_names.rs`, `events.rs`), the notification sinks' claims and
//! cursors (`notify_claims.rs`), the rules' last scheduled times
//! (`rule_state.rs`), the key-value table (`kv.rs`), verified packs
//! (`verified_packs.rs`), API tokens (`tokens.rs`), the audit trail
//! (`audit.rs`), and how times are stored (`time_format.rs`,
//! `time_serde.rs`). The catalog is the lower layer: [`crate::events`] and
//! [`crate::state`] re-export what they share with it from here.

mod audit;
mod database;
mod error;
mod event_names;
mod events;
mod job_record;
mod job_state;
mod jobs;
mod kv;
mod liveness;
mod notify_claims;
mod open;
mod rule_state;
mod schema;
mod stale_jobs;
pub(crate) mod text_enum;
mod time_format;
pub mod time_serde;
mod tokens;
mod verified_packs;

#[cfg(test)]
mod tests;

pub use audit::AuditRecord;
pub use database::Catalog;
pub use error::{CatalogError, Result};
pub use event_names::{job_event_name, EventName, Severity};
pub use events::{Event, EventFilter, NewEvent};
pub use job_record::{Job, JobCounters, JobEvent, JobFilter, JobOutcome, NewJob};
pub use job_state::{EventLevel, JobId, JobKind, JobState, Trigger};
pub use notify_claims::{notify_cursor_key, Claim};
pub use open::{BUSY_TIMEOUT, CATALOG_FILE};
pub use schema::SCHEMA_VERSION;
pub use stale_jobs::STALE_REASON;
pub use text_enum::ParseError;
pub use time_format::{format_time, parse_since};
pub use tokens::TokenRecord;
