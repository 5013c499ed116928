//! Why a storage request failed, decided in one place: every error of
//! OpenDAL (S3 and local directories), of the signed S3 client and of
//! their HTTP stack is turned into a [`Cause`] here, and every message a
//! user sees about it is written here (a short summary, for retry lines,
//! and the fix).
//!
//! The library's own text (OpenDAL's `Unexpected (persistent) at stat,
//! context: { … }`, reqsign's, hyper's) never reaches the message: it is
//! kept as [`Failure::raw`] and logged at debug level (`COFFER_LOG=debug`)
//! when the failure becomes a [`StorageError`].
//!
//! Files: [`place`] says where an S3 vault is (for messages); [`transport`]
//! reads an error's source chain (connection refused, DNS, timeouts,
//! missing credentials); [`response`] reads an S3 error answer (status and
//! code); [`archive`] words what an archive storage class (GLACIER,
//! DEEP_ARCHIVE) keeps unreadable until it is thawed.

mod archive;
mod place;
mod response;
mod transport;

#[cfg(test)]
mod tests;

use std::time::Duration;

use coffer_core::{StorageError, StorageErrorKind};

pub(crate) use archive::{is_archive_class, not_thawed, thawed};
pub(crate) use place::S3Place;
pub(crate) use response::of_response;
pub(crate) use transport::of_chain;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No credentials to sign with.
    NoCredentials,
    /// The store rejected the credentials; `why` says how.
    BadCredentials { why: String },
    /// An identity (web identity, `AWS_ENDPOINT_URL_STS`) could not give
    /// credentials; `why` names it and says what to check.
    Identity { why: String },
    /// The credentials may not do this (`code` is the store's, empty
    /// when the answer had no body, as for HEAD).
    AccessDenied { code: String },
    /// The bucket does not exist.
    NoBucket,
    /// The object does not exist.
    NotFound,
    /// The object is in an archive storage class and was not restored
    /// (thawed) first (S3 `InvalidObjectState`).
    Archived,
    /// The store refuses the storage class the vault writes its data packs
    /// in (S3 `InvalidStorageClass`).
    BadStorageClass,
    /// Nothing accepts connections at the endpoint.
    Refused,
    /// The endpoint's host name does not resolve.
    UnknownHost,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Connected, but no answer in time.
    Timeout,
    /// The connection failed otherwise (`what`: `connection reset`,
    /// `network unreachable`).
    Network { what: String },
    /// The store answered with a failure that may pass (5xx, throttling);
    /// `what` is `HTTP 503 SlowDown`.
    Busy { what: String },
    /// Anything else, said as well as it can be.
    Other { what: String },
}

impl Cause {
    /// The vault layer's kind of this cause.
    pub(crate) fn kind(&self) -> StorageErrorKind {
        match self {
            Cause::NoCredentials | Cause::BadCredentials { .. } | Cause::Identity { .. } => {
                StorageErrorKind::Credentials
            }
            Cause::AccessDenied { .. } => StorageErrorKind::AccessDenied,
            Cause::NoBucket => StorageErrorKind::BucketNotFound,
            Cause::Refused | Cause::UnknownHost | Cause::Network { .. } => {
                StorageErrorKind::Unreachable
            }
            Cause::ConnectTimeout | Cause::Timeout => StorageErrorKind::Timeout,
            Cause::Archived => StorageErrorKind::Archived,
            Cause::BadStorageClass => StorageErrorKind::StorageClass,
            Cause::NotFound | Cause::Busy { .. } | Cause::Other { .. } => StorageErrorKind::Other,
        }
    }

    /// Whether the same request may succeed if sent again: the network
    /// and a busy store, never credentials, permissions or a missing
    /// bucket.
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            Cause::Refused
                | Cause::UnknownHost
                | Cause::ConnectTimeout
                | Cause::Timeout
                | Cause::Network { .. }
                | Cause::Busy { .. }
        )
    }

    /// What happened, in a few words (a retry line ends with it).
    pub(crate) fn summary(&self, at: &Request<'_>) -> String {
        let addr = at.place.map_or("the store", |p| p.addr.as_str());
        match self {
            Cause::NoCredentials => "no S3 credentials".into(),
            Cause::Identity { why } => why.clone(),
            Cause::BadCredentials { why } => {
                format!("the S3 endpoint {addr} rejected the credentials ({why})")
            }
            Cause::AccessDenied { code } => {
                let code = if code.is_empty() || code == "AccessDenied" {
                    String::new()
                } else {
                    format!(" ({code})")
                };
                format!("access denied to {} {}{code}", at.label, at.object())
            }
            Cause::NoBucket => format!(
                "bucket {} not found at {addr}",
                at.place.map_or("", |p| p.bucket.as_str())
            ),
            Cause::NotFound => "not found".into(),
            Cause::Archived => archive::summary(at),
            Cause::BadStorageClass => format!(
                "the S3 endpoint {addr} refuses storage class {} for {}",
                at.place
                    .and_then(|p| p.storage_class.as_deref())
                    .unwrap_or("(the one asked for)"),
                at.object()
            ),
            Cause::Refused => format!("connection refused at {addr}"),
            Cause::UnknownHost => format!(
                "cannot resolve the host {} of the S3 endpoint",
                at.place.map_or("", |p| p.host.as_str())
            ),
            Cause::ConnectTimeout => format!(
                "no connection to {addr} within {} (connect timeout)",
                secs(at.place.map_or(Duration::ZERO, |p| p.connect_timeout))
            ),
            Cause::Timeout => format!("{addr} did not answer in time"),
            Cause::Network { what } => format!("{what} at {addr}"),
            Cause::Busy { what } => format!("the S3 endpoint {addr} answered {what}"),
            Cause::Other { what } => what.clone(),
        }
    }

    /// What to do about it, when there is something to say.
    pub(crate) fn hint(&self, at: &Request<'_>) -> Option<String> {
        let endpoint =
            "check the endpoint URL (AWS_ENDPOINT_URL or ?endpoint= in the vault location)";
        Some(match self {
            Cause::NoCredentials => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN \
                 with temporary credentials) in coffer's environment, or give it an identity: a profile \
                 (AWS_PROFILE, ~/.aws/config), a web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE), \
                 container credentials or an EC2 instance role"
                .into(),
            Cause::BadCredentials { .. } => {
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)".into()
            }
            Cause::AccessDenied { .. } => format!(
                "the credentials lack {} on bucket {}; grant it to the key, or use a key that has it",
                at.permission,
                at.place.map_or("", |p| p.bucket.as_str())
            ),
            Cause::NoBucket => {
                "create the bucket, or fix the bucket name in the vault location".into()
            }
            Cause::Refused => {
                format!("nothing accepts connections there: {endpoint} and that the S3 server is running")
            }
            Cause::UnknownHost => format!("{endpoint} and the DNS settings"),
            Cause::ConnectTimeout => format!(
                "{endpoint}, the network and firewalls; on a slow link raise the connect timeout \
                 (connect_timeout= in the vault location, COFFER_CONNECT_TIMEOUT, or connect_timeout \
                 in the vault's configuration)"
            ),
            Cause::Timeout | Cause::Network { .. } => {
                "check the network and the S3 server, then try again".into()
            }
            Cause::Busy { .. } => "try again later".into(),
            Cause::Archived => archive::hint(at.place, at.path.unwrap_or_default(), false),
            Cause::BadStorageClass => "set the vault's storage class (?storage_class= in its location, or \
                 storage_class in its [[vault]] entry) to one this store supports (on AWS S3: STANDARD, \
                 STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE), or remove \
                 it for the store's default; no snapshot was written with it"
                .into(),
            Cause::NotFound | Cause::Other { .. } | Cause::Identity { .. } => return None,
        })
    }

    /// The whole message: the summary, then the fix.
    pub(crate) fn message(&self, at: &Request<'_>) -> String {
        match self.hint(at) {
            Some(h) => format!("{}: {h}", self.summary(at)),
            None => self.summary(at),
        }
    }
}

/// `10s`, `1.5s`, `500ms`.
pub(crate) fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// One request, as messages name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The S3 vault; `None` for a local directory.
    pub place: Option<&'a S3Place>,
    /// `PUT`, `GET`, `HEAD`, `LIST`, `DELETE`, or an S3 call's name
    /// (`PutObjectRetention`).
    pub label: &'static str,
    /// The IAM permission it needs (`s3:PutObject`).
    pub permission: &'static str,
    /// The vault path (`packs/ab/…`), or `None` for the bucket itself.
    pub path: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request of the vault layer's operation `op` (`write`, `read`,
    /// `stat`, `list`, `delete`) on `path`.
    pub(crate) fn op(place: Option<&'a S3Place>, op: &str, path: &'a str) -> Request<'a> {
        let (label, permission) = match op {
            "write" => ("PUT", "s3:PutObject"),
            "read" => ("GET", "s3:GetObject"),
            "stat" => ("HEAD", "s3:GetObject"),
            "list" => ("LIST", "s3:ListBucket"),
            "delete" => ("DELETE", "s3:DeleteObject"),
            _ => ("request", "the permission"),
        };
        Request {
            place,
            label,
            permission,
            path: Some(path),
        }
    }

    /// `s3://bucket/prefix/path` (or the local path).
    pub(crate) fn object(&self) -> String {
        match (self.place, self.path) {
            (Some(p), Some(path)) => p.object(path),
            (Some(p), None) => format!("bucket {}", p.bucket),
            (None, path) => path.unwrap_or_default().to_string(),
        }
    }

    /// `PUT packs/ab/…` (for retry lines).
    pub(crate) fn describe(&self) -> String {
        match self.path {
            Some(p) if !p.is_empty() => format!("{} {p}", self.label),
            _ => self.label.to_string(),
        }
    }
}

/// A failed request: its cause, and the library's text for the debug log.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// Why it failed.
    pub cause: Cause,
    /// What the library said (never shown but at debug level).
    pub raw: String,
}

impl Failure {
    /// A failure from an OpenDAL error: an S3 vault's when `place` is
    /// given, a local directory's otherwise.
    pub(crate) fn of_opendal(e: &opendal::Error, place: Option<&S3Place>) -> Failure {
        let raw = e.to_string();
        let cause = match place {
            Some(_) => of_opendal_s3(e),
            None => of_opendal_local(e),
        };
        Failure { cause, raw }
    }

    /// The vault layer's error for this failure of `op` on `path`; the raw
    /// text goes to the debug log.
    pub(crate) fn into_storage(
        self,
        op: &'static str,
        path: &str,
        at: &Request<'_>,
    ) -> StorageError {
        let message = self.cause.message(at);
        tracing::debug!(
            target: "coffer_storage",
            "{op} {path} on {}: {message} (library error: {})",
            at.place.map_or("a local vault", |p| p.location.as_str()),
            self.raw
        );
        StorageError {
            op,
            path: path.to_string(),
            not_found: self.cause == Cause::NotFound,
            retryable: self.cause.retryable(),
            kind: self.cause.kind(),
            message,
        }
    }
}

/// An S3 vault's OpenDAL error: the source chain first (credentials, the
/// network), then the store's answer (OpenDAL keeps the S3 error body,
/// `S3Error { code: "…", message: "…", … }`, as its message; the status
/// only as its kind).
fn of_opendal_s3(e: &opendal::Error) -> Cause {
    use opendal::ErrorKind as K;
    if let Some(c) = of_chain(e) {
        return c;
    }
    let status = match e.kind() {
        K::PermissionDenied => Some(403),
        K::NotFound => Some(404),
        K::RateLimited => Some(429),
        _ => None,
    };
    let (code, message) = response::s3_error_body(e.message());
    match (status, code.is_empty()) {
        (_, false) | (Some(_), true) => {
            let c = of_response(status, &code, &message);
            match c {
                // A code OpenDAL made temporary (InternalError, a 5xx
                // answer) without a status we can see.
                Cause::Other { .. } if e.is_temporary() => Cause::Busy {
                    what: if code.is_empty() {
                        "a temporary failure".into()
                    } else {
                        code
                    },
                },
                c => c,
            }
        }
        // A transport or body error of no known kind (a response cut
        // short): OpenDAL's transport marks those temporary.
        (None, true) if e.is_temporary() => Cause::Network {
            what: transport::innermost(e),
        },
        (None, true) => Cause::Other {
            what: transport::innermost(e),
        },
    }
}

/// A local directory's OpenDAL error: the operating system's words.
fn of_opendal_local(e: &opendal::Error) -> Cause {
    if e.kind() == opendal::ErrorKind::NotFound {
        return Cause::NotFound;
    }
    Cause::Other {
        what: transport::innermost(e),
    }
}
