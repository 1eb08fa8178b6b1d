use crate::derive::Recorder;
use crate::model::Payload;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prometheus_client::registry::Registry;

use super::*;
use crate::model::Transport;
use crate::testkit::{scrape, value};

fn kv(k: &str, v: &str) -> KeyValue {
    crate::testkit::kv(k, crate::testkit::s(v))
}

fn event(name: &str, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        event_name: name.to_owned(),
        attributes: attrs,
        ..Default::default()
    }
}

fn logs(records: Vec<LogRecord>) -> Batch {
    crate::testkit::logs(vec![kv("service.name", "chat-web")], records)
}

fn processor(yaml: &str) -> (AnalyticsProcessor, Registry) {
    let cfg: AnalyticsConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(cfg.check().is_empty(), "{:?}", cfg.check());
    let slot = AnalyticsSlot::default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(slot.clone()));
    let p = cfg
        .build(&slot, &OverflowCounter::default(), &Default::default())
        .unwrap();
    (p, registry)
}

#[test]
fn catalogued_events_count_with_bounded_dimensions() {
    let (p, r) = processor(
        "events: [{name: chat_opened, dimensions: [{attribute: chat.entry_point, label: entry_point, max_values: 2}]}, {name: message_sent}]",
    );
    let opened = |entry: &str| event("chat_opened", vec![kv("chat.entry_point", entry)]);
    p.process(&mut logs(vec![
        opened("widget"),
        opened("widget"),
        opened("help_page"),
        opened("email_link"),
        event("message_sent", vec![]),
        event("not_in_catalogue", vec![]),
    ]))
    .unwrap();
    let text = scrape(&r);
    for (series, n) in [
        (
            r#"chat_events_total{service="chat-web",event="chat_opened",entry_point="widget"}"#,
            2.0,
        ),
        (
            r#"chat_events_total{service="chat-web",event="chat_opened",entry_point="help_page"}"#,
            1.0,
        ),
        (
            r#"chat_events_total{service="chat-web",event="chat_opened",entry_point="other"}"#,
            1.0,
        ),
        (
            r#"chat_events_total{service="chat-web",event="message_sent"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
    assert!(!text.contains("not_in_catalogue"));
    assert_eq!(
        text.matches("# TYPE chat_events_total counter").count(),
        1,
        "{text}"
    );
}

#[test]
fn unique_users_per_segment_within_the_hll_bound() {
    let (p, r) = processor("{}");
    let mut records = Vec::new();
    for i in 0..3000 {
        let mut attrs = vec![kv("user.id", &format!("pseudo-{i:05}"))];
        if i % 3 == 0 {
            attrs.push(kv("user.is_guest", "true"));
        }
        if i % 2 == 0 {
            attrs.push(kv("user.tier", "pro"));
        }
        if i % 5 == 0 {
            records.push(event(
                "first_chat_message",
                vec![kv("user.id", &format!("pseudo-{i:05}"))],
            ));
        }
        // Every user twice: duplicates never count.
        records.push(event("message_sent", attrs.clone()));
        records.push(event("message_sent", attrs));
    }
    p.process(&mut logs(records)).unwrap();
    let text = scrape(&r);
    let bound = |n: f64| 3.0 * 1.04 / 32.0 * n;
    for (segment, n) in [
        ("all", 3000.0),
        ("guest", 1000.0),
        ("authenticated", 2000.0),
        ("tier:pro", 1500.0),
    ] {
        for window in WINDOWS {
            let e = value(
                &text,
                &format!(r#"chat_users_estimate{{window="{window}",segment="{segment}"}}"#),
            )
            .unwrap_or_else(|| panic!("{segment} {window} missing:\n{text}"));
            assert!((e - n).abs() <= bound(n), "{segment} {window}: {e} vs {n}");
        }
    }
    assert_eq!(value(&text, "chat_users_hll_registers"), Some(1024.0));
    assert!(text.contains(r#"chat_users_hll_register{window="30d",segment="all",register=""#));
}

#[test]
fn sketches_survive_a_restart_through_the_state_file() {
    let dir = std::env::temp_dir().join(format!("llmwatch-analytics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let yaml = format!("state_file: {}", file.display());
    let (p, r) = processor(&yaml);
    let users: Vec<LogRecord> = (0..500)
        .map(|i| event("message_sent", vec![kv("user.id", &format!("u{i}"))]))
        .collect();
    p.process(&mut logs(users)).unwrap();
    let before = value(
        &scrape(&r),
        r#"chat_users_estimate{window="7d",segment="all"}"#,
    )
    .unwrap();
    p.flush().unwrap();
    drop(p);
    let (restarted, r2) = processor(&yaml);
    let after = value(
        &scrape(&r2),
        r#"chat_users_estimate{window="7d",segment="all"}"#,
    );
    assert_eq!(after, Some(before));
    // A damaged file costs the windows, never the start.
    std::fs::write(&file, "{torn").unwrap();
    drop(restarted);
    let (_p, r3) = processor(&yaml);
    assert!(!scrape(&r3).contains("chat_users_estimate"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn feedback_and_evaluations_by_rating_and_model() {
    let (p, r) = processor("{}");
    let fb = |rating: &str| {
        event(
            "message_feedback",
            vec![
                kv("feedback.rating", rating),
                kv("gen_ai.response.model", "gpt-4o"),
            ],
        )
    };
    p.process(&mut logs(vec![
        fb("up"),
        fb("👍"),
        fb("down"),
        fb("5"),
        fb("meh"),
        event(
            "gen_ai.evaluation.result",
            vec![kv("gen_ai.evaluation.score.value", "0.2")],
        ),
        event(
            "gen_ai.evaluation.result",
            vec![kv("gen_ai.evaluation.score.label", "pass")],
        ),
    ]))
    .unwrap();
    let text = scrape(&r);
    for (series, n) in [
        (
            r#"chat_feedback_total{rating="positive",model="gpt-4o"}"#,
            3.0,
        ),
        (
            r#"chat_feedback_total{rating="negative",model="gpt-4o"}"#,
            1.0,
        ),
        (
            r#"chat_feedback_total{rating="neutral",model="gpt-4o"}"#,
            1.0,
        ),
        (
            r#"chat_feedback_total{rating="negative",model="unknown"}"#,
            1.0,
        ),
        (
            r#"chat_feedback_total{rating="positive",model="unknown"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
}

#[test]
fn intents_by_outcome_with_a_bounded_list() {
    let (p, r) = processor("intents: [billing, reports]");
    let msg = |intent: &str, confidence: &str| {
        event(
            "message_sent",
            vec![
                kv("chat.intent", intent),
                kv("chat.intent.confidence", confidence),
            ],
        )
    };
    let in_conversation = |intent: &str| {
        event(
            "message_sent",
            vec![kv("chat.intent", intent), kv("session.id", "s9")],
        )
    };
    p.process(&mut logs(vec![
        msg("billing", "0.9"),
        msg("billing", "0.3"),
        msg("reports", "0.8"),
        msg("weather", "0.99"),
        // The user asks about reports twice in a row: the second was not understood.
        in_conversation("reports"),
        in_conversation("reports"),
    ]))
    .unwrap();
    let text = scrape(&r);
    for (series, n) in [
        (
            r#"chat_intents_total{intent="billing",outcome="understood"}"#,
            1.0,
        ),
        (
            r#"chat_intents_total{intent="billing",outcome="misunderstood"}"#,
            1.0,
        ),
        (
            r#"chat_intents_total{intent="reports",outcome="understood"}"#,
            2.0,
        ),
        (
            r#"chat_intents_total{intent="reports",outcome="misunderstood"}"#,
            1.0,
        ),
        (
            r#"chat_intents_total{intent="other",outcome="understood"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
}

/// The fleet-wide estimate: registers of two sidecars with overlapping users, merged by
/// maximum as `max by (window, segment, register)` does, estimate the union.
#[test]
fn registers_of_two_sidecars_merge_into_the_union() {
    let (a, ra) = processor("{}");
    let (b, rb) = processor("{}");
    let users = |range: std::ops::Range<u32>| -> Vec<LogRecord> {
        range
            .map(|i| event("message_sent", vec![kv("user.id", &format!("u{i}"))]))
            .collect()
    };
    a.process(&mut logs(users(0..6000))).unwrap();
    b.process(&mut logs(users(4000..10_000))).unwrap();
    let mut merged = vec![0u8; 1024];
    for text in [scrape(&ra), scrape(&rb)] {
        for line in text
            .lines()
            .filter(|l| l.starts_with(r#"chat_users_hll_register{window="30d",segment="all""#))
        {
            let register: usize = line
                .split("register=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let v: u8 = line.rsplit(' ').next().unwrap().parse().unwrap();
            merged[register] = merged[register].max(v);
        }
    }
    let e = hll::estimate(&merged);
    assert!((e - 10_000.0).abs() <= 3.0 * 1.04 / 32.0 * 10_000.0, "{e}");
}

/// The genai processor with its defaults, recording into metrics no registry reads.
fn default_genai() -> crate::genai::GenaiProcessor {
    crate::genai::GenaiConfig::default()
        .build(
            &Default::default(),
            &Default::default(),
            &OverflowCounter::default(),
            &Default::default(),
        )
        .unwrap()
}

/// An LLM call of `user` in `session` with `input` tokens and 100 output tokens.
fn llm_call(
    id: u8,
    user: &str,
    session: &str,
    input: &str,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: vec![1; 16],
        span_id: vec![id; 8],
        name: "chat gpt-4o".to_owned(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", "gpt-4o"),
            kv("gen_ai.usage.input_tokens", input),
            kv("gen_ai.usage.output_tokens", "100"),
            kv("user.id", user),
            kv("session.id", session),
        ],
        ..Default::default()
    }
}

/// One traces batch of `spans`, under one resource and scope.
fn traces_batch(spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> Batch {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    Batch::new(
        Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    )
}

/// The series that the conversations and calls of the test below give, with their values.
const CONVERSATION_SERIES: &[(&str, f64)] = &[
    (r#"chat_conversations_total{outcome="completed"}"#, 2.0),
    (r#"chat_conversations_total{outcome="abandoned"}"#, 1.0),
    (
        r#"chat_conversation_dropoff_total{event="message_sent"}"#,
        1.0,
    ),
    (
        r#"chat_conversation_messages_count{outcome="completed"}"#,
        2.0,
    ),
    (
        r#"chat_conversation_tokens_sum{outcome="completed"}"#,
        200_310.0,
    ),
    (
        r#"chat_top_user_cost_usd{user="small",window="1d"}"#,
        (10.0 * 2.5 + 100.0 * 10.0) / 1e6,
    ),
];

#[test]
fn conversations_and_top_users_from_llm_calls_and_events() {
    let chat = Arc::new(state::Shared::default());
    let cfg: AnalyticsConfig = serde_saphyr::from_str("conversation_idle: 0s").unwrap();
    let slot = AnalyticsSlot::default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(slot.clone()));
    let analytics = cfg
        .build(&slot, &OverflowCounter::default(), &chat)
        .unwrap();
    let genai = default_genai();
    let traces = traces_batch(vec![
        llm_call(1, "big-spender", "s1", "100000"),
        llm_call(2, "big-spender", "s1", "100000"),
        llm_call(3, "small", "s2", "10"),
    ]);
    // s1: asked, answered, closed; s3: asked, never answered.
    let with_session = |name: &str, session: &str| event(name, vec![kv("session.id", session)]);
    analytics
        .process(&mut logs(vec![
            with_session("message_sent", "s1"),
            with_session("message_sent", "s3"),
        ]))
        .unwrap();
    // The traces pipeline: genai, then chat_analytics, over one derivation of the batch.
    let mut facts = crate::derive::derive(&traces);
    Recorder::record(&genai, &mut facts).unwrap();
    Recorder::record(&analytics, &mut facts).unwrap();
    drop(facts);
    analytics
        .process(&mut logs(vec![
            with_session("message_received", "s1"),
            with_session("chat_closed", "s1"),
        ]))
        .unwrap();
    let text = scrape(&registry);
    for (series, n) in CONVERSATION_SERIES {
        let got = value(&text, series);
        assert!(
            got.is_some_and(|g| (g - n).abs() < 1e-12),
            "{series}: {got:?}\n{text}"
        );
    }
    let big = value(
        &text,
        r#"chat_top_user_cost_usd{user="big-spender",window="30d"}"#,
    )
    .unwrap();
    assert!(
        (big - 2.0 * (100_000.0 * 2.5 + 100.0 * 10.0) / 1e6).abs() < 1e-12,
        "{big}"
    );
}

#[test]
fn funnels_count_users_per_step_in_order() {
    let (p, r) = processor(
        "funnels: [{name: connect, steps: [chat_opened, platform_connect_initiated, platform_connected]}]",
    );
    let e = |name: &str, user: &str| event(name, vec![kv("user.id", user)]);
    p.process(&mut logs(vec![
        // u1 goes all the way, repeating a step; u2 stops after two; u3 skips a step.
        e("chat_opened", "u1"),
        e("chat_opened", "u1"),
        e("platform_connect_initiated", "u1"),
        e("platform_connected", "u1"),
        e("chat_opened", "u2"),
        e("platform_connect_initiated", "u2"),
        e("platform_connected", "u3"),
        e("chat_opened", "u3"),
    ]))
    .unwrap();
    let text = scrape(&r);
    for (series, n) in [
        (
            r#"chat_funnel_step_total{funnel="connect",step="chat_opened"}"#,
            3.0,
        ),
        (
            r#"chat_funnel_step_total{funnel="connect",step="platform_connect_initiated"}"#,
            2.0,
        ),
        (
            r#"chat_funnel_step_total{funnel="connect",step="platform_connected"}"#,
            1.0,
        ),
        (
            r#"chat_funnel_duration_seconds_count{funnel="connect"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
}

#[test]
fn conversations_take_llm_calls_only_from_facts_in_pipeline_order() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let chat = Arc::new(state::Shared::default());
    let genai = default_genai();
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![1; 8],
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", "gpt-4o"),
            kv("user.id", "u1"),
            kv("session.id", "s1"),
        ],
        ..Default::default()
    };
    let mut batch = Batch::new(
        Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    );
    // genai alone touches no conversation state: there is no side channel.
    genai.process(&mut batch).unwrap();
    assert_eq!(chat.open_conversations(), 0);
    let analytics = AnalyticsConfig::default()
        .build(
            &AnalyticsSlot::default(),
            &OverflowCounter::default(),
            &chat,
        )
        .unwrap();
    // chat_analytics before genai: the call is not counted yet, so it feeds nothing.
    let mut again = batch.clone();
    if let Payload::Traces(req) = &mut again.payload {
        req.resource_spans[0].scope_spans[0].spans[0].span_id = vec![2; 8];
    }
    let mut facts = crate::derive::derive(&again);
    Recorder::record(&analytics, &mut facts).unwrap();
    assert_eq!(chat.open_conversations(), 0);
    // genai, then chat_analytics: the counted call opens its conversation.
    Recorder::record(&genai, &mut facts).unwrap();
    Recorder::record(&analytics, &mut facts).unwrap();
    assert_eq!(chat.open_conversations(), 1);
}

/// Issue 14: users under the Langfuse metadata and LiteLLM keys were priced in top users
/// (the genai table knew them) but never counted as unique users (the analytics table did
/// not); `user_id` was pseudonymised by the redaction processor and read by nobody.
#[test]
fn users_under_every_emitters_key_are_unique_users() {
    let (p, r) = processor("{}");
    let keys = [
        "langfuse.trace.metadata.langfuse_user_id",
        "langfuse.observation.metadata.langfuse_user_id",
        "metadata.user_api_key_end_user_id",
        "metadata.user_api_key_user_id",
        "user_id",
        "session.user_id",
    ];
    let records = (0..600)
        .map(|i| {
            let key = keys[i % keys.len()];
            event("message_sent", vec![kv(key, &format!("pseudo-{i:05}"))])
        })
        .collect();
    p.process(&mut logs(records)).unwrap();
    let text = scrape(&r);
    let e = value(&text, r#"chat_users_estimate{window="1d",segment="all"}"#)
        .unwrap_or_else(|| panic!("no estimate:\n{text}"));
    let bound = 3.0 * 1.04 / 32.0 * 600.0;
    assert!((e - 600.0).abs() <= bound, "{e} vs 600\n{text}");
}

#[test]
fn a_forgotten_user_loses_its_funnel_progress() {
    let (p, r) = processor("funnels: [{name: connect, steps: [chat_opened, platform_connected]}]");
    let opened = || event("chat_opened", vec![kv("user.id", "u2")]);
    p.process(&mut logs(vec![opened()])).unwrap();
    p.process(&mut logs(vec![opened()])).unwrap();
    let series = r#"chat_funnel_step_total{funnel="connect",step="chat_opened"}"#;
    assert_eq!(
        value(&scrape(&r), series),
        Some(1.0),
        "a repeated step counts once"
    );
    assert_eq!(p.state.forget("u2"), 1);
    assert_eq!(p.state.forget("u2"), 0);
    p.process(&mut logs(vec![opened()])).unwrap();
    assert_eq!(
        value(&scrape(&r), series),
        Some(2.0),
        "forgotten, the user starts the funnel anew"
    );
}
