//! The OTLP/gRPC receiver: `TraceService`, `LogsService` and `MetricsService` `Export`.
//!
//! The services are written against tonic's server machinery with a codec that hands over
//! the raw message bytes, so decoding runs through the same [`Ingest`] path as OTLP/HTTP
//! (same checks, same messages, same counting). Errors that tonic raises before the
//! handler runs (oversized or corrupt frames, unknown `grpc-encoding`) are counted too, and
//! their status is made non-retryable: resending a message that is too large cannot help.
//!
//! Overload answers RESOURCE_EXHAUSTED (queue full) or UNAVAILABLE (shutting down) with a
//! `google.rpc.RetryInfo`, which the OTLP specification makes the signal to retry.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use super::{Accepted, GrpcConfig, Ingest, Refusal};
use crate::decode::{Encoding, Format, RefusalReason};
use crate::model::{Signal, Transport, rpc};

/// Builds a status that carries `google.rpc.RetryInfo` with `delay`.
fn retryable_status(code: Code, message: String, delay: Duration) -> Status {
    let retry = rpc::RetryInfo {
        retry_delay: Some(rpc::Duration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
        }),
    };
    let details = rpc::Status {
        code: code as i32,
        message: message.clone(),
        details: vec![rpc::Any {
            type_url: rpc::RETRY_INFO_TYPE.to_owned(),
            value: retry.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, Bytes::from(details.encode_to_vec()))
}

/// The one place a refusal becomes a gRPC status.
fn status_for(refusal: Refusal) -> Status {
    let code = match refusal.reason {
        RefusalReason::MissingToken | RefusalReason::InvalidToken => Code::Unauthenticated,
        RefusalReason::QueueFull
        | RefusalReason::ExporterQueueFull
        | RefusalReason::ReceiveBudgetFull => Code::ResourceExhausted,
        RefusalReason::BodyTimeout => Code::DeadlineExceeded,
        RefusalReason::ShuttingDown | RefusalReason::ExporterUnavailable => Code::Unavailable,
        RefusalReason::Internal => Code::Internal,
        RefusalReason::SignalNotConfigured | RefusalReason::UnsupportedEncoding => {
            Code::Unimplemented
        }
        _ => Code::InvalidArgument,
    };
    match refusal.retry_after {
        Some(delay) => retryable_status(code, refusal.message, delay),
        None => Status::new(code, refusal.message),
    }
}

// === the codec: raw bytes in, prost message out ===

struct RawCodec<R>(PhantomData<R>);

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

struct ProstEncoder<R>(PhantomData<R>);

impl<R: Message> Encoder for ProstEncoder<R> {
    type Item = R;
    type Error = Status;
    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

impl<R: Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProstEncoder<R>;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

// === the three services ===

/// What differs between the three OTLP gRPC services.
pub trait GrpcSignal: Send + Sync + 'static {
    /// The fully qualified service name.
    const NAME: &'static str;
    /// The `Export` method path.
    const PATH: &'static str;
    /// The signal.
    const SIGNAL: Signal;
    /// The response message.
    type Response: Message + Default + Send + 'static;
    /// Builds the response, with `partial_success` only when items were rejected.
    fn response(accepted: Accepted) -> Self::Response;
}

/// Marker for `TraceService`.
pub enum Traces {}
/// Marker for `LogsService`.
pub enum Logs {}
/// Marker for `MetricsService`.
pub enum Metrics {}

fn rejected(accepted: &Accepted) -> Option<(i64, String)> {
    (accepted.rejected_items > 0).then(|| {
        (
            i64::try_from(accepted.rejected_items).unwrap_or(i64::MAX),
            accepted.message.clone(),
        )
    })
}

impl GrpcSignal for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const SIGNAL: Signal = Signal::Traces;
    type Response = ExportTraceServiceResponse;
    fn response(accepted: Accepted) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: rejected(&accepted).map(|(n, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message,
                }
            }),
        }
    }
}

impl GrpcSignal for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const SIGNAL: Signal = Signal::Logs;
    type Response = ExportLogsServiceResponse;
    fn response(accepted: Accepted) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: rejected(&accepted).map(|(n, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message,
                }
            }),
        }
    }
}

impl GrpcSignal for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const SIGNAL: Signal = Signal::Metrics;
    type Response = ExportMetricsServiceResponse;
    fn response(accepted: Accepted) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: rejected(&accepted).map(|(n, error_message)| {
                ExportMetricsPartialSuccess {
                    rejected_data_points: n,
                    error_message,
                }
            }),
        }
    }
}

/// One OTLP gRPC service, for signal `S`.
pub struct OtlpGrpc<S> {
    ingest: Arc<Ingest>,
    max_message_size: usize,
    limits: super::limits::ListenerLimits,
    _signal: PhantomData<fn() -> S>,
}

impl<S> Clone for OtlpGrpc<S> {
    fn clone(&self) -> Self {
        OtlpGrpc {
            ingest: Arc::clone(&self.ingest),
            max_message_size: self.max_message_size,
            limits: self.limits.clone(),
            _signal: PhantomData,
        }
    }
}

impl<S: GrpcSignal> OtlpGrpc<S> {
    /// Creates the service.
    pub fn new(
        ingest: Arc<Ingest>,
        max_message_size: usize,
        limits: super::limits::ListenerLimits,
    ) -> Self {
        OtlpGrpc {
            ingest,
            max_message_size,
            limits,
            _signal: PhantomData,
        }
    }
}

impl<S: GrpcSignal> NamedService for OtlpGrpc<S> {
    const NAME: &'static str = S::NAME;
}

struct ExportCall<S> {
    ingest: Arc<Ingest>,
    handled: Arc<AtomicBool>,
    _signal: PhantomData<fn() -> S>,
}

impl<S: GrpcSignal> UnaryService<Bytes> for ExportCall<S> {
    type Response = S::Response;
    type Future =
        Pin<Box<dyn Future<Output = Result<tonic::Response<S::Response>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        self.handled.store(true, Ordering::Relaxed);
        let ingest = Arc::clone(&self.ingest);
        Box::pin(async move {
            // The token was checked before the body was read (`OtlpGrpc::call`).
            let body = request.into_inner();
            let result = ingest
                .submit(
                    S::SIGNAL,
                    Transport::Grpc,
                    Format::Protobuf,
                    Encoding::Identity,
                    body,
                )
                .await;
            result
                .map(|accepted| tonic::Response::new(S::response(accepted)))
                .map_err(status_for)
        })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for OtlpGrpc<S>
where
    S: GrpcSignal,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() != S::PATH {
                return Ok(
                    Status::unimplemented(format!("unknown method {}", req.uri().path()))
                        .into_http(),
                );
            }
            // The token is checked before a byte of the body is read.
            let header = req.headers().get("authorization").map(|v| v.as_bytes());
            if let Err(refusal) = this.ingest.authorize(S::SIGNAL, Transport::Grpc, header) {
                return Ok(status_for(refusal).into_http());
            }
            let failed = Arc::new(std::sync::OnceLock::new());
            let req = req.map(|b| this.ingest.body(b, &this.limits, Arc::clone(&failed)));
            let handled = Arc::new(AtomicBool::new(false));
            let call = ExportCall::<S> {
                ingest: Arc::clone(&this.ingest),
                handled: Arc::clone(&handled),
                _signal: PhantomData,
            };
            let mut grpc = Grpc::new(RawCodec::<S::Response>(PhantomData))
                .apply_compression_config(accepted_encodings(), Default::default())
                .apply_max_message_size_config(Some(this.max_message_size), None);
            let mut response = grpc.unary(call, req).await;
            if let Some(&error) = failed.get() {
                let refusal =
                    this.ingest
                        .body_refusal(S::SIGNAL, Transport::Grpc, Some(error), &"");
                return Ok(status_for(refusal).into_http());
            }
            if !handled.load(Ordering::Relaxed) {
                this.ingest.refused_before_handler(S::SIGNAL, &mut response);
            }
            Ok(response)
        })
    }
}

fn accepted_encodings() -> tonic::codec::EnabledCompressionEncodings {
    let mut enabled = tonic::codec::EnabledCompressionEncodings::default();
    enabled.enable(CompressionEncoding::Gzip);
    enabled.enable(CompressionEncoding::Zstd);
    enabled
}

impl Ingest {
    /// Counts a request that tonic refused before the handler ran, and makes its status
    /// non-retryable where resending cannot help.
    fn refused_before_handler(
        &self,
        signal: Signal,
        response: &mut http::Response<tonic::body::Body>,
    ) {
        let headers = response.headers_mut();
        let code = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(Code::Unknown, Code::from_i32);
        let reason = match code {
            Code::Ok => return,
            Code::OutOfRange => RefusalReason::BodyTooLarge,
            Code::ResourceExhausted => RefusalReason::DecompressedTooLarge,
            Code::Unimplemented => RefusalReason::UnsupportedEncoding,
            Code::Internal => RefusalReason::InvalidCompression,
            // tonic's code for a body it could not read: the client reset the stream or
            // the connection closed mid-request.
            Code::Unknown | Code::Cancelled => RefusalReason::IncompleteBody,
            _ => RefusalReason::Malformed,
        };
        if matches!(
            code,
            Code::OutOfRange | Code::ResourceExhausted | Code::Internal
        ) {
            headers.insert(
                "grpc-status",
                http::HeaderValue::from(Code::InvalidArgument as i32),
            );
        }
        self.metrics.refused(signal, Transport::Grpc, reason, 0);
    }
}

/// Binds the gRPC listener; the returned future serves until `shutdown` resolves.
pub async fn bind<F: Future<Output = ()> + Send + 'static>(
    config: &GrpcConfig,
    addr: SocketAddr,
    ingest: Arc<Ingest>,
    shutdown: F,
) -> std::io::Result<(
    SocketAddr,
    impl Future<Output = std::io::Result<()>> + Send + use<F>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let limits = config.limits();
    let tls = config
        .tls
        .as_ref()
        .map(|t| crate::net::tls::TlsReloader::new(t, &[b"h2"]).map(Arc::new))
        .transpose()
        .map_err(std::io::Error::other)?;
    let listener = super::serve::Listener {
        listener,
        limit: ingest.conn_limit("grpc", &limits),
        tls,
        header_timeout: Duration::from_secs(10),
        http2_only: Some(super::serve::Http2 {
            max_concurrent_streams: config.max_concurrent_streams,
        }),
    };
    let max = config.max_recv_msg_size.as_usize();
    let routes = tonic::service::Routes::new(OtlpGrpc::<Traces>::new(
        Arc::clone(&ingest),
        max,
        limits.clone(),
    ))
    .add_service(OtlpGrpc::<Logs>::new(
        Arc::clone(&ingest),
        max,
        limits.clone(),
    ))
    .add_service(OtlpGrpc::<Metrics>::new(ingest, max, limits))
    .prepare();
    Ok((local, super::serve::serve(listener, routes, shutdown)))
}
