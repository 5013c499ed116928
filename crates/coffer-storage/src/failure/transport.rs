//! An error's source chain, read for what went wrong below the S3
//! answer: credentials that could not be loaded, a connection refused, a
//! host that does not resolve, a timeout.

use std::error::Error;
use std::io;

use super::Cause;

/// The cause the source chain of `e` shows, if it shows one. Looks at
/// every error in the chain (`e` included): reqsign's credential errors,
/// reqwest's timeouts, the operating system's connection errors and
/// hyper's DNS errors.
pub(crate) fn of_chain(e: &(dyn Error + 'static)) -> Option<Cause> {
    let mut refused = false;
    let mut dns = false;
    let mut connect = false;
    let mut timeout = false;
    let mut network: Option<&'static str> = None;
    let mut credentials: Option<Cause> = None;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(i) = err.downcast_ref::<crate::aws::IdentityError>() {
            // The innermost word on credentials: the identity that failed.
            credentials = Some(Cause::Identity { why: i.0.clone() });
        } else if let Some(r) = err.downcast_ref::<reqsign_core::Error>() {
            if r.kind() == reqsign_core::ErrorKind::CredentialInvalid && credentials.is_none() {
                credentials = Some(if r.to_string().contains("failed to load") {
                    Cause::NoCredentials
                } else {
                    Cause::BadCredentials {
                        why: super::response::shorten(&r.to_string()),
                    }
                });
            }
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            connect |= r.is_connect();
            timeout |= r.is_timeout();
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => refused = true,
                io::ErrorKind::TimedOut => timeout = true,
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                    network = network.or(Some("connection reset"))
                }
                io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
                    network = network.or(Some("connection closed"))
                }
                io::ErrorKind::NetworkUnreachable => network = Some("network unreachable"),
                io::ErrorKind::HostUnreachable => network = Some("host unreachable"),
                io::ErrorKind::AddrNotAvailable => network = Some("address not available"),
                _ => {}
            }
        }
        // hyper-util's resolver error says `dns error`; the system's
        // `failed to lookup address information`.
        let text = err.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address") {
            dns = true;
        }
        cur = err.source();
    }
    if credentials.is_some() {
        return credentials;
    }
    Some(if refused {
        Cause::Refused
    } else if dns {
        Cause::UnknownHost
    } else if timeout && connect {
        Cause::ConnectTimeout
    } else if timeout {
        Cause::Timeout
    } else if let Some(what) = network {
        Cause::Network { what: what.into() }
    } else {
        return None;
    })
}

/// The error's own message with its innermost cause's: what OpenDAL says
/// when nothing else is known (`send http request: invalid peer
/// certificate: UnknownIssuer`), without its context dump.
pub(crate) fn innermost(e: &opendal::Error) -> String {
    let mut last: Option<&(dyn Error + 'static)> = None;
    let mut cur = e.source();
    while let Some(err) = cur {
        last = Some(err);
        cur = err.source();
    }
    let own = super::response::shorten(e.message());
    match last.map(|l| l.to_string()) {
        Some(l) if !l.is_empty() && !own.contains(&l) => {
            if own.is_empty() {
                super::response::shorten(&l)
            } else {
                format!("{own}: {}", super::response::shorten(&l))
            }
        }
        _ if own.is_empty() => e.kind().to_string(),
        _ => own,
    }
}
