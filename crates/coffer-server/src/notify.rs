//! Notifications: the `[[notify]]` sinks of `coffer serve`.
//!
//! One thread per sink reads the catalog's events in id order after its
//! cursor (kept in the catalog's key-value table as `notify/NAME/cursor`),
//! sends those its filter selects, and moves the cursor past each event once
//! it is delivered or given up on. So:
//!
//! - a restart neither loses events (the cursor is persistent) nor repeats
//!   more than the one event in flight when the daemon stopped;
//! - a sink seen for the first time starts at the newest event, not at the
//!   whole history;
//! - a failed attempt is retried `retries` times with a doubling backoff
//!   (bounded by [`MAX_NOTIFY_BACKOFF`]), then given up on and logged; the
//!   sink then goes on with the next event;
//! - a sink that fails or hangs never fails a job (jobs only write events)
//!   nor delays another sink (each has its own thread).
//!
//! Secrets (an SMTP password, a webhook URL read from `url_env`/`url_file`)
//! are read when sending and never logged: error messages name the sink,
//! the host or the variable, never the value.

mod sns;

use crate::catalog::Catalog;
use crate::config::{
    EmailConfig, NotifyConfig, NotifyTarget, WebhookFormat, WebhookUrl, MAX_NOTIFY_BACKOFF,
};
use crate::events::{Event, EventFilter};
use crate::model::{ErrorKind, ServerError, ServerResult};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a sink looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One sink's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Events delivered.
    pub sent: u64,
    /// Events given up on.
    pub failed: u64,
    /// Retried attempts.
    pub retries: u64,
}

/// Every sink's counters (for metrics).
#[derive(Debug, Default)]
pub struct NotifyStats {
    sinks: Mutex<BTreeMap<String, SinkCounts>>,
}

impl NotifyStats {
    /// The counters of every sink that has counted something.
    pub fn snapshot(&self) -> BTreeMap<String, SinkCounts> {
        self.sinks.lock().expect("notify stats lock").clone()
    }

    fn add(&self, sink: &str, f: impl FnOnce(&mut SinkCounts)) {
        f(self
            .sinks
            .lock()
            .expect("notify stats lock")
            .entry(sink.to_string())
            .or_default());
    }
}

/// The catalog key of a sink's cursor.
pub fn cursor_key(sink: &str) -> String {
    format!("notify/{sink}/cursor")
}

/// The running sinks.
pub struct Dispatcher {
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts one thread per sink of `sinks`. A sink without a cursor gets
    /// one at the newest event now (so that it is not sent the history).
    /// Returns once every cursor is set; threads run until `stop` is set.
    pub fn start(
        sinks: &[NotifyConfig],
        catalog: Arc<Catalog>,
        stop: Arc<AtomicBool>,
        stats: Arc<NotifyStats>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Dispatcher, crate::catalog::CatalogError> {
        let mut handles = Vec::new();
        for sink in sinks {
            let key = cursor_key(&sink.name);
            if catalog.kv_get(&key)?.is_none() {
                let newest = catalog
                    .events(&EventFilter {
                        limit: Some(1),
                        ..EventFilter::default()
                    })?
                    .last()
                    .map_or(0, |e| e.id);
                catalog.kv_set(&key, &newest.to_string())?;
            }
            let (sink, catalog, stop, stats, log) = (
                sink.clone(),
                catalog.clone(),
                stop.clone(),
                stats.clone(),
                log.clone(),
            );
            handles.push(
                std::thread::Builder::new()
                    .name(format!("coffer-notify-{}", sink.name))
                    .spawn(move || run_sink(&sink, &catalog, &stop, &stats, &*log))
                    .expect("spawn a notification thread"),
            );
        }
        Ok(Dispatcher { handles })
    }

    /// Waits for every sink thread (after `stop` was set; a sink in the
    /// middle of an attempt finishes it, bounded by its timeout).
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Sleeps `d`, waking early (returning false) when `stop` is set.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn run_sink(
    sink: &NotifyConfig,
    catalog: &Catalog,
    stop: &AtomicBool,
    stats: &NotifyStats,
    log: &dyn Fn(&str),
) {
    let key = cursor_key(&sink.name);
    let mut told_catalog_error = false;
    while !stop.load(Ordering::SeqCst) {
        let batch = catalog
            .kv_get(&key)
            .map(|c| c.and_then(|c| c.parse::<i64>().ok()).unwrap_or(0))
            .and_then(|cursor| {
                catalog.events(&EventFilter {
                    after_id: Some(cursor),
                    limit: Some(100),
                    ..EventFilter::default()
                })
            });
        let events = match batch {
            Ok(e) => {
                told_catalog_error = false;
                e
            }
            Err(e) => {
                if !told_catalog_error {
                    log(&format!("notify `{}`: cannot read events: {e}", sink.name));
                    told_catalog_error = true;
                }
                Vec::new()
            }
        };
        for ev in &events {
            if sink.filter.matches(ev.name) {
                match deliver(sink, ev, stop, stats, log) {
                    Delivery::Sent => stats.add(&sink.name, |c| c.sent += 1),
                    Delivery::GaveUp(why) => {
                        stats.add(&sink.name, |c| c.failed += 1);
                        log(&format!(
                            "notify `{}`: gave up on event {} ({}) after {} attempt(s): {why}",
                            sink.name,
                            ev.id,
                            ev.name,
                            sink.retries + 1
                        ));
                    }
                    // Not delivered: the cursor stays, the event is sent
                    // after a restart.
                    Delivery::Stopped => return,
                }
            }
            if let Err(e) = catalog.kv_set(&key, &ev.id.to_string()) {
                log(&format!(
                    "notify `{}`: cannot record its cursor (event {}): {e}",
                    sink.name, ev.id
                ));
            }
        }
        if events.len() < 100 && !sleep_unless_stopped(POLL_INTERVAL, stop) {
            return;
        }
    }
}

enum Delivery {
    Sent,
    GaveUp(String),
    Stopped,
}

fn deliver(
    sink: &NotifyConfig,
    ev: &Event,
    stop: &AtomicBool,
    stats: &NotifyStats,
    log: &dyn Fn(&str),
) -> Delivery {
    let mut wait = sink.backoff;
    let mut attempt = 0;
    loop {
        match send(sink, ev) {
            Ok(()) => return Delivery::Sent,
            Err(e) if attempt >= sink.retries => return Delivery::GaveUp(e.message),
            Err(e) => {
                attempt += 1;
                stats.add(&sink.name, |c| c.retries += 1);
                log(&format!(
                    "notify `{}`: sending event {} ({}) failed: {e}; retry {attempt}/{} in {}",
                    sink.name,
                    ev.id,
                    ev.name,
                    sink.retries,
                    humantime::format_duration(wait)
                ));
                if !sleep_unless_stopped(wait, stop) {
                    return Delivery::Stopped;
                }
                wait = (wait * 2).min(MAX_NOTIFY_BACKOFF);
            }
        }
    }
}

/// A sink that failed or could not be reached (kind `unavailable`).
fn sink_err(message: String) -> ServerError {
    ServerError::new(ErrorKind::Unavailable, message)
}

/// Sends one event to one sink, once.
pub fn send(sink: &NotifyConfig, ev: &Event) -> ServerResult<()> {
    match &sink.target {
        NotifyTarget::Webhook { url, format } => webhook(url, *format, ev, sink.timeout),
        NotifyTarget::Email(e) => email(e, ev, sink.timeout),
        NotifyTarget::Command { command } => run_command(command, ev, sink.timeout),
        NotifyTarget::Sns(s) => {
            let msg = sns::message(ev, &summary(ev), event_json(ev).to_string());
            sns::publish(s, &msg, sink.timeout).map_err(sink_err)
        }
    }
}

/// One line for a person: `BACKUP_JOB_FAILED (error): source db, vault
/// main, job 12: message`.
pub fn summary(ev: &Event) -> String {
    let mut about = Vec::new();
    if let Some(s) = &ev.source {
        about.push(format!("source {s}"));
    }
    if let Some(v) = &ev.vault {
        about.push(format!("vault {v}"));
    }
    if let (Some(p), Some(r)) = (&ev.plan, &ev.rule) {
        about.push(format!("rule {p}/{r}"));
    }
    if let Some(j) = ev.job_id {
        about.push(format!("job {}", j.0));
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" [{}]", about.join(", "))
    };
    format!("{} ({}){about}: {}", ev.name, ev.severity, ev.message)
}

fn event_json(ev: &Event) -> serde_json::Value {
    serde_json::to_value(ev).expect("events serialize")
}

fn webhook(
    url: &WebhookUrl,
    format: WebhookFormat,
    ev: &Event,
    timeout: Duration,
) -> ServerResult<()> {
    let url = webhook_url(url)?;
    let body = match format {
        WebhookFormat::Json => event_json(ev),
        WebhookFormat::Slack => {
            let icon = match ev.severity {
                crate::events::Severity::Error => ":red_circle:",
                crate::events::Severity::Warning => ":warning:",
                crate::events::Severity::Info => ":information_source:",
            };
            serde_json::json!({ "text": format!("{icon} coffer: {}", summary(ev)) })
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| sink_err(format!("cannot start an HTTP client: {e}")))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| sink_err(format!("cannot build an HTTP client: {}", e.without_url())))?;
        let host = webhook_host(&url);
        let resp = client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| sink_err(format!("POST to {host}: {}", e.without_url())))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(sink_err(format!("POST to {host}: HTTP {}", resp.status())))
        }
    })
}

/// A webhook's URL, read from its secret if it has one.
pub(crate) fn webhook_url(url: &WebhookUrl) -> ServerResult<String> {
    match url {
        WebhookUrl::Inline(u) => Ok(u.clone()),
        WebhookUrl::Secret(s) => s.read(),
    }
}

/// `host:port` of a webhook URL, for messages: the URL may be a secret
/// (Slack's are), so errors name only its host.
pub(crate) fn webhook_host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_else(|| "the webhook".into())
}

fn email(e: &EmailConfig, ev: &Event, timeout: Duration) -> ServerResult<()> {
    use lettre::{Message, Transport};
    let mut msg = Message::builder()
        .from(
            e.from
                .parse()
                .map_err(|x| sink_err(format!("from `{}`: {x}", e.from)))?,
        )
        .subject(format!(
            "[coffer] {} {}{}",
            ev.severity.as_str().to_uppercase(),
            ev.name,
            ev.source
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        ));
    for to in &e.to {
        msg = msg.to(to
            .parse()
            .map_err(|x| sink_err(format!("to `{to}`: {x}")))?);
    }
    let body = format!(
        "{}\n\nat: {}\n\n{}\n",
        summary(ev),
        crate::catalog::format_time(ev.at),
        serde_json::to_string_pretty(&event_json(ev)).expect("json")
    );
    let msg = msg
        .body(body)
        .map_err(|x| sink_err(format!("cannot build the mail: {x}")))?;
    let server = format!("{}:{}", e.smtp_host, e.smtp_port);
    smtp_transport(e, timeout)?
        .send(&msg)
        .map(|_| ())
        .map_err(|x| sink_err(format!("sending mail through {server}: {x}")))
}

/// The SMTP connection of an email sink as configured (STARTTLS, its CA
/// file, AUTH): the one place for sending and for `config check
/// --connect`.
pub(crate) fn smtp_transport(
    e: &EmailConfig,
    timeout: Duration,
) -> ServerResult<lettre::SmtpTransport> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::SmtpTransport;
    let server = format!("{}:{}", e.smtp_host, e.smtp_port);
    let mut b = SmtpTransport::builder_dangerous(&e.smtp_host)
        .port(e.smtp_port)
        .timeout(Some(timeout));
    if e.starttls {
        let mut p = TlsParameters::builder(e.smtp_host.clone());
        if let Some(ca) = &e.tls_ca_file {
            let pem = std::fs::read(ca)
                .map_err(|x| sink_err(format!("cannot read tls_ca_file {}: {x}", ca.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|x| sink_err(format!("tls_ca_file {}: {x}", ca.display())))?;
            p = p.add_root_certificate(cert);
        }
        let p = p
            .build_rustls()
            .map_err(|x| sink_err(format!("TLS settings for {server}: {x}")))?;
        b = b.tls(Tls::Required(p));
    }
    if let Some(user) = &e.username {
        let pw = match &e.password {
            Some(p) => p.read()?,
            None => String::new(),
        };
        b = b.credentials(Credentials::new(user.clone(), pw));
    }
    Ok(b.build())
}

fn run_command(command: &str, ev: &Event, timeout: Duration) -> ServerResult<()> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("COFFER_EVENT_NAME", ev.name.as_str())
        .env("COFFER_EVENT_SEVERITY", ev.severity.as_str())
        .env("COFFER_EVENT_ID", ev.id.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| sink_err(format!("cannot run `sh -c {command}`: {e}")))?;
    let json = serde_json::to_vec(&event_json(ev)).expect("json");
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        let _ = stdin.write_all(&json).and_then(|_| stdin.write_all(b"\n"));
    }
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            use std::io::Read;
            let _ = e.take(4096).read_to_string(&mut s);
        }
        s
    });
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(sink_err(format!(
                    "command did not finish within {}",
                    humantime::format_duration(timeout)
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(sink_err(format!("waiting for the command: {e}"))),
        }
    };
    let err = reader.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        let err = err.trim();
        Err(sink_err(if err.is_empty() {
            format!("command exited with {status}")
        } else {
            format!("command exited with {status}: {err}")
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifyFilter;
    use crate::events::{EventName, NewEvent, Severity};

    fn sink(command: &str, retries: u32) -> NotifyConfig {
        NotifyConfig {
            name: "cmd".into(),
            filter: NotifyFilter::Level(Severity::Warning),
            target: NotifyTarget::Command {
                command: command.into(),
            },
            retries,
            backoff: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn command_sink_gets_the_event_and_the_cursor_moves() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
        catalog
            .emit(&NewEvent::new(
                EventName::RpoViolated,
                "before the sink existed",
            ))
            .unwrap();
        let out = dir.path().join("out");
        let s = sink(&format!("cat >> {}", out.display()), 0);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(NotifyStats::default());
        let d = Dispatcher::start(
            std::slice::from_ref(&s),
            catalog.clone(),
            stop.clone(),
            stats.clone(),
            Arc::new(|_| {}),
        )
        .unwrap();
        catalog
            .emit(&NewEvent::new(EventName::SizeAnomaly, "grew tenfold"))
            .unwrap();
        catalog
            .emit(&NewEvent::new(
                EventName::BackupJobCompleted,
                "info: filtered",
            ))
            .unwrap();
        let last = catalog
            .emit(&NewEvent::new(EventName::RpoViolated, "too old"))
            .unwrap();
        let t0 = Instant::now();
        while catalog.kv_get(&cursor_key("cmd")).unwrap() != Some(last.to_string()) {
            assert!(t0.elapsed() < Duration::from_secs(10), "cursor never moved");
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        d.join();
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["name"], "SIZE_ANOMALY");
        assert_eq!(lines[1]["message"], "too old");
        assert_eq!(stats.snapshot()["cmd"].sent, 2);
    }

    #[test]
    fn failing_sink_retries_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Arc::new(Catalog::open(dir.path()).unwrap());
        let ev_id = catalog
            .emit(&NewEvent::new(EventName::RpoViolated, "x"))
            .unwrap();
        let ev = catalog
            .events(&EventFilter::default())
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(ev.id, ev_id);
        let s = sink("echo broken >&2; exit 3", 2);
        let stats = NotifyStats::default();
        let lines = Mutex::new(Vec::new());
        let r = deliver(&s, &ev, &AtomicBool::new(false), &stats, &|l: &str| {
            lines.lock().unwrap().push(l.to_string())
        });
        let Delivery::GaveUp(why) = r else { panic!() };
        assert!(
            why.contains("exit status: 3") && why.contains("broken"),
            "{why}"
        );
        assert_eq!(stats.snapshot()["cmd"].retries, 2);
        assert_eq!(lines.lock().unwrap().len(), 2);
    }

    #[test]
    fn command_timeout() {
        let mut s = sink("sleep 5", 0);
        s.timeout = Duration::from_millis(100);
        let ev = Event {
            id: 1,
            at: jiff::Timestamp::UNIX_EPOCH,
            name: EventName::VerifyFailed,
            severity: Severity::Error,
            job_id: None,
            plan: None,
            rule: None,
            source: None,
            vault: Some("main".into()),
            message: "damage".into(),
            details: None,
        };
        let e = send(&s, &ev).unwrap_err();
        assert!(e.message.contains("did not finish within"), "{e}");
        assert_eq!(summary(&ev), "VERIFY_FAILED (error) [vault main]: damage");
    }
}
