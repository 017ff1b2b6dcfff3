//! Accepting connections: plain HTTP/1.1, or TLS when configured, on one port, within limits.
//!
//! The first byte of a connection tells a TLS ClientHello (0x16) from an HTTP request. A TLS
//! client reaching a plain listener gets an immediate plain-text 400 and a closed connection,
//! so clients that probe TLS first (skopeo, podman) fail fast instead of waiting for a timeout.
//!
//! Limits, so that slow or idle clients hold neither a task nor much memory:
//! - at most `max_connections` connections at once; more wait in the kernel's backlog;
//! - a request's headers must arrive within `header_timeout`, which also closes keep-alive
//!   connections idle that long (and connections that never send anything);
//! - a connection on which no byte moves either way for `idle_timeout` while a request is
//!   under way (a client that stopped reading a response or sending a body) is closed;
//! - headers are bounded by a 64 KiB read buffer; bodies by the API's own limits.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

const TLS_HANDSHAKE: u8 = 0x16;

const PLAIN_ONLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 49\r\n\r\nThis port speaks plain HTTP; TLS is not enabled.\n";

/// How long open requests may take to finish once the server is stopping.
const DRAIN: Duration = Duration::from_secs(10);

/// The listener's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

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
    limits: Limits,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut warned_full = false;
    loop {
        // a free slot first: at the limit, new connections wait in the backlog
        let permit = if let Ok(p) = slots.clone().try_acquire_owned() {
            p
        } else {
            if !warned_full {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached; new connections wait"
                );
                warned_full = true;
            }
            tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = shutdown.cancelled() => break,
            }
        };
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
        if slots.available_permits() > limits.max_connections / 2 {
            warned_full = false;
        }
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            handle(stream, app, acceptor, limits, watcher, shutdown).await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("connections still open after {DRAIN:?}; closing");
        }
    }
}

async fn handle(
    mut stream: TcpStream,
    app: Router,
    acceptor: Option<TlsAcceptor>,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
    shutdown: CancellationToken,
) {
    let mut first = [0u8; 1];
    // a connection that sends nothing is closed like one that sends headers too slowly, and
    // at once when the server stops
    let peeked = tokio::select! {
        r = tokio::time::timeout(limits.header_timeout, stream.peek(&mut first)) => r,
        _ = shutdown.cancelled() => return,
    };
    let is_tls = match peeked {
        Ok(Ok(1)) => first[0] == TLS_HANDSHAKE,
        _ => return,
    };
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    if is_tls {
        let Some(acceptor) = acceptor else {
            let _ = stream.write_all(PLAIN_ONLY).await;
            let _ = stream.shutdown().await;
            return;
        };
        let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
        match handshake.await {
            Ok(Ok(tls)) => {
                let io = TokioIo::new(Watched::new(tls, limits.idle_timeout));
                let _ = watcher.watch(builder.serve_connection(io, service)).await;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        }
    } else {
        let io = TokioIo::new(Watched::new(stream, limits.idle_timeout));
        let _ = watcher.watch(builder.serve_connection(io, service)).await;
    }
}

/// An I/O stream that fails with `TimedOut` once no byte has moved either way for `idle`
/// while it is waited on: a client that stopped reading a response or sending a body. (An
/// idle keep-alive connection is closed sooner by the header timeout.)
struct Watched<T> {
    inner: T,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<T> Watched<T> {
    fn new(inner: T, idle: Duration) -> Watched<T> {
        Watched {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        let deadline = Instant::now() + self.idle;
        self.timer.as_mut().reset(deadline);
    }

    /// Whether the stream has been stuck too long (registering for a wake-up when not).
    fn stuck(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no progress on the connection")
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.stuck(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.moved();
                Poll::Ready(r)
            }
            Poll::Pending if self.stuck(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.moved();
                Poll::Ready(r)
            }
            Poll::Pending if self.stuck(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
