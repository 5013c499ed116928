//! Notifications: the `[[notify]]` sinks, fed from the catalog's events by
//! whoever runs: the daemon (one thread per sink, [`Dispatcher`]) and the
//! commands that run jobs without it (`coffer plan run`, `coffer backup`
//! with a configuration, [`deliver_pending`] after their jobs).
//!
//! Every deliverer works the same way, through the catalog
//! (`catalog/notify_claims.rs`): it reads the events its sink has not
//! settled, in id order after the sink's cursor (`notify/NAME/cursor`),
//! claims each one its filter selects (one SQLite transaction: an event
//! another process is sending, or has settled, is passed over), sends it,
//! and settles it; the cursor moves over settled events only. So:
//!
//! - a daemon and a `coffer plan run` running at the same time never send
//!   one event twice, and an event is sent once whichever of them runs
//!   first (a CronJob with no daemon at all still notifies);
//! - a restart neither loses events (cursor and claims are persistent) nor
//!   repeats more than the one event in flight when a process was killed
//!   (its claim's lease, [`delivery_lease`], runs out and another process
//!   sends it);
//! - a sink seen for the first time starts at the first event of the last
//!   [`NEW_SINK_HISTORY`] (so events recorded before the first daemon
//!   started are sent once, but not years of history);
//! - a failed attempt is retried `retries` times with a doubling backoff
//!   (bounded by [`MAX_NOTIFY_BACKOFF`]), then given up on and logged; the
//!   sink then goes on with the next event;
//! - a sink that fails or hangs never fails a job (jobs only write events)
//!   nor delays another sink (each has its own thread); a command's
//!   delivery is bounded by its budget, and what it leaves is sent by the
//!   next run or the daemon.
//!
//! Secrets (an SMTP password, a webhook URL read from `url_env`/`url_file`)
//! are read when sending and never logged: error messages name the sink,
//! the host or the variable, never the value.

mod sns;

use crate::catalog::{Catalog, CatalogError, Claim};
use crate::config::{
    EmailConfig, NotifyConfig, NotifyTarget, WebhookFormat, WebhookUrl, MAX_NOTIFY_BACKOFF,
};
use crate::events::Event;
use crate::model::{ErrorKind, ServerError, ServerResult};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a daemon's sink looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How far back a sink seen for the first time starts: the events of the
/// last day, not the whole history.
pub const NEW_SINK_HISTORY: Duration = Duration::from_secs(24 * 3600);

/// The most time a command (`plan run`, `backup`) spends delivering after
/// its jobs; an attempt under way then finishes (bounded by its timeout),
/// and what is left stays for the next run or the daemon.
pub const COMMAND_NOTIFY_BUDGET: Duration = Duration::from_secs(120);

/// Events read per catalog query.
const BATCH: usize = 100;

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
    crate::catalog::notify_cursor_key(sink)
}

/// Who delivers, as claims record it: this host and process.
fn owner() -> String {
    format!("{} pid {}", coffer_core::hostname(), std::process::id())
}

/// The longest one event's delivery to `sink` can take: every attempt's
/// timeout and every backoff, plus a minute. A claim older than this has
/// lost its owner (killed, or hung), and the event may be sent by another.
pub fn delivery_lease(sink: &NotifyConfig) -> Duration {
    let mut t = sink.timeout.saturating_mul(sink.retries.saturating_add(1));
    let mut wait = sink.backoff;
    for _ in 0..sink.retries.min(64) {
        t = t.saturating_add(wait);
        wait = wait.saturating_mul(2).min(MAX_NOTIFY_BACKOFF);
    }
    t.saturating_add(Duration::from_secs(60))
}

/// The running sinks.
pub struct Dispatcher {
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts one thread per sink of `sinks`. A sink without a cursor gets
    /// one at the start of the last [`NEW_SINK_HISTORY`]. Returns once every
    /// cursor is set; threads run until `stop` is set.
    pub fn start(
        sinks: &[NotifyConfig],
        catalog: Arc<Catalog>,
        stop: Arc<AtomicBool>,
        stats: Arc<NotifyStats>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Dispatcher, CatalogError> {
        let mut handles = Vec::new();
        for sink in sinks {
            catalog.notify_cursor(&sink.name, NEW_SINK_HISTORY)?;
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

/// What [`deliver_pending`] did for one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingDelivery {
    /// Its counters.
    pub counts: SinkCounts,
    /// False if the budget ran out (or the catalog failed) before every
    /// event was settled: the rest is sent by the next run or the daemon.
    pub finished: bool,
}

/// Delivers, once and now, every event the sinks of `sinks` have not been
/// sent yet (their own from the job just run, and any left before), as a
/// daemon would: the same filters, retries and claims, one thread per sink,
/// for at most `budget`. For the commands that run jobs without a daemon.
/// Returns each sink's result by name.
pub fn deliver_pending(
    sinks: &[NotifyConfig],
    catalog: &Arc<Catalog>,
    budget: Duration,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) -> BTreeMap<String, PendingDelivery> {
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(NotifyStats::default());
    let mut handles = Vec::new();
    for sink in sinks {
        let (sink, catalog, stop, stats, log) = (
            sink.clone(),
            catalog.clone(),
            stop.clone(),
            stats.clone(),
            log.clone(),
        );
        let name = sink.name.clone();
        let h = std::thread::Builder::new()
            .name(format!("coffer-notify-{}", sink.name))
            .spawn(move || {
                let r = catalog
                    .notify_cursor(&sink.name, NEW_SINK_HISTORY)
                    .and_then(|_| pass(&sink, &catalog, &stop, &stats, &*log));
                match r {
                    Ok(Pass::Done) => true,
                    Ok(Pass::Stopped) => false,
                    Err(e) => {
                        log(&format!("notify `{}`: cannot read events: {e}", sink.name));
                        false
                    }
                }
            })
            .expect("spawn a notification thread");
        handles.push((name, h));
    }
    let end = Instant::now() + budget;
    while handles.iter().any(|(_, h)| !h.is_finished()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let finished: Vec<(String, bool)> = handles
        .into_iter()
        .map(|(name, h)| (name, h.join().unwrap_or(false)))
        .collect();
    let counts = stats.snapshot();
    finished
        .into_iter()
        .map(|(name, finished)| {
            let counts = counts.get(&name).copied().unwrap_or_default();
            (name, PendingDelivery { counts, finished })
        })
        .collect()
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
    let mut told_catalog_error = false;
    while !stop.load(Ordering::SeqCst) {
        match pass(sink, catalog, stop, stats, log) {
            Ok(Pass::Done) => told_catalog_error = false,
            Ok(Pass::Stopped) => return,
            Err(e) => {
                if !told_catalog_error {
                    log(&format!("notify `{}`: cannot read events: {e}", sink.name));
                    told_catalog_error = true;
                }
            }
        }
        if !sleep_unless_stopped(POLL_INTERVAL, stop) {
            return;
        }
    }
}

/// How a [`pass`] ended.
enum Pass {
    /// Every unsettled event was looked at (some may be another process's
    /// to send).
    Done,
    /// `stop` was set first.
    Stopped,
}

/// One pass of `sink` over its unsettled events, in id order: each one its
/// filter selects is claimed, sent and settled; the others are settled
/// unsent, and the cursor moves.
fn pass(
    sink: &NotifyConfig,
    catalog: &Catalog,
    stop: &AtomicBool,
    stats: &NotifyStats,
    log: &dyn Fn(&str),
) -> Result<Pass, CatalogError> {
    let me = owner();
    let lease = delivery_lease(sink);
    let settle = |ids: &[i64]| {
        if let Err(e) = catalog.settle_notifications(&sink.name, ids, &me) {
            log(&format!(
                "notify `{}`: cannot record its cursor (events {ids:?}): {e}",
                sink.name
            ));
        }
    };
    let mut after = 0;
    loop {
        let events = catalog.unsettled_events(&sink.name, after, BATCH)?;
        let mut passed_over = Vec::new();
        for ev in &events {
            if stop.load(Ordering::SeqCst) {
                settle(&passed_over);
                return Ok(Pass::Stopped);
            }
            if !sink.filter.matches(ev.name) {
                passed_over.push(ev.id);
                continue;
            }
            match catalog.claim_notification(&sink.name, ev.id, &me, lease)? {
                Claim::Claimed => {}
                // Another process sends it, or has.
                Claim::Taken { .. } | Claim::Settled => continue,
            }
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
                // Not delivered: the claim goes, the event is sent by the
                // next process (or after a restart).
                Delivery::Stopped => {
                    if let Err(e) = catalog.release_notification(&sink.name, ev.id, &me) {
                        log(&format!(
                            "notify `{}`: cannot release event {}; it is sent after {}: {e}",
                            sink.name,
                            ev.id,
                            humantime::format_duration(lease)
                        ));
                    }
                    settle(&passed_over);
                    return Ok(Pass::Stopped);
                }
            }
            settle(&[ev.id]);
        }
        settle(&passed_over);
        match events.last() {
            Some(last) if events.len() == BATCH => after = last.id,
            _ => return Ok(Pass::Done),
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
mod tests;
