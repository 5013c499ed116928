//! Pre-flight checks of a configuration (`coffer config check --connect`):
//! everything a first run would touch, tried for real and changing
//! nothing. Every vault is opened with its configured key (through
//! [`runner::open_vault`], the daemon's one way) and its snapshots are
//! listed, and its stored lock (the one every job meets) is read and every
//! rule writing there is checked against it; every database source is connected to with its password and its
//! client tool is found and compared with the server's version, as a
//! backup would; a files source's paths are read; an email sink's SMTP
//! server gets EHLO, STARTTLS and AUTH as configured, then NOOP and QUIT
//! (no mail); a webhook's host gets a TCP connection and, for `https`, a
//! verified TLS handshake (no request: a webhook receiver may act on any
//! request, even a HEAD). Command sources and sinks are not run.
//!
//! The checks run in parallel, each within one time limit, so one dead
//! host does not hold up the others; one that has not answered by then is
//! reported as failed and left behind (its connection attempt ends with
//! its own connect timeout, or with the process).

mod pg_files;
mod sink;
mod source;

use crate::config::{lock_problem, Config, NotifyTarget, SourceKind};
use crate::runner;
use serde::Serialize;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The time limit of each check when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A `[[vault]]`.
    Vault,
    /// A `[[source]]`.
    Source,
    /// A `[[notify]]` sink.
    Notify,
}

impl Subject {
    /// Its name in the file (`vault`, `source`, `notify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Vault => "vault",
            Subject::Source => "source",
            Subject::Notify => "notify",
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What kind of entry was checked.
    pub subject: Subject,
    /// The entry's name in the file.
    pub name: String,
    /// Where it is (a vault's URL, a source's URL without its password, a
    /// sink's host and port: never a secret).
    pub target: String,
    /// Whether it worked.
    pub ok: bool,
    /// What was found (`opened, 3 snapshots`), or why it failed, naming the
    /// setting to fix.
    pub detail: String,
    /// How long it took.
    pub seconds: f64,
}

type Run = Box<dyn FnOnce() -> Result<String, String> + Send>;

/// A check to run.
struct Probe {
    subject: Subject,
    name: String,
    target: String,
    run: Run,
}

/// Checks every vault, source (but commands) and sink (but commands) of
/// `config`, in parallel, each within `timeout`; in file order.
pub fn connect(config: &Config, timeout: Duration) -> Vec<Check> {
    run_all(probes(config, timeout), timeout)
}

fn probes(config: &Config, timeout: Duration) -> Vec<Probe> {
    let shared = Arc::new(config.clone());
    let mut out = Vec::new();
    for v in &config.vaults {
        let (config, name) = (shared.clone(), v.name.clone());
        out.push(Probe {
            subject: Subject::Vault,
            name: v.name.clone(),
            target: v.url.clone(),
            run: Box::new(move || vault(&config, &name)),
        });
    }
    for s in config
        .sources
        .iter()
        .filter(|s| s.kind != SourceKind::Command)
    {
        let s2 = s.clone();
        out.push(Probe {
            subject: Subject::Source,
            name: s.name.clone(),
            target: s.to_spec().describe(),
            run: Box::new(move || source::check(&s2)),
        });
    }
    // A sink's own time limit ends a little before the check's, so that
    // its error (which says what it was waiting for) is the one reported.
    let own = timeout.mul_f64(0.8);
    for n in &config.notify {
        let limit = own.min(n.timeout);
        let (target, run): (String, Run) = match &n.target {
            NotifyTarget::Email(e) => {
                let e2 = e.clone();
                (
                    format!("smtp://{}:{}", e.smtp_host, e.smtp_port),
                    Box::new(move || sink::email(&e2, limit)),
                )
            }
            NotifyTarget::Webhook { url, .. } => {
                let u2 = url.clone();
                (
                    sink::webhook_target(url),
                    Box::new(move || sink::webhook(&u2, limit)),
                )
            }
            // Nothing to reach without publishing a message.
            NotifyTarget::Command { .. } | NotifyTarget::Sns(_) => continue,
        };
        out.push(Probe {
            subject: Subject::Notify,
            name: n.name.clone(),
            target,
            run,
        });
    }
    out
}

/// Opens the vault as the daemon does and lists its snapshots.
fn vault(config: &Config, name: &str) -> Result<String, String> {
    // The errors start with "vault `NAME`: ", which the check's line says.
    let strip = |m: String| {
        m.strip_prefix(&format!("vault `{name}`: "))
            .map(str::to_string)
            .unwrap_or(m)
    };
    let v = runner::open_vault(config, name).map_err(|e| strip(e.message))?;
    let n = v
        .snapshots(&coffer_core::SnapshotFilter::default())
        .map_err(|e| format!("opened, but its snapshots cannot be listed: {e}"))?
        .len();
    let opened = format!("opened, {}", coffer_core::human_count(n as u64, "snapshot"));
    let state = v
        .lock_state()
        .map_err(|e| format!("{opened}, but its lock cannot be read: {e}"))?;
    match state.lock {
        Some(lock) => {
            let problems = lock_fit(config, name, &lock.policy);
            if problems.is_empty() {
                Ok(format!("{opened}, {}", lock.describe()))
            } else {
                Err(format!(
                    "{opened}, but the {} stored in the vault (it binds every job, whatever [vault.lock] says) refuses: {}",
                    lock.describe(),
                    problems.join("; ")
                ))
            }
        }
        None => Ok(opened),
    }
}

/// What the rules of `config` writing into vault `name` break of `lock`
/// (the lock read from the vault), one message each, worded as
/// `config check` words them against the file's lock.
fn lock_fit(config: &Config, name: &str, lock: &coffer_core::LockPolicy) -> Vec<String> {
    config
        .rules()
        .flat_map(|r| {
            let id = r.id();
            r.retentions()
                .into_iter()
                .filter(|(vault, _, _)| *vault == name)
                .filter_map(|(vault, retention, what)| {
                    lock_problem(&id, &what, vault, lock, retention)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs every probe on its own thread; collects what answers within
/// `timeout` of the start.
fn run_all(probes: Vec<Probe>, timeout: Duration) -> Vec<Check> {
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut checks = Vec::with_capacity(probes.len());
    let mut waiting = 0;
    for (i, p) in probes.into_iter().enumerate() {
        checks.push(Check {
            subject: p.subject,
            name: p.name.clone(),
            target: p.target,
            ok: false,
            detail: format!(
                "no answer within {} (a host that drops packets, or a slow server; give more time with --timeout)",
                humantime::format_duration(timeout)
            ),
            seconds: timeout.as_secs_f64(),
        });
        let tx = tx.clone();
        let run = p.run;
        let spawned = std::thread::Builder::new()
            .name(format!("check {}", p.name))
            .spawn(move || {
                let t = Instant::now();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(
                    |_| Err("the check failed unexpectedly (a bug: see the log)".into()),
                );
                let _ = tx.send((i, r, t.elapsed()));
            });
        match spawned {
            Ok(_) => waiting += 1,
            Err(e) => checks[i].detail = format!("cannot start the check: {e}"),
        }
    }
    drop(tx);
    while waiting > 0 {
        let Some(left) = timeout.checked_sub(start.elapsed()) else {
            break;
        };
        let Ok((i, r, took)) = rx.recv_timeout(left) else {
            break;
        };
        waiting -= 1;
        let c = &mut checks[i];
        c.seconds = took.as_secs_f64();
        // One line each: a tool's message may span several.
        let one_line = |d: String| d.split_whitespace().collect::<Vec<_>>().join(" ");
        match r {
            Ok(d) => {
                c.ok = true;
                c.detail = one_line(d);
            }
            Err(d) => c.detail = one_line(d),
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &str, run: Run) -> Probe {
        Probe {
            subject: Subject::Source,
            name: name.into(),
            target: "t".into(),
            run,
        }
    }

    #[test]
    fn checks_run_in_parallel_and_a_slow_one_times_out() {
        let t = Instant::now();
        let checks = run_all(
            vec![
                probe(
                    "slow",
                    Box::new(|| {
                        std::thread::sleep(Duration::from_secs(30));
                        Ok("late".into())
                    }),
                ),
                probe("ok", Box::new(|| Ok("fine".into()))),
                probe("bad", Box::new(|| Err("refused".into()))),
                probe("panics", Box::new(|| panic!("boom"))),
            ],
            Duration::from_millis(500),
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        let got: Vec<(&str, bool, &str)> = checks
            .iter()
            .map(|c| (c.name.as_str(), c.ok, c.detail.as_str()))
            .collect();
        assert!(got[0].2.starts_with("no answer within 500ms"), "{got:?}");
        assert_eq!(got[1], ("ok", true, "fine"));
        assert_eq!(got[2], ("bad", false, "refused"));
        assert!(!got[3].1 && got[3].2.contains("unexpectedly"), "{got:?}");
    }
}
