//! `exporters.otlp`: where to send, how, and how much to hold while the destination is away.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use std::sync::Arc;

use crate::component::config::{ConfigError, Path, decode_at};
use crate::component::factory::{Factory, shares_nothing};
use crate::component::units::{ByteSize, deserialize_duration};
use crate::export::{ExportContext, Exporter, ExporterConfig, ExporterFactory, ExporterSettings};

/// `exporters.otlp`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// `http://host:port` or `https://host:port`. For `http_protobuf` this is the base URL
    /// that `/v1/traces`, `/v1/logs` and `/v1/metrics` are appended to, as with
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    /// `grpc` (default) or `http_protobuf`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Request headers; put secrets in the environment: `Bearer ${env:BACKEND_TOKEN}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `gzip` (default), `zstd` or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// The deadline of one export request.
    #[serde(
        default = "OtlpConfig::default_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub timeout: Duration,
    /// TLS for `https://` endpoints.
    #[serde(default)]
    pub tls: TlsConfig,
    /// How queued items are grouped into requests.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Retries of failed requests.
    #[serde(default)]
    pub retry: RetryConfig,
    /// The queue in front of the destination.
    #[serde(default)]
    pub queue: SendQueueConfig,
}

// Header values hold credentials; they never reach a log through `{:?}`.
impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .field("batch", &self.batch)
            .field("retry", &self.retry)
            .field("queue", &self.queue)
            .finish()
    }
}

/// The wire protocol.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OTLP/gRPC.
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
}

/// Request compression.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// gzip, which every OTLP receiver must accept.
    #[default]
    Gzip,
    /// zstd: cheaper CPU for the same ratio, where the receiver supports it.
    Zstd,
    /// No compression (a local sink).
    None,
}

/// `exporters.otlp.tls`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA bundle to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// The name to verify the server certificate against, when it differs from the
    /// endpoint's host.
    pub server_name: Option<String>,
    /// Plain text, as the Collector's `tls.insecure`: a bare `host:port` endpoint is then
    /// `http://host:port` rather than `https://host:port`.
    #[serde(default)]
    pub insecure: bool,
}

/// `exporters.otlp.batch`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most items in one request. Larger exports are split.
    #[serde(default = "BatchConfig::default_max_items")]
    pub max_items: u32,
    /// Most encoded bytes in one request, before compression. Larger exports are split.
    #[serde(default = "BatchConfig::default_max_bytes")]
    pub max_bytes: ByteSize,
    /// How long a partial batch waits for more items before it is sent.
    #[serde(
        default = "BatchConfig::default_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub timeout: Duration,
}

impl BatchConfig {
    fn default_max_items() -> u32 {
        8192
    }
    fn default_max_bytes() -> ByteSize {
        ByteSize(4 << 20)
    }
    fn default_timeout() -> Duration {
        Duration::from_millis(200)
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_items: Self::default_max_items(),
            max_bytes: Self::default_max_bytes(),
            timeout: Self::default_timeout(),
        }
    }
}

/// `exporters.otlp.retry`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// The first backoff.
    #[serde(
        default = "RetryConfig::default_initial_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub initial_interval: Duration,
    /// The longest backoff between two attempts.
    #[serde(
        default = "RetryConfig::default_max_interval",
        deserialize_with = "deserialize_duration"
    )]
    pub max_interval: Duration,
    /// How long one batch is retried before it is dropped and counted. `0s` retries for as
    /// long as the queue has room for it: the queue's size is then the bound.
    #[serde(
        default = "RetryConfig::default_max_elapsed_time",
        deserialize_with = "deserialize_duration"
    )]
    pub max_elapsed_time: Duration,
}

impl RetryConfig {
    fn default_initial_interval() -> Duration {
        Duration::from_secs(1)
    }
    fn default_max_interval() -> Duration {
        Duration::from_secs(30)
    }
    fn default_max_elapsed_time() -> Duration {
        Duration::from_secs(300)
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_interval: Self::default_initial_interval(),
            max_interval: Self::default_max_interval(),
            max_elapsed_time: Self::default_max_elapsed_time(),
        }
    }
}

/// What a full queue does with a new export.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Refuse new requests at the receivers with the OTLP retryable status until there is
    /// room, so the apps hold and retry their data.
    #[default]
    Block,
    /// Make room by dropping the oldest queued batches, counted.
    DropOldest,
}

/// `exporters.otlp.queue`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendQueueConfig {
    /// Most encoded bytes held, in memory or on disk.
    #[serde(default = "SendQueueConfig::default_max_bytes")]
    pub max_bytes: ByteSize,
    /// `block` (default) or `drop_oldest`.
    #[serde(default)]
    pub when_full: FullPolicy,
    /// Write ahead to this directory so a restart or crash loses nothing queued.
    pub directory: Option<PathBuf>,
    /// With `directory`: `fsync` every write, so a power loss also loses nothing
    /// acknowledged. Without it a process crash loses nothing, the OS may lose the last
    /// writes on power loss.
    #[serde(default)]
    pub fsync: bool,
}

impl SendQueueConfig {
    fn default_max_bytes() -> ByteSize {
        ByteSize(256 << 20)
    }
}

impl Default for SendQueueConfig {
    fn default() -> Self {
        SendQueueConfig {
            max_bytes: Self::default_max_bytes(),
            when_full: FullPolicy::default(),
            directory: None,
            fsync: false,
        }
    }
}

/// The `otlp` exporter type.
pub const FACTORY: ExporterFactory = Factory {
    type_name: "otlp",
    decode: |value, path, errors, _env| {
        let mut cfg: OtlpConfig = decode_at(value, path, errors)?;
        cfg.normalize();
        cfg.check(path, errors)
            .then(|| Arc::new(cfg) as ExporterConfig)
    },
    register: shares_nothing,
};

impl ExporterSettings for OtlpConfig {
    fn build(&self, id: &str, ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(Arc::new(super::OtlpExporter::start(
            id,
            self.clone(),
            Arc::clone(&ctx.own),
            ctx.otlp.clone(),
        )?))
    }
}

impl OtlpConfig {
    fn default_timeout() -> Duration {
        Duration::from_secs(10)
    }

    /// Whether the endpoint is `https://`.
    pub fn is_tls(&self) -> bool {
        self.endpoint.starts_with("https://")
    }

    /// Reads a bare `host:port` endpoint as the Collector does: `https://` unless
    /// `tls.insecure` is set, then `http://`.
    pub(crate) fn normalize(&mut self) {
        if !self.endpoint.contains("://") {
            let scheme = if self.tls.insecure { "http" } else { "https" };
            self.endpoint = format!("{scheme}://{}", self.endpoint);
        }
    }

    pub(crate) fn check(&self, path: &Path, errors: &mut Vec<ConfigError>) -> bool {
        let before = errors.len();
        self.check_endpoint(path, errors);
        self.check_tls(path, errors);
        self.check_delivery(path, errors);
        errors.len() == before
    }

    /// The endpoint, its headers and timeout.
    fn check_endpoint(&self, path: &Path, errors: &mut Vec<ConfigError>) {
        let mut err = |key: &str, message: String| {
            errors.push(ConfigError {
                path: format!("{path}.{key}"),
                message,
            });
        };
        match self.endpoint.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some() =>
            {
                let rest = uri.path();
                if self.protocol == Protocol::Grpc && rest != "/" && !rest.is_empty() {
                    err(
                        "endpoint",
                        format!("a gRPC endpoint has no path, found {rest:?}"),
                    );
                }
            }
            _ => err(
                "endpoint",
                format!(
                    "invalid endpoint {:?}: expected http://host:port or https://host:port",
                    self.endpoint
                ),
            ),
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                err("headers", format!("{name:?} is not a valid header name"));
            } else if http::HeaderValue::from_str(value).is_err() {
                // The value is a credential: never echo it.
                err(
                    &format!("headers.{name}"),
                    "the value is not a valid header value".into(),
                );
            }
        }
        if self.timeout.is_zero() {
            err("timeout", "must be longer than zero".into());
        }
    }

    /// TLS settings agree with the endpoint and name readable files.
    fn check_tls(&self, path: &Path, errors: &mut Vec<ConfigError>) {
        let mut err = |key: &str, message: String| {
            errors.push(ConfigError {
                path: format!("{path}.{key}"),
                message,
            });
        };
        let tls_set = self.tls.ca_file.is_some()
            || self.tls.cert_file.is_some()
            || self.tls.server_name.is_some();
        if self.tls.insecure && self.is_tls() {
            err(
                "tls.insecure",
                "insecure: true means plain text, but the endpoint is https://".into(),
            );
        }
        if tls_set && !self.is_tls() {
            err(
                "tls",
                "TLS settings need an https:// endpoint; this one is plain http".into(),
            );
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            err(
                "tls",
                "cert_file and key_file go together: set both or neither".into(),
            );
        }
        for (key, file) in [
            ("tls.ca_file", &self.tls.ca_file),
            ("tls.cert_file", &self.tls.cert_file),
            ("tls.key_file", &self.tls.key_file),
        ] {
            if let Some(file) = file
                && !file.is_file()
            {
                err(key, format!("{} is not a readable file", file.display()));
            }
        }
    }

    /// Batches, retries and the queue.
    fn check_delivery(&self, path: &Path, errors: &mut Vec<ConfigError>) {
        let mut err = |key: &str, message: String| {
            errors.push(ConfigError {
                path: format!("{path}.{key}"),
                message,
            });
        };
        if self.batch.max_items == 0 {
            err("batch.max_items", "must be at least 1".into());
        }
        if self.batch.max_bytes.0 < 1024 {
            err("batch.max_bytes", "must be at least 1KiB".into());
        }
        if self.retry.initial_interval.is_zero() {
            err("retry.initial_interval", "must be longer than zero".into());
        }
        if self.retry.max_interval < self.retry.initial_interval {
            err(
                "retry.max_interval",
                "must be at least retry.initial_interval".into(),
            );
        }
        if self.queue.max_bytes < self.batch.max_bytes {
            err(
                "queue.max_bytes",
                format!(
                    "must hold at least one batch ({}, batch.max_bytes)",
                    self.batch.max_bytes
                ),
            );
        }
        if self.queue.fsync && self.queue.directory.is_none() {
            err("queue.fsync", "needs queue.directory".into());
        }
    }
}
