//! The compliance report: controls, each with a status (`PASS`, `FAIL`,
//! `NOT_EVALUATED`), the evidence it was judged on, and the resources that
//! fail it. [`build`] evaluates them from the configuration, the catalog and
//! the vaults; [`Report::render`] writes text, JSON, CSV or a self-contained
//! HTML page. `coffer report`, scheduled reports ([`run_scheduled`]) and the
//! HTTP API all go through these two, so they say the same thing.
//!
//! | control | passes when |
//! | --- | --- |
//! | `rule-coverage` | every configured source is selected by a rule |
//! | `backup-frequency` | every source's most frequent rule runs at least every `[compliance] min_backup_frequency`, and the source's newest snapshot (from any of its rules) is younger than that rule's longest gap plus its start window; a weekly rule beside a daily one does not fail on its own |
//! | `retention-minimum` | every rule and copy keeps snapshots at least `min_retention_days` |
//! | `encryption` | every vault opens as a coffer vault (always encrypted: the evidence is read from it: format version, AEAD, key slots by kind with their KDF, key epoch); a password slot weaker than a new one may be fails |
//! | `key-age` | every key slot of every vault was added within `[compliance] key_rotation` (default 90 days); a slot whose `created` does not parse (age unknown) or that is damaged fails |
//! | `vault-lock` | every vault has a lock (in the configuration or stored in the vault) |
//! | `cross-vault-copy` | every source is copied into a second vault, and a copy job completed in the period |
//! | `rpo` | every source with an RPO has a recovery point younger than it |
//! | `restore-test` | every source's newest restore test succeeded within `restore_test_window`, faster than its RTO |
//! | `verification` | every vault's newest verification passed within `verify_window` |
//!
//! A control with nothing to judge (no source has an RPO, no vault) is
//! `NOT_EVALUATED`.
//!
//! Where things are: [`Report`] and what it holds in `document.rs`, one
//! [`Control`] and its status in `control.rs`; [`build`] (`build.rs`) opens
//! the vaults and calls one function per control, each in `controls/`
//! (see its table); `render.rs` writes the four formats; `scheduled.rs`
//! runs a `[[report]]` into a directory or a vault.

mod build;
mod control;
mod controls;
mod document;
mod duration;
mod render;
mod scheduled;

pub use crate::model::ReportFormat;
pub use build::{build, VaultOpener};
pub use control::{Control, ControlStatus};
pub use document::{JobCount, Report, SourceStatus, Summary};
pub use scheduled::{run_scheduled, ReportError, Written};

#[cfg(test)]
mod tests;
