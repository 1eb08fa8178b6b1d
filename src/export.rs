//! Exporters: where processed batches go.
//!
//! Exporters run on the pipeline workers and see each batch only after every processor has
//! run, so nothing reaches them unprocessed. `prometheus` is special: it is the
//! `/metrics` endpoint, which the admin server serves, so its exporter half only counts.

mod debug;
mod file;
pub mod otlp;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use self::debug::{DebugConfig, DebugExporter};
pub use self::file::{FileConfig, FileExporter};
use crate::component::config::{ConfigError, Path, check_endpoint, decode_at};
pub use crate::component::{Delivery, ExportError, Exporter};
use crate::metrics::otlp::{AppMetrics, AppMetricsConfig};
use crate::model::Batch;

/// An exporter's configuration, by type.
#[derive(Clone, Debug)]
pub enum ExporterConfig {
    /// Serves `/metrics`.
    Prometheus(PrometheusConfig),
    /// Writes OTLP/JSON lines.
    File(FileConfig),
    /// Logs batch summaries.
    Debug(DebugConfig),
    /// Discards, counting.
    Nop(NopConfig),
    /// Forwards over OTLP.
    Otlp(Box<otlp::OtlpConfig>),
}

/// What building exporters needs besides their config.
pub struct ExportContext {
    /// Where a `prometheus` exporter puts the metrics apps send, for `/metrics` to render.
    pub app_metrics: Option<Arc<AppMetrics>>,
    /// llmwatch's own metrics.
    pub own: Arc<crate::metrics::OwnMetrics>,
    /// The `otlp` exporters' families.
    pub otlp: otlp::OtlpMetrics,
}

impl ExporterConfig {
    pub(crate) fn decode(
        kind: &str,
        value: Value,
        path: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> Option<ExporterConfig> {
        match kind {
            "prometheus" => {
                let cfg: PrometheusConfig = decode_at(value, path, errors)?;
                if let Err(message) = check_endpoint(&cfg.endpoint) {
                    errors.push(ConfigError {
                        path: format!("{path}.endpoint"),
                        message,
                    });
                    return None;
                }
                if let Some(tls) = &cfg.tls {
                    let before = errors.len();
                    tls.check(&format!("{path}.tls"), errors);
                    if errors.len() > before {
                        return None;
                    }
                }
                Some(ExporterConfig::Prometheus(cfg))
            }
            "file" => {
                let cfg: FileConfig = decode_at(value, path, errors)?;
                cfg.check(path, errors).then_some(ExporterConfig::File(cfg))
            }
            "debug" => decode_at(value, path, errors).map(ExporterConfig::Debug),
            "nop" => decode_at(value, path, errors).map(ExporterConfig::Nop),
            "otlp" => {
                let mut cfg: otlp::OtlpConfig = decode_at(value, path, errors)?;
                cfg.normalize();
                cfg.check(path, errors)
                    .then(|| ExporterConfig::Otlp(Box::new(cfg)))
            }
            other => {
                errors.push(ConfigError {
                    path: path.to_string(),
                    message: format!("unknown exporter type {other:?}: known types are prometheus, otlp, file, debug and nop"),
                });
                None
            }
        }
    }

    /// Builds exporter `id`.
    pub fn build(&self, id: &str, ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(match self {
            ExporterConfig::Prometheus(_) => Arc::new(PrometheusExporter {
                app_metrics: ctx.app_metrics.clone(),
            }),
            ExporterConfig::Otlp(cfg) => Arc::new(otlp::OtlpExporter::start(
                id,
                (**cfg).clone(),
                Arc::clone(&ctx.own),
                ctx.otlp.clone(),
            )?),
            ExporterConfig::File(cfg) => Arc::new(FileExporter::open(cfg.clone())?),
            ExporterConfig::Debug(cfg) => Arc::new(DebugExporter::new(cfg.clone())),
            ExporterConfig::Nop(cfg) => Arc::new(NopExporter {
                latency: cfg.latency,
            }),
        })
    }
}

/// `exporters.prometheus`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[serde(default = "PrometheusConfig::default_endpoint")]
    pub endpoint: String,
    /// How the metrics apps send through a metrics pipeline appear on `/metrics`.
    #[serde(default)]
    pub app_metrics: AppMetricsConfig,
    /// TLS on the admin port (`/metrics`, `/healthz`, `/readyz`).
    #[serde(default)]
    pub tls: Option<crate::net::tls::ServerTlsConfig>,
    /// Optional bearer-token authentication of `/metrics` and `/admin/*`, configured like
    /// the receivers' (`/healthz` and `/readyz` stay open).
    #[serde(default)]
    pub auth: Option<crate::net::auth::AuthConfig>,
}

impl PrometheusConfig {
    fn default_endpoint() -> String {
        "0.0.0.0:9464".to_owned()
    }
}

/// The exporter half of `prometheus`: derived metrics come from processors and are served
/// by the admin server, so a batch that reaches it has been counted; apps' own metrics
/// are taken into the store `/metrics` renders.
struct PrometheusExporter {
    app_metrics: Option<Arc<AppMetrics>>,
}

impl Exporter for PrometheusExporter {
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError> {
        if let (Some(store), crate::model::Payload::Metrics(req)) =
            (&self.app_metrics, &batch.payload)
        {
            store.ingest(req);
        }
        Ok(Delivery::Sent)
    }
}

/// `exporters.nop`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NopConfig {
    /// Waits this long per batch before discarding it, to rehearse a slow downstream
    /// (capacity drills, overload tests). Off by default.
    #[serde(
        default,
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub latency: Duration,
}

/// Discards every batch, after an optional delay.
struct NopExporter {
    latency: Duration,
}

impl Exporter for NopExporter {
    fn export(&self, _batch: &Batch) -> Result<Delivery, ExportError> {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
        Ok(Delivery::Discarded)
    }
}
