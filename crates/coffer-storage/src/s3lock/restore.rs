//! S3 RestoreObject (a thaw of an object in GLACIER or DEEP_ARCHIVE) and
//! the `x-amz-restore` header a HEAD answers with, which says whether a
//! thaw was asked for, is under way, or is done and until when.
//!
//! Answers to RestoreObject: `202 Accepted` (the thaw starts), `200 OK`
//! (a thawed copy exists already; its days are extended), `409
//! RestoreAlreadyInProgress` (asked before, still under way), and
//! `InvalidObjectState` for an object that is not in an archive class (it
//! reads at once). The first three are successes for an idempotent thaw.

use coffer_core::{ThawState, ThawTier};

use super::client::S3Client;
use super::encoding::{md5_b64, parse_http_date};
use super::error::S3Error;
use crate::failure::is_archive_class;

/// What RestoreObject answered (a success either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAnswer {
    /// 202 (or 200): the thaw was requested now.
    Requested,
    /// 409 `RestoreAlreadyInProgress`: an earlier request is under way.
    InProgress,
    /// `InvalidObjectState`: the object is not (any more) in an archive
    /// class; it reads now.
    Readable,
}

/// The `x-amz-restore` header as a state: `ongoing-request="true"` is
/// thawing; `ongoing-request="false", expiry-date="Fri, 21 Dec 2012
/// 00:00:00 GMT"` is thawed until that date; no header (or one that says
/// neither) is frozen.
pub(crate) fn parse_restore(header: Option<&str>) -> ThawState {
    let Some(h) = header else {
        return ThawState::Frozen;
    };
    let flat = h.replace(' ', "");
    if flat.contains("ongoing-request=\"true\"") {
        return ThawState::Thawing;
    }
    if !flat.contains("ongoing-request=\"false\"") {
        return ThawState::Frozen;
    }
    let until = h
        .split_once("expiry-date=")
        .and_then(|(_, rest)| rest.trim().strip_prefix('"'))
        .and_then(|rest| rest.split_once('"'))
        .and_then(|(date, _)| parse_http_date(date));
    ThawState::Thawed { until }
}

/// The state of an object of storage class `class` (absent: STANDARD)
/// whose HEAD answered `restore` (`x-amz-restore`).
pub(crate) fn state_of(class: Option<&str>, restore: Option<&str>) -> ThawState {
    if !class.is_some_and(is_archive_class) {
        return ThawState::Readable;
    }
    parse_restore(restore)
}

/// The body of a RestoreObject request.
pub(crate) fn restore_body(days: u32, tier: ThawTier) -> String {
    format!(
        "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>{days}</Days>\
         <GlacierJobParameters><Tier>{}</Tier></GlacierJobParameters></RestoreRequest>",
        tier.as_str()
    )
}

impl S3Client {
    /// RestoreObject on `path`: a thawed copy readable for `days` days, at
    /// `tier`.
    pub async fn restore_object(
        &self,
        path: &str,
        days: u32,
        tier: ThawTier,
    ) -> Result<RestoreAnswer, S3Error> {
        let body = restore_body(days, tier);
        let h = [("content-md5", md5_b64(body.as_bytes()))];
        match self
            .request(
                http::Method::POST,
                Some(path),
                "restore",
                &h,
                body.as_bytes(),
                "RestoreObject",
            )
            .await
        {
            // 202, or 200 when a thawed copy appeared since the HEAD that
            // found the object frozen (the copy's days were extended).
            Ok(_) => Ok(RestoreAnswer::Requested),
            Err(e) if e.code == "RestoreAlreadyInProgress" => Ok(RestoreAnswer::InProgress),
            Err(e) if e.code == "InvalidObjectState" => Ok(RestoreAnswer::Readable),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_header_says_frozen_thawing_or_thawed_until() {
        assert_eq!(parse_restore(None), ThawState::Frozen);
        assert_eq!(
            parse_restore(Some("ongoing-request=\"true\"")),
            ThawState::Thawing
        );
        let ThawState::Thawed { until } = parse_restore(Some(
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
        )) else {
            panic!("not thawed")
        };
        assert_eq!(until, Some("2012-12-21T00:00:00Z".parse().unwrap()));
        // A date that does not parse still says thawed.
        assert_eq!(
            parse_restore(Some("ongoing-request=\"false\", expiry-date=\"soon\"")),
            ThawState::Thawed { until: None }
        );
        assert_eq!(parse_restore(Some("garbage")), ThawState::Frozen);
    }

    #[test]
    fn only_archive_classes_need_a_thaw() {
        assert_eq!(state_of(None, None), ThawState::Readable);
        assert_eq!(state_of(Some("GLACIER_IR"), None), ThawState::Readable);
        assert_eq!(state_of(Some("STANDARD_IA"), None), ThawState::Readable);
        assert_eq!(state_of(Some("DEEP_ARCHIVE"), None), ThawState::Frozen);
        assert_eq!(
            state_of(Some("GLACIER"), Some("ongoing-request=\"true\"")),
            ThawState::Thawing
        );
    }

    #[test]
    fn the_request_names_days_and_tier() {
        let b = restore_body(7, ThawTier::Bulk);
        assert!(b.contains("<Days>7</Days>"), "{b}");
        assert!(b.contains("<Tier>Bulk</Tier>"), "{b}");
    }
}
