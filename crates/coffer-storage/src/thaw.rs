//! The S3 side of [`coffer_core::Backend::thaw_state`] and
//! [`coffer_core::Backend::request_thaw`] for a vault whose data packs are
//! in an archive class: one HEAD per pack (its class and `x-amz-restore`),
//! and one RestoreObject per pack found frozen, several in flight at once.
//! A pack that is missing reads as [`ThawState::Readable`]: the restore
//! reports it, naming what is missing.

use coffer_core::{StorageError, ThawState, ThawStats, ThawTier};
use futures::StreamExt;

use crate::s3lock::{state_of, storage_err, RestoreAnswer, S3Client};

/// Requests (HEAD or RestoreObject) in flight at once.
const CONCURRENCY: usize = 8;

/// The state of each of `paths`, in order.
pub(crate) async fn states(
    s3: &S3Client,
    paths: &[String],
) -> Result<Vec<ThawState>, StorageError> {
    futures::stream::iter(paths)
        .map(|path| async move {
            match s3.head(path).await {
                Ok(h) => Ok(state_of(h.storage_class.as_deref(), h.restore.as_deref())),
                Err(e) if e.is_not_found() => Ok(ThawState::Readable),
                Err(e) => Err(storage_err(e, "thaw check", path)),
            }
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Asks for a thaw of each of `paths` that is frozen (see
/// [`coffer_core::Backend::request_thaw`]).
pub(crate) async fn request(
    s3: &S3Client,
    paths: &[String],
    days: u32,
    tier: ThawTier,
) -> Result<ThawStats, StorageError> {
    let now = states(s3, paths).await?;
    let mut stats = ThawStats {
        objects: paths.len(),
        ..ThawStats::default()
    };
    let mut frozen = Vec::new();
    for (p, s) in paths.iter().zip(now) {
        match s {
            ThawState::Readable | ThawState::Thawed { .. } => stats.ready += 1,
            ThawState::Thawing => stats.in_progress += 1,
            ThawState::Frozen => frozen.push(p),
        }
    }
    let answers: Vec<Result<RestoreAnswer, StorageError>> = futures::stream::iter(frozen)
        .map(|path| async move {
            s3.restore_object(path, days, tier)
                .await
                .map_err(|e| storage_err(e, "thaw", path))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    // Every answer is counted before the first error is returned, so that
    // what was requested is not lost on a later failure.
    let mut first_err = None;
    for a in answers {
        match a {
            Ok(RestoreAnswer::Requested) => stats.requested += 1,
            Ok(RestoreAnswer::InProgress) => stats.in_progress += 1,
            Ok(RestoreAnswer::Readable) => stats.ready += 1,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}
