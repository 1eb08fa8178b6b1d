//! OTLP receivers: gRPC and HTTP listeners that decode requests and put them on the queue.
//!
//! Both transports share [`Ingest`], which owns the order of checks (signal enabled,
//! decompress, decode, drop invalid items, enqueue) and all counting, so a request is
//! counted the same way whichever way it came. Receivers never inspect attribute values,
//! and never wait for the queue: a full queue is answered at once with the OTLP retryable
//! status.

pub mod auth;
pub mod grpc;
pub mod http;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use self::auth::{Auth, AuthConfig};
use crate::config::units::ByteSize;
use crate::config::{ConfigError, Path, resolve_endpoint};
use crate::decode::{self, DecodeError, Encoding, Format, RefusalReason};
use crate::metrics::OwnMetrics;
use crate::model::{Batch, Signal, Transport};
use crate::pipeline::{BatchQueue, PushError};

/// Bodies larger than this are decoded on the blocking pool, keeping the async workers
/// responsive: a 16 MiB body takes tens of milliseconds to decode.
const BLOCKING_DECODE_THRESHOLD: usize = 512 * 1024;

/// `receivers.otlp`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Which transports to listen on.
    pub protocols: Protocols,
    /// Largest body after decompression, for both transports.
    #[serde(default = "ReceiverConfig::default_max_decompressed_size")]
    pub max_decompressed_size: ByteSize,
    /// Optional bearer-token authentication.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
}

/// `receivers.otlp.protocols`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC.
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP.
    pub http: Option<HttpConfig>,
}

/// `receivers.otlp.protocols.grpc`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Listen address.
    #[serde(default = "GrpcConfig::default_endpoint")]
    pub endpoint: String,
    /// Largest message accepted, after decompression.
    #[serde(default = "GrpcConfig::default_max_recv_msg_size")]
    pub max_recv_msg_size: ByteSize,
    /// Concurrent HTTP/2 streams per connection.
    #[serde(default = "GrpcConfig::default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
}

impl GrpcConfig {
    fn default_endpoint() -> String {
        "0.0.0.0:4317".to_owned()
    }
    fn default_max_recv_msg_size() -> ByteSize {
        ByteSize(16 << 20)
    }
    fn default_max_concurrent_streams() -> u32 {
        256
    }
}

/// `receivers.otlp.protocols.http`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address.
    #[serde(default = "HttpConfig::default_endpoint")]
    pub endpoint: String,
    /// Largest body on the wire.
    #[serde(default = "HttpConfig::default_max_request_body_size")]
    pub max_request_body_size: ByteSize,
    /// CORS for browser exporters; off unless origins are listed.
    #[serde(default)]
    pub cors: CorsConfig,
}

impl HttpConfig {
    fn default_endpoint() -> String {
        "0.0.0.0:4318".to_owned()
    }
    fn default_max_request_body_size() -> ByteSize {
        ByteSize(16 << 20)
    }
}

/// `receivers.otlp.protocols.http.cors`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to send, exactly (`https://app.example.com`), by subdomain wildcard
    /// (`https://*.example.com`), or `*` for any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Request headers allowed beyond the ones OTLP exporters send.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    #[serde(
        default,
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub max_age: Duration,
}

impl ReceiverConfig {
    fn default_max_decompressed_size() -> ByteSize {
        ByteSize(64 << 20)
    }

    pub(crate) fn decode(
        kind: &str,
        mut value: Value,
        path: &Path,
        errors: &mut Vec<ConfigError>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<ReceiverConfig> {
        if kind != "otlp" {
            errors.push(ConfigError {
                path: path.to_string(),
                message: format!("unknown receiver type {kind:?}: the only receiver is otlp"),
            });
            return None;
        }
        // `grpc:` with no body enables the protocol with defaults, as in the collector.
        if let Some(protocols) = value.get_mut("protocols").and_then(Value::as_object_mut) {
            for key in ["grpc", "http"] {
                if let Some(v) = protocols.get_mut(key).filter(|v| v.is_null()) {
                    *v = Value::Object(Default::default());
                }
            }
        }
        let cfg: ReceiverConfig = crate::config::decode_at(value, path, errors)?;
        let before = errors.len();
        if cfg.protocols.grpc.is_none() && cfg.protocols.http.is_none() {
            errors.push(ConfigError {
                path: format!("{path}.protocols"),
                message: "enable at least one of grpc and http".into(),
            });
        }
        if let Some(grpc) = &cfg.protocols.grpc
            && let Err(message) = resolve_endpoint(&grpc.endpoint)
        {
            errors.push(ConfigError {
                path: format!("{path}.protocols.grpc.endpoint"),
                message,
            });
        }
        if let Some(http) = &cfg.protocols.http
            && let Err(message) = resolve_endpoint(&http.endpoint)
        {
            errors.push(ConfigError {
                path: format!("{path}.protocols.http.endpoint"),
                message,
            });
        }
        if let Some(auth) = &cfg.auth {
            auth.check(&format!("{path}.auth"), errors, env);
        }
        (errors.len() == before).then_some(cfg)
    }
}

/// A refused request: why, what to tell the client, and how many items it held.
#[derive(Debug)]
pub struct Refusal {
    /// The counted reason.
    pub reason: RefusalReason,
    /// The message for the client. Never contains payload data.
    pub message: String,
    /// For retryable refusals, how long the client should wait.
    pub retry_after: Option<Duration>,
}

/// What an accepted request gets back.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Items removed as invalid (OTLP partial success).
    pub rejected_items: u64,
    /// The partial-success message; empty when nothing was rejected.
    pub message: String,
}

/// What one receiver shares between its transports.
pub struct Ingest {
    queue: Arc<BatchQueue>,
    metrics: Arc<OwnMetrics>,
    auth: Option<Auth>,
    signals: Vec<Signal>,
    max_decompressed: usize,
    retry_after: Duration,
}

impl Ingest {
    /// Creates the shared half of a receiver for the given signals.
    pub fn new(
        queue: Arc<BatchQueue>,
        metrics: Arc<OwnMetrics>,
        auth: Option<Auth>,
        signals: Vec<Signal>,
        max_decompressed: usize,
        retry_after: Duration,
    ) -> Ingest {
        Ingest {
            queue,
            metrics,
            auth,
            signals,
            max_decompressed,
            retry_after,
        }
    }

    /// Checks the `authorization` header, counting a refusal.
    pub fn authorize(
        &self,
        signal: Signal,
        transport: Transport,
        header: Option<&[u8]>,
    ) -> Result<(), Refusal> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        match auth.check(header) {
            Ok(name) => {
                tracing::trace!(token = name, "authenticated");
                Ok(())
            }
            Err(reason) => {
                self.metrics.refused(signal, transport, reason, 0);
                let message = match reason {
                    RefusalReason::MissingToken => {
                        "missing bearer token: send `authorization: Bearer <token>`"
                    }
                    _ => "invalid bearer token",
                };
                Err(Refusal {
                    reason,
                    message: message.to_owned(),
                    retry_after: None,
                })
            }
        }
    }

    /// Decodes, checks and enqueues one request body.
    pub fn ingest(
        &self,
        signal: Signal,
        transport: Transport,
        format: Format,
        encoding: Encoding,
        body: &[u8],
    ) -> Result<Accepted, Refusal> {
        let wire = body.len() as u64;
        if !self.signals.contains(&signal) {
            self.metrics
                .refused(signal, transport, RefusalReason::SignalNotConfigured, 0);
            self.metrics.received_bytes_only(signal, transport, wire);
            return Err(Refusal {
                reason: RefusalReason::SignalNotConfigured,
                message: format!("no {signal} pipeline is configured for this receiver"),
                retry_after: None,
            });
        }
        let refuse_decode = |e: DecodeError| {
            self.metrics.received_bytes_only(signal, transport, wire);
            self.metrics.refused(signal, transport, e.reason(), 0);
            Refusal {
                reason: e.reason(),
                message: e.to_string(),
                retry_after: None,
            }
        };
        let plain =
            decode::decompress(body, encoding, self.max_decompressed).map_err(refuse_decode)?;
        let mut payload = decode::decode(signal, format, &plain).map_err(refuse_decode)?;
        let received = payload.item_count();
        self.metrics.received(signal, transport, received, wire);
        let rejected = decode::drop_invalid_items(&mut payload);
        if rejected.items > 0 {
            self.metrics.refused(
                signal,
                transport,
                RefusalReason::InvalidItems,
                rejected.items,
            );
        }
        let batch = Batch::new(payload, transport, plain.len() as u64);
        let items = batch.items;
        if items == 0 {
            // Nothing left to deliver (an empty request, or every item was invalid).
            return Ok(Accepted {
                rejected_items: rejected.items,
                message: rejected.message,
            });
        }
        match self.queue.push(batch) {
            Ok(level) => {
                self.metrics.accepted(signal, transport, items, level);
                Ok(Accepted {
                    rejected_items: rejected.items,
                    message: rejected.message,
                })
            }
            Err(PushError::Full(_)) => {
                self.metrics
                    .refused(signal, transport, RefusalReason::QueueFull, items);
                Err(Refusal {
                    reason: RefusalReason::QueueFull,
                    message: "llmwatch is over its queue capacity; retry later".to_owned(),
                    retry_after: Some(self.retry_after),
                })
            }
            Err(PushError::Closed(_)) => {
                self.metrics
                    .refused(signal, transport, RefusalReason::ShuttingDown, items);
                Err(Refusal {
                    reason: RefusalReason::ShuttingDown,
                    message: "llmwatch is shutting down; retry against another instance or later"
                        .to_owned(),
                    retry_after: Some(self.retry_after),
                })
            }
        }
    }
}
