//! Which source and snapshot a run tests: the entry's source tested
//! longest ago (never tested first, file order on ties), and its newest
//! snapshot (`select = "latest"`) or a random one of the last `within_days`
//! days (`select = "random"`), found by the `source:NAME` tag rules give
//! their snapshots.

use super::failure::failed;
use crate::catalog::{Catalog, CatalogError, JobFilter, JobKind};
use crate::config::{RestoreTestConfig, SnapshotSelect};
use crate::model::ServerResult;
use crate::records::RestoreTestDetails;
use crate::runner::source_tag;
use coffer_core::{Id, Snapshot, SnapshotFilter, Vault};
use coffer_sources::{command, mysql, pg_physical, postgres, redis};

/// The source a run tests: the one whose last run of this test is the
/// oldest (never tested first), in file order on ties.
pub(super) fn pick_source(
    catalog: &Catalog,
    test: &RestoreTestConfig,
) -> Result<String, CatalogError> {
    if test.sources.len() <= 1 {
        return Ok(test.sources.first().cloned().unwrap_or_default());
    }
    let jobs = catalog.list_jobs(&JobFilter {
        kinds: vec![JobKind::RestoreTest],
        ..Default::default()
    })?;
    let last = |s: &str| {
        jobs.iter()
            .filter(|j| j.source.as_deref() == Some(s))
            .filter(|j| RestoreTestDetails::of(j).is_some_and(|d| d.test == test.name))
            .map(|j| j.id)
            .max()
    };
    Ok(test
        .sources
        .iter()
        .min_by_key(|s| last(s))
        .cloned()
        .unwrap_or_default())
}

/// Snapshot kinds a restore test can restore.
pub(super) const TESTABLE: &[&str] = &[
    "files",
    postgres::KIND,
    pg_physical::KIND_BASE,
    mysql::KIND,
    redis::KIND,
    command::KIND,
];

pub(super) fn pick_snapshot(
    vault: &Vault,
    test: &RestoreTestConfig,
    source: &str,
) -> ServerResult<(Id, Snapshot)> {
    let tag = source_tag(source);
    let mut snaps: Vec<(Id, Snapshot)> = vault
        .snapshots(&SnapshotFilter {
            tags: vec![tag.clone()],
            ..Default::default()
        })
        .map_err(|e| {
            failed(format!(
                "listing the snapshots of vault `{}`: {e}",
                test.vault
            ))
        })?
        .into_iter()
        .filter(|(_, s)| TESTABLE.contains(&s.source.kind.as_str()))
        .collect();
    snaps.sort_by_key(|(_, s)| s.timestamp());
    if snaps.is_empty() {
        return Err(failed(format!(
            "vault `{}` holds no snapshot of source `{source}` (tag {tag}): run a backup first (coffer plan run)",
            test.vault
        )));
    }
    match test.select {
        SnapshotSelect::Latest => Ok(snaps.pop().expect("not empty")),
        SnapshotSelect::Random { within_days } => {
            use rand::seq::SliceRandom;
            let since = jiff::Timestamp::now()
                - jiff::SignedDuration::from_hours(24 * i64::from(within_days));
            let recent: Vec<&(Id, Snapshot)> = snaps
                .iter()
                .filter(|(_, s)| s.timestamp() >= since)
                .collect();
            recent
                .choose(&mut rand::thread_rng())
                .map(|x| (*x).clone())
                .ok_or_else(|| {
                    failed(format!(
                        "vault `{}` holds no snapshot of source `{source}` from the last {within_days} days",
                        test.vault
                    ))
                })
        }
    }
}
