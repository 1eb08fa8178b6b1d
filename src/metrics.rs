//! The Prometheus registry and llmwatch's own metrics (`llmwatch_*`).
//!
//! Every family is registered once at startup; stages never record their own metrics, they
//! report counts that the receivers and the pipeline record once per request or batch.
//! Label values come from closed sets (`Signal`, `Transport`, `RefusalReason`) or from
//! component ids in the operator's own config, so no label carries client input.

pub mod bounded;
pub mod exposition;
pub mod otlp;
pub mod spec;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::component::queue::QueueLevel;
use crate::decode::RefusalReason;
use crate::model::{Signal, Transport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiveLabels {
    signal: &'static str,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefuseLabels {
    signal: &'static str,
    transport: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
    signal: &'static str,
}

/// The labels of every per-exporter family: the exporter's id and the signal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ExporterLabels {
    pub(crate) exporter: String,
    pub(crate) signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// llmwatch's own metrics.
pub struct OwnMetrics {
    received_items: Family<ReceiveLabels, Counter>,
    received_bytes: Family<ReceiveLabels, Counter>,
    accepted_items: Family<ReceiveLabels, Counter>,
    refused_items: Family<RefuseLabels, Counter>,
    refused_requests: Family<RefuseLabels, Counter>,
    queue_bytes: Gauge,
    queue_requests: Gauge,
    batch_duration: Family<SignalLabels, Histogram>,
    processor_dropped: Family<ComponentLabels, Counter>,
    exporter_sent: Family<ExporterLabels, Counter>,
    exporter_failed: Family<ExporterLabels, Counter>,
    exporter_discarded: Family<ExporterLabels, Counter>,
}

impl OwnMetrics {
    /// Registers every family in `registry`, with the queue's capacity as constant gauges.
    pub fn register(registry: &mut Registry, queue_capacity: u64) -> Arc<OwnMetrics> {
        let m = OwnMetrics {
            received_items: Family::default(),
            received_bytes: Family::default(),
            accepted_items: Family::default(),
            refused_items: Family::default(),
            refused_requests: Family::default(),
            queue_bytes: Gauge::default(),
            queue_requests: Gauge::default(),
            batch_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
            }),
            processor_dropped: Family::default(),
            exporter_sent: Family::default(),
            exporter_failed: Family::default(),
            exporter_discarded: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("llmwatch");
        m.register_receiver(r);
        m.register_queue(r, queue_capacity);
        m.register_pipeline(r);
        register_build_info(r);
        Arc::new(m)
    }

    /// The receiver's families: items and bytes received, accepted and refused.
    fn register_receiver(&self, r: &mut Registry) {
        let m = self;
        r.register(
            "receiver_received_items",
            "Items (spans, log records, metric data points) in requests that decoded",
            m.received_items.clone(),
        );
        r.register("receiver_received_bytes", "Request body bytes received, as sent on the wire (compressed if the client compressed)", m.received_bytes.clone());
        r.register(
            "receiver_accepted_items",
            "Items decoded and accepted into the pipeline",
            m.accepted_items.clone(),
        );
        r.register("receiver_refused_items", "Items refused, by reason; items of requests refused before decoding (malformed, queue full, unauthenticated) are not countable and appear only in refused_requests", m.refused_items.clone());
        r.register(
            "receiver_refused_requests",
            "Requests refused in whole or in part, by reason",
            m.refused_requests.clone(),
        );
    }

    /// The queue's level gauges, and its capacity as a constant gauge.
    fn register_queue(&self, r: &mut Registry, queue_capacity: u64) {
        let m = self;
        r.register(
            "queue_bytes",
            "Request bytes (as received) waiting in the pipeline queue",
            m.queue_bytes.clone(),
        );
        r.register(
            "queue_requests",
            "Requests waiting in the pipeline queue",
            m.queue_requests.clone(),
        );
        let cap_bytes = Gauge::<i64>::default();
        cap_bytes.set(i64::try_from(queue_capacity).unwrap_or(i64::MAX));
        r.register(
            "queue_capacity_bytes",
            "Configured byte bound of the pipeline queue",
            cap_bytes,
        );
    }

    /// The pipeline's batch duration and the processors' and exporters' item counts.
    fn register_pipeline(&self, r: &mut Registry) {
        let m = self;
        r.register(
            "pipeline_batch_duration_seconds",
            "Time to run one batch through its pipelines, processors and exporters included",
            m.batch_duration.clone(),
        );
        r.register(
            "processor_dropped_items",
            "Items dropped because a processor failed on their batch",
            m.processor_dropped.clone(),
        );
        r.register(
            "exporter_sent_items",
            "Items an exporter delivered",
            m.exporter_sent.clone(),
        );
        r.register(
            "exporter_failed_items",
            "Items an exporter failed to deliver",
            m.exporter_failed.clone(),
        );
        r.register(
            "exporter_discarded_items",
            "Items an exporter discarded by design (the nop exporter)",
            m.exporter_discarded.clone(),
        );
    }
}

/// `llmwatch_build_info{version}`: always 1.
fn register_build_info(r: &mut Registry) {
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
    r.register(
        "build_info",
        "Always 1; the version label says which llmwatch is running",
        build,
    );
}

impl OwnMetrics {
    /// Records a request that decoded: items and bytes received.
    pub fn received(&self, signal: Signal, transport: Transport, items: u64, wire_bytes: u64) {
        let labels = ReceiveLabels {
            signal: signal.as_str(),
            transport: transport.as_str(),
        };
        self.received_items.get_or_create(&labels).inc_by(items);
        self.received_bytes
            .get_or_create(&labels)
            .inc_by(wire_bytes);
    }

    /// Records the bytes of a request that did not decode.
    pub fn received_bytes_only(&self, signal: Signal, transport: Transport, wire_bytes: u64) {
        let labels = ReceiveLabels {
            signal: signal.as_str(),
            transport: transport.as_str(),
        };
        self.received_bytes
            .get_or_create(&labels)
            .inc_by(wire_bytes);
    }

    /// Records items decoded and accepted into the pipeline.
    pub fn accepted(&self, signal: Signal, transport: Transport, items: u64) {
        let labels = ReceiveLabels {
            signal: signal.as_str(),
            transport: transport.as_str(),
        };
        self.accepted_items.get_or_create(&labels).inc_by(items);
    }

    /// Records a refusal of `items` items (0 when they could not be counted).
    pub fn refused(&self, signal: Signal, transport: Transport, reason: RefusalReason, items: u64) {
        let labels = RefuseLabels {
            signal: signal.as_str(),
            transport: transport.as_str(),
            reason: reason.as_str(),
        };
        self.refused_requests.get_or_create(&labels).inc();
        if items > 0 {
            self.refused_items.get_or_create(&labels).inc_by(items);
        }
    }

    /// Publishes the queue level.
    pub fn queue_level(&self, level: QueueLevel) {
        self.queue_bytes
            .set(i64::try_from(level.bytes).unwrap_or(i64::MAX));
        self.queue_requests
            .set(i64::try_from(level.requests).unwrap_or(i64::MAX));
    }

    /// Records how long a batch took through its pipelines.
    pub fn batch_processed(&self, signal: Signal, took: Duration) {
        self.batch_duration
            .get_or_create(&SignalLabels {
                signal: signal.as_str(),
            })
            .observe(took.as_secs_f64());
    }

    /// Records items dropped because processor `id` failed.
    pub fn processor_dropped(&self, id: &str, signal: Signal, items: u64) {
        self.processor_dropped
            .get_or_create(&ComponentLabels {
                component: id.to_owned(),
                signal: signal.as_str(),
            })
            .inc_by(items);
    }

    pub(crate) fn exporter_labels(id: &str, signal: Signal) -> ExporterLabels {
        ExporterLabels {
            exporter: id.to_owned(),
            signal: signal.as_str(),
        }
    }

    /// Records items exporter `id` delivered.
    pub fn exported(&self, id: &str, signal: Signal, items: u64) {
        self.exporter_sent
            .get_or_create(&Self::exporter_labels(id, signal))
            .inc_by(items);
    }

    /// Records items exporter `id` failed to deliver.
    pub fn export_failed(&self, id: &str, signal: Signal, items: u64) {
        self.exporter_failed
            .get_or_create(&Self::exporter_labels(id, signal))
            .inc_by(items);
    }

    /// Records items exporter `id` discarded by design.
    pub fn export_discarded(&self, id: &str, signal: Signal, items: u64) {
        self.exporter_discarded
            .get_or_create(&Self::exporter_labels(id, signal))
            .inc_by(items);
    }
}
