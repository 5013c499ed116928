//! [`S3Client`]: one bucket and prefix, its endpoint, and the signed request
//! every call goes through (SigV4 with reqsign, sent with reqwest, retried
//! when retrying can help; error bodies read into an [`S3Error`]).

use std::time::Duration;

use reqsign_aws_v4::{Credential, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, Signer};

use super::encoding::encode;
use super::error::S3Error;
use super::xml::xml_tag;
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
    signer: Option<Signer<Credential>>,
    scheme: String,
    host: String,
    pub(super) bucket: String,
    prefix: String,
    path_style: bool,
    pub(super) storage_class: Option<String>,
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
            endpoint: self.host.clone(),
            status,
            code: code.to_string(),
            message: msg.to_string(),
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
        let mut delay = Duration::from_millis(200);
        for attempt in 0.. {
            match self.request_once(&req).await {
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
