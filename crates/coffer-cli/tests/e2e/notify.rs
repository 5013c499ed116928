//! Issue 6, notifications: the real `coffer serve` sends its events to
//! `[[notify]]` sinks — a webhook (JSON and Slack format) to an HTTP
//! receiver, a mail through an SMTP receiver that requires STARTTLS (with a
//! certificate made by the test) and AUTH, and a command — all on loopback,
//! started by the test. A sink that always fails is retried and given up
//! on without affecting the jobs or the other sinks; the SMTP password
//! never appears in the log; a restart neither loses nor repeats events.
//!
//! Issue 19, notifications from everywhere: `coffer plan run` and `coffer
//! backup` (given a configuration with `[[notify]]`) deliver their events
//! themselves, once, and a daemon running with them or after them sends
//! none of those again; events recorded before a daemon's first start are
//! delivered once.

use crate::common::*;
use base64::Engine;
use coffer_server::catalog::Catalog;
use coffer_server::events::{EventFilter, EventName};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// An HTTP receiver.

struct HttpReceiver {
    port: u16,
    /// (path, body) of every request.
    got: Arc<Mutex<Vec<(String, String)>>>,
}

fn http_receiver(status: u16) -> HttpReceiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g2 = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let g = g2.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                let (head, mut body) = loop {
                    let n = match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&b[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (
                            String::from_utf8_lossy(&buf[..i]).into_owned(),
                            buf[i + 4..].to_vec(),
                        );
                    }
                };
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while body.len() < len {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&b[..n]),
                    }
                }
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                g.lock()
                    .unwrap()
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            });
        }
    });
    HttpReceiver { port, got }
}

// ---------------------------------------------------------------------------
// An SMTP receiver: STARTTLS required, then AUTH PLAIN or LOGIN.

struct SmtpReceiver {
    port: u16,
    ca_pem: String,
    /// Every accepted mail's DATA.
    mails: Arc<Mutex<Vec<String>>>,
    /// Every AUTH attempt: (user, accepted).
    auths: Arc<Mutex<Vec<(String, bool)>>>,
}

fn smtp_receiver(user: &'static str, pass: &'static str) -> SmtpReceiver {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "coffer test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let auths = Arc::new(Mutex::new(Vec::new()));
    let (m2, a2) = (mails.clone(), auths.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let (tls, m, a) = (tls.clone(), m2.clone(), a2.clone());
            std::thread::spawn(move || {
                let _ = smtp_session(s, tls, user, pass, &m, &a);
            });
        }
    });
    SmtpReceiver {
        port,
        ca_pem: ca_cert.pem(),
        mails,
        auths,
    }
}

fn read_line(r: &mut impl Read) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if r.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(b[0]);
        if b[0] == b'\n' {
            return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
        }
    }
}

fn b64(s: &str) -> String {
    String::from_utf8_lossy(
        &base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .unwrap_or_default(),
    )
    .into_owned()
}

fn smtp_session(
    mut s: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    user: &str,
    pass: &str,
    mails: &Mutex<Vec<String>>,
    auths: &Mutex<Vec<(String, bool)>>,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(b"220 127.0.0.1 test ESMTP\r\n")?;
    loop {
        let l = read_line(&mut s)?;
        let up = l.to_ascii_uppercase();
        if up.starts_with("EHLO") || up.starts_with("HELO") {
            s.write_all(b"250-127.0.0.1\r\n250 STARTTLS\r\n")?;
        } else if up.starts_with("STARTTLS") {
            s.write_all(b"220 go ahead\r\n")?;
            break;
        } else if up.starts_with("QUIT") {
            return s.write_all(b"221 bye\r\n");
        } else {
            s.write_all(b"530 5.7.0 Must issue a STARTTLS command first\r\n")?;
        }
    }
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut t = rustls::StreamOwned::new(conn, s);
    let mut authed = false;
    loop {
        let l = read_line(&mut t)?;
        let up = l.to_ascii_uppercase();
        let reply: &[u8] = if up.starts_with("EHLO") {
            b"250-127.0.0.1\r\n250 AUTH PLAIN LOGIN\r\n"
        } else if up.starts_with("AUTH PLAIN") {
            let arg = l[10..].trim().to_string();
            let arg = if arg.is_empty() {
                t.write_all(b"334 \r\n")?;
                read_line(&mut t)?
            } else {
                arg
            };
            let d = b64(&arg);
            let parts: Vec<&str> = d.split('\0').collect();
            let ok = parts.len() == 3 && parts[1] == user && parts[2] == pass;
            auths
                .lock()
                .unwrap()
                .push((parts.get(1).unwrap_or(&"").to_string(), ok));
            authed = ok;
            if ok {
                b"235 2.7.0 Authentication successful\r\n"
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            }
        } else if up.starts_with("AUTH LOGIN") {
            t.write_all(b"334 VXNlcm5hbWU6\r\n")?;
            let u = b64(&read_line(&mut t)?);
            t.write_all(b"334 UGFzc3dvcmQ6\r\n")?;
            let p = b64(&read_line(&mut t)?);
            let ok = u == user && p == pass;
            auths.lock().unwrap().push((u, ok));
            authed = ok;
            if ok {
                b"235 2.7.0 Authentication successful\r\n"
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            }
        } else if up.starts_with("MAIL FROM") || up.starts_with("RCPT TO") {
            if authed {
                b"250 2.1.0 Ok\r\n"
            } else {
                b"530 5.7.0 Authentication required\r\n"
            }
        } else if up.starts_with("DATA") {
            t.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = String::new();
            loop {
                let l = read_line(&mut t)?;
                if l == "." {
                    break;
                }
                data.push_str(&l);
                data.push('\n');
            }
            mails.lock().unwrap().push(data);
            b"250 2.0.0 Ok: queued\r\n"
        } else if up.starts_with("QUIT") {
            t.write_all(b"221 2.0.0 Bye\r\n")?;
            t.flush()?;
            return Ok(());
        } else {
            b"250 Ok\r\n"
        };
        t.write_all(reply)?;
        t.flush()?;
    }
}

// ---------------------------------------------------------------------------
// The daemon.

const SMTP_PASSWORD: &str = "s3cr3t-smtp-Pa55word";
const WRONG_PASSWORD: &str = "wrong-Pa55word-xyz";

fn serve(env: &Env, config: &Path) -> Child {
    serve_cmd(env, config)
        .current_dir(env.dir.path())
        .env("COFFER_TEST_SMTP_PW", SMTP_PASSWORD)
        .spawn()
        .unwrap()
}

fn stop(child: Child) -> String {
    let (code, log) = stop_serve(child);
    assert_eq!(code, Some(0), "{log}");
    log
}

fn ids(got: &[(String, String)]) -> Vec<i64> {
    got.iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

#[test]
fn issue6_serve_notifies_webhook_slack_email_and_command_sinks() {
    let env = Env::new(Kind::Local, "notify");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    let hook = http_receiver(200);
    let broken = http_receiver(500);
    let smtp = smtp_receiver("coffer", SMTP_PASSWORD);
    std::fs::write(env.path("ca.pem"), &smtp.ca_pem).unwrap();
    std::fs::write(env.path("wrong.pw"), format!("{WRONG_PASSWORD}\n")).unwrap();
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "docs"
kind = "files"
paths = ["data"]

[[source]]
name = "nodb"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:1/nothere"

[[plan]]
name = "p"

[[plan.rule]]
name = "often"
vault = "main"
sources = ["docs"]
schedule = "@every 2s"
retention = {{ keep_last = 2 }}

[[plan.rule]]
name = "broken"
vault = "main"
sources = ["nodb"]
schedule = "@every 2s"

[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{hook}/coffer"
events = ["BACKUP_JOB_FAILED"]

[[notify]]
name = "slack"
kind = "webhook"
url = "http://127.0.0.1:{hook}/slack"
format = "slack"
level = "errors"

[[notify]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
tls_ca_file = "ca.pem"
username = "coffer"
password_env = "COFFER_TEST_SMTP_PW"
from = "coffer@example.com"
to = ["ops@example.com", "oncall@example.com"]
events = ["BACKUP_JOB_FAILED"]
timeout = "10s"

[[notify]]
name = "badauth"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp}
tls_ca_file = "ca.pem"
username = "coffer"
password_file = "wrong.pw"
from = "coffer@example.com"
to = ["ops@example.com"]
events = ["BACKUP_JOB_FAILED"]
retries = 1
backoff = "50ms"

[[notify]]
name = "cmd"
kind = "command"
command = "cat >> events.jsonl"
level = "all"

[[notify]]
name = "down"
kind = "webhook"
url = "http://127.0.0.1:{broken}/x"
level = "all"
retries = 2
backoff = "50ms"
"#,
            hook = hook.port,
            smtp = smtp.port,
            broken = broken.port,
        ),
    )
    .unwrap();
    let check = env
        .cmd(&["config", "check"])
        .env("COFFER_CONFIG", &config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));

    let daemon = serve(&env, &config);
    let hook_got = |path: &str| -> Vec<(String, String)> {
        hook.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .cloned()
            .collect()
    };
    wait_until(
        "2 failure webhooks, a mail, and completed backups",
        90,
        || {
            hook_got("/coffer").len() >= 2
                && !hook_got("/slack").is_empty()
                && !smtp.mails.lock().unwrap().is_empty()
                && std::fs::read_to_string(env.path("events.jsonl"))
                    .unwrap_or_default()
                    .contains("BACKUP_JOB_COMPLETED")
        },
    );
    // The always-failing sink retried and gave up; the jobs went on.
    wait_until("the failing sink to give up", 60, || {
        broken.got.lock().unwrap().len() >= 3
    });
    let log = stop(daemon);

    // Webhook: the event as JSON.
    let j: Value = serde_json::from_str(&hook_got("/coffer")[0].1).unwrap();
    assert_eq!(j["name"], "BACKUP_JOB_FAILED", "{j:#}");
    assert_eq!(j["severity"], "error");
    assert_eq!(j["source"], "nodb");
    assert_eq!(j["plan"], "p");
    assert!(j["job_id"].as_i64().is_some(), "{j:#}");
    // Slack: {"text": …} naming the event and the source.
    let sl: Value = serde_json::from_str(&hook_got("/slack")[0].1).unwrap();
    let text = sl["text"].as_str().unwrap();
    assert!(
        text.contains("BACKUP_JOB_FAILED (error) [source nodb"),
        "{text}"
    );
    assert_eq!(sl.as_object().unwrap().len(), 1);
    // Email: through STARTTLS, authenticated, to both recipients.
    let mail = smtp.mails.lock().unwrap()[0].clone();
    assert!(
        mail.contains("Subject: [coffer] ERROR BACKUP_JOB_FAILED (nodb)"),
        "{mail}"
    );
    assert!(
        mail.contains("To: ops@example.com, oncall@example.com"),
        "{mail}"
    );
    assert!(mail.contains("From: coffer@example.com"), "{mail}");
    let auths = smtp.auths.lock().unwrap().clone();
    assert!(auths.contains(&("coffer".to_string(), true)), "{auths:?}");
    // The wrong password was refused by the server, retried, given up on.
    assert!(auths.contains(&("coffer".to_string(), false)), "{auths:?}");
    assert!(log.contains("notify `badauth`: gave up on event"), "{log}");
    assert!(log.contains("535"), "{log}");
    // Command: every event (level = "all"), as JSON lines.
    let lines = std::fs::read_to_string(env.path("events.jsonl")).unwrap();
    let names: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(names.iter().any(|n| n == "BACKUP_JOB_STARTED"), "{names:?}");
    assert!(names.iter().any(|n| n == "BACKUP_JOB_FAILED"), "{names:?}");
    // The failing sink: 1 + 2 retries per event, given up on, logged.
    assert!(
        log.contains("notify `down`: sending event") && log.contains("retry 2/2"),
        "{log}"
    );
    assert!(log.contains("notify `down`: gave up on event"), "{log}");
    assert!(log.contains("HTTP 500"), "{log}");
    // Secrets never reach the log.
    assert!(!log.contains(SMTP_PASSWORD), "{log}");
    assert!(!log.contains(WRONG_PASSWORD), "{log}");
    // The failing sinks did not affect the jobs: backups kept completing.
    let catalog = Catalog::open_existing(&env.path("state")).unwrap();
    let completed = catalog
        .events(&EventFilter {
            names: vec![EventName::BackupJobCompleted],
            ..EventFilter::default()
        })
        .unwrap();
    assert!(completed.len() >= 2, "{completed:?}");

    // A restart neither loses nor repeats events: every BACKUP_JOB_FAILED
    // is delivered once, or still after the cursor.
    let daemon = serve(&env, &config);
    let before = hook_got("/coffer").len();
    wait_until("more failure webhooks after the restart", 60, || {
        hook_got("/coffer").len() >= before + 2
    });
    let log2 = stop(daemon);
    assert!(!log2.contains(SMTP_PASSWORD), "{log2}");
    let delivered = ids(&hook_got("/coffer"));
    let unique: BTreeSet<i64> = delivered.iter().copied().collect();
    assert_eq!(unique.len(), delivered.len(), "repeated: {delivered:?}");
    let cursor: i64 = catalog
        .kv_get("notify/hook/cursor")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let failed = catalog
        .events(&EventFilter {
            names: vec![EventName::BackupJobFailed],
            ..EventFilter::default()
        })
        .unwrap();
    for e in failed {
        assert!(
            unique.contains(&e.id) || e.id > cursor,
            "event {} was lost (cursor {cursor}, delivered {delivered:?})",
            e.id
        );
    }
}

// ---------------------------------------------------------------------------
// Issue 19: notifications from the commands that run jobs without a daemon.

/// A configuration whose rule `p/broken` fails at once (nothing listens on
/// port 1) and is not due for a day, with `notify` appended.
fn issue19_config(env: &Env, notify: &str) -> std::path::PathBuf {
    let config = env.path("coffer.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "state"

[[vault]]
name = "main"
url = "vault"
key_file = "vault.key"

[[source]]
name = "nodb"
kind = "postgres"
url = "postgres://postgres@127.0.0.1:1/nothere"

[[plan]]
name = "p"

[[plan.rule]]
name = "broken"
vault = "main"
sources = ["nodb"]
schedule = "@every 24h"
{notify}"#
        ),
    )
    .unwrap();
    config
}

fn hook_sink(port: u16) -> String {
    format!(
        r#"
[[notify]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{port}/coffer"
events = ["BACKUP_JOB_FAILED"]
retries = 1
backoff = "50ms"
"#
    )
}

fn with_config(env: &Env, config: &Path, args: &[&str]) -> std::process::Output {
    env.cmd(args)
        .env("COFFER_CONFIG", config)
        .current_dir(env.dir.path())
        .output()
        .unwrap()
}

fn bodies(r: &HttpReceiver) -> Vec<Value> {
    r.got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect()
}

#[test]
fn issue19_plan_run_and_backup_notify_once_and_no_daemon_sends_it_again() {
    let env = Env::new(Kind::Local, "notify19");
    env.init();
    write(&env.path("data/a.txt"), b"alpha");
    let hook = http_receiver(200);
    let events = env.path("events.jsonl");
    let config = issue19_config(
        &env,
        &format!(
            "{}\n[[notify]]\nname = \"cmd\"\nkind = \"command\"\ncommand = \"cat >> {}\"\nlevel = \"all\"\n",
            hook_sink(hook.port),
            events.display()
        ),
    );
    let check = with_config(&env, &config, &["config", "check"]);
    assert!(check.status.success(), "{}", stderr(&check));

    // A failing rule under `plan run`: its webhook is sent before the
    // command returns, once.
    let o = with_config(&env, &config, &["plan", "run", "p/broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let got = bodies(&hook);
    assert_eq!(got.len(), 1, "{got:?}\n{}", stderr(&o));
    assert_eq!(got[0]["name"], "BACKUP_JOB_FAILED");
    assert_eq!(got[0]["source"], "nodb");
    assert_eq!(got[0]["plan"], "p");
    assert_eq!(got[0]["rule"], "broken");

    // A failing `coffer backup` with the configuration: one more.
    let o = with_config(
        &env,
        &config,
        &[
            "backup",
            "--source-name",
            "adhoc",
            env.path("missing").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let got = bodies(&hook);
    assert_eq!(got.len(), 2, "{got:?}\n{}", stderr(&o));
    assert_eq!(got[1]["name"], "BACKUP_JOB_FAILED");
    assert_eq!(got[1]["source"], "adhoc");
    assert!(
        got[1]["message"]
            .as_str()
            .unwrap()
            .contains("cannot back up"),
        "{:#}",
        got[1]
    );
    // A good one: not a failure, so only the `level = "all"` sink hears
    // of it (started, completed).
    let o = with_config(
        &env,
        &config,
        &["backup", "-q", env.path("data").to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(bodies(&hook).len(), 2);
    let names = |f: &Path| -> Vec<(i64, String)> {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["id"].as_i64().unwrap(),
                    v["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let seen = names(&events);
    assert!(
        seen.iter().any(|(_, n)| n == "BACKUP_JOB_COMPLETED"),
        "{seen:?}"
    );

    // Without a configuration `coffer backup` records and sends nothing.
    let jobs_before = list_jobs(env.cmd(&[]), None).len();
    env.ok(&["backup", "-q", env.path("data").to_str().unwrap()]);
    assert_eq!(list_jobs(env.cmd(&[]), None).len(), jobs_before);
    assert_eq!(bodies(&hook).len(), 2);

    // A daemon started afterwards sends none of them again; one running
    // beside a `plan run` sends its failure, or lets it, once.
    let daemon = serve(&env, &config);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bodies(&hook).len(), 2, "{:?}", bodies(&hook));
    let o = with_config(&env, &config, &["plan", "run", "p/broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    wait_until("the third failure's webhook", 30, || {
        bodies(&hook).len() >= 3
    });
    std::thread::sleep(Duration::from_secs(3));
    let log = stop(daemon);
    let got = ids(&hook.got.lock().unwrap());
    assert_eq!(got.len(), 3, "{got:?}\n{log}");
    let unique: BTreeSet<i64> = got.iter().copied().collect();
    assert_eq!(unique.len(), 3, "sent twice: {got:?}");
    let all = names(&events);
    let unique: BTreeSet<i64> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(unique.len(), all.len(), "sent twice: {all:?}");
    // Every job event of the catalog reached the `level = "all"` sink.
    let catalog = Catalog::open_existing(&env.path("state")).unwrap();
    let jobs: BTreeSet<i64> = catalog
        .events(&EventFilter::default())
        .unwrap()
        .iter()
        .filter(|e| e.job_id.is_some())
        .map(|e| e.id)
        .collect();
    assert!(jobs.len() >= 4, "{jobs:?}");
    assert!(jobs.is_subset(&unique), "{jobs:?} not all in {all:?}");
}

#[test]
fn issue19_events_from_before_a_daemons_first_start_are_delivered_once() {
    let env = Env::new(Kind::Local, "notify19b");
    env.init();
    // No sink yet: the failure is recorded, nobody is told.
    let config = issue19_config(&env, "");
    let o = with_config(&env, &config, &["plan", "run", "p/broken"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let catalog = Catalog::open_existing(&env.path("state")).unwrap();
    let failed = catalog
        .events(&EventFilter {
            names: vec![EventName::BackupJobFailed],
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);

    // The first daemon with a sink sends it; a restarted one does not.
    let hook = http_receiver(200);
    let config = issue19_config(&env, &hook_sink(hook.port));
    let daemon = serve(&env, &config);
    wait_until("the webhook of the earlier failure", 30, || {
        !bodies(&hook).is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    stop(daemon);
    let daemon = serve(&env, &config);
    std::thread::sleep(Duration::from_secs(3));
    let log = stop(daemon);
    assert_eq!(ids(&hook.got.lock().unwrap()), vec![failed[0].id], "{log}");
}
