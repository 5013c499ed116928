//! The monitoring sections of `coffer.toml`: `[server]` (the HTTP listener
//! for `/metrics`, `/healthz` and later the API), `[[notify]]` (notification
//! sinks) and a vault's `capacity`. Parsed with the same strictness as the
//! rest of the file (see the parent module).

use super::{SecretRef, Validator, S};
use crate::events::{EventName, Severity};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How often the daemon lists each vault to measure its storage use when
/// no job ran (`[server] storage_refresh`).
pub const DEFAULT_STORAGE_REFRESH: Duration = Duration::from_secs(300);
/// Retries of a failed notification after the first attempt.
pub const DEFAULT_NOTIFY_RETRIES: u32 = 5;
/// The wait before the first retry (doubled before each next one).
pub const DEFAULT_NOTIFY_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between two retries.
pub const MAX_NOTIFY_BACKOFF: Duration = Duration::from_secs(300);
/// The time limit of a notification command or request.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// `[server]`: `coffer serve`'s HTTP listener. Without the section the
/// daemon listens nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address to listen on (`127.0.0.1:9870`).
    pub listen: SocketAddr,
    /// How often vault storage is measured besides after each job.
    pub storage_refresh: Duration,
    /// TLS: the certificate chain and private key (PEM files); both or
    /// neither (`tls_cert`, `tls_key`). Without them the listener speaks
    /// plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// `[server] tls_cert` and `tls_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM), server certificate first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Which events a sink receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyFilter {
    /// Events at least this severe (`level = "errors" | "warnings" | "all"`).
    Level(Severity),
    /// Exactly these events (`events = ["BACKUP_JOB_FAILED", …]`).
    Events(Vec<EventName>),
}

impl NotifyFilter {
    /// Whether an event of `name` passes.
    pub fn matches(&self, name: EventName) -> bool {
        match self {
            NotifyFilter::Level(min) => name.severity() >= *min,
            NotifyFilter::Events(names) => names.contains(&name),
        }
    }
}

/// The body a webhook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The event as JSON (as `coffer events --json` prints it).
    Json,
    /// Slack-compatible `{"text": "…"}` (also Mattermost, Rocket.Chat).
    Slack,
}

/// Where a sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// An HTTP(S) POST.
    Webhook {
        /// The URL, or where to read it (Slack URLs are secrets).
        url: WebhookUrl,
        /// The body.
        format: WebhookFormat,
    },
    /// A mail through SMTP.
    Email(EmailConfig),
    /// A command (`sh -c`) given the event JSON on standard input.
    Command {
        /// The command line.
        command: String,
    },
}

/// A webhook URL: inline, or a secret read when sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    /// Written in the file.
    Inline(String),
    /// In a file or environment variable (`url_file`, `url_env`).
    Secret(SecretRef),
}

/// An email sink's SMTP settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// The SMTP server.
    pub smtp_host: String,
    /// Its port (default 587).
    pub smtp_port: u16,
    /// Upgrade the connection with STARTTLS (required when true, the
    /// default); false sends in the clear (a local relay only).
    pub starttls: bool,
    /// A PEM file of CA certificates to trust besides the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// The SMTP user, when the server wants AUTH.
    pub username: Option<String>,
    /// The SMTP password (with `username`).
    pub password: Option<SecretRef>,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
}

/// `[[notify]]`: one notification sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Its name (the dispatcher's cursor and log lines use it).
    pub name: String,
    /// Which events it gets.
    pub filter: NotifyFilter,
    /// Where they go.
    pub target: NotifyTarget,
    /// Retries after a failed attempt.
    pub retries: u32,
    /// The wait before the first retry, doubled before each next one (at
    /// most [`MAX_NOTIFY_BACKOFF`]).
    pub backoff: Duration,
    /// The time limit of one attempt.
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<S<String>>,
    storage_refresh: Option<S<String>>,
    tls_cert: Option<S<PathBuf>>,
    tls_key: Option<S<PathBuf>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NotifyKind {
    Webhook,
    Email,
    Command,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Errors,
    Warnings,
    All,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    name: S<String>,
    kind: S<NotifyKind>,
    level: Option<S<Level>>,
    events: Option<S<Vec<S<String>>>>,
    retries: Option<S<u32>>,
    backoff: Option<S<String>>,
    timeout: Option<S<String>>,
    // webhook
    url: Option<S<String>>,
    url_env: Option<S<String>>,
    url_file: Option<S<PathBuf>>,
    format: Option<S<WebhookFormat>>,
    // email
    smtp_host: Option<S<String>>,
    smtp_port: Option<S<u16>>,
    starttls: Option<S<bool>>,
    tls_ca_file: Option<S<PathBuf>>,
    username: Option<S<String>>,
    password_env: Option<S<String>>,
    password_file: Option<S<PathBuf>>,
    /// Only to refuse it with a useful message.
    password: Option<S<toml::Value>>,
    from: Option<S<String>>,
    to: Option<S<Vec<S<String>>>>,
    // command
    command: Option<S<String>>,
}

/// Parses a size: `500GB`, `1.5 TiB`, `1048576` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "kib" => 1024f64,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = num * mult;
    (v.is_finite() && v >= 1.0 && v < u64::MAX as f64).then_some(v as u64)
}

/// A kind-specific field: its name, where it is written (if it is), and
/// the kinds it applies to.
type FieldUse = (
    &'static str,
    Option<std::ops::Range<usize>>,
    &'static [&'static str],
);

impl Validator<'_> {
    /// A vault's `capacity`.
    pub(super) fn capacity(&mut self, vault: &str, v: &Option<S<String>>) -> Option<u64> {
        let v = v.as_ref()?;
        let size = parse_size(v.get_ref());
        if size.is_none() {
            self.at(
                v,
                format!(
                    "vault `{vault}`: bad capacity `{}`: write a size such as \"500GB\" or \"2TiB\"",
                    v.get_ref()
                ),
            );
        }
        size
    }

    /// A duration, as `std::time::Duration`.
    fn std_duration(&mut self, field: &str, v: &Option<S<String>>, default: Duration) -> Duration {
        let d = self.duration(
            field,
            v,
            jiff::SignedDuration::try_from(default).unwrap_or_default(),
        );
        d.unsigned_abs()
    }

    pub(super) fn server(&mut self, s: &RawServer) -> ServerConfig {
        let default: SocketAddr = ([127, 0, 0, 1], 9870).into();
        let listen = match &s.listen {
            None => default,
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.at(
                        l,
                        format!(
                            "[server] listen `{}` is not an address with a port: write e.g. \"127.0.0.1:9870\" or \"[::1]:9870\" (host names are not resolved)",
                            l.get_ref()
                        ),
                    );
                    default
                }
            },
        };
        let tls = match (&s.tls_cert, &s.tls_key) {
            (Some(c), Some(k)) => Some(TlsFiles {
                cert: self.path(c.get_ref()),
                key: self.path(k.get_ref()),
            }),
            (Some(c), None) => {
                self.at(
                    c,
                    "[server] tls_cert needs tls_key (the certificate's private key, PEM)",
                );
                None
            }
            (None, Some(k)) => {
                self.at(
                    k,
                    "[server] tls_key needs tls_cert (the certificate chain, PEM)",
                );
                None
            }
            (None, None) => None,
        };
        ServerConfig {
            listen,
            storage_refresh: self.std_duration(
                "[server] storage_refresh",
                &s.storage_refresh,
                DEFAULT_STORAGE_REFRESH,
            ),
            tls,
        }
    }

    pub(super) fn notify(&mut self, all: &[RawNotify]) -> Vec<NotifyConfig> {
        self.duplicates("notify", all.iter().map(|n| &n.name));
        all.iter().filter_map(|n| self.one_notify(n)).collect()
    }

    fn one_notify(&mut self, n: &RawNotify) -> Option<NotifyConfig> {
        self.name("notify", &n.name);
        let name = n.name.get_ref().clone();
        let kind = *n.kind.get_ref();
        if let Some(p) = &n.password {
            self.at(
                p,
                format!("notify `{name}`: an inline password is not allowed; use password_env = \"VAR\" or password_file = \"…\""),
            );
        }
        let filter = match (&n.level, &n.events) {
            (Some(l), Some(_)) => {
                self.at(
                    l,
                    format!("notify `{name}`: give either level or events, not both"),
                );
                NotifyFilter::Level(Severity::Error)
            }
            (Some(l), None) => NotifyFilter::Level(match l.get_ref() {
                Level::Errors => Severity::Error,
                Level::Warnings => Severity::Warning,
                Level::All => Severity::Info,
            }),
            (None, Some(e)) => {
                let mut names = Vec::new();
                for s in e.get_ref() {
                    match s.get_ref().parse::<EventName>() {
                        Ok(x) => names.push(x),
                        Err(_) => self.at(
                            s,
                            format!(
                                "notify `{name}`: unknown event `{}` (events: {})",
                                s.get_ref(),
                                EventName::ALL
                                    .iter()
                                    .map(|e| e.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                if e.get_ref().is_empty() {
                    self.at(e, format!("notify `{name}`: events is empty: list event names or use level = \"errors\""));
                }
                NotifyFilter::Events(names)
            }
            (None, None) => NotifyFilter::Level(Severity::Error),
        };
        // Fields of other kinds.
        let fields: [FieldUse; 14] = [
            ("url", n.url.as_ref().map(|v| v.span()), &["webhook"]),
            (
                "url_env",
                n.url_env.as_ref().map(|v| v.span()),
                &["webhook"],
            ),
            (
                "url_file",
                n.url_file.as_ref().map(|v| v.span()),
                &["webhook"],
            ),
            ("format", n.format.as_ref().map(|v| v.span()), &["webhook"]),
            (
                "smtp_host",
                n.smtp_host.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "smtp_port",
                n.smtp_port.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "starttls",
                n.starttls.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "tls_ca_file",
                n.tls_ca_file.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "username",
                n.username.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "password_env",
                n.password_env.as_ref().map(|v| v.span()),
                &["email"],
            ),
            (
                "password_file",
                n.password_file.as_ref().map(|v| v.span()),
                &["email"],
            ),
            ("from", n.from.as_ref().map(|v| v.span()), &["email"]),
            ("to", n.to.as_ref().map(|v| v.span()), &["email"]),
            (
                "command",
                n.command.as_ref().map(|v| v.span()),
                &["command"],
            ),
        ];
        let kind_name = match kind {
            NotifyKind::Webhook => "webhook",
            NotifyKind::Email => "email",
            NotifyKind::Command => "command",
        };
        for (field, span, kinds) in fields {
            if let Some(span) = span {
                if !kinds.contains(&kind_name) {
                    self.error(
                        Some(span),
                        format!(
                            "notify `{name}`: `{field}` does not apply to kind = \"{kind_name}\""
                        ),
                    );
                }
            }
        }
        let target = match kind {
            NotifyKind::Webhook => {
                let mut urls = Vec::new();
                if let Some(u) = &n.url {
                    let t = u.get_ref();
                    if !(t.starts_with("http://") || t.starts_with("https://"))
                        || url::Url::parse(t).is_err()
                    {
                        self.at(
                            u,
                            format!("notify `{name}`: url must be an http:// or https:// URL"),
                        );
                    }
                    urls.push((u.span(), WebhookUrl::Inline(t.clone())));
                }
                if let Some(u) = &n.url_env {
                    urls.push((
                        u.span(),
                        WebhookUrl::Secret(SecretRef::Env(u.get_ref().clone())),
                    ));
                }
                if let Some(u) = &n.url_file {
                    urls.push((
                        u.span(),
                        WebhookUrl::Secret(SecretRef::File(self.path(u.get_ref()))),
                    ));
                }
                if urls.len() > 1 {
                    self.error(
                        Some(urls[1].0.clone()),
                        format!("notify `{name}`: give only one of url, url_env and url_file"),
                    );
                }
                let Some((_, url)) = urls.into_iter().next() else {
                    self.at(
                        &n.kind,
                        format!("notify `{name}` of kind webhook needs url = \"https://…\" (or url_env / url_file)"),
                    );
                    return None;
                };
                NotifyTarget::Webhook {
                    url,
                    format: n
                        .format
                        .as_ref()
                        .map(|f| *f.get_ref())
                        .unwrap_or(WebhookFormat::Json),
                }
            }
            NotifyKind::Email => {
                let mut missing = Vec::new();
                if n.smtp_host.is_none() {
                    missing.push("smtp_host");
                }
                if n.from.is_none() {
                    missing.push("from");
                }
                if n.to.is_none() {
                    missing.push("to");
                }
                if !missing.is_empty() {
                    self.at(
                        &n.kind,
                        format!("notify `{name}` of kind email needs {}", missing.join(", ")),
                    );
                    return None;
                }
                let password = match (&n.password_env, &n.password_file) {
                    (Some(e), Some(_)) => {
                        self.at(
                            e,
                            format!(
                                "notify `{name}`: give only one of password_env and password_file"
                            ),
                        );
                        None
                    }
                    (Some(e), None) => Some(SecretRef::Env(e.get_ref().clone())),
                    (None, Some(f)) => Some(SecretRef::File(self.path(f.get_ref()))),
                    (None, None) => None,
                };
                if password.is_some() && n.username.is_none() {
                    let span = n
                        .password_env
                        .as_ref()
                        .map(|x| x.span())
                        .or(n.password_file.as_ref().map(|x| x.span()));
                    self.error(
                        span,
                        format!("notify `{name}`: a password needs username = \"…\""),
                    );
                }
                let addr = |v: &mut Self, a: &S<String>| {
                    if !a.get_ref().contains('@') || a.get_ref().parse::<lettre::Address>().is_err()
                    {
                        v.at(
                            a,
                            format!(
                                "notify `{name}`: `{}` is not a mail address (user@example.com)",
                                a.get_ref()
                            ),
                        );
                    }
                };
                let from = n.from.as_ref().expect("checked");
                addr(self, from);
                let to = n.to.as_ref().expect("checked");
                if to.get_ref().is_empty() {
                    self.at(to, format!("notify `{name}`: to is empty: list recipients"));
                }
                for a in to.get_ref() {
                    addr(self, a);
                }
                let host = n.smtp_host.as_ref().expect("checked");
                if host.get_ref().trim().is_empty() {
                    self.at(host, format!("notify `{name}`: smtp_host is empty"));
                }
                NotifyTarget::Email(EmailConfig {
                    smtp_host: host.get_ref().clone(),
                    smtp_port: n.smtp_port.as_ref().map(|p| *p.get_ref()).unwrap_or(587),
                    starttls: n.starttls.as_ref().is_none_or(|s| *s.get_ref()),
                    tls_ca_file: n.tls_ca_file.as_ref().map(|p| self.path(p.get_ref())),
                    username: n.username.as_ref().map(|u| u.get_ref().clone()),
                    password,
                    from: from.get_ref().clone(),
                    to: to.get_ref().iter().map(|a| a.get_ref().clone()).collect(),
                })
            }
            NotifyKind::Command => match &n.command {
                Some(c) if !c.get_ref().trim().is_empty() => NotifyTarget::Command {
                    command: c.get_ref().clone(),
                },
                Some(c) => {
                    self.at(c, format!("notify `{name}`: command is empty"));
                    return None;
                }
                None => {
                    self.at(
                        &n.kind,
                        format!("notify `{name}` of kind command needs command = \"…\""),
                    );
                    return None;
                }
            },
        };
        let backoff = self.std_duration("backoff", &n.backoff, DEFAULT_NOTIFY_BACKOFF);
        let timeout = self.std_duration("timeout", &n.timeout, DEFAULT_NOTIFY_TIMEOUT);
        let retries = n
            .retries
            .as_ref()
            .map(|r| *r.get_ref())
            .unwrap_or(DEFAULT_NOTIFY_RETRIES);
        if let Some(r) = &n.retries {
            if *r.get_ref() > 20 {
                self.at(
                    r,
                    format!("notify `{name}`: retries is at most 20 (a sink that is down for long misses events; see its log)"),
                );
            }
        }
        Some(NotifyConfig {
            name,
            filter,
            target,
            retries,
            backoff,
            timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    const BASE: &str = "[[vault]]\nname = \"main\"\nurl = \"/srv/main\"\nkey_file = \"k\"\n";

    fn parse(extra: &str) -> Result<Config, Vec<String>> {
        Config::parse(&format!("{BASE}{extra}"), Path::new("t.toml"))
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500GB"), Some(500_000_000_000));
        assert_eq!(parse_size("2 TiB"), Some(2 * 1024u64.pow(4)));
        assert_eq!(parse_size("1048576"), Some(1048576));
        assert_eq!(parse_size("1.5kb"), Some(1500));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("0"), None);
    }

    #[test]
    fn server_section() {
        let c = parse("[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let s = c.server.unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(s.storage_refresh, DEFAULT_STORAGE_REFRESH);
        assert!(parse("").unwrap().server.is_none());
        let c = parse("[server]\ntls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\n").unwrap();
        assert_eq!(c.server.unwrap().tls.unwrap().key, PathBuf::from("/k.pem"));
        let e = parse("[server]\ntls_cert = \"/c.pem\"\n").unwrap_err();
        assert!(format!("{e:?}").contains("tls_key"), "{e:?}");
        let e = parse("[server]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(e[0].starts_with("t.toml:6:10:"), "{e:?}");
        assert!(e[0].contains("not an address with a port"), "{e:?}");
        let e = parse("[server]\nport = 1\n").unwrap_err();
        assert!(e[0].contains("unknown field `port`"), "{e:?}");
    }

    #[test]
    fn vault_capacity() {
        let c = Config::parse(
            "[[vault]]\nname = \"m\"\nurl = \"/x\"\nkey_file = \"k\"\ncapacity = \"1TB\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.vaults[0].capacity, Some(1_000_000_000_000));
        let e = Config::parse(
            "[[vault]]\nname = \"m\"\nurl = \"/x\"\nkey_file = \"k\"\ncapacity = \"big\"\n",
            Path::new("t.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("bad capacity `big`"), "{e}");
    }

    #[test]
    fn notify_sinks() {
        let c = parse(
            r#"
[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:1/x"
format = "slack"
events = ["BACKUP_JOB_FAILED", "RPO_VIOLATED"]
backoff = "10ms"
retries = 2

[[notify]]
name = "mail"
kind = "email"
smtp_host = "smtp.example.com"
username = "coffer"
password_env = "SMTP_PW"
from = "coffer@example.com"
to = ["ops@example.com"]
level = "warnings"

[[notify]]
name = "cmd"
kind = "command"
command = "cat >> /tmp/events"
"#,
        )
        .unwrap();
        assert_eq!(c.notify.len(), 3);
        let hook = &c.notify[0];
        assert_eq!(hook.retries, 2);
        assert_eq!(hook.backoff, Duration::from_millis(10));
        assert!(hook.filter.matches(EventName::RpoViolated));
        assert!(!hook.filter.matches(EventName::VerifyFailed));
        let NotifyTarget::Email(e) = &c.notify[1].target else {
            panic!()
        };
        assert_eq!(e.smtp_port, 587);
        assert!(e.starttls);
        assert!(c.notify[1].filter.matches(EventName::SizeAnomaly));
        assert!(!c.notify[1].filter.matches(EventName::BackupJobCompleted));
        assert_eq!(c.notify[2].filter, NotifyFilter::Level(Severity::Error));
    }

    #[test]
    fn bad_notify_sinks_are_refused_clearly() {
        let e = parse(
            r#"
[[notify]]
name = "m"
kind = "email"
smtp_host = "h"
password = "hunter2"
from = "nobody"
to = []
url = "http://x"
"#,
        )
        .unwrap_err();
        let all = e.join("\n");
        assert!(all.contains("inline password is not allowed"), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
        assert!(all.contains("`nobody` is not a mail address"), "{all}");
        assert!(all.contains("to is empty"), "{all}");
        assert!(
            all.contains("`url` does not apply to kind = \"email\""),
            "{all}"
        );
        let e = parse("[[notify]]\nname = \"w\"\nkind = \"webhook\"\nevents = [\"NOPE\"]\nurl = \"ftp://x\"\n")
            .unwrap_err()
            .join("\n");
        assert!(e.contains("unknown event `NOPE`"), "{e}");
        assert!(e.contains("http:// or https://"), "{e}");
        let e = parse("[[notify]]\nname = \"w\"\nkind = \"pager\"\n")
            .unwrap_err()
            .join("\n");
        assert!(e.contains("unknown variant `pager`"), "{e}");
    }
}
