//! coffer-server: `coffer serve` — configuration, scheduler, job runner and
//! catalog (later: HTTP API, metrics, dashboard and notifications).
//!
//! - [`config`]: the `coffer.toml` file: vaults, sources, plans of rules;
//!   parsed strictly (unknown fields are errors with line and column).
//! - [`schedule`]: cron expressions (5-field, AWS `cron(…)`, `@every`) and a
//!   [`schedule::Clock`] that tests drive.
//! - [`scheduler`]: the daemon's decisions (create, start, expire, stop
//!   jobs; catch up after downtime) as a pure function of rules, catalog
//!   state and time.
//! - [`runner`]: one rule's backup job and what follows it (retention,
//!   copies, cold tier), shared by the daemon and `coffer plan run`.
//! - [`rule_run`]: a rule run now (`coffer plan run`, the API).
//! - [`daemon`]: the `coffer serve` loop.
//! - [`catalog`]: the SQLite record of every job and its state changes.
//! - [`events`]: named events (`BACKUP_JOB_FAILED`, `RPO_VIOLATED`, …)
//!   recorded in the catalog for notifications and metrics.
//! - [`fleet`]: fleet records: this host's job outcomes and heartbeats
//!   written into the vaults, and every host's read back into one view.
//! - [`health`]: each source's RPO and RTO status, and the anomaly checks
//!   (`RPO_VIOLATED`, `SIZE_ANOMALY`, `WAL_ARCHIVE_LAG`).
//! - [`report`]: the compliance report (controls with status and evidence)
//!   and scheduled reports written into a directory or a vault.
//! - [`model`]: the shared types at the bottom (report format, what a
//!   verification reads), named by config, jobs, API and CLI alike.
//! - [`records`]: the results verify and restore-test jobs record.
//! - [`restore_test`]: restore tests: real restores into scratch space,
//!   validated and timed ([`restore_test::run`]).
//! - [`prune`]: prune as a job (`coffer prune`, `[[prune]]` entries).
//! - [`verify`]: verification as a job (`coffer verify`, `[[verify]]`
//!   entries) and a vault's verification status.
//! - [`http`]: the daemon's HTTP listener (`[server]`): `/metrics`,
//!   `/healthz`, and the router later routes join.
//! - [`metrics`]: the Prometheus metrics and their one list of names.
//! - [`notify`]: notification sinks (`[[notify]]`) fed from the events.
//! - [`preflight`]: `config check --connect`: every vault, database and
//!   sink of a configuration tried for real, in parallel, changing nothing.
//! - [`dashboard`]: the web dashboard (embedded assets at `/` and `/ui/`).
//! - [`api`]: the HTTP API under `/api/v1` (one route table, roles, audit).
//! - [`auth`]: API tokens (hashed in the catalog) and their roles.
//! - [`audit`]: the audit trail of actions (`audit.log` and the catalog).
//! - [`thaw`]: a daemon restore or restore test of a cold snapshot, PENDING
//!   while its data packs thaw.
//! - [`usage`]: a vault's bytes by storage class and the share the
//!   snapshots reference, with the monthly cost from `[prices]`.
//! - [`state`]: the state directory (catalog, daemon lock) and the daemon's
//!   single-instance lock.

#![deny(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod events;
pub mod fleet;
pub mod health;
pub mod http;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod preflight;
pub mod prune;
pub mod records;
pub mod report;
pub mod restore_test;
pub mod rule_run;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod state;
pub mod thaw;
pub mod usage;
pub mod verify;
