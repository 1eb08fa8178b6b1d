//! What the `otlp` exporter costs a pipeline worker: encoding a processed batch, splitting
//! it to the batch limits and appending it to the in-memory send queue. The destination is
//! a closed port, so the sender thread only retries in the background (backoff 1 s) and
//! `drop_oldest` keeps the queue bounded.
//!
//! Run with `cargo bench --bench export`. Throughput is in spans.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use llmwatch::export::Exporter;
use llmwatch::export::otlp::{OtlpConfig, OtlpExporter, OtlpMetrics};
use llmwatch::model::{Batch, Payload, Transport};

fn main() {
    divan::main();
}

const SIZES: [usize; 2] = [100, 512];

fn exporter() -> OtlpExporter {
    let mut registry = prometheus_client::registry::Registry::default();
    let own = llmwatch::metrics::OwnMetrics::register(&mut registry, 1);
    let otlp = OtlpMetrics::register(&mut registry);
    let config: OtlpConfig = serde_saphyr::from_str(
        "endpoint: http://127.0.0.1:9\nqueue: { max_bytes: 64MiB, when_full: drop_oldest }\n",
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    OtlpExporter::start("otlp", config, own, otlp).unwrap_or_else(|e| panic!("start: {e}"))
}

#[divan::bench(args = SIZES)]
fn enqueue(bencher: Bencher, spans: usize) {
    let exporter = exporter();
    let payload = Payload::Traces(llmwatch::bench::reference_traces(spans, 42));
    let batch = Batch::new(payload, Transport::Grpc, 0);
    bencher
        .counter(ItemsCount::new(spans))
        .bench(|| exporter.export(black_box(&batch)).is_ok());
}
