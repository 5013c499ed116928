//! `[[notify]]`: notification sinks (webhooks, email through SMTP,
//! commands, AWS SNS topics), which events each receives, and how failed sends are
//! retried. Secrets (a Slack URL, an SMTP password) come from a file or
//! the environment, never inline.

use super::secret::SecretRef;
use super::validate::{Validator, S};
use crate::events::{EventName, Severity};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Retries of a failed notification after the first attempt.
pub const DEFAULT_NOTIFY_RETRIES: u32 = 5;
/// The wait before the first retry (doubled before each next one).
pub const DEFAULT_NOTIFY_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait between two retries.
pub const MAX_NOTIFY_BACKOFF: Duration = Duration::from_secs(300);
/// The time limit of a notification command or request.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// An AWS SNS topic (`Publish`), with credentials from the standard
    /// AWS chain.
    Sns(SnsConfig),
}

/// An SNS sink's topic and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsConfig {
    /// `arn:aws:sns:REGION:ACCOUNT:NAME`.
    pub topic_arn: String,
    /// The region requests are signed for (the topic's unless given).
    pub region: String,
    /// The endpoint URL (`https://sns.REGION.amazonaws.com` when `None`).
    pub endpoint: Option<String>,
}

/// Whether `s` is an SNS topic ARN, `arn:PARTITION:sns:REGION:ACCOUNT:NAME`,
/// and its region.
pub(crate) fn topic_region(s: &str) -> Option<&str> {
    let p: Vec<&str> = s.split(':').collect();
    let [arn, partition, sns, region, account, name] = p.as_slice() else {
        return None;
    };
    let name_ok = {
        let n = name.strip_suffix(".fifo").unwrap_or(name);
        !n.is_empty()
            && n.len() <= 256
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (*arn == "arn"
        && partition.starts_with("aws")
        && *sns == "sns"
        && region_ok(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && name_ok)
        .then_some(*region)
}

/// `us-east-1`, `eu-central-2`, `cn-north-1`: lower-case letters, digits
/// and dashes.
fn region_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum NotifyKind {
    Webhook,
    Email,
    Command,
    Sns,
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
    // sns
    topic_arn: Option<S<String>>,
    region: Option<S<String>>,
    endpoint: Option<S<String>>,
}

/// A kind-specific field: its name, where it is written (if it is), and
/// the kinds it applies to.
type FieldUse = (
    &'static str,
    Option<std::ops::Range<usize>>,
    &'static [&'static str],
);

impl Validator<'_> {
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
        let fields: [FieldUse; 17] = [
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
            (
                "topic_arn",
                n.topic_arn.as_ref().map(|v| v.span()),
                &["sns"],
            ),
            ("region", n.region.as_ref().map(|v| v.span()), &["sns"]),
            ("endpoint", n.endpoint.as_ref().map(|v| v.span()), &["sns"]),
        ];
        let kind_name = match kind {
            NotifyKind::Webhook => "webhook",
            NotifyKind::Email => "email",
            NotifyKind::Command => "command",
            NotifyKind::Sns => "sns",
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
                let owner = format!("notify `{name}`");
                if let Some(u) = &n.url_env {
                    self.env_set(&owner, "url_env", u);
                    urls.push((
                        u.span(),
                        WebhookUrl::Secret(SecretRef::Env(u.get_ref().clone())),
                    ));
                }
                if let Some(u) = &n.url_file {
                    let p = self.path(u.get_ref());
                    self.readable_file(&owner, "url_file", u, &p);
                    urls.push((u.span(), WebhookUrl::Secret(SecretRef::File(p))));
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
                    (Some(e), None) => {
                        self.env_set(&format!("notify `{name}`"), "password_env", e);
                        Some(SecretRef::Env(e.get_ref().clone()))
                    }
                    (None, Some(f)) => {
                        let p = self.path(f.get_ref());
                        self.readable_file(&format!("notify `{name}`"), "password_file", f, &p);
                        Some(SecretRef::File(p))
                    }
                    (None, None) => None,
                };
                if let Some(f) = &n.tls_ca_file {
                    let p = self.path(f.get_ref());
                    self.readable_file(&format!("notify `{name}`"), "tls_ca_file", f, &p);
                }
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
            NotifyKind::Sns => NotifyTarget::Sns(self.sns(&name, n)?),
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

    /// An SNS sink: a topic ARN, its region unless `region` says another,
    /// an http(s) endpoint when given.
    fn sns(&mut self, name: &str, n: &RawNotify) -> Option<SnsConfig> {
        let Some(t) = &n.topic_arn else {
            self.at(
                &n.kind,
                format!("notify `{name}` of kind sns needs topic_arn = \"arn:aws:sns:REGION:ACCOUNT:TOPIC\""),
            );
            return None;
        };
        let Some(topic_region) = topic_region(t.get_ref()) else {
            self.at(
                t,
                format!(
                    "notify `{name}`: `{}` is not an SNS topic ARN: write arn:aws:sns:REGION:ACCOUNT:TOPIC (ACCOUNT: 12 digits)",
                    t.get_ref()
                ),
            );
            return None;
        };
        let region = match &n.region {
            Some(r) if !region_ok(r.get_ref()) => {
                self.at(
                    r,
                    format!(
                        "notify `{name}`: region `{}` is not an AWS region (us-east-1)",
                        r.get_ref()
                    ),
                );
                return None;
            }
            Some(r) => r.get_ref().clone(),
            None => topic_region.to_string(),
        };
        if let Some(e) = &n.endpoint {
            let v = e.get_ref();
            let ok = (v.starts_with("http://") || v.starts_with("https://"))
                && url::Url::parse(v)
                    .is_ok_and(|u| u.host_str().is_some() && u.password().is_none());
            if !ok {
                self.at(
                    e,
                    format!("notify `{name}`: endpoint must be an http:// or https:// URL (https://sns.{region}.amazonaws.com)"),
                );
                return None;
            }
        }
        Some(SnsConfig {
            topic_arn: t.get_ref().clone(),
            region,
            endpoint: n.endpoint.as_ref().map(|e| e.get_ref().clone()),
        })
    }
}

#[cfg(test)]
mod sns_tests {
    use super::topic_region;

    #[test]
    fn topic_arns() {
        assert_eq!(
            topic_region("arn:aws:sns:eu-west-1:123456789012:coffer-alerts"),
            Some("eu-west-1")
        );
        assert_eq!(
            topic_region("arn:aws-cn:sns:cn-north-1:123456789012:a.fifo"),
            Some("cn-north-1")
        );
        for bad in [
            "",
            "coffer-alerts",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:sns:eu-west-1:1234:t",
            "arn:aws:sns:EU:123456789012:t",
            "arn:aws:sns:eu-west-1:123456789012:",
            "arn:aws:sns:eu-west-1:123456789012:a b",
            "arn:aws:sns:eu-west-1:123456789012:t:extra",
        ] {
            assert_eq!(topic_region(bad), None, "{bad}");
        }
    }
}
