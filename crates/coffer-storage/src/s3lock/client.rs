//! [`S3Client`]: one bucket and prefix, its endpoint, and the signed request
//! every call goes through (SigV4 with reqsign, sent with reqwest, retried
//! when retrying can help; error bodies read into an [`S3Error`]).

use std::time::Duration;

use super::encoding::encode;
use super::error::{S3Error, Why};
use super::xml::xml_tag;
use crate::aws::{AwsCredentials, AwsSigner};
use crate::failure::{self, of_chain, of_response, Cause, S3Place};
use crate::retry;
use crate::url::S3Location;

pub(super) struct Response {
    headers: http::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// An S3 client for one bucket and prefix, for the calls OpenDAL lacks.
/// Async; [`ObjectLockClient`](super::ObjectLockClient) is the blocking form.
pub struct S3Client {
    http: reqwest::Client,
    signer: AwsSigner,
    pub(super) place: S3Place,
    pub(super) bucket: String,
    path_style: bool,
}

impl S3Client {
    /// A client for `loc` with its credentials
    /// ([`AwsCredentials::for_location`]). Without credentials, every
    /// request fails with the message that says how to give them.
    pub fn new(loc: &S3Location) -> Result<S3Client, S3Error> {
        S3Client::with_credentials(loc, &AwsCredentials::for_location(loc))
    }

    /// A client for `loc` signing with `creds` (shared with the vault's
    /// other clients, so temporary credentials are fetched once).
    pub fn with_credentials(loc: &S3Location, creds: &AwsCredentials) -> Result<S3Client, S3Error> {
        let region = loc.region.clone().unwrap_or_else(|| "us-east-1".into());
        let bad = |m: String| S3Error {
            op: "connect",
            what: format!("on bucket {}", loc.bucket),
            status: None,
            code: "Config".into(),
            message: m.clone(),
            why: Box::new(Why {
                cause: Cause::Other { what: m },
                place: None,
            }),
        };
        let place = S3Place::new(loc).map_err(bad)?;
        let http = reqwest::Client::builder()
            .connect_timeout(place.connect_timeout)
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let signer = AwsSigner::new(creds, "s3", &region);
        Ok(S3Client {
            http,
            signer,
            place,
            bucket: loc.bucket.clone(),
            path_style: loc.path_style,
        })
    }

    /// `host:port` of the endpoint, for messages.
    pub fn endpoint(&self) -> &str {
        &self.place.addr
    }

    /// The object key of a vault path.
    pub fn key(&self, path: &str) -> String {
        self.place.key(path)
    }

    fn url(&self, key: &str, query: &str) -> String {
        let k = encode(key, true);
        let (scheme, host) = (&self.place.scheme, &self.place.authority);
        let mut u = if self.path_style {
            format!("{scheme}://{host}/{}", self.bucket)
        } else {
            format!("{scheme}://{}.{host}", self.bucket)
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

    /// An error of a call that got no answer we can read (`code` names
    /// the stage: `Request`, `Signing`, `Date`).
    pub(super) fn err(
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
            status,
            code: code.to_string(),
            message: msg.to_string(),
            why: Box::new(Why {
                cause: match status {
                    Some(_) => of_response(status, code, msg),
                    None => Cause::Other {
                        what: msg.to_string(),
                    },
                },
                place: Some(self.place.clone()),
            }),
        }
    }

    /// The request as messages name it.
    fn request_of<'a>(&'a self, req: &Request<'a>) -> failure::Request<'a> {
        failure::Request {
            place: Some(&self.place),
            label: req.op,
            permission: permission(req.op),
            path: req.path,
        }
    }

    /// One request, once.
    async fn request_once(&self, req: &Request<'_>) -> Result<Response, S3Error> {
        let Request {
            method,
            path,
            query,
            headers,
            body,
            op,
        } = *req;
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
        self.signer.sign(&mut parts, None).await.map_err(|e| {
            // No credentials, or an identity (web identity, a profile)
            // that could not give them: said as storage errors say it.
            match of_chain(&e) {
                Some(Cause::NoCredentials) => {
                    let mut out = self.err(op, &what, None, "Credentials", "no credentials");
                    out.why.cause = Cause::NoCredentials;
                    out
                }
                Some(c) => {
                    let mut out = self.err(op, &what, None, "Credentials", &e.to_string());
                    out.why.cause = c;
                    out
                }
                None => self.err(op, &what, None, "Signing", &e.to_string()),
            }
        })?;
        let req = reqwest::Request::try_from(http::Request::from_parts(parts, body))
            .map_err(|e| self.err(op, &what, None, "Request", &e.to_string()))?;
        let transport = |e: reqwest::Error| {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m = format!("{m}: {s}");
                src = s.source();
            }
            let mut out = self.err(op, &what, None, "Transport", &m);
            out.why.cause = of_chain(&e).unwrap_or(Cause::Network {
                what: "the connection failed".into(),
            });
            out
        };
        let resp = self.http.execute(req).await.map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport)?.to_vec();
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

    /// [`Self::request_once`], sent again when retrying can help (see
    /// [`crate::retry`]: the same attempts, waits and notices as OpenDAL's
    /// requests).
    pub(super) async fn request(
        &self,
        method: http::Method,
        path: Option<&str>,
        query: &str,
        headers: &[(&str, String)],
        body: &[u8],
        op: &'static str,
    ) -> Result<Response, S3Error> {
        let req = Request {
            method: &method,
            path,
            query,
            headers,
            body,
            op,
        };
        let at = self.request_of(&req);
        retry::run(&at, || self.request_once(&req)).await
    }
}

/// The IAM permission an S3 call needs.
fn permission(op: &str) -> &'static str {
    match op {
        "PutObject" => "s3:PutObject",
        "HeadObject" | "GetObject" => "s3:GetObject",
        "HeadBucket" | "ListObjects" | "GetBucketLocation" => "s3:ListBucket",
        "PutObjectRetention" => "s3:PutObjectRetention",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "DeleteObject" => "s3:DeleteObject",
        "DeleteObject (version)" => "s3:DeleteObjectVersion",
        "CreateBucket" => "s3:CreateBucket",
        _ => "the permission",
    }
}

/// What one S3 call sends: `path` is a vault path (`None`: the bucket
/// itself); `op` names the call in errors (`PutObjectRetention`).
#[derive(Clone, Copy)]
struct Request<'a> {
    method: &'a http::Method,
    path: Option<&'a str>,
    query: &'a str,
    headers: &'a [(&'a str, String)],
    body: &'a [u8],
    op: &'static str,
}
