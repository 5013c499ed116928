//! The wire forms of S3 requests: URL encoding of keys and query values,
//! `Content-MD5`, HTTP and retain-until dates, and object lock mode names.

use base64::Engine;
use coffer_core::LockMode;
use jiff::Timestamp;
use md5::{Digest, Md5};

/// Characters S3 keys and query values keep unencoded.
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// An HTTP `Date` (`Wed, 02 Dec 2026 13:50:59 GMT`), as a timestamp.
pub(super) fn parse_http_date(s: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(s.trim())
        .ok()
}

/// The RFC 3339 form S3 wants for retain-until dates: whole seconds, UTC.
pub(super) fn s3_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn mode_name(m: LockMode) -> &'static str {
    match m {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

pub(super) fn parse_mode(s: &str) -> Option<LockMode> {
    match s {
        "GOVERNANCE" => Some(LockMode::Governance),
        "COMPLIANCE" => Some(LockMode::Compliance),
        _ => None,
    }
}
