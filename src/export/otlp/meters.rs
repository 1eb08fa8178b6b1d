//! What the `otlp` exporters record: the `llmwatch_exporter_*` families of the send queue
//! and its delivery, and one exporter's handle on them.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::queue::{Dropped, SendQueue};
use crate::metrics::{ExporterLabels, OwnMetrics};
use crate::model::Signal;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DropLabels {
    pub(super) exporter: String,
    pub(super) signal: &'static str,
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct QueueLabels {
    pub(super) exporter: String,
}

/// The families every `otlp` exporter records into; sent and failed items go to the
/// shared `llmwatch_exporter_{sent,failed}_items`.
#[derive(Clone)]
pub struct OtlpMetrics {
    pub(super) enqueued: Family<ExporterLabels, Counter>,
    pub(super) retried: Family<ExporterLabels, Counter>,
    pub(super) rejected: Family<ExporterLabels, Counter>,
    pub(super) dropped: Family<DropLabels, Counter>,
    pub(super) queue_bytes: Family<QueueLabels, Gauge>,
    pub(super) queue_capacity: Family<QueueLabels, Gauge>,
    pub(super) duration: Family<ExporterLabels, Histogram, fn() -> Histogram>,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

impl OtlpMetrics {
    /// Registers the families.
    pub fn register(registry: &mut Registry) -> OtlpMetrics {
        let m = OtlpMetrics {
            enqueued: Family::default(),
            retried: Family::default(),
            rejected: Family::default(),
            dropped: Family::default(),
            queue_bytes: Family::default(),
            queue_capacity: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        };
        let r = registry.sub_registry_with_prefix("llmwatch_exporter");
        r.register(
            "enqueued_items",
            "Items an otlp exporter took into its send queue",
            m.enqueued.clone(),
        );
        r.register(
            "retried_items",
            "Items in export attempts that failed with a retryable error and were tried again",
            m.retried.clone(),
        );
        r.register(
            "rejected_items",
            "Items the destination reported as rejected in a partial success; never resent",
            m.rejected.clone(),
        );
        r.register(
            "dropped_items",
            "Items an otlp exporter gave up on, by reason: queue_full (drop_oldest), non_retryable, retries_exhausted, shutdown, io_error",
            m.dropped.clone(),
        );
        r.register(
            "queue_bytes",
            "Bytes held in an otlp exporter's send queue, in memory or on disk",
            m.queue_bytes.clone(),
        );
        r.register(
            "queue_capacity_bytes",
            "Configured byte bound of an otlp exporter's send queue",
            m.queue_capacity.clone(),
        );
        r.register(
            "send_duration_seconds",
            "Time of one export request to the destination, successful or not",
            m.duration.clone(),
        );
        m
    }
}

/// Where an exporter records.
pub(super) struct Meters {
    pub(super) id: String,
    pub(super) own: Arc<OwnMetrics>,
    pub(super) otlp: OtlpMetrics,
}

impl Meters {
    pub(super) fn labels(&self, signal: Signal) -> ExporterLabels {
        OwnMetrics::exporter_labels(&self.id, signal)
    }

    pub(super) fn dropped(&self, signal: Signal, reason: &'static str, items: u64) {
        self.otlp
            .dropped
            .get_or_create(&DropLabels {
                exporter: self.id.clone(),
                signal: signal.as_str(),
                reason,
            })
            .inc_by(items);
    }

    pub(super) fn dropped_all(&self, dropped: &Dropped, reason: &'static str) {
        for (signal, items) in dropped.iter() {
            self.dropped(signal, reason, items);
        }
    }

    pub(super) fn queue(&self, queue: &SendQueue) {
        let labels = QueueLabels {
            exporter: self.id.clone(),
        };
        self.otlp
            .queue_bytes
            .get_or_create(&labels)
            .set(i64::try_from(queue.bytes()).unwrap_or(i64::MAX));
    }
}
