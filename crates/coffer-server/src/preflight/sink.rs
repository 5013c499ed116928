//! A notification sink reached without sending anything: an email sink's
//! SMTP session as the daemon opens it (through [`notify::smtp_transport`])
//! ended with NOOP and QUIT; a webhook's host connected to over TCP and,
//! for `https`, a TLS handshake verified as reqwest verifies it, then
//! closed before any request.

use crate::config::{EmailConfig, WebhookUrl};
use crate::notify;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Connects to the SMTP server with the sink's settings; no mail is sent.
pub(super) fn email(e: &EmailConfig, timeout: Duration) -> Result<String, String> {
    let server = format!("{}:{}", e.smtp_host, e.smtp_port);
    let t = notify::smtp_transport(e, timeout).map_err(|x| x.message)?;
    match t.test_connection() {
        Ok(true) => {
            let mut did = vec!["connected"];
            if e.starttls {
                did.push("STARTTLS");
            }
            if e.username.is_some() {
                did.push("logged in");
            }
            Ok(format!("{}; no mail sent", did.join(", ")))
        }
        Ok(false) => Err(format!("{server} did not answer NOOP")),
        // A read that timed out shows as EAGAIN ("Resource temporarily unavailable").
        Err(x) if x.is_timeout() || x.to_string().contains("(os error 11)") => Err(format!(
            "{server}: no SMTP answer within {} (is smtp_port the SMTP port, and starttls right for it?)",
            humantime::format_duration(Duration::from_secs(timeout.as_secs().max(1)))
        )),
        Err(x) => Err(format!("{server}: {x}")),
    }
}

/// Where a webhook goes, for the check's line: scheme, host and port only
/// (the rest of a URL may be its secret).
pub(super) fn webhook_target(url: &WebhookUrl) -> String {
    match notify::webhook_url(url) {
        Ok(u) => match reqwest::Url::parse(&u) {
            Ok(p) => format!("{}://{}", p.scheme(), notify::webhook_host(&u)),
            Err(_) => "an invalid URL".into(),
        },
        Err(_) => match url {
            WebhookUrl::Secret(crate::config::SecretRef::Env(v)) => format!("url_env = \"{v}\""),
            WebhookUrl::Secret(crate::config::SecretRef::File(p)) => {
                format!("url_file = \"{}\"", p.display())
            }
            WebhookUrl::Inline(_) => "the webhook".into(),
        },
    }
}

/// Connects to the webhook's host (and shakes hands over TLS for
/// `https`); sends no request.
pub(super) fn webhook(url: &WebhookUrl, timeout: Duration) -> Result<String, String> {
    let url = notify::webhook_url(url).map_err(|e| e.message)?;
    let host = notify::webhook_host(&url);
    let u = reqwest::Url::parse(&url).map_err(|e| format!("the url is not valid: {e}"))?;
    let addrs = u
        .socket_addrs(|| None)
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = None;
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(mut tcp) = tcp else {
        return Err(match last {
            Some(e) => format!("cannot connect to {host}: {e}"),
            None => format!("{host} resolves to no address"),
        });
    };
    if u.scheme() != "https" {
        return Ok(format!("connected to {host}; no request sent"));
    }
    let name = u
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    tls_handshake(&mut tcp, name, timeout).map_err(|e| format!("TLS with {host}: {e}"))?;
    Ok(format!(
        "connected to {host}, TLS certificate verified; no request sent"
    ))
}

fn tls_handshake(tcp: &mut TcpStream, name: String, timeout: Duration) -> Result<(), String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(name).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|_| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(tcp).map_err(|e| e.to_string())?;
    }
    conn.send_close_notify();
    let _ = conn.complete_io(tcp);
    let _ = tcp.flush();
    Ok(())
}
