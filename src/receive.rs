//! OTLP receivers: gRPC and HTTP listeners that decode requests and put them on the queue.
//!
//! Both transports share [`Ingest`]: it checks what is cheap (signal enabled, token), puts
//! the raw body on the queue and waits for the pipeline worker that decodes it to answer,
//! so a request is checked and counted the same way whichever way it came. Receivers never
//! inspect attribute values, and never wait for room in the queue: a full queue is answered
//! at once with the OTLP retryable status.

pub mod body;
pub mod conn;
pub mod grpc;
pub mod http;
mod limits;
pub mod serve;

pub use self::limits::raise_fd_limit;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::component::config::{ConfigError, Path, check_endpoint};
use crate::component::factory::{Factory, shares_nothing};
use crate::component::units::ByteSize;
use crate::net::auth::{Auth, AuthConfig};
use crate::net::tls;
use bytes::Bytes;

use crate::decode::{Encoding, Format};
use crate::metrics::OwnMetrics;
pub use crate::model::{Accepted, Refusal};
use crate::model::{RefusalReason, Signal, Transport};
use crate::pipeline::{Job, JobQueue, PushError};

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
    /// Most request-body bytes being received at once, across both transports.
    #[serde(default = "ReceiverConfig::default_receive_budget")]
    pub receive_budget: ByteSize,
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
    /// Most connections open at once; more are closed as soon as they are accepted.
    #[serde(default = "limits::default_max_connections")]
    pub max_connections: usize,
    /// Longest pause between two chunks of a request body.
    #[serde(
        default = "limits::default_body_idle_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body.
    #[serde(
        default = "limits::default_body_read_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub body_read_timeout: Duration,
    /// A connection that sends nothing (not even a keep-alive ping) for this long is
    /// closed.
    #[serde(
        default = "GrpcConfig::default_idle_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub idle_timeout: Duration,
    /// TLS, and mutual TLS with `client_ca_file`.
    #[serde(default)]
    pub tls: Option<tls::ServerTlsConfig>,
}

impl GrpcConfig {
    /// The connection and body bounds.
    pub fn limits(&self) -> limits::ListenerLimits {
        limits::ListenerLimits {
            max_connections: self.max_connections,
            body_idle_timeout: self.body_idle_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
    fn default_endpoint() -> String {
        "0.0.0.0:4317".to_owned()
    }
    fn default_max_recv_msg_size() -> ByteSize {
        ByteSize(16 << 20)
    }
    fn default_max_concurrent_streams() -> u32 {
        256
    }
    fn default_idle_timeout() -> Duration {
        Duration::from_secs(300)
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
    /// Longest wait for a request's head (line and headers), from its first byte or from
    /// the connection's start.
    #[serde(
        default = "HttpConfig::default_read_header_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub read_header_timeout: Duration,
    /// Most connections open at once; more are closed as soon as they are accepted.
    #[serde(default = "limits::default_max_connections")]
    pub max_connections: usize,
    /// Longest pause between two chunks of a request body.
    #[serde(
        default = "limits::default_body_idle_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body.
    #[serde(
        default = "limits::default_body_read_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub body_read_timeout: Duration,
    /// A connection that sends nothing for this long is closed (between requests too).
    #[serde(
        default = "HttpConfig::default_idle_timeout",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub idle_timeout: Duration,
    /// TLS, and mutual TLS with `client_ca_file`.
    #[serde(default)]
    pub tls: Option<tls::ServerTlsConfig>,
}

impl HttpConfig {
    /// The connection and body bounds.
    pub fn limits(&self) -> limits::ListenerLimits {
        limits::ListenerLimits {
            max_connections: self.max_connections,
            body_idle_timeout: self.body_idle_timeout,
            body_read_timeout: self.body_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
    fn default_endpoint() -> String {
        "0.0.0.0:4318".to_owned()
    }
    fn default_max_request_body_size() -> ByteSize {
        ByteSize(16 << 20)
    }
    fn default_read_header_timeout() -> Duration {
        Duration::from_secs(10)
    }
    fn default_idle_timeout() -> Duration {
        Duration::from_secs(60)
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
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub max_age: Duration,
}

/// The `otlp` receiver type, the only one: `app` binds its listeners. A second type would
/// make the receivers' config a trait object, as the processors' and exporters' are.
pub const FACTORY: Factory<ReceiverConfig> = Factory {
    type_name: "otlp",
    decode: ReceiverConfig::decode,
    register: shares_nothing,
};

impl ReceiverConfig {
    fn default_max_decompressed_size() -> ByteSize {
        ByteSize(64 << 20)
    }
    fn default_receive_budget() -> ByteSize {
        ByteSize(64 << 20)
    }

    fn decode(
        mut value: Value,
        path: &Path,
        errors: &mut Vec<ConfigError>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<ReceiverConfig> {
        // `grpc:` with no body enables the protocol with defaults, as in the collector.
        if let Some(protocols) = value.get_mut("protocols").and_then(Value::as_object_mut) {
            for key in ["grpc", "http"] {
                if let Some(v) = protocols.get_mut(key).filter(|v| v.is_null()) {
                    *v = Value::Object(Default::default());
                }
            }
        }
        let cfg: ReceiverConfig = crate::component::config::decode_at(value, path, errors)?;
        let before = errors.len();
        if cfg.protocols.grpc.is_none() && cfg.protocols.http.is_none() {
            errors.push(ConfigError {
                path: format!("{path}.protocols"),
                message: "enable at least one of grpc and http".into(),
            });
        }
        if let Some(grpc) = &cfg.protocols.grpc
            && let Err(message) = check_endpoint(&grpc.endpoint)
        {
            errors.push(ConfigError {
                path: format!("{path}.protocols.grpc.endpoint"),
                message,
            });
        }
        if let Some(http) = &cfg.protocols.http
            && let Err(message) = check_endpoint(&http.endpoint)
        {
            errors.push(ConfigError {
                path: format!("{path}.protocols.http.endpoint"),
                message,
            });
        }
        if let Some(tls) = cfg.protocols.grpc.as_ref().and_then(|g| g.tls.as_ref()) {
            tls.check(&format!("{path}.protocols.grpc.tls"), errors);
        }
        if let Some(tls) = cfg.protocols.http.as_ref().and_then(|h| h.tls.as_ref()) {
            tls.check(&format!("{path}.protocols.http.tls"), errors);
        }
        if let Some(auth) = &cfg.auth {
            auth.check(&format!("{path}.auth"), errors, env);
        }
        (errors.len() == before).then_some(cfg)
    }
}

/// What one receiver shares between its transports.
pub struct Ingest {
    queue: Arc<JobQueue>,
    metrics: Arc<OwnMetrics>,
    auth: Option<Auth>,
    signals: Vec<Signal>,
    max_decompressed: usize,
    retry_after: Duration,
    budget: Arc<body::ReceiveBudget>,
    conns: conn::ConnMetrics,
}

impl Ingest {
    /// Creates the shared half of a receiver for the given signals.
    pub fn new(
        queue: Arc<JobQueue>,
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
            budget: Arc::new(body::ReceiveBudget::new(64 << 20)),
            conns: conn::ConnMetrics::default(),
        }
    }

    /// Sets the receive budget and where connection refusals are counted.
    pub fn with_receive(mut self, budget: u64, conns: conn::ConnMetrics) -> Ingest {
        self.budget = Arc::new(body::ReceiveBudget::new(budget));
        self.conns = conns;
        self
    }

    /// Wraps a request body: counted against the receive budget, bounded in time.
    pub(crate) fn body<B>(
        &self,
        inner: B,
        limits: &limits::ListenerLimits,
        failed: Arc<std::sync::OnceLock<body::BodyError>>,
    ) -> body::BudgetBody<B> {
        body::BudgetBody::new(inner, Arc::clone(&self.budget), limits.body(), failed)
    }

    /// The connection bound of a listener.
    pub(crate) fn conn_limit(
        &self,
        protocol: &'static str,
        limits: &limits::ListenerLimits,
    ) -> conn::ConnLimit {
        conn::ConnLimit::new(
            protocol,
            limits.connections(protocol),
            limits.idle_timeout,
            self.conns.clone(),
        )
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

    /// The refusal for a body that stopped with `error`, or for one the client cut short.
    pub(super) fn body_refusal(
        &self,
        signal: Signal,
        transport: Transport,
        error: Option<body::BodyError>,
        detail: &dyn std::fmt::Display,
    ) -> Refusal {
        let (reason, message) = match error {
            Some(e @ body::BodyError::BudgetFull) => {
                (RefusalReason::ReceiveBudgetFull, e.to_string())
            }
            Some(e @ body::BodyError::Timeout) => (RefusalReason::BodyTimeout, e.to_string()),
            None => (
                RefusalReason::IncompleteBody,
                format!("could not read the whole request body: {detail}"),
            ),
        };
        self.refuse(signal, transport, reason, message, 0)
    }

    /// Counts and builds a refusal decided on the receive side; `wire` is the body bytes
    /// read, 0 when the request was refused before its body.
    pub(super) fn refuse(
        &self,
        signal: Signal,
        transport: Transport,
        reason: RefusalReason,
        message: String,
        wire: u64,
    ) -> Refusal {
        if wire > 0 {
            self.metrics.received_bytes_only(signal, transport, wire);
        }
        self.metrics.refused(signal, transport, reason, 0);
        let retry_after = matches!(
            reason,
            RefusalReason::QueueFull
                | RefusalReason::ShuttingDown
                | RefusalReason::ReceiveBudgetFull
        )
        .then_some(self.retry_after);
        Refusal {
            reason,
            message,
            retry_after,
        }
    }

    /// Queues a request body for a pipeline worker, which decodes it and answers: accepted
    /// (perhaps partially) or refused. A full or closed queue is answered at once.
    pub async fn submit(
        &self,
        signal: Signal,
        transport: Transport,
        format: Format,
        encoding: Encoding,
        body: Bytes,
    ) -> Result<Accepted, Refusal> {
        let wire = body.len() as u64;
        if !self.signals.contains(&signal) {
            let message = format!("no {signal} pipeline is configured for this receiver");
            return Err(self.refuse(
                signal,
                transport,
                RefusalReason::SignalNotConfigured,
                message,
                wire,
            ));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            signal,
            transport,
            format,
            encoding,
            body,
            max_decompressed: self.max_decompressed,
            reply,
        };
        match self.queue.push(job, wire) {
            Ok(level) => self.metrics.queue_level(level),
            Err(PushError::Full(_)) => {
                let message = "llmwatch is over its queue capacity; retry later".to_owned();
                return Err(self.refuse(
                    signal,
                    transport,
                    RefusalReason::QueueFull,
                    message,
                    wire,
                ));
            }
            Err(PushError::Closed(_)) => {
                let message =
                    "llmwatch is shutting down; retry against another instance or later".to_owned();
                return Err(self.refuse(
                    signal,
                    transport,
                    RefusalReason::ShuttingDown,
                    message,
                    wire,
                ));
            }
        }
        answer.await.unwrap_or_else(|_| {
            self.metrics
                .refused(signal, transport, RefusalReason::Internal, 0);
            Err(Refusal {
                reason: RefusalReason::Internal,
                message: "the pipeline worker stopped before answering".to_owned(),
                retry_after: Some(self.retry_after),
            })
        })
    }
}
