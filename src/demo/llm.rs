//! The LLM call of a demo turn: how it goes, its span, and its usage.

use super::Scenario;
use super::catalogue::*;
use crate::model::attrs::kv;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::Generator;
use super::session::error_status;

impl Generator {
    /// How the turn's LLM call goes: its token counts, timing, streaming and error,
    /// heavier in a cost spike, slower in a latency degradation, failing in an outage.
    pub(super) fn llm_shape(&mut self, model: &Model) -> LlmShape {
        let r = &mut self.rng;
        let cost_spike = self.scenario == Some(Scenario::CostSpike);
        let input = if cost_spike {
            r.below(20_000) + 30_000
        } else {
            r.below(1_500) + 200
        };
        let cached = if r.chance(0.4) { input * 6 / 10 } else { 0 };
        let output = if cost_spike {
            r.below(3_000) + 2_000
        } else {
            r.below(500) + 40
        };
        let slow = if self.scenario == Some(Scenario::LatencyDegradation) {
            4.0
        } else {
            1.0
        };
        let ttft = r.range(0.25, 0.9) * slow;
        let seconds = (ttft + model.speed * output as f64 / 100.0 * r.range(0.7, 1.3)) * slow;
        let stream = r.chance(0.7);
        let outage =
            self.scenario == Some(Scenario::ProviderOutage) && model.provider == "anthropic";
        let error_rate = match self.scenario {
            Some(Scenario::ErrorSpike) => 0.5,
            _ => 0.03,
        };
        let error = if outage {
            Some(("APIConnectionError", 503))
        } else if r.chance(error_rate) {
            Some(*r.pick(&[
                ("RateLimitError", 429),
                ("APITimeoutError", 408),
                ("InternalServerError", 500),
            ]))
        } else {
            None
        };
        LlmShape {
            input,
            cached,
            output,
            ttft,
            seconds,
            stream,
            error,
        }
    }

    /// The LLM call's span under the server span (trace id, span id), with the user's
    /// prompt and, as `shape` says, its usage or its error.
    pub(super) fn llm_call(
        &mut self,
        model: &Model,
        shape: &LlmShape,
        (trace, server_id): (&[u8], &[u8]),
        llm_start: u64,
        (conversation, user): (&str, &[KeyValue]),
    ) -> Span {
        let prompt = self.prompt();
        let r = &mut self.rng;
        let mut llm = Span {
            trace_id: trace.to_vec(),
            span_id: id8(r),
            parent_span_id: server_id.to_vec(),
            name: format!("chat {}", model.name),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: llm_start,
            end_time_unix_nano: llm_start + (shape.seconds * 1e9) as u64,
            attributes: vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.provider.name", model.provider),
                s("gen_ai.request.model", model.name),
                s("gen_ai.conversation.id", conversation),
                b("gen_ai.request.stream", shape.stream),
                s(
                    "gen_ai.input.messages",
                    serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": prompt}]}])
                        .to_string(),
                ),
            ],
            ..Default::default()
        };
        llm.attributes.extend_from_slice(user);
        if let Some((kind, code)) = shape.error {
            llm.end_time_unix_nano = llm_start + (r.range(0.1, 2.0) * 1e9) as u64;
            llm.attributes.push(s("error.type", kind));
            llm.attributes.push(i("http.response.status_code", code));
            llm.status = Some(error_status(kind));
        } else {
            self.usage(&mut llm, model, shape);
        }
        llm
    }

    /// A successful call's response model and id, usage, finish reason and, streamed,
    /// its time to first chunk.
    fn usage(&mut self, llm: &mut Span, model: &Model, shape: &LlmShape) {
        let r = &mut self.rng;
        llm.attributes.extend([
            s("gen_ai.response.model", model.name),
            s("gen_ai.response.id", format!("resp-{:016x}", r.next())),
            i("gen_ai.usage.input_tokens", shape.input as i64),
            i("gen_ai.usage.output_tokens", shape.output as i64),
            i("gen_ai.usage.cache_read.input_tokens", shape.cached as i64),
            kv(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue(
                            if r.chance(0.05) { "length" } else { "stop" }.into(),
                        )),
                    }],
                }),
            ),
        ]);
        if shape.stream {
            llm.attributes
                .push(f("gen_ai.response.time_to_first_chunk", shape.ttft));
        }
    }
}

/// How one LLM call goes, drawn before its span is built.
pub(super) struct LlmShape {
    input: u64,
    cached: u64,
    output: u64,
    ttft: f64,
    seconds: f64,
    stream: bool,
    pub(super) error: Option<(&'static str, i64)>,
}
