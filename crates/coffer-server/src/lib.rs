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
//! - [`daemon`]: the `coffer serve` loop.
//! - [`catalog`]: the SQLite record of every job and its state changes.
//! - [`state`]: the state directory (catalog, daemon lock) and the daemon's
//!   single-instance lock.

#![deny(missing_docs)]

pub mod catalog;
pub mod config;
pub mod daemon;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod state;
