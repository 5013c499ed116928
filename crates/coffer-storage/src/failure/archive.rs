//! Objects an archive storage class (S3 GLACIER, DEEP_ARCHIVE) keeps
//! unreadable until they are restored (thawed): which classes those are,
//! how a HEAD tells a thawed object, and what the messages say.
//!
//! A vault writes only its data packs in its storage class (see
//! [`coffer_core::Backend::write_data_pack`]), so only a restore (and
//! `check --read-data`) meets one of these.

use coffer_core::{StorageError, StorageErrorKind, THAW_CHECK};

use super::{Request, S3Place};

pub(crate) use coffer_core::backend::is_archive_class;

/// Whether a HEAD's `x-amz-restore` says a thawed copy is ready to read
/// (`ongoing-request="false", expiry-date="…"`).
pub(crate) fn thawed(restore: Option<&str>) -> bool {
    restore.is_some_and(|r| r.replace(' ', "").contains("ongoing-request=\"false\""))
}

/// `in storage class GLACIER`, or, when the vault's class is not an
/// archive class (a lifecycle rule moved the object), the general words.
fn class_phrase(place: Option<&S3Place>) -> String {
    match place
        .and_then(|p| p.storage_class.as_deref())
        .filter(|c| is_archive_class(c))
    {
        Some(c) => format!("in storage class {}", c.to_ascii_uppercase()),
        None => "in an archive storage class (GLACIER or DEEP_ARCHIVE)".into(),
    }
}

/// `pack` for a pack's path, else `object`.
fn what(path: &str) -> &'static str {
    if path.starts_with("packs/") {
        "pack"
    } else {
        "object"
    }
}

/// `pack packs/ab… of vault s3://b/p is in storage class GLACIER and must
/// be restored (thawed) before it can be read`.
pub(super) fn summary(at: &Request<'_>) -> String {
    let path = at.path.unwrap_or_default();
    format!(
        "{} {path} of vault {} is {} and must be restored (thawed) before it can be read",
        what(path),
        at.place.map_or("", |p| p.location.as_str()),
        class_phrase(at.place)
    )
}

/// How to thaw `path` (or, with `many`, each of several objects like it).
pub(super) fn hint(place: Option<&S3Place>, path: &str, many: bool) -> String {
    let example = match place {
        Some(p) => format!(
            " (for example `aws s3api restore-object --bucket {} --key {} --restore-request Days=7`{})",
            p.bucket,
            p.key(path),
            if many { ", for each" } else { "" }
        ),
        None => String::new(),
    };
    let (it, completes) = if many {
        ("them", "the restores complete")
    } else {
        ("it", "the restore completes")
    };
    format!(
        "restore {it} with S3 RestoreObject{example}, wait until {completes} (hours for GLACIER, \
         up to 48 hours for DEEP_ARCHIVE), then try again"
    )
}

/// The error of [`coffer_core::Backend::ensure_thawed`]: `frozen` (vault
/// paths, sorted) of the `total` data packs asked about are not readable.
pub(crate) fn not_thawed(place: &S3Place, frozen: &[String], total: usize) -> StorageError {
    let n = frozen.len();
    let mut list: Vec<&str> = frozen.iter().take(3).map(String::as_str).collect();
    let more = n.saturating_sub(list.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let joined = {
        let last = list.pop().unwrap_or_default();
        if list.is_empty() {
            last.to_string()
        } else if more > 0 {
            format!("{}, {last}", list.join(", "))
        } else {
            format!("{} and {last}", list.join(", "))
        }
    };
    let (are, they) = if n == 1 {
        ("is", "it")
    } else {
        ("are", "they")
    };
    let message = format!(
        "{n} of the {total} data packs needed {are} {} and must be restored (thawed) before {they} \
         can be read ({joined}{tail}): {}",
        class_phrase(Some(place)),
        hint(
            Some(place),
            frozen.first().map_or("", String::as_str),
            n > 1
        )
    );
    StorageError {
        op: THAW_CHECK,
        path: frozen.first().cloned().unwrap_or_default(),
        message,
        not_found: false,
        retryable: false,
        kind: StorageErrorKind::Archived,
    }
}
