//! Cost per span of the `health` processor: classifying a span into a component and
//! recording its latency, errors and platform traffic, on the performance.md §6 request
//! (100 chat spans, which the ai check classifies by running the GenAI extractor) and on
//! 100 plain HTTP server spans.
//!
//! Run with `cargo bench --bench health`.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use llmwatch::health::{HealthConfig, HealthMetricsSlot};
use llmwatch::metrics::bounded::OverflowCounter;
use llmwatch::model::{Batch, Payload, Transport};
use llmwatch::pipeline::Processor;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

fn main() {
    divan::main();
}

fn run(bencher: Bencher, mut batch: Batch) {
    let processor = HealthConfig::default()
        .build(
            &HealthMetricsSlot::default(),
            &OverflowCounter::default(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    bencher
        .counter(ItemsCount::new(100usize))
        .bench_local(|| processor.process(black_box(&mut batch)));
}

#[divan::bench]
fn classify_record_100_llm_spans(bencher: Bencher) {
    let req = llmwatch::bench::reference_traces(100, 42);
    run(
        bencher,
        Batch::new(Payload::Traces(req), Transport::Grpc, 0),
    );
}

#[divan::bench]
fn classify_record_100_http_server_spans(bencher: Bencher) {
    let mut req = llmwatch::bench::reference_traces(100, 42);
    let kv = |k: &str, v: Value| KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    };
    for (i, span) in req.resource_spans[0].scope_spans[0]
        .spans
        .iter_mut()
        .enumerate()
    {
        span.kind = SpanKind::Server as i32;
        span.name = "GET /api/chat/{id}".to_owned();
        span.attributes = vec![
            kv("http.request.method", Value::StringValue("GET".to_owned())),
            kv(
                "http.route",
                Value::StringValue("/api/chat/{id}".to_owned()),
            ),
            kv("url.path", Value::StringValue(format!("/api/chat/{i}"))),
            kv("http.response.status_code", Value::IntValue(200)),
            kv(
                "server.address",
                Value::StringValue("chat.example.com".to_owned()),
            ),
            kv(
                "user_agent.original",
                Value::StringValue("Mozilla/5.0".to_owned()),
            ),
        ];
    }
    run(
        bencher,
        Batch::new(Payload::Traces(req), Transport::Grpc, 0),
    );
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
