//! Server URLs (`postgres://`, `mysql://`, `redis://`) and their redaction.
//!
//! A [`DbUrl`] never prints its secrets: [`std::fmt::Display`], `Debug` and
//! [`DbUrl::redacted`] show the password and every secret query parameter
//! (see [`is_secret_param`]: `sslpassword`, …) as `***`, and
//! [`DbUrl::location`] leaves the user out as well. A `password` query
//! parameter is the URL's password (as libpq reads it). Tools get the
//! password through their environment (`PGPASSWORD`, `MYSQL_PWD`) and other
//! secrets through a private file (see [`crate::postgres`]), never on a
//! command line.

use crate::error::{SourceError, SourceResult};

/// A parsed server URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The scheme as given (`postgres`, `postgresql`, `mysql`, `mariadb`, `redis`).
    pub scheme: String,
    /// Host name, address, or (PostgreSQL, MySQL) a socket directory/path.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User, if given.
    pub user: Option<String>,
    /// Password, if given. Never printed.
    pub password: Option<String>,
    /// Database, if given (the URL's path without its leading `/`).
    pub database: Option<String>,
    /// Query parameters (e.g. `sslmode=require`), decoded.
    pub params: Vec<(String, String)>,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DbUrl {
    /// Parses `s`, accepting only `schemes`; `default_port` fills a missing
    /// port. `flag` names the option for error messages (`--postgres`).
    pub fn parse(s: &str, schemes: &[&str], default_port: u16, flag: &str) -> SourceResult<DbUrl> {
        let example = format!("{}://user@host:{default_port}/database", schemes[0]);
        // The URL may hold a password: error messages show only its scheme.
        let u = url::Url::parse(s).map_err(|e| {
            SourceError::Usage(format!("{flag}: not a valid URL ({e}); expected {example}"))
        })?;
        if !schemes.contains(&u.scheme()) {
            return Err(SourceError::Usage(format!(
                "{flag}: the URL's scheme is `{}`; expected {example}",
                u.scheme()
            )));
        }
        let host = decode(u.host_str().unwrap_or(""));
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map(str::to_string)
            .unwrap_or(host);
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        let user = Some(decode(u.username())).filter(|s| !s.is_empty());
        let password = u.password().map(decode);
        let path = decode(u.path().trim_start_matches('/'));
        let database = Some(path.trim_end_matches('/').to_string()).filter(|s| !s.is_empty());
        let mut params: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        // `?password=` is the password, as libpq reads it; given twice, it is
        // ambiguous (and no message may say which value was meant).
        let mut password = password;
        if let Some(i) = params.iter().position(|(k, _)| k == "password") {
            let (_, pw) = params.remove(i);
            if password.is_some() || params.iter().any(|(k, _)| k == "password") {
                return Err(SourceError::Usage(format!(
                    "{flag}: the URL gives its password more than once (before the host and as ?password=): give it once"
                )));
            }
            password = Some(pw);
        }
        Ok(DbUrl {
            scheme: u.scheme().to_string(),
            host,
            port: u.port().unwrap_or(default_port),
            user,
            password,
            database,
            params,
        })
    }

    /// The URL with the password shown as `***`.
    pub fn redacted(&self) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(u) = &self.user {
            s.push_str(u);
        }
        if self.password.is_some() {
            s.push_str(":***");
        }
        if self.user.is_some() || self.password.is_some() {
            s.push('@');
        }
        s.push_str(&self.location_tail(self.database.as_deref()));
        if !self.params.is_empty() {
            s.push('?');
            let p: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| {
                    if is_secret_param(k) {
                        format!("{k}=***")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            s.push_str(&p.join("&"));
        }
        s
    }

    /// `scheme://host:port[/database]`, without user or password: what a
    /// snapshot records as its path.
    pub fn location(&self, database: Option<&str>) -> String {
        format!("{}://{}", self.scheme, self.location_tail(database))
    }

    fn location_tail(&self, database: Option<&str>) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match database {
            Some(d) => format!("{host}:{}/{d}", self.port),
            None => format!("{host}:{}", self.port),
        }
    }

    /// `host:port`.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `host:port, database D, user U`: how errors name the target.
    pub fn describe(&self, database: Option<&str>) -> String {
        let mut s = self.host_port();
        if let Some(d) = database {
            s.push_str(&format!(", database {d}"));
        }
        if let Some(u) = &self.user {
            s.push_str(&format!(", user {u}"));
        }
        s
    }

    /// Replaces the URL's password and secret parameters in `text` with
    /// `***` (for tool output).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets() {
            out = out.replace(s, "***");
        }
        out
    }

    /// The password and the values of secret query parameters (not empty).
    pub fn secrets(&self) -> Vec<&str> {
        let params = self
            .params
            .iter()
            .filter(|(k, _)| is_secret_param(k))
            .map(|(_, v)| v.as_str());
        self.password
            .as_deref()
            .into_iter()
            .chain(params)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The secret query parameters (`sslpassword`, …; never `password`,
    /// which is [`DbUrl::password`]).
    pub fn secret_params(&self) -> impl Iterator<Item = &(String, String)> {
        self.params.iter().filter(|(k, _)| is_secret_param(k))
    }

    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether query parameter `key` holds a secret: `password`, libpq's
/// `sslpassword`, PostgreSQL 18's `oauth_client_secret`, and any name with
/// `password`, `passwd`, `secret` or `token` in it. Such a value is shown
/// as `***` and never put on a command line.
pub fn is_secret_param(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|w| k.contains(w))
}

/// `url` (any scheme) with its password and secret query parameters shown
/// as `***`; a string that is no URL is not shown at all.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(an invalid URL)".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| is_secret_param(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Whether `url` carries a password (before the host or as `?password=`).
/// A string that is no URL has none.
pub fn has_password(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| u.password().is_some() || u.query_pairs().any(|(k, _)| k == "password"))
}

/// `url` with `password` as its password, for a password read from a file
/// or the environment (so that it need not be on a command line). A URL
/// that has a password already is refused: two would be ambiguous.
pub fn with_password(url: &str, password: &str, flag: &str) -> SourceResult<String> {
    let mut u = url::Url::parse(url)
        .map_err(|e| SourceError::Usage(format!("{flag}: not a valid URL ({e})")))?;
    if u.password().is_some() || u.query_pairs().any(|(k, _)| k == "password") {
        return Err(SourceError::Usage(format!(
            "{flag}: the URL has a password already, and one was given from a file or the environment too: give it once"
        )));
    }
    u.set_password(Some(password))
        .map_err(|_| SourceError::Usage(format!("{flag}: this URL cannot carry a password")))?;
    Ok(u.to_string())
}

/// Percent-decodes `s` (invalid escapes are kept as they are).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let u = DbUrl::parse(
            "postgres://al%40ice:s3cr%2Ft@db.example:6543/shop?sslmode=require",
            &["postgres", "postgresql"],
            5432,
            "--postgres",
        )
        .unwrap();
        assert_eq!(u.host, "db.example");
        assert_eq!(u.port, 6543);
        assert_eq!(u.user.as_deref(), Some("al@ice"));
        assert_eq!(u.password.as_deref(), Some("s3cr/t"));
        assert_eq!(u.database.as_deref(), Some("shop"));
        assert_eq!(u.param("sslmode"), Some("require"));
        let shown = format!("{u} {u:?} {}", u.location(Some("shop")));
        assert!(!shown.contains("s3cr"), "{shown}");
        assert_eq!(
            u.redacted(),
            "postgres://al@ice:***@db.example:6543/shop?sslmode=require"
        );
        assert_eq!(u.location(None), "postgres://db.example:6543");
        assert_eq!(u.scrub("password s3cr/t rejected"), "password *** rejected");
    }

    #[test]
    fn secret_parameters_are_redacted_and_a_query_password_is_the_password() {
        let u = DbUrl::parse(
            "postgres://al@db/shop?sslmode=verify-full&sslpassword=k3yPass&password=qu3ryPw",
            &["postgres"],
            5432,
            "--postgres",
        )
        .unwrap();
        assert_eq!(u.password.as_deref(), Some("qu3ryPw"));
        assert_eq!(u.param("password"), None);
        let shown = format!("{u} {u:?} {}", u.redacted());
        assert!(
            !shown.contains("k3yPass") && !shown.contains("qu3ryPw"),
            "{shown}"
        );
        assert!(shown.contains("sslpassword=***") && shown.contains("sslmode=verify-full"));
        assert_eq!(u.scrub("bad k3yPass or qu3ryPw"), "bad *** or ***");
        assert_eq!(u.secrets().len(), 2);
        let e = DbUrl::parse(
            "postgres://a:one@h/d?password=two",
            &["postgres"],
            5432,
            "--postgres",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("more than once") && !e.contains("one@") && !e.contains("two"),
            "{e}"
        );
        assert!(is_secret_param("oauth_client_secret") && !is_secret_param("sslmode"));
        let r = redact("postgres://a:S3cret@h/d?sslpassword=K3y&sslmode=require");
        assert!(
            !r.contains("S3cret") && !r.contains("K3y") && r.contains("sslmode=require"),
            "{r}"
        );
        assert_eq!(redact("not a url S3cret"), "(an invalid URL)");
    }

    #[test]
    fn a_password_from_a_file_goes_into_the_url_once() {
        let u = with_password("postgres://al@db:5432/shop", "p@ss word", "--postgres").unwrap();
        let p = DbUrl::parse(&u, &["postgres"], 5432, "--postgres").unwrap();
        assert_eq!(p.password.as_deref(), Some("p@ss word"));
        assert_eq!(p.user.as_deref(), Some("al"));
        let r = with_password("redis://127.0.0.1:6379", "pw", "--redis").unwrap();
        let p = DbUrl::parse(&r, &["redis"], 6379, "--redis").unwrap();
        assert_eq!((p.user, p.password.as_deref()), (None, Some("pw")));
        for twice in ["postgres://a:x@h/d", "postgres://a@h/d?password=x"] {
            let e = with_password(twice, "pw", "--postgres")
                .unwrap_err()
                .to_string();
            assert!(e.contains("give it once") && !e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn defaults_and_errors() {
        let u = DbUrl::parse("redis://127.0.0.1", &["redis"], 6379, "--redis").unwrap();
        assert_eq!(
            (u.port, u.database.clone(), u.user.clone()),
            (6379, None, None)
        );
        let e = DbUrl::parse("mysql://root:pw@h/db", &["postgres"], 5432, "--postgres")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--postgres") && !e.contains("pw"), "{e}");
        assert!(DbUrl::parse("not a url", &["redis"], 6379, "--redis").is_err());
        let s = DbUrl::parse(
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/db",
            &["postgres"],
            5432,
            "--postgres",
        )
        .unwrap();
        assert_eq!(s.host, "/var/run/postgresql");
    }
}
