//! The HTTP client reqsign's credential providers send with (STS, ECS
//! container credentials, EC2 instance metadata), and the STS endpoint
//! override.
//!
//! reqsign's STS providers always call `https://sts[.REGION].amazonaws.com`;
//! `AWS_ENDPOINT_URL_STS` (the AWS SDKs' name for it) sends those requests
//! to another endpoint instead: a VPC endpoint, a proxy, or a local STS in
//! tests.

use std::time::Duration;

use bytes::Bytes;
use reqsign_core::{Error, HttpSend, Result};

/// Where STS requests go instead of AWS's STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StsEndpoint {
    /// `http` or `https`.
    pub(crate) scheme: String,
    /// `host:port`.
    pub(crate) authority: String,
}

impl StsEndpoint {
    /// Parses `AWS_ENDPOINT_URL_STS`: an `http://` or `https://` URL with
    /// a host and no credentials.
    pub(crate) fn parse(s: &str) -> std::result::Result<StsEndpoint, String> {
        // A URL with user info may hold a password: never echoed.
        let shown = if s.contains('@') { "…" } else { s };
        let bad = || {
            format!(
                "AWS_ENDPOINT_URL_STS=`{shown}` is not an STS endpoint: write an http:// or https:// URL such as https://sts.eu-west-1.amazonaws.com"
            )
        };
        let uri: http::Uri = s.trim().parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?;
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(bad());
        }
        Ok(StsEndpoint {
            scheme: scheme.to_string(),
            authority: authority.as_str().to_string(),
        })
    }

    /// `scheme://host:port`, for messages.
    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// Whether `host` is one of AWS's STS hosts (global or regional).
fn is_sts_host(host: &str) -> bool {
    host == "sts.amazonaws.com"
        || host == "sts.amazonaws.com.cn"
        || (host.starts_with("sts.")
            && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")))
}

/// reqwest, without a connection pool: the providers run on whichever
/// runtime signs (the storage runtime, a sink's), and a pooled connection
/// must not outlive the runtime that made it.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    sts: Option<StsEndpoint>,
}

impl Http {
    pub(crate) fn new(sts: Option<StsEndpoint>) -> Http {
        let client = reqwest::Client::builder()
            // EC2 instance metadata answers at once or not at all (the AWS
            // SDKs wait one second); off EC2 this keeps the chain quick.
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        Http { client, sts }
    }
}

impl HttpSend for Http {
    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        let (mut parts, body) = req.into_parts();
        if let Some(sts) = &self.sts {
            if parts.uri.host().is_some_and(is_sts_host) {
                let path = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string();
                parts.uri = format!("{}{path}", sts.url()).parse().map_err(|e| {
                    Error::config_invalid(format!("STS endpoint {}: {e}", sts.url()))
                })?;
            }
        }
        let host = parts
            .uri
            .authority()
            .map_or(String::new(), |a| a.to_string());
        let req =
            reqwest::Request::try_from(http::Request::from_parts(parts, body)).map_err(|e| {
                Error::request_invalid(format!("request to {host}: {}", e.without_url()))
            })?;
        let resp = self.client.execute(req).await.map_err(|e| {
            let e = e.without_url();
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m = format!("{m}: {s}");
                src = s.source();
            }
            Error::unexpected(format!("request to {host} failed: {m}")).set_retryable(true)
        })?;
        let mut out = http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        let body = resp.bytes().await.map_err(|e| {
            Error::unexpected(format!("reading the answer of {host}: {}", e.without_url()))
        })?;
        out.body(body)
            .map_err(|e| Error::unexpected(format!("answer of {host}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_endpoint_parses_and_refuses_what_is_not_one() {
        let e = StsEndpoint::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(e.url(), "http://127.0.0.1:5000");
        assert_eq!(
            StsEndpoint::parse("https://sts.eu-west-1.amazonaws.com/")
                .unwrap()
                .authority,
            "sts.eu-west-1.amazonaws.com"
        );
        for bad in ["", "sts.example", "ftp://x", "http://user:pw@x", "http:///"] {
            let m = StsEndpoint::parse(bad).unwrap_err();
            assert!(m.starts_with("AWS_ENDPOINT_URL_STS="), "{m}");
            assert!(!m.contains("pw"), "{m}");
        }
        assert!(is_sts_host("sts.amazonaws.com"));
        assert!(is_sts_host("sts.us-west-2.amazonaws.com"));
        assert!(is_sts_host("sts.cn-north-1.amazonaws.com.cn"));
        assert!(!is_sts_host("s3.amazonaws.com"));
        assert!(!is_sts_host("169.254.169.254"));
    }
}
