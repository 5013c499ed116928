//! Parsing vault locations: a local path or `s3://bucket/prefix`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use coffer_core::{Backend, Error, Result};

use crate::OpendalBackend;

/// Where an S3 vault lives and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing slash).
    pub prefix: String,
    /// Endpoint URL (`AWS_ENDPOINT_URL`, `?endpoint=`); AWS when empty.
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`, `AWS_DEFAULT_REGION`, `?region=`); `us-east-1` when empty.
    pub region: Option<String>,
    /// Path-style addressing (default); `?path_style=false` for virtual hosts.
    pub path_style: bool,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret key (`AWS_SECRET_ACCESS_KEY`). Never printed.
    pub secret_access_key: Option<String>,
    /// Session token (`AWS_SESSION_TOKEN`). Never printed.
    pub session_token: Option<String>,
    /// Storage class for new objects (e.g. `STANDARD_IA`).
    pub storage_class: Option<String>,
    /// How long a connection to the endpoint may take
    /// (`COFFER_CONNECT_TIMEOUT`, `?connect_timeout=`);
    /// [`DEFAULT_CONNECT_TIMEOUT`] when `None`.
    pub connect_timeout: Option<Duration>,
}

/// How long a connection to an S3 endpoint may take unless the location
/// says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses a connect timeout: `5s`, `500ms`, `1m`, `2.5s`, or a number of
/// seconds; longer than zero and at most an hour.
pub fn parse_timeout(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => num,
        "ms" => num / 1000.0,
        "m" | "min" => num * 60.0,
        _ => return None,
    };
    (secs > 0.0 && secs <= 3600.0).then(|| Duration::from_secs_f64(secs))
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// A parsed vault location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and prefix.
    S3(S3Location),
}

impl Location {
    /// Parses `s3://bucket/prefix?endpoint=…&region=…&path_style=true&connect_timeout=5s`
    /// or a path. S3 credentials and defaults come from the standard AWS
    /// environment variables (and `COFFER_CONNECT_TIMEOUT`); query
    /// parameters override them.
    pub fn parse(s: &str) -> Result<Location> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.contains("://") {
                return Err(Error::InvalidInput(format!(
                    "unsupported vault location {s}: use a directory path or s3://bucket/prefix"
                )));
            }
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(Error::InvalidInput(format!(
                "vault location {s} names no bucket: use s3://bucket/prefix"
            )));
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut loc = S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: env("COFFER_S3_ENDPOINT")
                .or_else(|| env("AWS_ENDPOINT_URL_S3"))
                .or_else(|| env("AWS_ENDPOINT_URL")),
            region: env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")),
            path_style: env("COFFER_S3_PATH_STYLE")
                .map(|v| v != "false" && v != "0")
                .unwrap_or(true),
            access_key_id: env("AWS_ACCESS_KEY_ID"),
            secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            session_token: env("AWS_SESSION_TOKEN"),
            storage_class: None,
            connect_timeout: None,
        };
        if let Some(t) = env("COFFER_CONNECT_TIMEOUT") {
            loc.connect_timeout = Some(parse_timeout(&t).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "COFFER_CONNECT_TIMEOUT=`{t}` is not a timeout: write a duration such as 5s or 500ms (at most 1h)"
                ))
            })?);
        }
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "endpoint" => loc.endpoint = Some(v.to_string()),
                "region" => loc.region = Some(v.to_string()),
                "path_style" => loc.path_style = v != "false" && v != "0",
                "storage_class" => loc.storage_class = Some(v.to_string()),
                "connect_timeout" => {
                    loc.connect_timeout = Some(parse_timeout(v).ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "connect_timeout=`{v}` in vault location {s} is not a timeout: write a duration such as 5s or 500ms (at most 1h)"
                        ))
                    })?)
                }
                other => {
                    return Err(Error::InvalidInput(format!(
                        "unknown parameter `{other}` in vault location {s}: known are endpoint, region, path_style, storage_class, connect_timeout"
                    )))
                }
            }
        }
        Ok(Location::S3(loc))
    }

    /// The location without credentials, for messages.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::S3(s) => format!("s3://{}/{}", s.bucket, s.prefix),
        }
    }
}

/// Opens the backend for a location string.
pub fn open_location(s: &str) -> Result<Arc<dyn Backend>> {
    Ok(Arc::new(match Location::parse(s)? {
        Location::Local(p) => OpendalBackend::local(&p)?,
        Location::S3(s3) => OpendalBackend::s3(&s3)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_with_query() {
        let Location::S3(l) =
            Location::parse("s3://b/some/prefix/?endpoint=http://127.0.0.1:3900&region=garage")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(l.bucket, "b");
        assert_eq!(l.prefix, "some/prefix");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(l.region.as_deref(), Some("garage"));
        assert!(Location::parse("s3://b?bogus=1").is_err());
        let Location::S3(l) = Location::parse("s3://b/p?connect_timeout=1500ms").unwrap() else {
            panic!()
        };
        assert_eq!(l.connect_timeout, Some(Duration::from_millis(1500)));
        assert!(Location::parse("s3://b/p?connect_timeout=0s").is_err());
        assert!(Location::parse("s3://b/p?connect_timeout=soon").is_err());
        assert_eq!(parse_timeout("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("2h"), None);
        assert!(Location::parse("ftp://x").is_err());
        assert_eq!(
            Location::parse("/srv/v").unwrap(),
            Location::Local("/srv/v".into())
        );
    }
}
