//! Exporters: where processed batches go.
//!
//! Exporters run on the pipeline workers and see each batch only after every processor has
//! run, so nothing reaches them unprocessed. `prometheus` is special: it is the
//! `/metrics` endpoint, which the admin server serves, so its exporter half only counts.

mod debug;
mod file;
pub mod otlp;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use self::debug::{DebugConfig, DebugExporter, FACTORY as DEBUG};
pub use self::file::{FACTORY as FILE, FileConfig, FileExporter};
use crate::component::config::{ConfigError, check_endpoint, decode_at};
use crate::component::factory::{Factory, shares_nothing};
pub use crate::component::{Delivery, ExportError, Exporter};
use crate::metrics::otlp::{AppMetrics, AppMetricsConfig};
use crate::model::Batch;

/// An exporter's decoded config: one of the types in the registry's exporter list.
pub type ExporterConfig = Arc<dyn ExporterSettings>;

/// What an exporter type's config does once decoded.
pub trait ExporterSettings: std::fmt::Debug + Send + Sync + Any {
    /// Builds exporter `id`.
    fn build(&self, id: &str, ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>>;
}

impl dyn ExporterSettings {
    /// The config as its own type, for the few readers of one type's settings (`app`
    /// serves `/metrics` from the `prometheus` exporter's endpoint).
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref()
    }
}

/// An exporter type, for the registry.
pub type ExporterFactory = Factory<ExporterConfig>;

/// What building exporters needs besides their config.
pub struct ExportContext {
    /// Where a `prometheus` exporter puts the metrics apps send, for `/metrics` to render.
    pub app_metrics: Option<Arc<AppMetrics>>,
    /// llmwatch's own metrics.
    pub own: Arc<crate::metrics::OwnMetrics>,
    /// The `otlp` exporters' families.
    pub otlp: otlp::OtlpMetrics,
}

/// The `prometheus` exporter type.
pub const PROMETHEUS: ExporterFactory = Factory {
    type_name: "prometheus",
    decode: |value, path, errors, _env| {
        let cfg: PrometheusConfig = decode_at(value, path, errors)?;
        if let Err(message) = check_endpoint(&cfg.endpoint) {
            errors.push(ConfigError::new(&path.join("endpoint"), message));
            return None;
        }
        if let Some(tls) = &cfg.tls {
            let before = errors.len();
            tls.check(&format!("{path}.tls"), errors);
            if errors.len() > before {
                return None;
            }
        }
        Some(Arc::new(cfg))
    },
    register: shares_nothing,
};

/// The `nop` exporter type.
pub const NOP: ExporterFactory = Factory {
    type_name: "nop",
    decode: |value, path, errors, _env| {
        decode_at::<NopConfig>(value, path, errors).map(|c| Arc::new(c) as ExporterConfig)
    },
    register: shares_nothing,
};

impl ExporterSettings for PrometheusConfig {
    fn build(&self, _id: &str, ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(Arc::new(PrometheusExporter {
            app_metrics: ctx.app_metrics.clone(),
        }))
    }
}

impl ExporterSettings for NopConfig {
    fn build(&self, _id: &str, _ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(Arc::new(NopExporter {
            latency: self.latency,
        }))
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
