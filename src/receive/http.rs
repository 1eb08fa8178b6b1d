//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs` and `/v1/metrics`.
//!
//! Checks run cheapest first and each refusal is counted: content type (415), token (401),
//! declared and actual body size (413), content encoding (415), then decoding (400). The
//! response uses the request's content type; errors carry a `google.rpc.Status` in that
//! format, as the OTLP specification asks. Overload answers 503 with `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
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

use super::{Accepted, CorsConfig, HttpConfig, Ingest, Refusal};
use crate::decode::{Encoding, Format, RefusalReason};
use crate::model::{Signal, Transport, rpc};

struct HttpState {
    ingest: Arc<Ingest>,
    max_body: usize,
    cors: Cors,
    limits: super::limits::ListenerLimits,
}

/// Builds the OTLP/HTTP router.
pub fn router(config: &HttpConfig, ingest: Arc<Ingest>) -> Router {
    let state = Arc::new(HttpState {
        ingest,
        max_body: config.max_request_body_size.as_usize(),
        cors: Cors::new(&config.cors),
        limits: config.limits(),
    });
    let mut router = Router::new();
    for signal in Signal::ALL {
        router = router.route(
            signal.http_path(),
            post(move |State(s): State<Arc<HttpState>>, req: Request<Body>| export(s, signal, req))
                .options(
                    |State(s): State<Arc<HttpState>>, headers: HeaderMap| async move {
                        s.cors.preflight(&headers)
                    },
                ),
        );
    }
    router.with_state(state)
}

/// Binds the HTTP listener; the returned future serves until `shutdown` resolves.
pub async fn bind<F: std::future::Future<Output = ()> + Send + 'static>(
    config: &HttpConfig,
    addr: SocketAddr,
    ingest: Arc<Ingest>,
    shutdown: F,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>> + Send + use<F>,
)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let tls = config
        .tls
        .as_ref()
        .map(|t| crate::net::tls::TlsReloader::new(t, &[b"h2", b"http/1.1"]).map(Arc::new))
        .transpose()
        .map_err(std::io::Error::other)?;
    let listener = super::serve::Listener {
        listener,
        limit: ingest.conn_limit("http", &config.limits()),
        tls,
        header_timeout: config.read_header_timeout,
        http2_only: None,
    };
    let app = router(config, ingest);
    Ok((local, super::serve::serve(listener, app, shutdown)))
}

async fn export(state: Arc<HttpState>, signal: Signal, req: Request<Body>) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut response = match receive(&state, signal, req).await {
        Ok((format, accepted)) => success(signal, format, accepted),
        Err((format, refusal)) => failure(format, refusal),
    };
    state.cors.decorate(origin.as_ref(), response.headers_mut());
    response
}

type Failed = (Format, Refusal);

async fn receive(
    state: &Arc<HttpState>,
    signal: Signal,
    req: Request<Body>,
) -> Result<(Format, Accepted), Failed> {
    let ingest = &state.ingest;
    let headers = req.headers();
    let format = format_of(state, signal, headers)?;
    let transport = match format {
        Format::Protobuf => Transport::HttpProtobuf,
        Format::Json => Transport::HttpJson,
    };
    let fail = |refusal| (format, refusal);
    ingest
        .authorize(
            signal,
            transport,
            headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        )
        .map_err(fail)?;
    let encoding_header = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("<non-ascii>"));
    let encoding = Encoding::from_header(encoding_header)
        .map_err(|e| fail(ingest.refuse(signal, transport, e.reason(), e.to_string(), 0)))?;
    let too_large = || {
        let message = format!("request body exceeds the limit of {} bytes", state.max_body);
        fail(ingest.refuse(signal, transport, RefusalReason::BodyTooLarge, message, 0))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.max_body) {
        return Err(too_large());
    }
    let failed = Arc::new(std::sync::OnceLock::new());
    let body = ingest.body(req.into_body(), &state.limits, Arc::clone(&failed));
    let body = match http_body_util::Limited::new(body, state.max_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            let error = failed.get().copied();
            return Err(fail(ingest.body_refusal(signal, transport, error, &e)));
        }
    };
    let result = ingest
        .submit(signal, transport, format, encoding, body)
        .await;
    result.map(|accepted| (format, accepted)).map_err(fail)
}

/// The body's format from its `Content-Type`; a refusal, answered in JSON, if unknown.
fn format_of(
    state: &HttpState,
    signal: Signal,
    headers: &http::HeaderMap,
) -> Result<Format, Failed> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<non-ascii>"));
    Format::from_content_type(content_type).map_err(|e| {
        let refusal = state
            .ingest
            .refuse(signal, Transport::Http, e.reason(), e.to_string(), 0);
        (Format::Json, refusal)
    })
}

fn encode<M: Message + serde::Serialize>(format: Format, message: &M) -> Vec<u8> {
    match format {
        Format::Protobuf => message.encode_to_vec(),
        Format::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

fn with_body(status: StatusCode, format: Format, body: Vec<u8>) -> Response {
    let mut response = (status, Bytes::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn success(signal: Signal, format: Format, accepted: Accepted) -> Response {
    if accepted.rejected_items == 0 {
        // Full success: an empty response message, `{}` in JSON.
        let body = match format {
            Format::Protobuf => Vec::new(),
            Format::Json => b"{}".to_vec(),
        };
        return with_body(StatusCode::OK, format, body);
    }
    let partial = (accepted.rejected_items > 0).then(|| {
        (
            i64::try_from(accepted.rejected_items).unwrap_or(i64::MAX),
            accepted.message,
        )
    });
    let body = match signal {
        Signal::Traces => encode(
            format,
            &ExportTraceServiceResponse {
                partial_success: partial.map(|(n, error_message)| ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message,
                }),
            },
        ),
        Signal::Logs => encode(
            format,
            &ExportLogsServiceResponse {
                partial_success: partial.map(|(n, error_message)| ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message,
                }),
            },
        ),
        Signal::Metrics => encode(
            format,
            &ExportMetricsServiceResponse {
                partial_success: partial.map(|(n, error_message)| ExportMetricsPartialSuccess {
                    rejected_data_points: n,
                    error_message,
                }),
            },
        ),
    };
    with_body(StatusCode::OK, format, body)
}

/// The one place a refusal becomes an HTTP status.
fn failure(format: Format, refusal: Refusal) -> Response {
    let (status, code) = match refusal.reason {
        RefusalReason::UnsupportedContentType | RefusalReason::UnsupportedEncoding => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
        ),
        RefusalReason::BodyTooLarge | RefusalReason::DecompressedTooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::InvalidArgument)
        }
        RefusalReason::MissingToken | RefusalReason::InvalidToken => {
            (StatusCode::UNAUTHORIZED, tonic::Code::Unauthenticated)
        }
        RefusalReason::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, tonic::Code::DeadlineExceeded),
        RefusalReason::QueueFull
        | RefusalReason::ExporterQueueFull
        | RefusalReason::ReceiveBudgetFull => (
            StatusCode::SERVICE_UNAVAILABLE,
            tonic::Code::ResourceExhausted,
        ),
        RefusalReason::ShuttingDown | RefusalReason::ExporterUnavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, tonic::Code::Unavailable)
        }
        RefusalReason::Internal => (StatusCode::INTERNAL_SERVER_ERROR, tonic::Code::Internal),
        RefusalReason::SignalNotConfigured => (StatusCode::NOT_FOUND, tonic::Code::Unimplemented),
        RefusalReason::Malformed
        | RefusalReason::IncompleteBody
        | RefusalReason::InvalidCompression
        | RefusalReason::InvalidItems => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
    };
    let body = encode(
        format,
        &rpc::Status {
            code: code as i32,
            message: refusal.message,
            details: Vec::new(),
        },
    );
    let mut response = with_body(status, format, body);
    let headers = response.headers_mut();
    if let Some(delay) = refusal.retry_after {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(delay.as_secs().max(1)),
        );
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

// === CORS ===

/// CORS for browser exporters. Off (no headers, preflight refused) unless origins are set.
struct Cors {
    origins: Vec<OriginRule>,
    allow_headers: HeaderValue,
    max_age: Duration,
}

enum OriginRule {
    Any,
    Exact(String),
    /// `https://*.example.com`: scheme `https://`, host suffix `.example.com`.
    Subdomain {
        scheme: String,
        suffix: String,
    },
}

impl Cors {
    fn new(config: &CorsConfig) -> Cors {
        let origins = config
            .allowed_origins
            .iter()
            .map(|o| {
                if o == "*" {
                    OriginRule::Any
                } else if let Some((scheme, rest)) = o.split_once("://*.") {
                    OriginRule::Subdomain {
                        scheme: format!("{scheme}://"),
                        suffix: format!(".{rest}"),
                    }
                } else {
                    OriginRule::Exact(o.trim_end_matches('/').to_owned())
                }
            })
            .collect();
        let mut headers = vec![
            "content-type",
            "content-encoding",
            "authorization",
            "x-requested-with",
            "accept",
        ];
        headers.extend(config.allowed_headers.iter().map(String::as_str));
        let allow_headers = HeaderValue::from_str(&headers.join(", "))
            .unwrap_or(HeaderValue::from_static("content-type"));
        Cors {
            origins,
            allow_headers,
            max_age: config.max_age,
        }
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.origins.iter().any(|rule| match rule {
            OriginRule::Any => true,
            OriginRule::Exact(o) => o == origin,
            OriginRule::Subdomain { scheme, suffix } => origin
                .strip_prefix(scheme.as_str())
                .is_some_and(|host| host.ends_with(suffix.as_str()) && host.len() > suffix.len()),
        })
    }

    fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::VARY, HeaderValue::from_static("origin"));
        }
    }

    fn preflight(&self, request: &HeaderMap) -> Response {
        let Some(origin) = request.get(header::ORIGIN).filter(|o| self.allows(o)) else {
            return StatusCode::FORBIDDEN.into_response();
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(Method::POST.as_str()),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allow_headers.clone(),
        );
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        if !self.max_age.is_zero() {
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.max_age.as_secs()),
            );
        }
        response
    }
}
