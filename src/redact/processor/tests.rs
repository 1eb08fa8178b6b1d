use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::*;
use crate::model::Payload;
use crate::model::Transport;
use crate::model::glob::glob;
use crate::redact::{RedactionConfig, RedactionCounter};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prometheus_client::registry::Registry;

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
const PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.to_owned())),
    })
}

fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: v,
        ..Default::default()
    }
}

fn pii_attrs() -> Vec<KeyValue> {
    vec![
        kv("note", s(&format!("mail {EMAIL} card {CARD}"))),
        kv("gen_ai.request.model", s("gpt-4o-mini")),
        kv("db.password", s("hunter2")),
        kv("user.id", s("customer-42")),
        kv(
            "list",
            Some(AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![s(KEY).unwrap()],
                })),
            }),
        ),
    ]
}

fn config(extra: &str) -> RedactionConfig {
    serde_saphyr::from_str(&format!("insecure_dev_key: true\n{extra}")).unwrap()
}

fn redactor(extra: &str) -> Redactor {
    config(extra)
        .build(&RedactionCounter::default(), &|_| None)
        .unwrap()
}

fn traces() -> Payload {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: format!("chat for {EMAIL}"),
        attributes: pii_attrs(),
        status: Some(Status {
            message: format!("failed for {EMAIL}"),
            code: 2,
        }),
        events: vec![Event {
            name: "gen_ai.content.prompt".into(),
            attributes: pii_attrs(),
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            attributes: pii_attrs(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Payload::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: pii_attrs(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    attributes: pii_attrs(),
                    ..Default::default()
                }),
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn logs() -> Payload {
    let body = AnyValue {
        value: Some(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("content", s(&format!("call me: {EMAIL}"))),
                kv(
                    "nested",
                    s(&format!("{{\"role\":\"user\",\"content\":\"{KEY}\"}}")),
                ),
            ],
        })),
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        body: Some(body),
                        attributes: pii_attrs(),
                        ..Default::default()
                    },
                    LogRecord {
                        body: s(&format!("plain {CARD}")),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn metrics() -> Payload {
    let dp = NumberDataPoint {
        attributes: pii_attrs(),
        exemplars: vec![Exemplar {
            filtered_attributes: pii_attrs(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: vec![dp],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn json(p: &Payload) -> String {
    match p {
        Payload::Traces(r) => serde_json::to_string(r),
        Payload::Logs(r) => serde_json::to_string(r),
        Payload::Metrics(r) => serde_json::to_string(r),
    }
    .unwrap()
}

fn run(r: &Redactor, payload: Payload) -> Payload {
    let mut batch = Batch::new(payload, Transport::Grpc, 1);
    r.process(&mut batch).unwrap();
    batch.payload
}

#[test]
fn no_pii_survives_in_any_location_and_the_rest_is_untouched() {
    let r = redactor("");
    for payload in [traces(), logs(), metrics()] {
        let out = json(&run(&r, payload));
        for pii in [
            EMAIL,
            "4111",
            "sk-proj-",
            "hunter2",
            "customer-42",
            "MIIEvQ",
        ] {
            assert!(!out.contains(pii), "{pii} survived in {out}");
        }
        assert!(out.contains("gpt-4o-mini"), "allow-listed value kept");
    }
    let out = json(&run(&r, traces()));
    assert!(out.contains("chat for [EMAIL]"), "span name: {out}");
    assert!(out.contains("mail [EMAIL] card [CARD]"), "{out}");
    assert!(out.contains("\"[REDACTED]\""), "blocked key");
    assert!(
        out.contains(&r.pseudonym("customer-42")),
        "user id pseudonym"
    );
}

/// Redacts a span whose only attribute is `key` = `text`, and returns the attribute's new
/// value.
fn redact_one_attribute(r: &Redactor, key: &str, text: &str) -> String {
    let mut batch = Batch::new(traces(), Transport::Grpc, 1);
    if let Payload::Traces(req) = &mut batch.payload {
        req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![kv(key, s(text))];
    }
    r.process(&mut batch).unwrap();
    let Payload::Traces(req) = batch.payload else {
        panic!()
    };
    let value = req.resource_spans[0].scope_spans[0].spans[0].attributes[0]
        .value
        .clone();
    match value.and_then(|v| v.value) {
        Some(Value::StringValue(out)) => out,
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn json_strings_stay_valid_json() {
    let r = redactor("");
    let messages = serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": format!("my key\n{PEM}\nand {EMAIL}")}]}]).to_string();
    let out = redact_one_attribute(&r, "gen_ai.input.messages", &messages);
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    let content = parsed[0]["parts"][0]["content"].as_str().unwrap();
    assert_eq!(content, "my key\n[PRIVATE_KEY]\nand [EMAIL]");
}

#[test]
fn json_object_keys_are_redacted_too() {
    let r = redactor("");
    let text = format!("{{\"{EMAIL}\": {{\"note\": \"call {CARD}\"}}}}");
    let out = redact_one_attribute(&r, "gen_ai.output.messages", &text);
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(
        parsed,
        serde_json::json!({"[EMAIL]": {"note": "call [CARD]"}})
    );
}

#[test]
fn redaction_is_idempotent() {
    let r = redactor("");
    let once = run(&r, traces());
    let twice = run(&r, once.clone());
    // User ids are re-hashed (a pseudonym is itself an id value); everything else is stable.
    let strip = |p: &Payload| {
        json(p)
            .replace(&r.pseudonym("customer-42"), "U")
            .replace(&r.pseudonym(&r.pseudonym("customer-42")), "U")
    };
    assert_eq!(strip(&once), strip(&twice));
}

#[test]
fn hash_action_correlates_and_drop_action_removes() {
    let r = redactor("actions: { email: hash, card: drop }");
    let out = json(&run(&r, traces()));
    let tag = format!("[EMAIL:{}]", &r.pseudonym(EMAIL)[..6]);
    assert!(out.contains(&tag), "{out}");
    assert!(
        !out.contains("\"note\""),
        "the attribute with a card was dropped: {out}"
    );
}

#[test]
fn counts_by_detector_and_location() {
    let mut registry = Registry::default();
    let counter = RedactionCounter::register(&mut registry);
    let r = config("").build(&counter, &|_| None).unwrap();
    run(&r, logs());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("llmwatch_redactions_total{detector=\"email\",location=\"log_body\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("llmwatch_redactions_total{detector=\"card\",location=\"log_body\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("llmwatch_redactions_total{detector=\"blocked_key\",location=\"log\"} 1"),
        "{text}"
    );
}

#[test]
fn a_short_key_is_refused_and_rotating_the_key_changes_every_pseudonym() {
    let cfg: RedactionConfig = serde_saphyr::from_str("action: mask").unwrap();
    let problems = cfg.check(&|_| Some("short".into()));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].1.contains("shorter than 16 bytes"),
        "{problems:?}"
    );
    assert!(
        cfg.check(&|_| None).is_empty(),
        "a missing key is generated"
    );
    assert!(
        cfg.check(&|_| Some("0123456789abcdef0123".into()))
            .is_empty()
    );
    let no_ids: RedactionConfig =
        serde_saphyr::from_str("user_id_keys: []\nidentity_keys: false").unwrap();
    assert!(
        no_ids.check(&|_| None).is_empty(),
        "masking alone needs no key"
    );
    let a = config("")
        .build(&RedactionCounter::default(), &|_| {
            Some("key-one-0123456789".into())
        })
        .unwrap();
    let b = config("")
        .build(&RedactionCounter::default(), &|_| {
            Some("key-two-0123456789".into())
        })
        .unwrap();
    assert_ne!(
        a.pseudonym("u1"),
        b.pseudonym("u1"),
        "rotating the key changes every pseudonym"
    );
    assert_eq!(a.pseudonym("u1"), a.pseudonym("u1"));
}

#[test]
fn globs() {
    assert!(glob("*password*", "db.password.hash"));
    assert!(glob("gen_ai.usage.*", "gen_ai.usage.input_tokens"));
    assert!(glob("*.id", "session.id"));
    assert!(
        !RedactionConfig::default_allow_keys()
            .iter()
            .any(|g| glob(g, "customer.id")),
        "unknown ids are scanned"
    );
    assert!(!glob("*.id", "session.identity"));
    assert!(glob("exact", "exact"));
    for (pattern, key, want) in [
        ("*password*", "x.password.y", true),
        ("gen_ai.*", "gen_ai.x", true),
        ("*.id", "a.id", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXc", false),
        ("k", "k", true),
    ] {
        assert_eq!(Glob::new(pattern).matches(key), want, "{pattern} {key}");
        assert_eq!(glob(pattern, key), want, "{pattern} {key}");
    }
}

fn content_span() -> Payload {
    let mut p = traces();
    if let Payload::Traces(req) = &mut p {
        let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
        span.attributes = vec![
            kv(
                "gen_ai.input.messages",
                s(&format!(
                    "[{{\"role\":\"user\",\"content\":\"I am {EMAIL}\"}}]"
                )),
            ),
            kv("gen_ai.completion.0.content", s("Sure, here you go")),
            kv("gen_ai.request.model", s("gpt-4o-mini")),
        ];
        span.events = vec![
            Event {
                name: "gen_ai.content.prompt".into(),
                attributes: vec![kv("gen_ai.prompt", s(&format!("card {CARD}")))],
                ..Default::default()
            },
            Event {
                name: "retry".into(),
                attributes: vec![kv("attempt", s("2"))],
                ..Default::default()
            },
        ];
    }
    p
}

fn content_log() -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    event_name: "gen_ai.user.message".into(),
                    body: s(&format!("hi, {EMAIL} here")),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn content_policy_drop_removes_content_and_keeps_the_rest() {
    let r = redactor("content: drop");
    let out = json(&run(&r, content_span()));
    assert!(
        !out.contains("gen_ai.input.messages") && !out.contains("Sure, here you go"),
        "{out}"
    );
    assert!(
        !out.contains("gen_ai.content.prompt"),
        "content event dropped: {out}"
    );
    assert!(
        out.contains("\"retry\"") && out.contains("gpt-4o-mini"),
        "non-content kept: {out}"
    );
    let Payload::Logs(req) = run(&r, content_log()) else {
        panic!()
    };
    assert_eq!(req.resource_logs[0].scope_logs[0].log_records[0].body, None);
}

#[test]
fn content_policy_metadata_keeps_length_and_pii_flags_only() {
    // User ids off here: a pseudonym is itself an id, so a second pass hashes it again
    // (consistently); everything else must be left as the first pass wrote it.
    let r = redactor("content: metadata\nuser_id_keys: []\nidentity_keys: false");
    let out = run(&r, content_span());
    let text = json(&out);
    assert!(
        !text.contains(EMAIL) && !text.contains("Sure, here you go") && !text.contains("4111"),
        "{text}"
    );
    let Payload::Traces(req) = &out else { panic!() };
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    let get = |attrs: &[KeyValue], k: &str| {
        attrs
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        get(&span.attributes, "gen_ai.completion.0.content.length"),
        Some(Value::IntValue(17))
    );
    let Some(Value::ArrayValue(pii)) = get(&span.attributes, "gen_ai.input.messages.pii") else {
        panic!("{text}")
    };
    assert_eq!(pii.values, vec![s("email").unwrap()]);
    let Some(Value::ArrayValue(pii)) = get(&span.events[0].attributes, "gen_ai.prompt.pii") else {
        panic!("{text}")
    };
    assert_eq!(pii.values, vec![s("card").unwrap()]);
    let again = run(&r, out.clone());
    assert_eq!(json(&again), text, "a second pass changes nothing");
    let logs = json(&run(&r, content_log()));
    assert!(
        !logs.contains(EMAIL) && logs.contains("\"length\"") && logs.contains("email"),
        "{logs}"
    );
}

#[test]
fn content_policy_keep_redacts_content_in_place() {
    let r = redactor("");
    let out = json(&run(&r, content_span()));
    assert!(
        out.contains("I am [EMAIL]")
            && out.contains("Sure, here you go")
            && out.contains("card [CARD]"),
        "{out}"
    );
}

#[test]
fn opted_out_telemetry_loses_its_user_ids_and_keeps_the_rest() {
    let r = redactor("");
    let mut p = traces();
    if let Payload::Traces(req) = &mut p {
        req.resource_spans[0].scope_spans[0].spans[0]
            .attributes
            .push(KeyValue {
                key: "user.analytics_opt_out".into(),
                value: Some(AnyValue {
                    value: Some(Value::BoolValue(true)),
                }),
                ..Default::default()
            });
    }
    let Payload::Traces(req) = run(&r, p) else {
        panic!()
    };
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert!(
        !span.attributes.iter().any(|kv| kv.key == "user.id"),
        "span user id removed"
    );
    assert!(
        !span.events[0]
            .attributes
            .iter()
            .any(|kv| kv.key == "user.id"),
        "event user id removed"
    );
    assert!(
        span.attributes
            .iter()
            .any(|kv| kv.key == "gen_ai.request.model"),
        "the rest stays"
    );
    let resource = req.resource_spans[0].resource.as_ref().unwrap();
    assert!(
        resource.attributes.iter().any(|kv| kv.key == "user.id"),
        "the resource did not opt out: pseudonymised, kept"
    );
}

#[test]
fn user_patterns_redact_with_their_own_name_and_action() {
    let r = redactor(
        "patterns:\n  - { name: employee_id, regex: 'EMP-[0-9]{6}' }\n  - { name: ticket, regex: 'TCK[0-9]{4}', action: hash }",
    );
    let mut p = traces();
    if let Payload::Traces(req) = &mut p {
        req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![kv(
            "note",
            s(&format!("EMP-123456 opened TCK0042 for {EMAIL}")),
        )];
    }
    let out = json(&run(&r, p));
    let tag = format!("[TICKET:{}]", &r.pseudonym("TCK0042")[..6]);
    assert!(
        out.contains(&format!("[EMPLOYEE_ID] opened {tag} for [EMAIL]")),
        "{out}"
    );
}

#[test]
fn user_patterns_are_checked() {
    let cfg = config(
        "patterns:\n  - { name: Bad-Name, regex: 'x' }\n  - { name: email, regex: 'y' }\n  - { name: ok, regex: '(' }\n  - { name: empty, regex: 'a*' }",
    );
    let problems: Vec<String> = cfg
        .check(&|_| None)
        .into_iter()
        .map(|(k, m)| format!("{k}: {m}"))
        .collect();
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("patterns[0].name"), "{problems:?}");
    assert!(problems[1].starts_with("patterns[1].name"), "{problems:?}");
    assert!(
        problems[2].starts_with("patterns[2].regex: invalid regex"),
        "{problems:?}"
    );
    assert!(
        problems[3].starts_with("patterns[3].regex: matches the empty string"),
        "{problems:?}"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn luhn_complete(body: &str) -> String {
        (0..10)
            .map(|c| format!("{body}{c}"))
            .find(|n| crate::redact::validate::luhn(n))
            .unwrap()
    }

    fn email() -> impl Strategy<Value = String> {
        (
            "[a-z][a-z0-9._]{0,12}[a-z0-9]",
            "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            prop::sample::select(vec!["com", "de", "co.uk", "io", "fr"]),
        )
            .prop_map(|(l, d, t)| format!("{l}@{d}.{t}"))
    }

    fn card() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec![
                ("4", 16),
                ("51", 16),
                ("2221", 16),
                ("37", 15),
                ("6011", 16),
                ("3530", 16),
                ("2131", 15),
            ]),
            "[0-9]{18}",
            any::<bool>(),
        )
            .prop_map(|((prefix, len), digits, spaced)| {
                let n = luhn_complete(&format!("{prefix}{}", &digits[..len - prefix.len() - 1]));
                if spaced && len == 16 {
                    format!("{} {} {} {}", &n[0..4], &n[4..8], &n[8..12], &n[12..16])
                } else {
                    n
                }
            })
    }

    fn ssn() -> impl Strategy<Value = String> {
        (1u32..666, 1u32..100, 1u32..10000).prop_map(|(a, g, s)| format!("{a:03}-{g:02}-{s:04}"))
    }

    fn iban() -> impl Strategy<Value = String> {
        "[0-9]{18}".prop_map(|bban| {
            let numeric = format!("{bban}131400");
            let rem = numeric
                .bytes()
                .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
            format!("DE{:02}{bban}", 98 - rem)
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9]{40}".prop_map(|k| format!("sk-proj-{k}")),
            "[A-Z0-9]{16}".prop_map(|k| format!("AKIA{k}")),
            "[A-Za-z0-9]{36}".prop_map(|k| format!("ghp_{k}")),
            "[A-Za-z0-9]{35}".prop_map(|k| format!("AIza{k}")),
        ]
    }

    fn secret() -> impl Strategy<Value = String> {
        prop_oneof![email(), card(), ssn(), iban(), key()]
    }

    /// Text around a secret: words and punctuation that never glue onto it.
    fn filler() -> impl Strategy<Value = String> {
        "([a-z]{1,8}[ ,.!?]{1,2}){0,6}"
    }

    /// Puts `text` in a span attribute, an event attribute, a JSON message string, or the
    /// span name.
    fn place(location: u8, text: String) -> Payload {
        let mut p = traces();
        let Payload::Traces(req) = &mut p else {
            unreachable!()
        };
        let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
        match location % 4 {
            0 => span.attributes = vec![kv("message", s(&text))],
            1 => span.events[0].attributes = vec![kv("comment", s(&text))],
            2 => {
                span.attributes = vec![kv(
                    "gen_ai.input.messages",
                    s(&serde_json::json!([{"role": "user", "content": text}]).to_string()),
                )]
            }
            _ => span.name = text,
        }
        p
    }

    /// One redactor for every case: building one compiles the detector regexes.
    fn shared() -> &'static Redactor {
        static R: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
        R.get_or_init(|| redactor("user_id_keys: []\nidentity_keys: false"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn no_generated_secret_survives_anywhere(secret in secret(), before in filler(), after in filler(), location in any::<u8>()) {
            let out = json(&run(shared(), place(location, format!("{before} {secret} {after}"))));
            prop_assert!(!out.contains(&secret), "{} survived in {}", secret, out);
        }

        #[test]
        fn redaction_is_idempotent_anywhere(secret in secret(), before in filler(), location in any::<u8>()) {
            let once = run(shared(), place(location, format!("{before} {secret}")));
            let twice = run(shared(), once.clone());
            prop_assert_eq!(json(&once), json(&twice));
        }
    }
}

#[test]
fn summary_attributes_count_what_was_redacted_per_item() {
    let r = redactor("summary: true\nuser_id_keys: []\nidentity_keys: false");
    let mut p = traces();
    if let Payload::Traces(req) = &mut p {
        let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
        span.name = "chat".into();
        span.status = None;
        span.events.clear();
        span.links.clear();
        span.attributes = vec![
            kv("note", s(&format!("{EMAIL} and {EMAIL}, card {CARD}"))),
            kv("db.password", s("x")),
        ];
    }
    let Payload::Traces(req) = run(&r, p) else {
        panic!()
    };
    let attrs = &req.resource_spans[0].scope_spans[0].spans[0].attributes;
    let get = |k: &str| {
        attrs
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    assert_eq!(
        get("redaction.masked.count"),
        Some(Value::IntValue(4)),
        "{attrs:?}"
    );
    let Some(Value::ArrayValue(types)) = get("redaction.masked.types") else {
        panic!("{attrs:?}")
    };
    assert_eq!(
        types.values,
        vec![
            s("blocked_key").unwrap(),
            s("card").unwrap(),
            s("email").unwrap()
        ]
    );
    let clean = run(&r, logs_without_pii());
    assert!(
        !json(&clean).contains("redaction.masked"),
        "nothing added when nothing was redacted"
    );
}

fn logs_without_pii() -> Payload {
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: s("all good"),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn rules_that_hide_keys_the_genai_metrics_need_are_warned_about() {
    assert!(
        config("").warnings().is_empty(),
        "the defaults hide nothing the metrics need"
    );
    let w = config("block_keys: ['gen_ai.usage.*']").warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("gen_ai.usage.input_tokens"), "{w:?}");
    let w = config("content: drop\ncontent_keys: ['gen_ai.*']").warnings();
    assert!(
        w.iter()
            .any(|m| m.contains("content_keys covers gen_ai.request.model")),
        "{w:?}"
    );
}

#[test]
fn every_conventions_user_id_is_pseudonymised() {
    let r = redactor("");
    for key in RedactionConfig::default_user_id_keys() {
        let mut p = traces();
        if let Payload::Traces(req) = &mut p {
            req.resource_spans[0].scope_spans[0].spans[0].attributes =
                vec![kv(&key, s("customer-7"))];
        }
        let out = json(&run(&r, p));
        assert!(
            !out.contains("customer-7") && out.contains(&r.pseudonym("customer-7")),
            "{key}: {out}"
        );
    }
}

#[test]
fn user_ids_of_every_emitter_and_of_unknown_ones_are_pseudonymised_whatever_their_type() {
    let r = redactor("");
    let int = |i| {
        Some(AnyValue {
            value: Some(Value::IntValue(i)),
        })
    };
    let array = Some(AnyValue {
        value: Some(Value::ArrayValue(ArrayValue {
            values: vec![s("u-1").unwrap(), int(7).unwrap()],
        })),
    });
    let kvlist = Some(AnyValue {
        value: Some(Value::KvlistValue(KeyValueList {
            values: vec![kv("id", s("u-2"))],
        })),
    });
    let mut attrs = vec![
        kv("ai.settings.context.userId", s("jane@example.com")),
        kv("ai.telemetry.metadata.user_id", s("jane")),
        kv("myapp.customer.user_id", int(12345)),
        kv("user.id", array),
        kv("enduser.id", kvlist),
        kv("ai.request.headers.x-api-key", s("opaque-key-value")),
        kv("X-Refresh-Token", s("opaque")),
        kv("gen_ai.usage.output_tokens", int(3)),
    ];
    let mut counts = Counts::new();
    r.redact_attributes(&mut attrs, "span", &mut counts, &mut Vec::new());
    let text = format!("{attrs:?}");
    for raw in ["jane", "12345", "u-1", "u-2", "opaque"] {
        assert!(!text.contains(raw), "{raw} left in {text}");
    }
    assert!(
        attrs.iter().all(|a| a.key != "enduser.id"),
        "a kvlist user id is dropped"
    );
    assert_eq!(counts[&("dropped_user_id", "span")], 1);
    assert_eq!(counts[&("user_id", "span")], 5);
    assert!(text.contains("IntValue(3)"), "token counts are not blocked");
}

#[test]
fn json_is_rewritten_byte_for_byte_except_the_masked_string() {
    let r = redactor("");
    let text = r#"{"z":1, "a":"mail jane@example.com","a":"dup","big":12345678901234567890123,"card":4111111111111111,"e":"jane\u0040example.com"}"#;
    let mut s = text.to_owned();
    r.redact_string(&mut s, "span", &mut Counts::new(), &mut Vec::new());
    assert_eq!(
        s,
        r#"{"z":1, "a":"mail [EMAIL]","a":"dup","big":12345678901234567890123,"card":"[CARD]","e":"[EMAIL]"}"#
    );
}

#[test]
fn every_field_of_a_traces_batch_is_scanned() {
    let r = redactor("");
    let mut req = ExportTraceServiceRequest::default();
    let mut span = Span {
        name: "s".into(),
        trace_state: format!("k={EMAIL}"),
        ..Default::default()
    };
    span.events.push(Event {
        name: format!("event {EMAIL}"),
        ..Default::default()
    });
    span.attributes.push(kv(
        "b",
        Some(AnyValue {
            value: Some(Value::BytesValue(format!("to {EMAIL}").into_bytes())),
        }),
    ));
    req.resource_spans.push(ResourceSpans {
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: format!("lib {EMAIL}"),
                version: CARD.into(),
                ..Default::default()
            }),
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut traces = Payload::Traces(req);
    r.redact_payload(&mut traces, &mut Counts::new());
    let out = format!("{traces:?}");
    assert!(
        !out.contains("example.com") && !out.contains("4111"),
        "{out}"
    );
}

#[test]
fn every_field_of_a_logs_batch_is_scanned() {
    let r = redactor("");
    let mut logs = Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    severity_text: EMAIL.into(),
                    event_name: format!("e {EMAIL}"),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    r.redact_payload(&mut logs, &mut Counts::new());
    assert!(!format!("{logs:?}").contains("example.com"));
}

#[test]
fn every_field_of_a_metrics_batch_is_scanned() {
    use opentelemetry_proto::tonic::metrics::v1::Sum;
    let r = redactor("");
    let metric = |name: &str, description: &str| Metric {
        name: name.into(),
        description: description.into(),
        data: Some(Data::Sum(Sum::default())),
        ..Default::default()
    };
    let mut metrics = Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(&format!("m_{EMAIL}"), "d"),
                    metric("ok", &format!("help {EMAIL}")),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let mut counts = Counts::new();
    r.redact_payload(&mut metrics, &mut counts);
    let out = format!("{metrics:?}");
    assert!(!out.contains("example.com"), "{out}");
    assert!(out.contains("\"ok\""), "{out}");
    assert_eq!(counts[&("dropped_metric", "metric_name")], 1);
}

#[test]
fn phone_regions_are_checked_and_decide_national_formats() {
    let bad: RedactionConfig = serde_saphyr::from_str("phone_regions: [US, XX]").unwrap();
    let problems = bad.check(&|_| None);
    assert!(
        problems
            .iter()
            .any(|(at, m)| at == "phone_regions" && m.contains("\"XX\"")),
        "{problems:?}"
    );
    let national = "Tel. 0170 8434260";
    let mut s = national.to_owned();
    redactor("phone_regions: [US]").redact_string(
        &mut s,
        "span",
        &mut Counts::new(),
        &mut Vec::new(),
    );
    assert_eq!(s, national, "a German national number is not a US one");
    redactor("phone_regions: [de]").redact_string(
        &mut s,
        "span",
        &mut Counts::new(),
        &mut Vec::new(),
    );
    assert_eq!(s, "Tel. [PHONE]");
}
