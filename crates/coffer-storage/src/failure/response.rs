//! An S3 error answer (its status, code and message) as a [`Cause`].

use super::Cause;

/// The cause an S3 answer gives: `status` is the HTTP status when known,
/// `code` and `message` come from the XML error body (empty without one,
/// as for a HEAD request).
pub(crate) fn of_response(status: Option<u16>, code: &str, message: &str) -> Cause {
    if let Some(why) = bad_credentials(status, code, message) {
        return Cause::BadCredentials { why: why.into() };
    }
    match code {
        "NoSuchBucket" => return Cause::NoBucket,
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => {
            return Cause::AccessDenied { code: code.into() }
        }
        "NoSuchKey" => return Cause::NotFound,
        // A GET of an object in an archive class (GLACIER, DEEP_ARCHIVE)
        // that was not restored (thawed) first.
        "InvalidObjectState" => return Cause::Archived,
        // A write in a storage class this store does not have.
        "InvalidStorageClass" => return Cause::BadStorageClass,
        "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"
        | "TooManyRequests" | "OperationAborted" => {
            return Cause::Busy {
                what: answer(status, code),
            }
        }
        _ => {}
    }
    match status {
        Some(403) => Cause::AccessDenied { code: code.into() },
        Some(404) => Cause::NotFound,
        Some(s) if s >= 500 || s == 429 => Cause::Busy {
            what: answer(status, code),
        },
        _ => Cause::Other {
            what: format!(
                "the S3 endpoint answered {}{}{}",
                answer(status, code),
                if message.is_empty() { "" } else { ": " },
                shorten(message)
            ),
        },
    }
}

/// How the store said it rejected the credentials, if it did. AWS says
/// it with a code; Garage with `AccessDenied` and a message (`Forbidden:
/// Invalid signature`, `Forbidden: No such key: GK…`).
fn bad_credentials(status: Option<u16>, code: &str, message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    Some(match code {
        "SignatureDoesNotMatch" => "the signature does not match: wrong secret key",
        "InvalidAccessKeyId" => "unknown access key id",
        "ExpiredToken" | "TokenRefreshRequired" => "the session token expired",
        "InvalidToken" => "the session token is not valid",
        "AuthorizationHeaderMalformed" | "InvalidSecurity" | "MissingSecurityHeader" => {
            "the request signature is malformed: check the region and the key"
        }
        _ if status == Some(403) && m.contains("invalid signature") => {
            "the signature does not match: wrong secret key"
        }
        _ if status == Some(403) && (m.contains("no such key") || m.contains("invalid key")) => {
            "unknown access key id"
        }
        _ => return None,
    })
}

/// `HTTP 503 SlowDown`, `HTTP 400`, `SlowDown`.
fn answer(status: Option<u16>, code: &str) -> String {
    match (status, code.is_empty()) {
        (Some(s), true) => format!("HTTP {s}"),
        (Some(s), false) => format!("HTTP {s} {code}"),
        (None, false) => code.to_string(),
        (None, true) => "an error".to_string(),
    }
}

/// At most 200 characters of a store's text, on one line.
pub(crate) fn shorten(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

/// The code and message of OpenDAL's S3 error text, `S3Error { code:
/// "NoSuchBucket", message: "…", resource: …, request_id: … }` (the
/// `Debug` form of the parsed body); empty when it is not one.
pub(crate) fn s3_error_body(text: &str) -> (String, String) {
    if !text.starts_with("S3Error {") {
        return (String::new(), String::new());
    }
    (
        field(text, "code").unwrap_or_default(),
        field(text, "message").unwrap_or_default(),
    )
}

/// The string field `name: "…"` of a `Debug` text, unescaped.
fn field(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("{name}: \""))? + name.len() + 3;
    let mut out = String::new();
    let mut chars = text[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    None
}
