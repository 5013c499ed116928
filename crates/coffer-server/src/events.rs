//! Events: what operators are told about. Every event has a stable name
//! ([`EventName`], e.g. `BACKUP_JOB_FAILED`, `RPO_VIOLATED`), a severity,
//! the resources it concerns (plan, rule, source, vault, job) and a message.
//!
//! Events are rows of the catalog's `events` table, written in the same
//! transaction as what caused them:
//!
//! - job state changes write theirs themselves ([`job_event_name`]):
//!   [`Catalog::start_job`](crate::catalog::Catalog::start_job) writes
//!   `…_STARTED`, [`Catalog::finish_job`](crate::catalog::Catalog::finish_job)
//!   the final one (`BACKUP_JOB_COMPLETED`, `VERIFY_FAILED`,
//!   `RESTORE_TEST_TIMED_OUT`, …). Whoever runs a job — the daemon, `coffer
//!   plan run`, `coffer verify` — therefore produces its events;
//! - checks that are not jobs (RPO, size anomalies, WAL archive lag) call
//!   [`Catalog::emit`](crate::catalog::Catalog::emit).
//!
//! Consumers (notification sinks, metrics, the API) read the table in id
//! order ([`Catalog::events`](crate::catalog::Catalog::events) with
//! `after_id`), each keeping its own cursor (e.g. in the catalog's
//! key-value table, [`Catalog::kv_get`](crate::catalog::Catalog::kv_get)).
//! A consumer that fails never fails the job that produced the event.
//!
//! The definitions live at the bottom, in the catalog that stores them
//! (`catalog/event_names.rs`, `catalog/events.rs`); this module names them
//! for their consumers.

pub use crate::catalog::{job_event_name, Event, EventFilter, EventName, NewEvent, Severity};
