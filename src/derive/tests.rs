//! The derive stage against today's extraction: a copy of the `genai` extraction as it was
//! before the derive stage (`tests/old_extract.rs`, `tests/old_keys.rs`, test-only) is the
//! oracle, and generated spans and log events in every convention's keys must give the
//! same call, except for the bugs issues 14 and 15 name (see `expected_from_old`, and the
//! lines marked `issue 15` in the copy).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use proptest::prelude::*;

use super::*;
use crate::semconv::identity::{IdentityKind, identity_kind};

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "tests/old_keys.rs"]
mod keys;

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "tests/old_extract.rs"]
mod old;

mod corpus;

mod price {
    pub(super) use crate::model::time::parse_day;
}

fn kv(key: &str, value: Value) -> KeyValue {
    crate::model::attrs::kv(key, value)
}

/// Some of the keys the old `genai` table did not know as user, session or conversation
/// ids, although the redaction processor pseudonymised them: users under them were priced
/// nowhere (issue 14). AI SDK 7's context keys, an unlisted emitter's (the pattern rule).
const NEW_IDENTITY_KEYS: &[&str] = &[
    "user_id",
    "session.user_id",
    "ai.settings.context.userId",
    "ai.settings.context.sessionId",
    "ai.telemetry.metadata.user_id",
    "acme.user.id",
    "app.session_id",
];

/// Every key of the old table, the identity keys, and a few keys nobody reads.
fn all_keys() -> Vec<&'static str> {
    keys::KEYS
        .iter()
        .map(|k| k.name)
        .chain(NEW_IDENTITY_KEYS.iter().copied())
        .chain(["http.route", "app.feature", "db.system"])
        .collect()
}

fn numeric(key: &str) -> bool {
    keys::INDEX.get(key).is_some_and(|(k, _)| {
        use keys::Field::*;
        matches!(
            k.field,
            Input
                | UncachedInput
                | Output
                | CacheRead
                | CacheWrite
                | Reasoning
                | TimeToFirstToken
                | ReportedCost
                | HttpStatus
        )
    })
}

/// A value for `key`: numbers of every type (negative ones too) for counts and times,
/// text, ints and bools for the rest, with the markers, models and JSON that matter.
fn value_for(key: &'static str) -> BoxedStrategy<Value> {
    if numeric(key) {
        return prop_oneof![
            (-5i64..200_000).prop_map(Value::IntValue),
            (-5.0f64..5000.0).prop_map(Value::DoubleValue),
            (0u32..100_000).prop_map(|n| Value::StringValue(n.to_string())),
            Just(Value::StringValue("-3".to_owned())),
            Just(Value::StringValue("n/a".to_owned())),
            Just(Value::IntValue(429)),
        ]
        .boxed();
    }
    prop_oneof![
        prop::sample::select(vec![
            "chat",
            "llm",
            "LLM",
            "embedding",
            "agent",
            "tool",
            "rerank",
            "generation",
            "text_completion",
            "openai",
            "anthropic",
            "openai.chat",
            "vertex_ai",
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "claude-3-5-sonnet",
            "stop",
            "length",
            "[\"stop\",\"tool_calls\"]",
            "true",
            "false",
            "u-1",
            "u-2",
            "s-1",
            "conv-9",
            "chatcmpl-1",
            "{\"input\": 12, \"output\": 3, \"cache_read\": 2}",
            "{\"total\": 0.25}",
            "{\"model\": \"gpt-4o-mini\"}",
            "<class 'openai.RateLimitError'>",
            "500",
            "2026-01-01T00:00:01.5Z",
        ])
        .prop_map(|s| Value::StringValue(s.to_owned())),
        (0i64..3).prop_map(Value::IntValue),
        any::<bool>().prop_map(Value::BoolValue),
    ]
    .boxed()
}

/// Attributes from `all_keys`, at most one user key and one conversation-or-session key
/// per layer (with two, the old extraction took the first in its table on a span and
/// the first on the wire on a resource; derive takes the conversation before the
/// session on both, the first on the wire within a kind), no empty identity values.
fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(prop::sample::select(all_keys()), 0..max).prop_flat_map(|names| {
        let mut seen = Vec::new();
        let names: Vec<&'static str> = names
            .into_iter()
            .filter(
                |n| match identity_kind(n).map(|k| k == IdentityKind::User) {
                    Some(kind) if seen.contains(&kind) => false,
                    Some(kind) => {
                        seen.push(kind);
                        true
                    }
                    None => true,
                },
            )
            .collect();
        names
            .into_iter()
            .map(|n| value_for(n).prop_map(move |v| kv(n, v)))
            .collect::<Vec<_>>()
    })
}

fn span_strategy() -> impl Strategy<Value = (Span, Vec<KeyValue>)> {
    let events = prop::collection::vec(
        (
            prop::sample::select(vec![
                "exception",
                "First Token Stream Event",
                "ai.stream.firstChunk",
                "other",
            ]),
            0u64..3_000_000_000,
        ),
        0..3,
    );
    (
        attributes(12),
        attributes(4),
        prop::sample::select(vec![
            "chat gpt-4o",
            "ai.streamText.doStream",
            "ai.generateText",
            "ai.embed.doEmbed",
            "GET /x",
        ]),
        events,
        0i32..3,
        0u64..2,
    )
        .prop_map(|(attrs, resource, name, events, status, started)| {
            let start = started * 1_764_000_000_000_000_000;
            let span = Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                parent_span_id: vec![3; 8],
                name: name.to_owned(),
                start_time_unix_nano: start,
                end_time_unix_nano: start + 2_000_000_000,
                attributes: attrs,
                status: Some(Status {
                    code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error][status as usize]
                        as i32,
                    ..Default::default()
                }),
                events: events
                    .into_iter()
                    .map(|(n, at)| Event {
                        name: n.to_owned(),
                        time_unix_nano: start + at,
                        attributes: vec![kv(
                            "exception.type",
                            Value::StringValue("openai.APIError".to_owned()),
                        )],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            (span, resource)
        })
}

/// Whether the old table read `key` as the identity `kind` (conversations were sessions).
fn old_knows(key: &str, kind: IdentityKind) -> bool {
    keys::INDEX.get(key).is_some_and(|(k, _)| match kind {
        IdentityKind::User => k.field == keys::Field::User,
        IdentityKind::Session | IdentityKind::Conversation => k.field == keys::Field::Session,
    })
}

/// The key and value an identity of `kinds` is read from, as [`Identity::of`] reads it:
/// the innermost layer with one; in it, the first non-empty value of the first kind.
fn deciding<'a>(layers: &[&'a [KeyValue]], kinds: &[IdentityKind]) -> Option<&'a KeyValue> {
    layers.iter().find_map(|layer| {
        kinds.iter().find_map(|kind| {
            layer.iter().find(|kv| {
                identity_kind(&kv.key) == Some(*kind)
                    && kv
                        .value
                        .as_ref()
                        .and_then(crate::model::attrs::text)
                        .is_some_and(|t| !t.is_empty())
            })
        })
    })
}

/// What the old extraction yields once the named bugs are fixed: users and sessions
/// under keys the redaction processor pseudonymised but the `genai` table missed are
/// read. Where the deciding key is one the old table did not know, its value is the
/// answer; where it knew it, the old answer stands.
fn expected_from_old(
    old: Option<old::Call>,
    layers: &[&[KeyValue]],
    reads_identity: bool,
) -> String {
    let Some(mut call) = old else {
        return "None".to_owned();
    };
    let value = |kv: &KeyValue| kv.value.as_ref().and_then(crate::model::attrs::text);
    if reads_identity {
        if let Some(kv) = deciding(layers, &[IdentityKind::User])
            && !old_knows(&kv.key, IdentityKind::User)
        {
            call.user = value(kv);
        }
        let thread = [IdentityKind::Conversation, IdentityKind::Session];
        if let Some(kv) = deciding(layers, &thread)
            && !old_knows(&kv.key, IdentityKind::Session)
        {
            call.session = value(kv);
        }
    }
    // issue 15: finish reasons in the OTel spelling.
    call.finish_reasons = call
        .finish_reasons
        .iter()
        .map(|r| crate::semconv::outcome::finish_reason(r).to_owned())
        .collect();
    format!("{:?}", Some(call))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn spans_derive_the_calls_of_the_old_extraction((span, resource) in span_strategy()) {
        let old = old::from_span(&span, &resource, "svc");
        let new = llm::from_span(&span, &resource, "svc");
        prop_assert_eq!(
            format!("{new:?}"),
            expected_from_old(old, &[&span.attributes, &resource], true)
        );
        // The batch walk gives the same call as the per-span function.
        let under = super::ResourceFacts {
            attributes: &resource,
            service: "svc",
            identity: super::Identity::of(&[&resource]),
        };
        let facts = super::span(&span, &under);
        prop_assert_eq!(facts.call.map(|c| c.call), new);
    }

    #[test]
    fn log_events_derive_the_calls_of_the_old_extraction(
        attrs in attributes(10),
        resource in attributes(3),
        name in prop::sample::select(vec![
            "gen_ai.client.inference.operation.details",
            "gen_ai.choice",
            "gen_ai.user.message",
            "",
        ]),
        as_attribute in any::<bool>(),
        in_span in any::<bool>(),
    ) {
        let mut record = LogRecord {
            trace_id: vec![1; 16],
            span_id: if in_span { vec![2; 8] } else { Vec::new() },
            time_unix_nano: 5,
            attributes: attrs,
            ..Default::default()
        };
        if as_attribute {
            record.attributes.push(kv("event.name", Value::StringValue(name.to_owned())));
        } else {
            record.event_name = name.to_owned();
        }
        let old = old::from_log(&record, &resource, "svc");
        let new = llm::from_log(&record, &resource, "svc");
        prop_assert_eq!(
            format!("{new:?}"),
            expected_from_old(old, &[&record.attributes, &resource], name != "gen_ai.choice")
        );
    }
}

#[test]
fn users_under_every_pseudonymised_key_are_users() {
    // issue 14: Langfuse metadata and LiteLLM keys were priced but not counted as users,
    // and `user_id` was pseudonymised but read by nobody.
    for key in [
        "langfuse.trace.metadata.langfuse_user_id",
        "metadata.user_api_key_end_user_id",
        "litellm.end_user.id",
        "user_id",
        "session.user_id",
    ] {
        let attrs = [kv(key, Value::StringValue("u-7".to_owned()))];
        assert_eq!(
            Identity::of(&[&attrs]).user.as_deref(),
            Some("u-7"),
            "{key}"
        );
    }
}

#[test]
fn identity_reads_the_innermost_layer_first_and_the_conversation_before_the_session() {
    let s = |v: &str| Value::StringValue(v.to_owned());
    let event = [kv("session.id", s("s-event"))];
    let span = [
        kv("session.id", s("s-span")),
        kv("gen_ai.conversation.id", s("c-span")),
        kv("user.id", s("")),
    ];
    let resource = [kv("enduser.id", Value::IntValue(42))];
    let id = Identity::of(&[&event, &span, &resource]);
    assert_eq!(id.thread(), Some("s-event"));
    assert_eq!(id.conversation.as_deref(), Some("c-span"));
    // An empty user id is none: the resource's, as text.
    assert_eq!(id.user, Some(Cow::Owned("42".to_owned())));
    let id = Identity::of(&[&span, &resource]);
    assert_eq!(id.thread(), Some("c-span"));
}

#[test]
fn one_walk_yields_every_fact_of_a_batch() {
    let s = |v: &str| Value::StringValue(v.to_owned());
    let llm_span = Span {
        trace_id: vec![1; 16],
        span_id: vec![1; 8],
        name: "chat".to_owned(),
        attributes: vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("user.id", s("u-1")),
        ],
        events: vec![Event {
            name: "message_feedback".to_owned(),
            attributes: vec![kv("session.id", s("s-1"))],
            ..Default::default()
        }],
        ..Default::default()
    };
    let db_span = Span {
        name: "SELECT".to_owned(),
        attributes: vec![kv("db.system", s("postgresql"))],
        ..Default::default()
    };
    let batch = crate::testkit::traces(
        vec![kv("service.name", s("chat-api"))],
        vec![llm_span, db_span],
    );
    let facts = derive(&batch);
    assert_eq!(facts.spans.len(), 2);
    let llm = &facts.spans[0];
    assert_eq!(llm.service, "chat-api");
    let call = &llm.call.as_ref().unwrap().call;
    assert_eq!(
        (call.model(), call.user.as_deref()),
        ("gpt-4o", Some("u-1"))
    );
    assert_eq!(llm.events[0].identity.thread(), Some("s-1"));
    assert_eq!(llm.events[0].identity.user.as_deref(), Some("u-1"));
    assert!(facts.spans[1].call.is_none());
    let logs = crate::testkit::logs(
        Vec::new(),
        vec![LogRecord {
            attributes: vec![kv("event.name", s("chat_opened"))],
            ..Default::default()
        }],
    );
    let facts = derive(&logs);
    assert_eq!(facts.logs[0].event, Some("chat_opened"));
    assert_eq!(facts.logs[0].service, "unknown_service");
}

#[test]
fn doubles_are_text_like_every_other_scalar() {
    // One value parser: the old extraction read a double-valued id as nothing.
    let span = Span {
        name: "chat".to_owned(),
        attributes: vec![
            kv("gen_ai.request.model", Value::StringValue("m".to_owned())),
            kv("gen_ai.response.id", Value::DoubleValue(1.5)),
        ],
        ..Default::default()
    };
    let call = llm::from_span(&span, &[], "svc").unwrap();
    assert_eq!(call.response_id.as_deref(), Some("1.5"));
    assert_eq!(old::from_span(&span, &[], "svc").unwrap().response_id, None);
}

#[test]
fn identity_keys_match_in_any_case_and_nothing_else_does() {
    for (key, kind) in [
        ("user.id", IdentityKind::User),
        // The pattern rule: an emitter nobody listed (privacy, issue 13).
        ("x.user.id", IdentityKind::User),
        ("X.User.Id", IdentityKind::User),
        ("LLM.USER", IdentityKind::User),
        ("ai.settings.context.userId", IdentityKind::User),
        ("ai.settings.context.sessionId", IdentityKind::Session),
        ("ai.telemetry.metadata.user_id", IdentityKind::User),
        ("ai.telemetry.metadata.userId", IdentityKind::User),
        ("AI.TELEMETRY.METADATA.USERID", IdentityKind::User),
        (
            "langfuse.observation.metadata.langfuse_user_id",
            IdentityKind::User,
        ),
        ("Session.Id", IdentityKind::Session),
        ("ai.telemetry.metadata.sessionId", IdentityKind::Session),
        ("gen_ai.conversation.id", IdentityKind::Conversation),
    ] {
        assert_eq!(identity_kind(key), Some(kind), "{key}");
    }
    for key in [
        "user",
        "user.idx",
        "user.name",
        "x.user.idx",
        "gen_ai.usage.input_tokens",
        "",
        "USER.ID.X",
    ] {
        assert_eq!(identity_kind(key), None, "{key}");
    }
    assert_eq!(identity_kind(&"U".repeat(200)), None);
}

#[test]
fn an_event_identity_within_its_span_is_the_layered_reading() {
    let s = |v: &str| Value::StringValue(v.to_owned());
    let event = [kv("session.id", s("s-e"))];
    let span = [
        kv("user.id", s("u-s")),
        kv("gen_ai.conversation.id", s("c-s")),
    ];
    let resource = [kv("enduser.id", s("u-r")), kv("session.id", s("s-r"))];
    let outer = Identity::of(&[&span, &resource]);
    assert_eq!(
        Identity::of(&[&event]).within(&outer),
        Identity::of(&[&event, &span, &resource])
    );
    assert_eq!(
        Identity::of(&[]).within(&outer),
        Identity::of(&[&span, &resource])
    );
}

/// What the JavaScript emitters put on the wire (issue 15).
#[path = "tests/emitters.rs"]
mod emitters;
