//! The `debug` exporter: one log line per batch with counts only.
//!
//! It never logs attribute values, span names or bodies: those may hold user text.

use serde::Deserialize;

use std::sync::Arc;

use super::{
    Delivery, ExportContext, ExportError, Exporter, ExporterConfig, ExporterFactory,
    ExporterSettings,
};
use crate::component::config::decode_at;
use crate::component::factory::{Factory, shares_nothing};
use crate::model::{Batch, Payload};

/// `exporters.debug`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebugConfig {
    /// `basic` logs items and bytes; `detailed` adds resource and scope counts.
    #[serde(default)]
    pub verbosity: Verbosity,
}

/// How much the debug exporter logs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// Items and bytes.
    #[default]
    Basic,
    /// Also resources and scopes.
    Detailed,
}

/// The `debug` exporter type.
pub const FACTORY: ExporterFactory = Factory {
    type_name: "debug",
    decode: |value, path, errors, _env| {
        decode_at::<DebugConfig>(value, path, errors).map(|c| Arc::new(c) as ExporterConfig)
    },
    register: shares_nothing,
};

impl ExporterSettings for DebugConfig {
    fn build(&self, _id: &str, _ctx: &ExportContext) -> std::io::Result<Arc<dyn Exporter>> {
        Ok(Arc::new(DebugExporter::new(self.clone())))
    }
}

/// Logs a summary of each batch at INFO.
pub struct DebugExporter {
    config: DebugConfig,
}

impl DebugExporter {
    /// Creates the exporter.
    pub fn new(config: DebugConfig) -> DebugExporter {
        DebugExporter { config }
    }
}

fn shape(payload: &Payload) -> (usize, usize) {
    match payload {
        Payload::Traces(r) => (
            r.resource_spans.len(),
            r.resource_spans.iter().map(|x| x.scope_spans.len()).sum(),
        ),
        Payload::Logs(r) => (
            r.resource_logs.len(),
            r.resource_logs.iter().map(|x| x.scope_logs.len()).sum(),
        ),
        Payload::Metrics(r) => (
            r.resource_metrics.len(),
            r.resource_metrics
                .iter()
                .map(|x| x.scope_metrics.len())
                .sum(),
        ),
    }
}

impl Exporter for DebugExporter {
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError> {
        let items = batch.payload.item_count();
        match self.config.verbosity {
            Verbosity::Basic => {
                tracing::info!(signal = %batch.signal(), items, bytes = batch.bytes, transport = batch.transport.as_str(), "debug exporter");
            }
            Verbosity::Detailed => {
                let (resources, scopes) = shape(&batch.payload);
                tracing::info!(signal = %batch.signal(), items, bytes = batch.bytes, transport = batch.transport.as_str(), resources, scopes, "debug exporter");
            }
        }
        Ok(Delivery::Sent)
    }
}
