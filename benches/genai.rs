//! Cost per span of the `genai` processor: recognising the call, pricing it and
//! recording the `llm_*` families, on the performance.md §6 request (100 chat spans).
//!
//! Run with `cargo bench --bench genai`. Each iteration gives every span a new span id
//! and response id first, so that deduplication sees new calls, as in production; that
//! rewrite is part of the measured time.

use std::fmt::Write;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use llmwatch::genai::GenaiConfig;
use llmwatch::genai::metrics::{LlmMetricsSlot, OverflowCounter};
use llmwatch::model::{Batch, Payload, Transport};
use llmwatch::pipeline::Processor;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

fn main() {
    divan::main();
}

fn bench_with(bencher: Bencher, config: &str) {
    let config: GenaiConfig = serde_saphyr::from_str(config).unwrap_or_else(|e| panic!("{e}"));
    let processor = config
        .build(
            &LlmMetricsSlot::default(),
            &Default::default(),
            &OverflowCounter::default(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut batch = Batch::new(
        Payload::Traces(llmwatch::bench::reference_traces(100, 42)),
        Transport::Grpc,
        0,
    );
    let mut round = 0u64;
    bencher.counter(ItemsCount::new(100usize)).bench_local(|| {
        round += 1;
        if let Payload::Traces(req) = &mut batch.payload {
            for (i, span) in req.resource_spans[0].scope_spans[0]
                .spans
                .iter_mut()
                .enumerate()
            {
                span.span_id = (round * 1000 + i as u64).to_be_bytes().to_vec();
                for kv in &mut span.attributes {
                    if kv.key == "gen_ai.response.id"
                        && let Some(Value::StringValue(s)) =
                            kv.value.as_mut().and_then(|v| v.value.as_mut())
                    {
                        s.clear();
                        let _ = write!(s, "chatcmpl-{round}-{i}");
                    }
                }
            }
        }
        processor.process(black_box(&mut batch))
    });
}

#[divan::bench]
fn extract_price_record_100_spans(bencher: Bencher) {
    bench_with(bencher, "{}");
}

#[divan::bench]
fn extract_price_record_100_spans_no_dedupe(bencher: Bencher) {
    bench_with(bencher, "dedupe: false");
}

#[divan::bench]
fn extract_price_record_100_spans_two_dimensions(bencher: Bencher) {
    bench_with(
        bencher,
        "dimensions: [{attribute: deployment.environment.name}, {attribute: host.name}]",
    );
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
