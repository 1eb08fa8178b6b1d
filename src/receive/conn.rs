//! Connections of one listener, bounded: at most `max_connections` open at once, the rest
//! closed as soon as they are accepted; an accept that fails (out of file descriptors)
//! waits a moment rather than spinning. Every refusal is counted in
//! `llmwatch_receiver_refused_connections_total{protocol,reason}`, and open connections
//! are published in `llmwatch_receiver_connections{protocol}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// How long a failed accept (EMFILE, ENFILE) waits before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    protocol: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

/// The connection families of every receiver listener.
#[derive(Clone, Debug, Default)]
pub struct ConnMetrics {
    refused: Family<RefusedLabels, Counter>,
    open: Family<ProtocolLabels, Gauge>,
}

impl ConnMetrics {
    /// Registers the families.
    pub fn register(registry: &mut Registry) -> ConnMetrics {
        let m = ConnMetrics::default();
        registry.register(
            "llmwatch_receiver_refused_connections",
            "Connections a receiver listener closed or failed to take, by reason: max_connections, accept_error (out of file descriptors), header_timeout (slow request head), tls_handshake (failed or slow TLS handshake), idle_timeout (nothing sent for idle_timeout)",
            m.refused.clone(),
        );
        registry.register(
            "llmwatch_receiver_connections",
            "Connections open on a receiver listener",
            m.open.clone(),
        );
        m
    }

    /// Counts one refused connection.
    pub fn refused(&self, protocol: &'static str, reason: &'static str) {
        self.refused
            .get_or_create(&RefusedLabels { protocol, reason })
            .inc();
    }
}

/// The connection bound of one listener.
#[derive(Clone, Debug)]
pub struct ConnLimit {
    protocol: &'static str,
    permits: Arc<Semaphore>,
    metrics: ConnMetrics,
    idle: Duration,
}

impl ConnLimit {
    /// At most `max` connections on the `protocol` listener, each closed once it has sent
    /// nothing for `idle`.
    pub fn new(
        protocol: &'static str,
        max: usize,
        idle: Duration,
        metrics: ConnMetrics,
    ) -> ConnLimit {
        ConnLimit {
            protocol,
            permits: Arc::new(Semaphore::new(max)),
            metrics,
            idle,
        }
    }

    /// Takes `tcp` if the listener is under its bound; closes and counts it otherwise.
    fn admit(&self, tcp: TcpStream) -> Option<Limited> {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            self.metrics.refused(self.protocol, "max_connections");
            return None;
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let open = self
            .metrics
            .open
            .get_or_create(&ProtocolLabels {
                protocol: self.protocol,
            })
            .clone();
        open.inc();
        Some(Limited {
            inner: tcp,
            _permit: permit,
            open,
            idle: self.idle,
            quiet: Box::pin(tokio::time::sleep(self.idle)),
            protocol: self.protocol,
            metrics: self.metrics.clone(),
        })
    }

    /// Counts a failed accept.
    fn accept_failed(&self, error: &std::io::Error) {
        self.metrics.refused(self.protocol, "accept_error");
        tracing::warn!(%error, protocol = self.protocol, "accepting a connection failed; is the file-descriptor limit reached?");
    }

    /// The protocol's metrics.
    pub fn metrics(&self) -> &ConnMetrics {
        &self.metrics
    }

    /// The listener's protocol label.
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// Accepts the next connection within the bound.
    pub async fn accept(&self, listener: &TcpListener) -> Limited {
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    if let Some(conn) = self.admit(tcp) {
                        return conn;
                    }
                }
                Err(error) => {
                    self.accept_failed(&error);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// An accepted connection that holds its place under the bound until dropped, and fails
/// its reads once the peer has sent nothing for the idle timeout.
pub struct Limited {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    open: Gauge,
    idle: Duration,
    quiet: Pin<Box<Sleep>>,
    protocol: &'static str,
    metrics: ConnMetrics,
}

impl Drop for Limited {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let next = tokio::time::Instant::now() + this.idle;
                    this.quiet.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                std::task::ready!(this.quiet.as_mut().poll(cx));
                this.metrics.refused(this.protocol, "idle_timeout");
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the connection sent nothing for the idle timeout",
                )))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
