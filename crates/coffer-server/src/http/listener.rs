//! The listener of `[server] listen`: [`HttpServer`] binds the address
//! (failing at once if it cannot) and serves a router on a small tokio
//! runtime of its own, over plain HTTP or, with `[server] tls_cert` and
//! `tls_key`, over TLS (rustls; handshakes on tasks of their own in
//! [`TlsListener`]). Each connection carries the client's address
//! ([`Peer`]) for the audit trail.

use crate::config::TlsFiles;
use crate::http::api::Peer;
use axum::Router;
use std::net::SocketAddr;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The runtime.
    #[error("cannot start the HTTP server's runtime: {0}")]
    Runtime(std::io::Error),
    /// The address.
    #[error("cannot listen on {addr} ([server] listen): {source}; choose a free address or stop what uses it")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The TLS certificate or key.
    #[error("[server] TLS: {0}")]
    Tls(String),
}

/// A running HTTP server.
pub struct HttpServer {
    rt: tokio::runtime::Runtime,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    addr: SocketAddr,
}

impl HttpServer {
    /// Binds `listen` (failing at once if it cannot) and serves `router`
    /// on a runtime of its own until [`stop`](Self::stop).
    pub fn start(
        listen: SocketAddr,
        tls: Option<&TlsFiles>,
        router: Router,
    ) -> Result<HttpServer, HttpError> {
        let acceptor = tls.map(tls_acceptor).transpose()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("coffer-http")
            .enable_all()
            .build()
            .map_err(HttpError::Runtime)?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|source| HttpError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().unwrap_or(listen);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let make = router.into_make_service_with_connect_info::<Peer>();
        let stop = async {
            let _ = rx.await;
        };
        let task = match acceptor {
            None => rt.spawn(async move {
                let _ = axum::serve(listener, make)
                    .with_graceful_shutdown(stop)
                    .await;
            }),
            Some(acceptor) => {
                let tls = rt.block_on(async { TlsListener::new(listener, acceptor) });
                rt.spawn(async move {
                    let _ = axum::serve(tls, make).with_graceful_shutdown(stop).await;
                })
            }
        };
        Ok(HttpServer {
            rt,
            shutdown: Some(tx),
            task: Some(task),
            addr,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish (a few seconds at
    /// most), and ends the runtime.
    pub fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), task).await
            });
        }
        self.rt.shutdown_timeout(std::time::Duration::from_secs(1));
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

/// Reads the certificate chain and key of `[server]`.
fn tls_acceptor(f: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, HttpError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&f.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            HttpError::Tls(format!(
                "cannot read the certificate chain {} (tls_cert): {e}; give a PEM file",
                f.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(HttpError::Tls(format!(
            "{} (tls_cert) holds no certificate; give a PEM file with the chain",
            f.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&f.key).map_err(|e| {
        HttpError::Tls(format!(
            "cannot read the private key {} (tls_key): {e}; give a PEM file (PKCS#8, PKCS#1 or SEC1)",
            f.key.display()
        ))
    })?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            HttpError::Tls(format!(
                "{} and {} do not make a usable certificate and key: {e}",
                f.cert.display(),
                f.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// A listener that completes TLS handshakes on tasks of their own (a slow
/// or broken client delays nobody) and hands over finished connections.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

impl TlsListener {
    fn new(tcp: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> TlsListener {
        let addr = tcp.local_addr().expect("a bound listener has an address");
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await;
                    if let Ok(Ok(s)) = hs {
                        let _ = sender.send((s, peer)).await;
                    }
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        TlsListener { rx, addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accepting task never ends while this listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
