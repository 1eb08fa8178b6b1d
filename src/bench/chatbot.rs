//! The chatbot-shaped request of issue 14: what one chatbot backend exports for a few
//! user turns, so that the processors see the mix they see in production, not only LLM
//! spans. Per 100 spans: 5 server spans (`POST /api/chat`), 15 LLM calls with prompt and
//! completion content, 25 HTTP client calls to third-party platforms, 40 database
//! queries and 15 internal spans; one prompt in ten carries an e-mail address. The
//! content is deterministic for a given seed.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::{Rng, reference_traces, text};
use crate::model::attrs::kv;

fn s(v: &str) -> Value {
    Value::StringValue(v.to_owned())
}

fn int(v: u64) -> Value {
    Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The attributes and kind of the `i`-th span of the mix; `None` for an LLM call, which
/// keeps the reference LLM span.
fn other_span(i: usize, rng: &mut Rng) -> Option<(String, SpanKind, Vec<KeyValue>)> {
    Some(match i % 20 {
        0 => (
            "POST /api/chat".to_owned(),
            SpanKind::Server,
            vec![
                kv("http.request.method", s("POST")),
                kv("http.route", s("/api/chat")),
                kv("url.path", s("/api/chat")),
                kv("http.response.status_code", int(200)),
                kv("user.id", s(&format!("user-{}", rng.below(5000)))),
                kv("session.id", s(&format!("sess-{:08x}", rng.below(100_000)))),
                kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64)")),
            ],
        ),
        1..=3 => return None,
        4..=8 => {
            let (host, path) = *rng.pick(&[
                ("api.hubapi.com", "/crm/v3/objects/contacts/512"),
                ("slack.com", "/api/chat.postMessage"),
                ("www.googleapis.com", "/drive/v3/files/1a2b3c4d5e"),
            ]);
            let status = if rng.chance(0.05) { 429 } else { 200 };
            (
                format!("GET {path}"),
                SpanKind::Client,
                vec![
                    kv("http.request.method", s("GET")),
                    kv("server.address", s(host)),
                    kv("url.full", s(&format!("https://{host}{path}?limit=20"))),
                    kv("http.response.status_code", int(status)),
                ],
            )
        }
        9..=16 => {
            let table = *rng.pick(&["messages", "conversations", "users", "documents"]);
            (
                format!("SELECT {table}"),
                SpanKind::Client,
                vec![
                    kv("db.system.name", s("postgresql")),
                    kv("db.operation.name", s("SELECT")),
                    kv("db.collection.name", s(table)),
                    kv(
                        "db.query.text",
                        s(&format!("SELECT * FROM {table} WHERE id = $1 LIMIT 50")),
                    ),
                    kv("server.address", s("db.internal")),
                ],
            )
        }
        _ => (
            "retrieve_context".to_owned(),
            SpanKind::Internal,
            vec![
                kv("app.step", s("retrieve")),
                kv("app.documents", int(rng.below(10))),
                kv("app.note", s(&text(rng, 40))),
            ],
        ),
    })
}

/// An `ExportTraceServiceRequest` of `spans` spans in the chatbot mix.
pub fn chatbot_traces(spans: usize, seed: u64) -> ExportTraceServiceRequest {
    let mut request = reference_traces(spans, seed);
    let mut rng = Rng(seed ^ 0x5eed);
    let Some(scope) = request
        .resource_spans
        .first_mut()
        .and_then(|r| r.scope_spans.first_mut())
    else {
        return request;
    };
    for (i, span) in scope.spans.iter_mut().enumerate() {
        let Some((name, kind, attributes)) = other_span(i, &mut rng) else {
            continue;
        };
        let start = span.start_time_unix_nano;
        *span = Span {
            trace_id: std::mem::take(&mut span.trace_id),
            span_id: std::mem::take(&mut span.span_id),
            parent_span_id: std::mem::take(&mut span.parent_span_id),
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000 + rng.below(50_000_000),
            attributes,
            status: Some(Status {
                code: StatusCode::Unset as i32,
                message: String::new(),
            }),
            ..Default::default()
        };
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_of_span_in_its_share() {
        let r = chatbot_traces(100, 42);
        let spans = &r.resource_spans[0].scope_spans[0].spans;
        let count = |p: &dyn Fn(&Span) -> bool| spans.iter().filter(|s| p(s)).count();
        let has = |s: &Span, k: &str| s.attributes.iter().any(|kv| kv.key == k);
        assert_eq!(spans.len(), 100);
        assert_eq!(count(&|s| has(s, "gen_ai.operation.name")), 15);
        assert_eq!(count(&|s| has(s, "db.system.name")), 40);
        assert_eq!(count(&|s| has(s, "url.full")), 25);
        assert_eq!(count(&|s| s.kind == SpanKind::Server as i32), 5);
        assert_eq!(count(&|s| s.kind == SpanKind::Internal as i32), 15);
    }
}
