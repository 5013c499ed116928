//! The archived WAL of PostgreSQL base backup sources: a [`WalProbe`]
//! tells the time of the newest WAL file archived in a vault, and the
//! newest over the vaults a source's rules write to is a recovery point.

use crate::config::{Config, SourceConfig, SourceKind};
use crate::model::{ServerError, ServerResult};
use jiff::Timestamp;
use std::collections::BTreeSet;

/// Tells the time of the newest WAL file archived in a vault (by name), or
/// `None` when the vault holds none. An error says why the vault could not
/// be read.
pub type WalProbe<'a> = &'a dyn Fn(&str) -> ServerResult<Option<Timestamp>>;

/// A [`WalProbe`] that opens vaults with `open` (e.g. `|v| runner.vault(v)`,
/// which keeps them open between calls).
pub fn wal_probe<'a>(
    open: impl Fn(&str) -> ServerResult<coffer_core::Vault> + 'a,
) -> impl Fn(&str) -> ServerResult<Option<Timestamp>> + 'a {
    move |vault: &str| {
        let v = open(vault)?;
        coffer_core::wal::newest(&v)
            .map(|n| n.and_then(|(_, t)| t))
            .map_err(|e| ServerError::vault(format!("vault `{vault}`"), &e))
    }
}

/// A [`WalProbe`] for configurations without PostgreSQL base backup
/// sources, or tests: no vault has archived WAL.
pub fn no_wal(_: &str) -> ServerResult<Option<Timestamp>> {
    Ok(None)
}

/// The vaults the rules selecting `source` write into (WAL is archived into
/// the vault given to `wal-push`, which is the rule's vault).
fn vaults_of(config: &Config, source: &str) -> Vec<String> {
    let set: BTreeSet<String> = config
        .rules()
        .filter(|r| r.sources.iter().any(|s| s == source))
        .map(|r| r.vault.clone())
        .collect();
    set.into_iter().collect()
}

/// The newest archived WAL time of a PostgreSQL base backup source, over
/// the vaults of its rules. Vaults that cannot be read are logged.
pub(super) fn wal_newest(
    config: &Config,
    source: &SourceConfig,
    probe: WalProbe,
) -> Option<Timestamp> {
    if source.kind != SourceKind::PostgresBase {
        return None;
    }
    let mut newest: Option<Timestamp> = None;
    for v in vaults_of(config, &source.name) {
        match probe(&v) {
            Ok(t) => newest = newest.max(t),
            Err(e) => tracing::warn!(
                source = %source.name,
                "cannot read the archived WAL of vault `{v}` for the health check: {e}"
            ),
        }
    }
    newest
}
