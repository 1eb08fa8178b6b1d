use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span};
use prometheus_client::registry::Registry;

use super::metrics::LlmMetricsSlot;
use super::*;
use crate::derive::llm::{self as extract, Tokens, error_class};
use crate::metrics::exposition::{Format, render};
use crate::testkit::{V, attrs, i, kv, s};

fn span_with(name: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![7; 16],
        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
        name: name.to_owned(),
        start_time_unix_nano: 1_764_000_000_000_000_000,
        end_time_unix_nano: 1_764_000_001_500_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn call_of(span: &Span) -> Option<Call> {
    extract::from_span(span, &[kv("service.name", s("chat-api"))], "chat-api")
}

fn tokens(c: &Call) -> Tokens {
    c.usage.tokens()
}

/// A span of one convention, and the call it must yield.
struct Convention {
    name: &'static str,
    span: &'static str,
    attrs: &'static [(&'static str, V)],
    provider: &'static str,
    model: &'static str,
    /// Input (uncached), cache read, output (not reasoning), reasoning.
    tokens: [u64; 4],
}

/// One span per convention, as genai-semconv.md §2 and §3.3 show them on the wire.
const CONVENTIONS: &[Convention] = &[
    Convention {
        name: "OTel current",
        span: "chat gpt-4o",
        attrs: &[
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.provider.name", V::S("openai")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.response.model", V::S("gpt-4o-2024-08-06")),
            ("gen_ai.usage.input_tokens", V::I(52)),
            ("gen_ai.usage.output_tokens", V::I(47)),
            ("gen_ai.usage.cache_read.input_tokens", V::I(32)),
            ("gen_ai.usage.reasoning.output_tokens", V::I(10)),
        ],
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        tokens: [20, 32, 37, 10],
    },
    Convention {
        name: "OTel deprecated names",
        span: "chat gpt-4o",
        attrs: &[
            ("gen_ai.system", V::S("az.ai.openai")),
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", V::I(52)),
            ("gen_ai.usage.completion_tokens", V::I(47)),
        ],
        provider: "azure.ai.openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "both names on one span are not summed",
        span: "chat gpt-4o",
        attrs: &[
            ("gen_ai.system", V::S("openai")),
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", V::I(52)),
            ("gen_ai.usage.input_tokens", V::I(52)),
            ("gen_ai.usage.output_tokens", V::I(47)),
            ("gen_ai.usage.completion_tokens", V::I(47)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "Traceloop",
        span: "openai.chat",
        attrs: &[
            ("gen_ai.provider.name", V::S("openai")),
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.response.model", V::S("gpt-4o-2024-08-06")),
            ("gen_ai.usage.input_tokens", V::I(52)),
            ("gen_ai.usage.output_tokens", V::I(47)),
            ("gen_ai.usage.total_tokens", V::I(99)),
            ("gen_ai.usage.reasoning_tokens", V::I(10)),
            ("gen_ai.usage.cache_read.input_tokens", V::I(32)),
            ("gen_ai.is_streaming", V::B(false)),
        ],
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        tokens: [20, 32, 37, 10],
    },
    Convention {
        name: "Traceloop JS (old names)",
        span: "openai.chat",
        attrs: &[
            ("gen_ai.system", V::S("OpenAI")),
            ("llm.request.type", V::S("chat")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", V::I(52)),
            ("gen_ai.usage.completion_tokens", V::I(47)),
            ("llm.usage.total_tokens", V::I(99)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "OpenInference",
        span: "ChatCompletion",
        attrs: &[
            ("openinference.span.kind", V::S("LLM")),
            ("llm.system", V::S("openai")),
            ("llm.model_name", V::S("gpt-4o-2024-08-06")),
            ("llm.token_count.prompt", V::I(52)),
            ("llm.token_count.completion", V::I(47)),
            ("llm.token_count.total", V::I(99)),
            ("llm.token_count.prompt_details.cache_read", V::I(32)),
            ("llm.token_count.completion_details.reasoning", V::I(10)),
        ],
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        tokens: [20, 32, 37, 10],
    },
    Convention {
        name: "OpenLIT",
        span: "chat gpt-4o",
        attrs: &[
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.provider.name", V::S("openai")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.input_tokens", V::I(52)),
            ("gen_ai.usage.output_tokens", V::I(47)),
            ("gen_ai.usage.cost", V::D(0.00061)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "Vercel AI SDK v4",
        span: "ai.generateText.doGenerate",
        attrs: &[
            ("gen_ai.system", V::S("openai.chat")),
            ("ai.model.id", V::S("gpt-4o")),
            ("ai.usage.promptTokens", V::I(52)),
            ("ai.usage.completionTokens", V::I(47)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "Vercel AI SDK v5/v6",
        span: "ai.streamText.doStream",
        attrs: &[
            ("ai.model.provider", V::S("anthropic.messages")),
            ("ai.model.id", V::S("claude-sonnet-4-5")),
            ("ai.usage.inputTokens", V::I(1052)),
            ("ai.usage.outputTokens", V::I(47)),
            ("ai.usage.inputTokenDetails.noCacheTokens", V::I(20)),
            ("ai.usage.inputTokenDetails.cacheReadTokens", V::I(1032)),
            ("ai.response.msToFirstChunk", V::D(350.0)),
        ],
        provider: "anthropic",
        model: "claude-sonnet-4-5",
        tokens: [20, 1032, 47, 0],
    },
    Convention {
        name: "Vercel AI SDK v7",
        span: "chat gpt-4o",
        attrs: &[
            ("gen_ai.operation.name", V::S("chat")),
            ("gen_ai.provider.name", V::S("openai")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.input_tokens", V::I(52)),
            ("gen_ai.usage.output_tokens", V::I(47)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "LiteLLM legacy",
        span: "litellm_request",
        attrs: &[
            ("gen_ai.system", V::S("openai")),
            ("llm.request.type", V::S("completion")),
            ("gen_ai.request.model", V::S("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", V::I(52)),
            ("gen_ai.usage.completion_tokens", V::I(47)),
        ],
        provider: "openai",
        model: "gpt-4o",
        tokens: [52, 0, 47, 0],
    },
    Convention {
        name: "Langfuse (usage details without cache in input)",
        span: "generation",
        attrs: &[
            ("langfuse.observation.type", V::S("generation")),
            ("langfuse.observation.model.name", V::S("claude-sonnet-4-5")),
            (
                "langfuse.observation.usage_details",
                V::S(r#"{"input":20,"output":47,"cache_read_input_tokens":32}"#),
            ),
            (
                "langfuse.observation.cost_details",
                V::S(r#"{"total":0.000801}"#),
            ),
        ],
        provider: "unknown",
        model: "claude-sonnet-4-5",
        tokens: [20, 32, 47, 0],
    },
];

#[test]
fn every_convention_yields_the_same_call() {
    for c in CONVENTIONS {
        let name = c.name;
        let span = span_with(c.span, attrs(c.attrs));
        let call = call_of(&span).unwrap_or_else(|| panic!("{name}: not recognised"));
        let [input, cache_read, output, reasoning] = c.tokens;
        let want = Tokens {
            input,
            cache_read,
            cache_write: 0,
            output,
            reasoning,
        };
        assert_eq!(call.provider, c.provider, "{name}");
        assert_eq!(call.model(), c.model, "{name}");
        assert_eq!(tokens(&call), want, "{name}");
        assert_eq!(call.service, "chat-api", "{name}");
        assert_eq!(call.duration, Some(1.5), "{name}");
    }
}

#[test]
fn spans_that_are_not_one_model_call_are_not_counted() {
    for (name, attrs) in [
        (
            "invoke_agent travel",
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.usage.input_tokens", i(500)),
            ],
        ),
        (
            "execute_tool search",
            vec![kv("gen_ai.operation.name", s("execute_tool"))],
        ),
        (
            "ai.generateText",
            vec![
                kv("ai.model.id", s("gpt-4o")),
                kv("ai.usage.promptTokens", i(52)),
            ],
        ),
        (
            "RunnableSequence",
            vec![
                kv("openinference.span.kind", s("CHAIN")),
                kv("llm.token_count.prompt", i(52)),
            ],
        ),
        (
            "plan.workflow",
            vec![
                kv("traceloop.span.kind", s("workflow")),
                kv("gen_ai.request.model", s("gpt-4o")),
            ],
        ),
        ("GET /health", vec![kv("http.response.status_code", i(200))]),
    ] {
        assert!(
            call_of(&span_with(name, attrs)).is_none(),
            "{name} was counted"
        );
    }
}

#[test]
fn errors_become_low_cardinality_classes() {
    assert_eq!(
        error_class("<class 'openai.RateLimitError'>"),
        "RateLimitError"
    );
    assert_eq!(error_class("openai.APITimeoutError"), "APITimeoutError");
    assert_eq!(error_class("429"), "rate_limited");
    assert_eq!(error_class("500"), "server_error");
    assert_eq!(error_class("timeout"), "timeout");
    assert_eq!(error_class("<>!!"), "other");
    let mut span = span_with(
        "chat gpt-4o",
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("http.response.status_code", i(429)),
        ],
    );
    assert_eq!(
        call_of(&span).unwrap().error.as_deref(),
        Some("rate_limited")
    );
    span.attributes.pop();
    span.status = Some(Status {
        code: opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32,
        message: "boom".to_owned(),
    });
    span.events.push(span::Event {
        name: "exception".to_owned(),
        attributes: vec![kv("exception.type", s("openai.InternalServerError"))],
        ..Default::default()
    });
    assert_eq!(
        call_of(&span).unwrap().error.as_deref(),
        Some("InternalServerError")
    );
}

fn processor(config: &str) -> (GenaiProcessor, Registry, OverflowCounter) {
    let cfg: GenaiConfig = serde_saphyr::from_str(config).unwrap();
    assert!(cfg.check().is_empty(), "{:?}", cfg.check());
    let slot = LlmMetricsSlot::default();
    let overflow = OverflowCounter::default();
    let thresholds = metrics::Thresholds::default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(slot.clone()));
    registry.register_collector(Box::new(thresholds.clone()));
    registry.register("llmwatch_metric_overflow", "overflow", overflow.0.clone());
    let p = cfg
        .build(&slot, &GenaiShared::default(), &overflow, &thresholds)
        .unwrap();
    (p, registry, overflow)
}

fn traces(spans: Vec<Span>, resource: Vec<KeyValue>) -> Batch {
    crate::testkit::traces(resource, spans)
}

fn scrape(registry: &Registry, format: Format) -> String {
    render(registry, format).unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    crate::testkit::value(text, series)
}

fn chat(span_id: u8, parent: u8, model: &str, input: i64, output: i64) -> Span {
    let mut sp = span_with(
        "chat",
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.provider.name", s("openai")),
            kv("gen_ai.request.model", s(model)),
            kv("gen_ai.usage.input_tokens", i(input)),
            kv("gen_ai.usage.output_tokens", i(output)),
            kv(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(s("stop")),
                    }],
                }),
            ),
            kv("app.feature", s("chat")),
        ],
    );
    sp.span_id = vec![span_id; 8];
    sp.parent_span_id = if parent == 0 {
        Vec::new()
    } else {
        vec![parent; 8]
    };
    sp
}

/// The series two gpt-4o-mini calls give, `$L` standing for their service, provider and
/// model labels, with their values.
const EVERY_FAMILY: &[(&str, f64)] = &[
    (
        r#"llm_requests_total{$L,operation="chat",outcome="success",app_feature="chat"}"#,
        2.0,
    ),
    (
        r#"llm_tokens_total{$L,type="input",app_feature="chat"}"#,
        4000.0,
    ),
    (
        r#"llm_tokens_total{$L,type="output",app_feature="chat"}"#,
        2000.0,
    ),
    (
        r#"llm_request_duration_seconds_count{$L,operation="chat"}"#,
        2.0,
    ),
    (
        r#"llm_request_duration_seconds_bucket{$L,operation="chat",le="2.56"}"#,
        2.0,
    ),
    (
        r#"llm_request_duration_seconds_bucket{$L,operation="chat",le="1.28"}"#,
        0.0,
    ),
    (r#"llm_finish_reasons_total{$L,reason="stop"}"#, 2.0),
    (r#"llm_budget_usd{period="daily"}"#, 25.0),
    (
        r#"llmwatch_latency_threshold_seconds{component="ai",level="warning"}"#,
        10.0,
    ),
];

#[test]
fn records_every_family_with_exact_values() {
    let (p, registry, _) = processor(
        "dimensions: [{attribute: app.feature}]\nbudgets: {daily_usd: 25}\nlatency_thresholds: {warning: 10}\n",
    );
    let mut batch = traces(
        vec![
            chat(1, 0, "gpt-4o-mini", 1000, 500),
            chat(2, 0, "gpt-4o-mini", 3000, 1500),
        ],
        vec![kv("service.name", s("chat-api"))],
    );
    p.process(&mut batch).unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let labels = r#"service="chat-api",provider="openai",model="gpt-4o-mini""#;
    for (series, want) in EVERY_FAMILY {
        let series = series.replace("$L", labels);
        assert_eq!(sample(&text, &series), Some(*want), "{series}\n{text}");
    }
    // 4000 × 0.15 + 2000 × 0.60 per 1M
    let cost = sample(
        &text,
        &format!(r#"llm_cost_usd_total{{{labels},cost_source="computed",app_feature="chat"}}"#),
    )
    .unwrap();
    assert!((cost - 0.0018).abs() < 1e-12, "{cost}");
    // Exemplars with the trace id, in OpenMetrics only.
    let om = scrape(&registry, Format::OpenMetrics);
    assert!(
        om.contains(r#"# {trace_id="07070707070707070707070707070707"} 1.5"#),
        "{om}"
    );
}

#[test]
fn unknown_models_count_unpriced_tokens_and_no_cost() {
    let (p, registry, _) = processor("{}");
    p.process(&mut traces(
        vec![chat(1, 0, "acme-llm-7b", 100, 50)],
        vec![],
    ))
    .unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    assert_eq!(
        sample(
            &text,
            r#"llm_unpriced_tokens_total{service="unknown_service",provider="openai",model="acme-llm-7b"}"#
        ),
        Some(150.0),
        "{text}"
    );
    assert!(!text.contains("llm_cost_usd_total{"), "{text}");
}

#[test]
fn reported_cost_is_used_when_preferred_or_when_the_model_is_unpriced() {
    let with_cost = |model: &str| {
        let mut sp = chat(1, 0, model, 1000, 500);
        sp.attributes
            .push(kv("gen_ai.usage.cost", Value::DoubleValue(0.5)));
        sp
    };
    for (config, model, want_source, want) in [
        ("{}", "gpt-4o-mini", "computed", 0.00045),
        ("prefer_reported_cost: true", "gpt-4o-mini", "reported", 0.5),
        ("{}", "acme-llm-7b", "reported", 0.5),
    ] {
        let (p, registry, _) = processor(config);
        p.process(&mut traces(vec![with_cost(model)], vec![]))
            .unwrap();
        let text = scrape(&registry, Format::PrometheusText);
        let got = sample(
            &text,
            &format!(
                r#"llm_cost_usd_total{{service="unknown_service",provider="openai",model="{model}",cost_source="{want_source}"}}"#
            ),
        );
        assert!(
            got.is_some_and(|g| (g - want).abs() < 1e-12),
            "{config} {model}: {got:?}\n{text}"
        );
    }
}

#[test]
fn one_call_described_twice_counts_once() {
    let (p, registry, _) = processor("{}");
    // A framework span (1) around the SDK span (2): same model family, same usage.
    let parent = chat(1, 0, "gpt-4o", 1000, 500);
    let mut child = chat(2, 1, "gpt-4o-2024-08-06", 1000, 500);
    child
        .attributes
        .push(kv("gen_ai.response.id", s("chatcmpl-1")));
    // The child arrives first, in its own batch, as batch processors export it.
    p.process(&mut traces(vec![child.clone()], vec![])).unwrap();
    p.process(&mut traces(vec![parent], vec![])).unwrap();
    // A sibling span with the same response id (another instrumentation of the call).
    let mut sibling = chat(3, 0, "gpt-4o", 1000, 500);
    sibling
        .attributes
        .push(kv("gen_ai.response.id", s("chatcmpl-1")));
    p.process(&mut traces(vec![sibling], vec![])).unwrap();
    // The operation.details event logged inside the child span.
    let event = LogRecord {
        event_name: "gen_ai.client.inference.operation.details".to_owned(),
        trace_id: child.trace_id.clone(),
        span_id: child.span_id.clone(),
        attributes: child.attributes.clone(),
        ..Default::default()
    };
    let mut logs = logs(vec![event]);
    p.process(&mut logs).unwrap();
    // A second, different call nested in the same parent is a call of its own.
    p.process(&mut traces(vec![chat(4, 1, "gpt-4o", 200, 100)], vec![]))
        .unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("llm_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 2.0, "{text}");
    let input: f64 = text
        .lines()
        .filter(|l| l.starts_with("llm_tokens_total{") && l.contains(r#"type="input""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(input, 1200.0, "{text}");
}

#[test]
fn a_hundred_thousand_models_stay_within_the_series_limit() {
    let (p, registry, overflow) = processor("series_limit: 100");
    for n in 0..100_000u32 {
        let mut sp = chat(1, 0, &format!("model-{n}"), 10, 5);
        sp.span_id = n.to_be_bytes().repeat(2);
        p.process(&mut traces(vec![sp], vec![])).unwrap();
    }
    assert_eq!(
        p.metrics.requests.len(),
        101,
        "the limit, plus the one `other` series"
    );
    let text = scrape(&registry, Format::PrometheusText);
    let series = text
        .lines()
        .filter(|l| l.starts_with("llm_requests_total{"))
        .count();
    assert_eq!(series, 101);
    assert_eq!(
        sample(
            &text,
            r#"llm_requests_total{service="other",provider="other",model="other",operation="chat",outcome="success"}"#
        ),
        Some(99_900.0)
    );
    let folded = overflow
        .0
        .get_or_create(&metrics::OverflowLabels::for_family("llm_requests"))
        .get();
    assert_eq!(folded, 99_900);
}

#[test]
fn dimension_values_past_their_limit_become_other() {
    let (p, registry, _) =
        processor("dimensions: [{attribute: app.tenant, label: tenant, max_values: 2}]");
    for tenant in ["a", "b", "c", "d"] {
        let mut sp = chat(1, 0, "gpt-4o-mini", 10, 5);
        sp.attributes.push(kv("app.tenant", s(tenant)));
        sp.span_id = vec![tenant.as_bytes()[0]; 8];
        p.process(&mut traces(vec![sp], vec![])).unwrap();
    }
    let text = scrape(&registry, Format::PrometheusText);
    for (tenant, n) in [("a", 1.0), ("b", 1.0), ("other", 2.0)] {
        let prefix = format!(
            r#"llm_requests_total{{service="unknown_service",provider="openai",model="gpt-4o-mini",operation="chat",outcome="success",tenant="{tenant}"}}"#
        );
        assert_eq!(sample(&text, &prefix), Some(n), "{text}");
    }
}

#[test]
fn idle_series_expire() {
    let m = metrics::LlmMetrics::new(&[], 10, 60);
    let of = OverflowCounter::default();
    m.requests
        .with(&["s", "p", "old", "chat", "success"], 0, &of, |c| {
            c.inc();
        });
    m.requests
        .with(&["s", "p", "new", "chat", "success"], 100, &of, |c| {
            c.inc();
        });
    m.requests.expire(50);
    assert_eq!(m.requests.len(), 1);
}

#[test]
fn hostile_label_values_are_cut_and_cleaned() {
    let (p, registry, _) = processor("{}");
    let model = format!("evil\n\"model{}", "x".repeat(500));
    p.process(&mut traces(vec![chat(1, 0, &model, 10, 5)], vec![]))
        .unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let line = text
        .lines()
        .find(|l| l.starts_with("llm_requests_total{"))
        .unwrap();
    assert!(line.len() < 400, "{line}");
    assert!(line.contains(r#"model="evil \"model"#), "{line}");
}

#[test]
fn configs_that_would_break_the_families_are_refused() {
    let cfg: GenaiConfig = serde_saphyr::from_str(
        "dimensions: [{attribute: app.x, label: model}, {attribute: a, label: '9bad'}, {attribute: b, max_values: 0}]\nprices: [{model: m, input: -1, output: 1, effective: yesterday}]\nseries_limit: 0",
    )
    .unwrap();
    let keys: Vec<String> = cfg.check().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "dimensions[0].label",
            "dimensions[1].label",
            "dimensions[2].max_values",
            "series_limit",
            "prices[0].input",
            "prices[0].effective"
        ]
    );
    let shared = GenaiShared::default();
    let slot = LlmMetricsSlot::default();
    let of = OverflowCounter::default();
    GenaiConfig::default()
        .build(&slot, &shared, &of, &Default::default())
        .unwrap();
    let other = GenaiConfig {
        series: crate::component::series::SeriesBounds {
            series_limit: 5,
            ..Default::default()
        },
        ..GenaiConfig::default()
    };
    assert!(
        other
            .build(&slot, &shared, &of, &Default::default())
            .is_err()
    );
}

fn logs(records: Vec<LogRecord>) -> Batch {
    crate::testkit::logs(Vec::new(), records)
}

#[test]
fn a_call_counted_from_its_event_takes_its_timing_from_the_span() {
    let (p, registry, _) = processor("{}");
    let span = chat(1, 0, "gpt-4o", 1000, 500);
    // The event (no timing) arrives before its span, as the logs and traces exporters race.
    let event = LogRecord {
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        attributes: [
            span.attributes.clone(),
            vec![kv(
                "event.name",
                s("gen_ai.client.inference.operation.details"),
            )],
        ]
        .concat(),
        ..Default::default()
    };
    p.process(&mut logs(vec![event])).unwrap();
    p.process(&mut traces(vec![span.clone()], vec![])).unwrap();
    p.process(&mut traces(vec![span], vec![])).unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let labels = r#"service="unknown_service",provider="openai",model="gpt-4o""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"llm_requests_total{{{labels},operation="chat",outcome="success"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"llm_request_duration_seconds_count{{{labels},operation="chat"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn langfuse_completion_start_time_gives_the_time_to_first_token() {
    assert_eq!(
        extract::unix_nanos("1970-01-01T00:00:01.5Z"),
        Some(1_500_000_000)
    );
    assert_eq!(
        extract::unix_nanos("\"2025-11-24T16:00:00.000+00:00\""),
        Some(1_764_000_000_000_000_000)
    );
    assert_eq!(extract::unix_nanos("2025-11-24T16:00:00+02:00"), None);
    let span = span_with(
        "generation",
        vec![
            kv("langfuse.observation.type", s("generation")),
            kv("langfuse.observation.model.name", s("gpt-4o")),
            kv(
                "langfuse.observation.completion_start_time",
                s("\"2025-11-24T16:00:00.250Z\""),
            ),
        ],
    );
    let call = call_of(&span).unwrap();
    assert_eq!(call.ttft, Some(0.25));
    assert!(call.streaming);
}

#[test]
fn legacy_choice_events_are_calls_only_outside_a_span() {
    use opentelemetry_proto::tonic::common::v1::KeyValueList;
    let choice = |span_id: Vec<u8>| LogRecord {
        event_name: "gen_ai.choice".to_owned(),
        trace_id: vec![9; 16],
        span_id,
        attributes: vec![kv("gen_ai.system", s("openai"))],
        body: Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![kv("index", i(0)), kv("finish_reason", s("content_filter"))],
            })),
        }),
        ..Default::default()
    };
    let call = extract::from_log(&choice(Vec::new()), &[], "svc").unwrap();
    assert_eq!(call.provider, "openai");
    assert_eq!(call.finish_reasons, ["content_filter"]);
    assert!(extract::from_log(&choice(vec![1; 8]), &[], "svc").is_none());
    let mut user = choice(Vec::new());
    user.event_name = "gen_ai.user.message".to_owned();
    assert!(extract::from_log(&user, &[], "svc").is_none());
}

#[test]
fn cache_reads_record_what_they_saved_against_the_uncached_price() {
    let (p, registry, _) = processor("");
    let mut call = chat(1, 0, "gpt-4o-mini", 1000, 100);
    call.attributes
        .push(kv("gen_ai.usage.cache_read.input_tokens", i(600)));
    let mut batch = traces(vec![call], vec![kv("service.name", s("chat-api"))]);
    p.process(&mut batch).unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    // 600 cached tokens at 0.15 instead of 0.075 USD per 1M.
    let saved = sample(
        &text,
        r#"llm_cache_savings_usd_total{service="chat-api",provider="openai",model="gpt-4o-mini"}"#,
    )
    .unwrap_or_else(|| panic!("no savings in {text}"));
    assert!((saved - 600.0 * 0.075 / 1e6).abs() < 1e-15, "{saved}");
}

#[test]
fn successful_calls_without_usage_are_counted() {
    // issue 15: a stream without include_usage was a $0 success and nothing showed it.
    let (p, registry, _) = processor("{}");
    let mut bare = span_with(
        "chat gpt-4o",
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.provider.name", s("openai")),
            kv("gen_ai.request.model", s("gpt-4o")),
        ],
    );
    let mut failed = bare.clone();
    failed.span_id = vec![9; 8];
    failed.status = Some(Status {
        code: opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32,
        ..Default::default()
    });
    bare.span_id = vec![8; 8];
    p.process(&mut traces(
        vec![bare, failed, chat(1, 0, "gpt-4o", 10, 5)],
        vec![],
    ))
    .unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let series = r#"llm_calls_without_usage_total{service="unknown_service",provider="openai",model="gpt-4o",operation="chat"}"#;
    // The failed call and the call with usage are not counted.
    assert_eq!(sample(&text, series), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"llm_requests_total{service="unknown_service",provider="openai",model="gpt-4o",operation="chat",outcome="success"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

#[test]
fn tool_and_agent_names_past_their_limit_become_other() {
    let (p, registry, overflow) = processor("{}");
    let tool = |i: usize| {
        span_with(
            "execute_tool",
            vec![
                kv("gen_ai.operation.name", s("execute_tool")),
                kv("gen_ai.tool.name", s(&format!("tool-{i}"))),
            ],
        )
    };
    let spans: Vec<Span> = (0..agents::MAX_NAMES + 5).map(tool).collect();
    p.process(&mut traces(spans, vec![])).unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    let series = |name: &str| {
        sample(
            &text,
            &format!(
                r#"llm_tool_calls_total{{service="unknown_service",tool="{name}",outcome="success"}}"#
            ),
        )
    };
    assert_eq!(series("tool-0"), Some(1.0), "{text}");
    assert_eq!(series("other"), Some(5.0), "{text}");
    let folded = overflow
        .0
        .get_or_create(&crate::metrics::bounded::OverflowLabels::for_family(
            "llm_tool_names",
        ))
        .get();
    assert_eq!(folded, 5);
    assert_eq!(
        sample(
            &text,
            r#"llm_tool_call_duration_seconds_count{service="unknown_service",tool="tool-0"}"#
        ),
        Some(1.0)
    );
}

/// The series the evaluation results below give, `$S` standing for their service label.
const EVALUATION_SERIES: &[(&str, f64)] = &[
    (
        r#"llm_evaluations_total{$S,evaluation="Relevance",label="relevant"}"#,
        1.0,
    ),
    (
        r#"llm_evaluations_total{$S,evaluation="Relevance",label="irrelevant"}"#,
        1.0,
    ),
    (
        r#"llm_evaluations_total{$S,evaluation="Relevance",label="none"}"#,
        1.0,
    ),
    (
        r#"llm_evaluations_total{$S,evaluation="Toxicity",label="pass"}"#,
        1.0,
    ),
    (
        r#"llm_evaluations_total{$S,evaluation="unknown",label="none"}"#,
        1.0,
    ),
    (
        r#"llm_evaluation_score_count{$S,evaluation="Relevance"}"#,
        3.0,
    ),
    (
        r#"llm_evaluation_score_sum{$S,evaluation="Relevance"}"#,
        2.1,
    ),
    (
        r#"llm_evaluation_score_bucket{$S,evaluation="Relevance",le="0.3"}"#,
        1.0,
    ),
    (
        r#"llm_evaluation_score_bucket{$S,evaluation="Relevance",le="0.9"}"#,
        2.0,
    ),
];

#[test]
fn evaluation_results_become_a_score_histogram_and_label_counts() {
    let (p, registry, _) = processor("{}");
    let eval = |attrs: Vec<KeyValue>| LogRecord {
        event_name: "gen_ai.evaluation.result".to_owned(),
        attributes: attrs,
        ..Default::default()
    };
    p.process(&mut logs(vec![
        eval(vec![
            kv("gen_ai.evaluation.name", s("Relevance")),
            kv("gen_ai.evaluation.score.value", Value::DoubleValue(0.85)),
            kv("gen_ai.evaluation.score.label", s("relevant")),
        ]),
        eval(vec![
            kv("gen_ai.evaluation.name", s("Relevance")),
            kv("gen_ai.evaluation.score.value", s("0.25")),
            kv("gen_ai.evaluation.score.label", s("irrelevant")),
        ]),
        // A label without a score, a score that is no number, no name.
        eval(vec![
            kv("gen_ai.evaluation.name", s("Toxicity")),
            kv("gen_ai.evaluation.score.label", s("pass")),
        ]),
        eval(vec![kv("gen_ai.evaluation.score.value", s("n/a"))]),
    ]))
    .unwrap();
    // As a span event too.
    let mut sp = span_with("answer", vec![]);
    sp.events.push(span::Event {
        name: "gen_ai.evaluation.result".to_owned(),
        attributes: vec![
            kv("gen_ai.evaluation.name", s("Relevance")),
            kv("gen_ai.evaluation.score.value", i(1)),
        ],
        ..Default::default()
    });
    p.process(&mut traces(vec![sp], vec![])).unwrap();
    let text = scrape(&registry, Format::PrometheusText);
    for (series, n) in EVALUATION_SERIES {
        let series = series.replace("$S", r#"service="unknown_service""#);
        let got = sample(&text, &series).unwrap_or_else(|| panic!("{series} missing:\n{text}"));
        assert!((got - n).abs() < 1e-9, "{series}: {got}");
    }
    assert!(!text.contains(
        r#"llm_evaluation_score_count{service="unknown_service",evaluation="Toxicity"}"#
    ));
}
