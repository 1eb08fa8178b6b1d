//! Micro-benchmarks of the receive path, without sockets: decoding the reference request
//! (performance.md §6), with and without gzip and as OTLP/JSON, and one batch through the
//! pipeline.
//!
//! Run with `cargo bench --bench decode`. Throughput is in spans.

use std::io::Write;
use std::sync::Arc;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use llmwatch::decode::{self, Encoding, Format};
use llmwatch::export::ExporterSettings;
use llmwatch::model::{Batch, Signal, Transport};
use llmwatch::pipeline::{Pipeline, Pipelines};
use prost::Message;

fn main() {
    divan::main();
}

const SIZES: [usize; 3] = [10, 100, 512];

fn protobuf(spans: usize) -> Vec<u8> {
    llmwatch::bench::reference_traces(spans, 42).encode_to_vec()
}

#[divan::bench(args = SIZES)]
fn decode_protobuf(bencher: Bencher, spans: usize) {
    let body = protobuf(spans);
    bencher.counter(ItemsCount::new(spans)).bench(|| {
        decode::decode(Signal::Traces, Format::Protobuf, black_box(&body)).map(|p| p.item_count())
    });
}

#[divan::bench(args = SIZES)]
fn gunzip_and_decode_protobuf(bencher: Bencher, spans: usize) {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&protobuf(spans)).unwrap_or_default();
    let body = enc.finish().unwrap_or_default();
    bencher.counter(ItemsCount::new(spans)).bench(|| {
        let plain = decode::decompress(black_box(&body), Encoding::Gzip, 64 << 20)
            .map_err(|e| e.to_string())?;
        decode::decode(Signal::Traces, Format::Protobuf, &plain)
            .map(|p| p.item_count())
            .map_err(|e| e.to_string())
    });
}

#[divan::bench(args = SIZES)]
fn decode_json(bencher: Bencher, spans: usize) {
    let body =
        serde_json::to_vec(&llmwatch::bench::reference_traces(spans, 42)).unwrap_or_default();
    bencher.counter(ItemsCount::new(spans)).bench(|| {
        decode::decode(Signal::Traces, Format::Json, black_box(&body)).map(|p| p.item_count())
    });
}

#[divan::bench(args = SIZES)]
fn pipeline_pass_through(bencher: Bencher, spans: usize) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = llmwatch::metrics::OwnMetrics::register(&mut registry, 1);
    let ctx = llmwatch::export::ExportContext {
        app_metrics: None,
        own: Arc::clone(&metrics),
        otlp: llmwatch::export::otlp::OtlpMetrics::register(&mut registry),
    };
    let exporter =
        match ExporterSettings::build(&llmwatch::export::NopConfig::default(), "nop", &ctx) {
            Ok(e) => e,
            Err(e) => panic!("nop exporter: {e}"),
        };
    let pipelines = Pipelines::new(
        vec![Pipeline {
            name: "traces".into(),
            signal: Signal::Traces,
            processors: vec![],
            exporters: vec![("nop".into(), Arc::clone(&exporter))],
        }],
        metrics,
    );
    let body = protobuf(spans);
    bencher.counter(ItemsCount::new(spans)).bench(|| {
        if let Ok(payload) = decode::decode(Signal::Traces, Format::Protobuf, &body) {
            pipelines.handle(Batch::new(payload, Transport::Grpc, body.len() as u64));
        }
    });
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Decodes here and frees on another thread, as the server does (receive threads decode,
/// pipeline workers drop). Compare with `decode_protobuf`: the gap is the allocator's cost
/// of cross-thread frees.
#[divan::bench(args = [100])]
fn decode_protobuf_freed_elsewhere(bencher: Bencher, spans: usize) {
    let body = protobuf(spans);
    let (tx, rx) = std::sync::mpsc::sync_channel::<llmwatch::model::Payload>(64);
    let dropper = std::thread::spawn(move || while rx.recv().is_ok() {});
    bencher.counter(ItemsCount::new(spans)).bench(|| {
        if let Ok(p) = decode::decode(Signal::Traces, Format::Protobuf, black_box(&body)) {
            let _ = tx.send(p);
        }
    });
    drop(tx);
    let _ = dropper.join();
}
