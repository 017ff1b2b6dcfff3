//! Accepting connections: plain HTTP/1.1, or TLS when configured, on one port.
//!
//! The first byte of a connection tells a TLS ClientHello (0x16) from an HTTP request. A TLS
//! client reaching a plain listener gets an immediate plain-text 400 and a closed connection,
//! so clients that probe TLS first (skopeo, podman) fail fast instead of waiting for a timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

const TLS_HANDSHAKE: u8 = 0x16;

const PLAIN_ONLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 49\r\n\r\nThis port speaks plain HTTP; TLS is not enabled.\n";

/// Load a certificate chain and private key (PEM) into a rustls server configuration.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("reading {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("parsing {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve `app` on `listener` until `shutdown` fires, then let open requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            handle(stream, app, acceptor, watcher).await;
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open after 10 s; closing");
        }
    }
}

async fn handle(
    mut stream: TcpStream,
    app: Router,
    acceptor: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(Duration::from_secs(30), stream.peek(&mut first)).await;
    let is_tls = matches!(peeked, Ok(Ok(1))) && first[0] == TLS_HANDSHAKE;
    let service = TowerToHyperService::new(app);
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if is_tls {
        let Some(acceptor) = acceptor else {
            let _ = stream.write_all(PLAIN_ONLY).await;
            let _ = stream.shutdown().await;
            return;
        };
        match acceptor.accept(stream).await {
            Ok(tls) => {
                let conn = builder
                    .serve_connection(TokioIo::new(tls), service)
                    .into_owned();
                let _ = watcher.watch(conn).await;
            }
            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
        }
    } else {
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let _ = watcher.watch(conn).await;
    }
}
