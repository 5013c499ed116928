//! The controls, one function each, returning that control's result;
//! [`build`](crate::report::build()) calls them in this order:
//!
//! | control | function | file |
//! | --- | --- | --- |
//! | `rule-coverage` | `rule_coverage` | `coverage.rs` |
//! | `backup-frequency` | `backup_frequency` | `frequency.rs` |
//! | `retention-minimum` | `retention_minimum` | `retention.rs` |
//! | `encryption` | `encryption` | `encryption.rs` |
//! | `key-age` | `key_age` | `encryption.rs` |
//! | `vault-lock` | `vault_lock` | `vault_lock.rs` |
//! | `cross-vault-copy` | `cross_vault_copy` | `cross_vault_copy.rs` |
//! | `rpo` | `rpo` | `recovery.rs` |
//! | `restore-test` | `restore_test` | `recovery.rs` |
//! | `verification` | `verification` | `verification.rs` |
//!
//! Each reads only (the configuration, the catalog, the vaults opened once
//! by `build`) and stores nothing. `evidence.rs` holds how evidence lines
//! name a job's time and a vault's error.

mod coverage;
mod cross_vault_copy;
mod encryption;
mod evidence;
mod frequency;
mod recovery;
mod retention;
mod vault_lock;
mod verification;

pub(super) use coverage::rule_coverage;
pub(super) use cross_vault_copy::cross_vault_copy;
pub(super) use encryption::{encryption, key_age};
pub(super) use frequency::backup_frequency;
pub(super) use recovery::{restore_test, rpo};
pub(super) use retention::retention_minimum;
pub(super) use vault_lock::vault_lock;
pub(super) use verification::verification;
