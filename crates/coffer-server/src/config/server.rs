//! `[server]`: the HTTP listener of `coffer serve` (`/metrics`,
//! `/healthz`, the API and the dashboard), with optional TLS, and how often
//! vault storage is measured.

use super::validate::{Validator, S};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How often the daemon lists each vault to measure its storage use when
/// no job ran (`[server] storage_refresh`).
pub const DEFAULT_STORAGE_REFRESH: Duration = Duration::from_secs(300);

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<S<String>>,
    storage_refresh: Option<S<String>>,
    tls_cert: Option<S<PathBuf>>,
    tls_key: Option<S<PathBuf>>,
}

impl Validator<'_> {
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
            (Some(c), Some(k)) => {
                let files = TlsFiles {
                    cert: self.path(c.get_ref()),
                    key: self.path(k.get_ref()),
                };
                self.readable_file("[server]", "tls_cert", c, &files.cert);
                self.readable_file("[server]", "tls_key", k, &files.key);
                Some(files)
            }
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
}
