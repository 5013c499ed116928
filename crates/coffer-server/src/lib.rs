//! coffer-server: `coffer serve` — scheduler, job runner, catalog, HTTP API,
//! metrics, dashboard and notifications.
//!
//! Not built yet: the vault engine (coffer-core) comes first. This crate
//! exists so the workspace has the five layers of DESIGN.md from the start.

#![deny(missing_docs)]
