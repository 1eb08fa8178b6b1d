//! The accept loop every llmwatch listener runs: connections within the listener's bound,
//! TLS when configured (the handshake bounded in time, off the accept loop), HTTP/1.1 and
//! HTTP/2 (or HTTP/2 only, for gRPC) with a header read timeout, and a graceful drain.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;

use super::conn::{ConnLimit, Limited};
use crate::net::tls::TlsReloader;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A bound listener and how to serve its connections.
pub struct Listener {
    /// The socket.
    pub listener: TcpListener,
    /// Its connection bound.
    pub limit: ConnLimit,
    /// TLS, if configured.
    pub tls: Option<Arc<TlsReloader>>,
    /// Longest TLS handshake, and longest request head once started.
    pub header_timeout: Duration,
    /// HTTP/2 only (gRPC), with these stream and window settings.
    pub http2_only: Option<Http2>,
}

/// HTTP/2 settings of a gRPC listener.
#[derive(Clone, Copy, Debug)]
pub struct Http2 {
    /// Concurrent streams per connection.
    pub max_concurrent_streams: u32,
}

enum Io {
    Plain(Limited),
    Tls(Box<tokio_rustls::server::TlsStream<Limited>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

fn builder(l: &Listener) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(l.header_timeout);
    if let Some(h2) = l.http2_only {
        builder = builder.http2_only();
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(h2.max_concurrent_streams)
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(2 << 20);
    }
    builder
}

/// Serves `service` on every connection `l` accepts until `shutdown`, then lets the open
/// ones finish. Failed handshakes and slow request heads are counted.
pub async fn serve<S, B>(
    l: Listener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = Arc::new(builder(&l));
    tokio::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            () = &mut shutdown => break,
            conn = l.limit.accept(&l.listener) => conn,
        };
        let tls = l.tls.as_ref().map(|t| t.acceptor());
        let (limit, timeout) = (l.limit.clone(), l.header_timeout);
        let (builder, service) = (Arc::clone(&builder), service.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let io = match tls {
                None => Io::Plain(conn),
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(conn)).await {
                        Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                        Ok(Err(error)) => {
                            tracing::debug!(%error, "TLS handshake failed");
                            return limit.metrics().refused(limit.protocol(), "tls_handshake");
                        }
                        Err(_) => {
                            return limit.metrics().refused(limit.protocol(), "tls_handshake");
                        }
                    }
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(service);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            if let Err(error) = watcher.watch(connection).await
                && error
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_timeout)
            {
                limit.metrics().refused(limit.protocol(), "header_timeout");
            }
        });
    }
    drop(l.listener);
    graceful.shutdown().await;
    Ok(())
}
