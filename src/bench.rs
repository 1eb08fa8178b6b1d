//! Reference payloads for benchmarks and load tests.
//!
//! [`reference_traces`] builds the chatbot-shaped request of performance.md §6: one resource
//! with 7 attributes, one scope, and spans with 16 attributes each, including a ~500 B
//! prompt and a ~200 B completion; one prompt in ten carries an e-mail address. The content
//! is deterministic for a given seed, so runs compare.

mod chatbot;

pub use self::chatbot::chatbot_traces;
use crate::model::attrs::kv;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span::SpanKind, status::StatusCode,
};

fn s(v: &str) -> Value {
    Value::StringValue(v.to_owned())
}

/// A small deterministic generator (SplitMix64), so benchmarks, generated test corpora, the
/// demo and retry jitter need no `rand`.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Uniform in [0, n).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// One of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: [&str; 16] = [
    "please",
    "summarise",
    "the",
    "quarterly",
    "report",
    "and",
    "list",
    "three",
    "risks",
    "for",
    "our",
    "marketing",
    "campaign",
    "budget",
    "next",
    "week",
];

fn text(rng: &mut Rng, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(WORDS[(rng.next() % WORDS.len() as u64) as usize]);
        out.push(' ');
    }
    out
}

/// One chatbot LLM span of `trace_id` starting at `start`: a 500-word prompt (with an
/// e-mail address if `with_email`), usage, a user and a session.
fn llm_span(rng: &mut Rng, trace_id: &[u8], start: u64, with_email: bool) -> Span {
    let mut prompt = text(rng, 500);
    if with_email {
        prompt.push_str("contact me at jane.doe@example.com ");
    }
    let input = 200 + rng.next() % 800;
    let output = 50 + rng.next() % 400;
    Span {
        trace_id: trace_id.to_vec(),
        span_id: (rng.next() | 1).to_be_bytes().to_vec(),
        parent_span_id: (rng.next() | 1).to_be_bytes().to_vec(),
        name: "chat gpt-4o-mini".to_owned(),
        kind: SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 900_000_000,
        attributes: vec![
            kv("gen_ai.system", s("openai")),
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o-mini")),
            kv("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
            kv("gen_ai.request.temperature", Value::DoubleValue(0.2)),
            kv("gen_ai.request.max_tokens", Value::IntValue(1024)),
            kv("gen_ai.usage.input_tokens", Value::IntValue(input as i64)),
            kv("gen_ai.usage.output_tokens", Value::IntValue(output as i64)),
            kv(
                "gen_ai.response.id",
                s(&format!("chatcmpl-{:016x}", rng.next())),
            ),
            kv(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(s("stop")),
                    }],
                }),
            ),
            kv("server.address", s("api.openai.com")),
            kv("server.port", Value::IntValue(443)),
            kv("user.id", s(&format!("user-{}", rng.next() % 5000))),
            kv(
                "session.id",
                s(&format!("sess-{:08x}", rng.next() % 100_000)),
            ),
            kv("gen_ai.prompt.0.content", Value::StringValue(prompt)),
            kv(
                "gen_ai.completion.0.content",
                Value::StringValue(text(rng, 200)),
            ),
        ],
        status: Some(Status {
            code: StatusCode::Ok as i32,
            message: String::new(),
        }),
        ..Default::default()
    }
}

/// Builds an `ExportTraceServiceRequest` with `spans` chatbot LLM spans.
pub fn reference_traces(spans: usize, seed: u64) -> ExportTraceServiceRequest {
    let mut rng = Rng(seed);
    let resource = Resource {
        attributes: vec![
            kv("service.name", s("chat-api")),
            kv("service.version", s("1.42.0")),
            kv("deployment.environment.name", s("production")),
            kv("telemetry.sdk.language", s("python")),
            kv("telemetry.sdk.name", s("opentelemetry")),
            kv("telemetry.sdk.version", s("1.45.2")),
            kv("host.name", s("chat-api-7c9f8d-x2k4p")),
        ],
        ..Default::default()
    };
    let trace_id = rng
        .next()
        .to_be_bytes()
        .iter()
        .chain(rng.next().to_be_bytes().iter())
        .copied()
        .collect::<Vec<u8>>();
    let start = 1_764_000_000_000_000_000u64;
    let spans = (0..spans)
        .map(|i| {
            llm_span(
                &mut rng,
                &trace_id,
                start + i as u64 * 1_000_000,
                i % 10 == 0,
            )
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai".to_owned(),
                    version: "0.40.0".to_owned(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Frames a protobuf message as one uncompressed gRPC message: a zero flag byte, the
/// length as a big-endian u32, then the message.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(message);
    out
}
