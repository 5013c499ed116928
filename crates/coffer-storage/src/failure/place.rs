//! [`S3Place`]: where an S3 vault is, as its messages name it.

use std::time::Duration;

use crate::url::{S3Location, DEFAULT_CONNECT_TIMEOUT};

/// An S3 vault's location, endpoint and connect timeout, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Place {
    /// `s3://bucket/prefix`.
    pub location: String,
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no slashes around it).
    pub prefix: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The endpoint's host, without the port.
    pub host: String,
    /// `host:port` of the endpoint (the scheme's port when the URL has none).
    pub addr: String,
    /// The endpoint's authority as written (`host` or `host:port`).
    pub authority: String,
    /// How long a connection may take.
    pub connect_timeout: Duration,
    /// The vault's storage class (`?storage_class=`), which its data packs
    /// are written in; `None`: the bucket's default.
    pub storage_class: Option<String>,
}

impl S3Place {
    /// The place of `loc`; an endpoint that is not an http(s) URL is an
    /// error (its message).
    pub(crate) fn new(loc: &S3Location) -> Result<S3Place, String> {
        let region = loc.region.as_deref().unwrap_or("us-east-1");
        let endpoint = loc
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let (scheme, rest) = match endpoint.split_once("://") {
            Some((s, r)) => (s.to_string(), r),
            None => ("https".to_string(), endpoint.as_str()),
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        // Never a password in a message.
        let authority = authority.rsplit('@').next().unwrap_or_default().to_string();
        if authority.is_empty() || (scheme != "http" && scheme != "https") {
            return Err(format!(
                "the endpoint `{endpoint}` is not an http:// or https:// URL"
            ));
        }
        let (host, port) = split_port(&authority);
        let port = port.unwrap_or(if scheme == "http" { "80" } else { "443" });
        Ok(S3Place {
            location: format!("s3://{}/{}", loc.bucket, loc.prefix),
            bucket: loc.bucket.clone(),
            prefix: loc.prefix.clone(),
            scheme,
            addr: format!("{host}:{port}"),
            host: host.to_string(),
            authority,
            connect_timeout: loc.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            storage_class: loc.storage_class.clone(),
        })
    }

    /// The object key of a vault path.
    pub(crate) fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{}", self.prefix, path)
        }
    }

    /// `s3://bucket/key` of a vault path.
    pub(crate) fn object(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(path))
    }
}

/// `host` and `port` of `host:port`, `[v6]:port`, `host`, `[v6]`.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (
                &authority[..h.len() + 2],
                tail.strip_prefix(':').filter(|p| !p.is_empty()),
            ),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (authority, None),
    }
}
