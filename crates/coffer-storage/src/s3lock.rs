//! S3 calls that OpenDAL does not expose: object lock retention on writes
//! and afterwards, bucket versioning and object lock configuration, deleting
//! one object version, and the probe built from them.
//!
//! Requests are signed with reqsign's AWS SigV4 signer and sent with
//! reqwest, the same two crates OpenDAL's S3 service uses, so nothing new is
//! compiled in. Every PUT carries `Content-MD5` (S3 requires it, or a
//! checksum header, on writes with object lock retention). Retention is read
//! with HEAD (`x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date`),
//! which needs the same permission as GetObjectRetention and which every
//! S3 implementation answers.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use coffer_core::{LockMode, ObjectRetention, StorageError};
use jiff::Timestamp;
use md5::{Digest, Md5};
use reqsign_aws_v4::{Credential, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, Signer};
use serde::Serialize;

use crate::url::S3Location;

/// A failed S3 request.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// What was attempted (`PutObject`, `GetBucketVersioning`, …).
    pub op: &'static str,
    /// The key or bucket it was about.
    pub what: String,
    /// `host:port` of the endpoint.
    pub endpoint: String,
    /// HTTP status; `None` when no response arrived.
    pub status: Option<u16>,
    /// S3 error code (`AccessDenied`, `NoSuchKey`, …) or the transport error kind.
    pub code: String,
    /// The store's message.
    pub message: String,
}

impl S3Error {
    /// No response arrived (connection refused, DNS, timeout).
    pub fn is_transport(&self) -> bool {
        self.status.is_none()
    }

    /// The store did not accept the credentials.
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code.as_str(),
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken"
        ) || (self.status == Some(403)
            && (self.message.contains("No such key") || self.message.contains("Invalid signature")))
    }

    /// The object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) && self.code != "ObjectLockConfigurationNotFoundError"
    }

    /// Retrying may help (no response, 5xx, throttling).
    pub fn retryable(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s >= 500 || s == 429,
        }
    }

    /// The store does not implement the call.
    pub fn not_implemented(&self) -> bool {
        self.status == Some(501) || self.code == "NotImplemented"
    }

    fn into_storage(self, op: &'static str, path: &str) -> StorageError {
        StorageError {
            op,
            path: path.to_string(),
            not_found: self.is_not_found(),
            retryable: self.retryable(),
            message: self.to_string(),
        }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_transport() {
            write!(
                f,
                "cannot reach the S3 endpoint {} ({}) for {} {}: check the endpoint URL and that the server is running",
                self.endpoint, self.message, self.op, self.what
            )
        } else if self.is_auth() {
            write!(
                f,
                "the S3 endpoint {} rejected the credentials ({}: {}) for {} {}: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                self.endpoint, self.code, self.message, self.op, self.what
            )
        } else {
            write!(
                f,
                "{} {} at {} failed: HTTP {} {}{}{}",
                self.op,
                self.what,
                self.endpoint,
                self.status.unwrap_or_default(),
                self.code,
                if self.message.is_empty() { "" } else { ": " },
                self.message
            )
        }
    }
}

impl std::error::Error for S3Error {}

/// What HEAD says about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadInfo {
    /// `x-amz-storage-class` (absent means STANDARD).
    pub storage_class: Option<String>,
    /// The object lock retention, if any.
    pub retention: Option<ObjectRetention>,
    /// The current version's id, on a versioned bucket.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

struct Response {
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// An S3 client for one bucket and prefix, for the calls OpenDAL lacks.
/// Async; [`ObjectLockClient`] is the blocking form.
pub struct S3Client {
    http: reqwest::Client,
    signer: Option<Signer<Credential>>,
    scheme: String,
    host: String,
    bucket: String,
    prefix: String,
    path_style: bool,
    storage_class: Option<String>,
}

/// Characters S3 keys and query values keep unencoded.
fn encode(s: &str, keep_slash: bool) -> String {
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

fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// An HTTP `Date` (`Wed, 02 Dec 2026 13:50:59 GMT`), as a timestamp.
fn parse_http_date(s: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(s.trim())
        .ok()
}

/// The RFC 3339 form S3 wants for retain-until dates: whole seconds, UTC.
fn s3_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn mode_name(m: LockMode) -> &'static str {
    match m {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

fn parse_mode(s: &str) -> Option<LockMode> {
    match s {
        "GOVERNANCE" => Some(LockMode::Governance),
        "COMPLIANCE" => Some(LockMode::Compliance),
        _ => None,
    }
}

/// The text of the first `<tag>…</tag>` in a small XML body.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(body[start..end].trim().to_string())
}

impl S3Client {
    /// A client for `loc`. Without credentials, requests are unsigned.
    pub fn new(loc: &S3Location) -> Result<S3Client, S3Error> {
        let region = loc.region.clone().unwrap_or_else(|| "us-east-1".into());
        let endpoint = loc
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let (scheme, rest) = match endpoint.split_once("://") {
            Some((s, r)) => (s.to_string(), r),
            None => ("https".to_string(), endpoint.as_str()),
        };
        let host = rest.split('/').next().unwrap_or_default().to_string();
        let bad = |m: String| S3Error {
            op: "connect",
            what: format!("on bucket {}", loc.bucket),
            endpoint: endpoint.clone(),
            status: None,
            code: "Config".into(),
            message: m,
        };
        if host.is_empty() || (scheme != "http" && scheme != "https") {
            return Err(bad(format!(
                "the endpoint `{endpoint}` is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let signer = match (&loc.access_key_id, &loc.secret_access_key) {
            (Some(k), Some(s)) => {
                let mut p = StaticCredentialProvider::new(k, s);
                if let Some(t) = &loc.session_token {
                    p = p.with_session_token(t);
                }
                Some(Signer::new(
                    Context::new(),
                    p,
                    RequestSigner::new("s3", &region),
                ))
            }
            _ => None,
        };
        Ok(S3Client {
            http,
            signer,
            scheme,
            host,
            bucket: loc.bucket.clone(),
            prefix: loc.prefix.clone(),
            path_style: loc.path_style,
            storage_class: loc.storage_class.clone(),
        })
    }

    /// `host:port` of the endpoint, for messages.
    pub fn endpoint(&self) -> &str {
        &self.host
    }

    /// The object key of a vault path.
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{}", self.prefix, path)
        }
    }

    fn url(&self, key: &str, query: &str) -> String {
        let k = encode(key, true);
        let mut u = if self.path_style {
            format!("{}://{}/{}", self.scheme, self.host, self.bucket)
        } else {
            format!("{}://{}.{}", self.scheme, self.bucket, self.host)
        };
        if !k.is_empty() || !self.path_style {
            u.push('/');
            u.push_str(&k);
        }
        if !query.is_empty() {
            u.push('?');
            u.push_str(query);
        }
        u
    }

    fn err(
        &self,
        op: &'static str,
        what: &str,
        status: Option<u16>,
        code: &str,
        msg: &str,
    ) -> S3Error {
        S3Error {
            op,
            what: what.to_string(),
            endpoint: self.host.clone(),
            status,
            code: code.to_string(),
            message: msg.to_string(),
        }
    }

    /// One request; `path` is a vault path (`None`: the bucket itself).
    #[allow(clippy::too_many_arguments)]
    async fn request_once(
        &self,
        method: http::Method,
        path: Option<&str>,
        query: &str,
        headers: &[(&str, String)],
        body: &[u8],
        op: &'static str,
    ) -> Result<Response, S3Error> {
        let key = path.map(|p| self.key(p)).unwrap_or_default();
        let what = match path {
            Some(_) => format!("on s3://{}/{key}", self.bucket),
            None => format!("on bucket {}", self.bucket),
        };
        let mut b = http::Request::builder()
            .method(method.clone())
            .uri(self.url(&key, query));
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        let req = b
            .body(body.to_vec())
            .map_err(|e| self.err(op, &what, None, "Request", &e.to_string()))?;
        let (mut parts, body) = req.into_parts();
        if let Some(s) = &self.signer {
            s.sign(&mut parts, None)
                .await
                .map_err(|e| self.err(op, &what, None, "Signing", &e.to_string()))?;
        }
        let req = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| self.err(op, &what, None, "Request", &e.to_string()))?;
        let resp = self.http.execute(req).await.map_err(|e| {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m = format!("{m}: {s}");
                src = s.source();
            }
            self.err(op, &what, None, "Transport", &m)
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.err(op, &what, None, "Transport", &e.to_string()))?
            .to_vec();
        if status.is_success() {
            return Ok(Response { headers, body });
        }
        let text = String::from_utf8_lossy(&body);
        let code = xml_tag(&text, "Code").unwrap_or_else(|| {
            match status.as_u16() {
                404 => "NotFound",
                403 => "AccessDenied",
                _ => "Error",
            }
            .to_string()
        });
        let msg = xml_tag(&text, "Message").unwrap_or_default();
        Err(self.err(op, &what, Some(status.as_u16()), &code, &msg))
    }

    /// [`Self::request_once`], retried (up to 4 times, with backoff) when
    /// retrying can help.
    async fn request(
        &self,
        method: http::Method,
        path: Option<&str>,
        query: &str,
        headers: &[(&str, String)],
        body: &[u8],
        op: &'static str,
    ) -> Result<Response, S3Error> {
        let mut delay = Duration::from_millis(200);
        for attempt in 0.. {
            match self
                .request_once(method.clone(), path, query, headers, body, op)
                .await
            {
                Err(e) if e.retryable() && attempt < 3 && !e.code.starts_with("Config") => {
                    tracing::debug!("{e}; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                r => return r,
            }
        }
        unreachable!()
    }

    /// PUT an object, with object lock retention when given. Returns the
    /// new version's id (on a versioned bucket).
    pub async fn put_object(
        &self,
        path: &str,
        data: &[u8],
        retention: Option<ObjectRetention>,
    ) -> Result<Option<String>, S3Error> {
        let mut h = vec![("content-md5", md5_b64(data))];
        if let Some(c) = &self.storage_class {
            h.push(("x-amz-storage-class", c.clone()));
        }
        if let Some(r) = retention {
            h.push(("x-amz-object-lock-mode", mode_name(r.mode).to_string()));
            h.push(("x-amz-object-lock-retain-until-date", s3_time(r.until)));
        }
        let r = self
            .request(http::Method::PUT, Some(path), "", &h, data, "PutObject")
            .await?;
        Ok(r.header("x-amz-version-id"))
    }

    /// The store's clock: the `Date` header of a fresh HEAD of the bucket
    /// (every S3 answer carries one, RFC 7231's IMF-fixdate, whole
    /// seconds). Nothing is written: under object lock a probe object would
    /// be retained.
    pub async fn server_time(&self) -> Result<Timestamp, S3Error> {
        let r = self
            .request(http::Method::HEAD, None, "", &[], &[], "HeadBucket")
            .await?;
        let date = r.header("date").unwrap_or_default();
        parse_http_date(&date).ok_or_else(|| {
            self.err(
                "HeadBucket",
                &format!("on bucket {}", self.bucket),
                None,
                "Date",
                &format!("the answer's Date header `{date}` is not an HTTP date, so the store's clock is unknown"),
            )
        })
    }

    /// HEAD an object: storage class, retention, version.
    pub async fn head(&self, path: &str) -> Result<HeadInfo, S3Error> {
        let r = self
            .request(http::Method::HEAD, Some(path), "", &[], &[], "HeadObject")
            .await?;
        let retention = match (
            r.header("x-amz-object-lock-mode")
                .as_deref()
                .and_then(parse_mode),
            r.header("x-amz-object-lock-retain-until-date")
                .and_then(|u| u.parse::<Timestamp>().ok()),
        ) {
            (Some(mode), Some(until)) => Some(ObjectRetention { mode, until }),
            _ => None,
        };
        Ok(HeadInfo {
            storage_class: r.header("x-amz-storage-class"),
            retention,
            version_id: r.header("x-amz-version-id").filter(|v| v != "null"),
            size: r
                .header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0),
        })
    }

    /// PutObjectRetention on the current version.
    pub async fn put_retention(&self, path: &str, r: ObjectRetention) -> Result<(), S3Error> {
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            mode_name(r.mode),
            s3_time(r.until)
        );
        let h = [("content-md5", md5_b64(body.as_bytes()))];
        self.request(
            http::Method::PUT,
            Some(path),
            "retention",
            &h,
            body.as_bytes(),
            "PutObjectRetention",
        )
        .await
        .map(|_| ())
    }

    /// DELETE one version of an object (with
    /// `x-amz-bypass-governance-retention` when `bypass`).
    pub async fn delete_version(
        &self,
        path: &str,
        version: &str,
        bypass: bool,
    ) -> Result<(), S3Error> {
        let mut h = Vec::new();
        if bypass {
            h.push(("x-amz-bypass-governance-retention", "true".to_string()));
        }
        self.request(
            http::Method::DELETE,
            Some(path),
            &format!("versionId={}", encode(version, false)),
            &h,
            &[],
            "DeleteObject (version)",
        )
        .await
        .map(|_| ())
    }

    /// DELETE an object (its current version: on a versioned bucket this
    /// adds a delete marker).
    pub async fn delete(&self, path: &str) -> Result<(), S3Error> {
        self.request(
            http::Method::DELETE,
            Some(path),
            "",
            &[],
            &[],
            "DeleteObject",
        )
        .await
        .map(|_| ())
    }

    /// GetBucketVersioning: `Enabled`, `Suspended`, or `None` (never enabled).
    pub async fn bucket_versioning(&self) -> Result<Option<String>, S3Error> {
        let r = self
            .request(
                http::Method::GET,
                None,
                "versioning",
                &[],
                &[],
                "GetBucketVersioning",
            )
            .await?;
        Ok(xml_tag(&String::from_utf8_lossy(&r.body), "Status").filter(|s| !s.is_empty()))
    }

    /// GetObjectLockConfiguration: whether object lock is enabled on the
    /// bucket, and its default retention rule if any (as text).
    pub async fn object_lock_configuration(&self) -> Result<(bool, Option<String>), S3Error> {
        let r = match self
            .request(
                http::Method::GET,
                None,
                "object-lock",
                &[],
                &[],
                "GetObjectLockConfiguration",
            )
            .await
        {
            Ok(r) => r,
            Err(e) if e.code == "ObjectLockConfigurationNotFoundError" => return Ok((false, None)),
            Err(e) => return Err(e),
        };
        let t = String::from_utf8_lossy(&r.body);
        let enabled = xml_tag(&t, "ObjectLockEnabled").as_deref() == Some("Enabled");
        let rule = xml_tag(&t, "DefaultRetention").map(|d| {
            let mode = xml_tag(&d, "Mode").unwrap_or_default();
            let n = xml_tag(&d, "Days")
                .map(|x| format!("{x} days"))
                .or_else(|| xml_tag(&d, "Years").map(|x| format!("{x} years")))
                .unwrap_or_default();
            format!("{mode} {n}")
        });
        Ok((enabled, rule))
    }

    /// CreateBucket, with object lock (and so versioning) when asked.
    pub async fn create_bucket(&self, object_lock: bool) -> Result<(), S3Error> {
        let mut h = Vec::new();
        if object_lock {
            h.push(("x-amz-bucket-object-lock-enabled", "true".to_string()));
        }
        self.request(http::Method::PUT, None, "", &h, &[], "CreateBucket")
            .await
            .map(|_| ())
    }
}

/// How one probe check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// The store enforces it.
    Ok,
    /// The store does not enforce it.
    NotEnforced,
    /// The check could not be made.
    Error,
}

/// One probe check.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeCheck {
    /// `versioning`, `object_lock`, `delete_refused`.
    pub name: &'static str,
    /// Its outcome.
    pub status: CheckStatus,
    /// What was found, or why it failed.
    pub detail: String,
}

/// What [`probe`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The location probed (no credentials).
    pub location: String,
    /// Whether the store enforces object lock: every check is ok.
    pub enforced: bool,
    /// The checks, in order.
    pub checks: Vec<ProbeCheck>,
    /// Notes (a probe object left behind, …).
    pub notes: Vec<String>,
}

impl ProbeReport {
    /// The first check that is not ok.
    pub fn failing(&self) -> Option<&ProbeCheck> {
        self.checks.iter().find(|c| c.status != CheckStatus::Ok)
    }
}

/// A blocking [`S3Client`] with its own small runtime, for the CLI and tests.
pub struct ObjectLockClient {
    rt: tokio::runtime::Runtime,
    client: S3Client,
    location: String,
}

impl ObjectLockClient {
    /// A client for `loc`.
    pub fn new(loc: &S3Location) -> Result<ObjectLockClient, S3Error> {
        let client = S3Client::new(loc)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| client.err("start", "runtime", None, "Config", &e.to_string()))?;
        Ok(ObjectLockClient {
            rt,
            client,
            location: format!("s3://{}/{}", loc.bucket, loc.prefix),
        })
    }

    /// The async client.
    pub fn client(&self) -> &S3Client {
        &self.client
    }

    /// Runs a future of the client to completion.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Checks what the store really enforces: versioning enabled on the
    /// bucket, object lock enabled on it, and that a version under
    /// GOVERNANCE retention cannot be deleted (a small probe object next to
    /// the vault, removed afterwards with the governance bypass if allowed).
    /// Fails only when the store cannot be reached or rejects the
    /// credentials; other failures are reported per check.
    pub fn probe(&self) -> Result<ProbeReport, S3Error> {
        let c = &self.client;
        let mut checks = Vec::new();
        let mut notes = Vec::new();
        let fatal = |e: &S3Error| e.is_transport() || e.is_auth() || e.code == "NoSuchBucket";
        let versioning = match self.block_on(c.bucket_versioning()) {
            Ok(Some(s)) if s == "Enabled" => (CheckStatus::Ok, "versioning is enabled".into()),
            Ok(Some(s)) => (
                CheckStatus::NotEnforced,
                format!("versioning is {s}: a delete removes the data"),
            ),
            Ok(None) => (
                CheckStatus::NotEnforced,
                "versioning was never enabled on the bucket: a delete removes the data".into(),
            ),
            Err(e) if fatal(&e) => return Err(e),
            Err(e) if e.not_implemented() => (
                CheckStatus::NotEnforced,
                format!("the store does not implement bucket versioning ({e})"),
            ),
            Err(e) => (CheckStatus::Error, e.to_string()),
        };
        checks.push(ProbeCheck {
            name: "versioning",
            status: versioning.0,
            detail: versioning.1,
        });
        let lock = match self.block_on(c.object_lock_configuration()) {
            Ok((true, rule)) => (
                CheckStatus::Ok,
                match rule {
                    Some(r) => format!("object lock is enabled (default retention {r})"),
                    None => "object lock is enabled (no default retention)".into(),
                },
            ),
            Ok((false, _)) => (
                CheckStatus::NotEnforced,
                "object lock is not enabled on the bucket".into(),
            ),
            Err(e) if fatal(&e) => return Err(e),
            Err(e) if e.not_implemented() => (
                CheckStatus::NotEnforced,
                format!("the store does not implement object lock ({e})"),
            ),
            Err(e) => (CheckStatus::Error, e.to_string()),
        };
        checks.push(ProbeCheck {
            name: "object_lock",
            status: lock.0,
            detail: lock.1,
        });
        checks.push(self.probe_delete(&mut notes)?);
        Ok(ProbeReport {
            location: self.location.clone(),
            enforced: checks.iter().all(|c| c.status == CheckStatus::Ok),
            checks,
            notes,
        })
    }

    fn probe_delete(&self, notes: &mut Vec<String>) -> Result<ProbeCheck, S3Error> {
        let c = &self.client;
        let path = format!("coffer-probe-{:016x}", rand::random::<u64>());
        let key = c.key(&path);
        let until = Timestamp::now() + jiff::SignedDuration::from_secs(300);
        let check = |status, detail: String| ProbeCheck {
            name: "delete_refused",
            status,
            detail,
        };
        let retention = ObjectRetention {
            mode: LockMode::Governance,
            until,
        };
        let version = match self.block_on(c.put_object(
            &path,
            b"coffer object lock probe\n",
            Some(retention),
        )) {
            Ok(v) => v,
            Err(e) if e.is_transport() || e.is_auth() => return Err(e),
            Err(e) if e.status.is_some_and(|s| s < 500) => {
                return Ok(check(
                    CheckStatus::NotEnforced,
                    format!("the store refused a write with object lock retention: {e}"),
                ))
            }
            Err(e) => return Ok(check(CheckStatus::Error, e.to_string())),
        };
        let Some(version) = version.filter(|v| v != "null") else {
            let _ = self.block_on(c.delete(&path));
            return Ok(check(
                CheckStatus::NotEnforced,
                "the store returned no version id for the probe object (no versioning): a delete removes the data".into(),
            ));
        };
        match self.block_on(c.delete_version(&path, &version, false)) {
            Err(e) if e.status == Some(403) => {
                let out = check(
                    CheckStatus::Ok,
                    format!(
                        "deleting version {version} of {key} under GOVERNANCE retention was refused ({})",
                        e.code
                    ),
                );
                if let Err(e) = self.block_on(c.delete_version(&path, &version, true)) {
                    notes.push(format!(
                        "could not remove the probe object {key} (version {version}) with the governance bypass ({e}); \
                         its retention ends at {until:.0}, delete it after that"
                    ));
                }
                Ok(out)
            }
            Ok(()) => Ok(check(
                CheckStatus::NotEnforced,
                format!("the store deleted version {version} of {key} although it was under GOVERNANCE retention until {until:.0}"),
            )),
            Err(e) if e.is_transport() => Err(e),
            Err(e) => Ok(check(
                CheckStatus::Error,
                format!("deleting the probe version failed in an unexpected way: {e}"),
            )),
        }
    }
}

/// Maps an S3 error to the vault layer's storage error.
pub(crate) fn storage_err(e: S3Error, op: &'static str, path: &str) -> StorageError {
    e.into_storage(op, path)
}

/// The mode a retention keeps when extended: COMPLIANCE stays COMPLIANCE.
pub(crate) fn stronger(a: LockMode, b: LockMode) -> LockMode {
    if a == LockMode::Compliance || b == LockMode::Compliance {
        LockMode::Compliance
    } else {
        LockMode::Governance
    }
}

/// Whether `have` satisfies `want`.
pub(crate) fn covers(have: &ObjectRetention, want: &ObjectRetention) -> bool {
    have.until >= want.until && stronger(have.mode, want.mode) == have.mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_keys_and_times() {
        assert_eq!(encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(encode("a/b", false), "a%2Fb");
        let t: Timestamp = "2026-05-01T10:20:30.5Z".parse().unwrap();
        assert_eq!(s3_time(t), "2026-05-01T10:20:30Z");
        assert_eq!(
            xml_tag("<A><Code>NoSuchKey</Code></A>", "Code").as_deref(),
            Some("NoSuchKey")
        );
        let g = ObjectRetention {
            mode: LockMode::Governance,
            until: t,
        };
        let c = ObjectRetention {
            mode: LockMode::Compliance,
            until: t,
        };
        assert!(covers(&c, &g));
        assert!(!covers(&g, &c));
    }
}
