//! The recovery time objective: the last measured restore is the newest
//! finished restore-test job of the source; a failed or timed-out test
//! misses the RTO, a SKIPPED one (nothing to test yet) is passed over.

use super::duration::secs;
use crate::catalog::{Catalog, CatalogError, JobFilter, JobKind, JobState};
use crate::config::SourceConfig;
use crate::records::{RestoreTestDetails, Validation};

/// The last measured restore of `source`: its restore time in seconds,
/// and whether it met the source's RTO (`None`: no RTO, or no test yet).
pub(super) fn last_restore(
    catalog: &Catalog,
    source: &SourceConfig,
) -> Result<(Option<f64>, Option<bool>), CatalogError> {
    let name = &source.name;
    let last_test = catalog
        .list_jobs(&JobFilter {
            kinds: vec![JobKind::RestoreTest],
            source: Some(name.clone()),
            states: JobState::VERDICT.to_vec(),
            limit: Some(1),
            ..Default::default()
        })?
        .into_iter()
        .next();
    let details = last_test.as_ref().and_then(RestoreTestDetails::of);
    let last_restore_seconds = details.as_ref().and_then(|d| d.restore_seconds);
    let rto_ok = match (source.rto, &last_test) {
        (Some(rto), Some(job)) => {
            let passed = matches!(job.state, JobState::Completed | JobState::Partial)
                && details
                    .as_ref()
                    .is_none_or(|d| d.validation == Validation::Successful);
            Some(passed && last_restore_seconds.is_some_and(|s| s <= secs(rto)))
        }
        _ => None,
    };
    Ok((last_restore_seconds, rto_ok))
}
