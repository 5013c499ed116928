//! The snapshot under test ([`Ctx`]): its vault, index, source and
//! restore test, its restore into a destination through the one restore
//! of every front end, a scratch directory for it, the server a dump is
//! restored into, and the timed restore into a scratch database.

use super::failure::failed;
use super::scratch::scratch_name;
use super::validate::Run;
use crate::config::{Config, RestoreTestConfig};
use crate::model::ServerResult;
use coffer_core::{Cancel, Id, Index, Snapshot, Vault};
use coffer_sources::dburl::DbUrl;
use coffer_sources::restore::{Destination, RestoreOutcome, RestoreRequest};
use coffer_sources::spec::SourceSpec;
use coffer_sources::{Progress, SourceError};
use std::time::Instant;

pub(super) struct Ctx<'a> {
    pub(super) config: &'a Config,
    pub(super) test: &'a RestoreTestConfig,
    pub(super) vault: &'a Vault,
    pub(super) index: &'a Index,
    pub(super) id: Id,
    pub(super) snap: &'a Snapshot,
    pub(super) spec: &'a SourceSpec,
}

impl Ctx<'_> {
    /// Restores the snapshot to `destination` through the one restore of
    /// every front end ([`coffer_sources::restore::restore`]); stream
    /// reads stop with an error once `cancel` fires.
    pub(super) fn restore(
        &self,
        destination: Destination,
        cancel: &Cancel,
    ) -> Result<RestoreOutcome, SourceError> {
        coffer_sources::restore::restore(
            RestoreRequest {
                vault: self.vault,
                index: self.index,
                id: self.id,
                snapshot: self.snap,
                destination,
                cancel: Some(cancel.clone()),
            },
            &Progress::default(),
        )
    }

    pub(super) fn detail(&self, k: &str) -> Option<String> {
        self.snap.source.details.get(k).cloned()
    }

    /// A scratch directory (removed on drop).
    pub(super) fn scratch_dir(&self) -> ServerResult<tempfile::TempDir> {
        let parent = self
            .test
            .scratch_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        tempfile::Builder::new()
            .prefix(&format!("{}_", scratch_name(&self.test.name)))
            .tempdir_in(&parent)
            .map_err(|e| {
                failed(format!(
                    "creating a scratch directory in {}: {e} (set scratch_dir on the restore test)",
                    parent.display()
                ))
            })
    }

    /// The server to restore a dump into: `target_url`, else the source's
    /// URL (with the source's password in both cases), without a database.
    pub(super) fn server_url(&self, schemes: &[&str], port: u16) -> ServerResult<DbUrl> {
        let source_url = match self.spec {
            SourceSpec::Postgres { url, .. }
            | SourceSpec::Mysql { url, .. }
            | SourceSpec::PostgresBase { url, .. }
            | SourceSpec::Redis { url } => Some(url.as_str()),
            _ => None,
        };
        let source = source_url
            .map(|u| DbUrl::parse(u, schemes, port, "the source's url"))
            .transpose()
            .map_err(|e| failed(e.to_string()))?;
        let mut url = match &self.test.target_url {
            Some(t) => {
                DbUrl::parse(t, schemes, port, "target_url").map_err(|e| failed(e.to_string()))?
            }
            None => source
                .clone()
                .ok_or_else(|| failed("the source has no url to restore into".to_string()))?,
        };
        if url.password.is_none() {
            url.password = source.and_then(|s| s.password);
        }
        url.database = None;
        Ok(url)
    }
}

/// Restores the snapshot into scratch database `db` on `server` (given as
/// `destination`), timed and recorded as the restore step; an error names
/// the snapshot, the database and the server.
pub(super) fn restore_into_db(
    c: &Ctx<'_>,
    t: &mut Run,
    db: &str,
    server: &str,
    destination: Destination,
) -> ServerResult<()> {
    let start = Instant::now();
    c.restore(destination, &t.cancel).map_err(|e| {
        failed(format!(
            "restoring snapshot {} into scratch database {db} on {server}: {e}",
            c.id.short()
        ))
    })?;
    t.restored(start, format!("into scratch database {db} on {server}"));
    Ok(())
}
