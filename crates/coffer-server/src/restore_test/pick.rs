//! Which source and snapshot a run tests: the entry's source tested
//! longest ago (never tested first, file order on ties), and its newest
//! snapshot (`select = "latest"`) or a random one of the last `within_days`
//! days (`select = "random"`), found by the `source:NAME` tag rules give
//! their snapshots; and, when the vault holds none of the source yet, why
//! there is nothing to test and when its first backup is due.

use super::failure::failed;
use crate::catalog::{Catalog, CatalogError, JobFilter, JobKind};
use crate::config::{Config, RestoreTestConfig, SnapshotSelect};
use crate::model::ServerResult;
use crate::records::RestoreTestDetails;
use crate::runner::source_tag;
use coffer_core::{Id, Snapshot, SnapshotFilter, Vault};
use coffer_sources::{command, mysql, pg_physical, postgres, redis};
use jiff::Timestamp;

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

/// The snapshot a run tests; `None` when the vault holds no snapshot of
/// `source` at all (nothing to test yet: the run is SKIPPED).
pub(super) fn pick_snapshot(
    vault: &Vault,
    test: &RestoreTestConfig,
    source: &str,
) -> ServerResult<Option<(Id, Snapshot)>> {
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
        return Ok(None);
    }
    match test.select {
        SnapshotSelect::Latest => Ok(snaps.pop()),
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
                .map(|x| Some((*x).clone()))
                .ok_or_else(|| {
                    failed(format!(
                        "vault `{}` holds no snapshot of source `{source}` from the last {within_days} days",
                        test.vault
                    ))
                })
        }
    }
}

/// Why a run of `test` found nothing to test: the vault holds no snapshot
/// of `source` yet, and when the first backup of it into that vault is due
/// (by the rules of `config`, after `now`), or that no rule makes one.
pub(super) fn no_snapshot_yet(
    config: &Config,
    test: &RestoreTestConfig,
    source: &str,
    now: Timestamp,
) -> String {
    let next = config
        .rules()
        .filter(|r| r.vault == test.vault && r.sources.iter().any(|s| s == source))
        .filter_map(|r| Some((r.schedule.next_after(now, &r.timezone)?, r.id())))
        .min();
    let when = match next {
        Some((at, rule)) => format!(
            "its first backup is due at {} (rule {rule}); the test runs at its next time after that",
            at.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => format!(
            "no rule backs it up into vault `{}`: add it to a [[plan.rule]] with that vault, or run `coffer backup`",
            test.vault
        ),
    };
    format!(
        "vault `{}` holds no snapshot of source `{source}` (tag {}) yet: nothing to test; {when}",
        test.vault,
        source_tag(source)
    )
}
