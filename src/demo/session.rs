//! One simulated chat session's telemetry: the backend's spans, the platform calls, the
//! web widget's spans and the product events.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::Scenario;
use super::catalogue::*;
use crate::bench::Rng;
use crate::model::attrs::kv;

/// Builds the telemetry of sessions.
pub(super) struct Generator {
    pub(super) rng: Rng,
    pub(super) scenario: Option<Scenario>,
    pub(super) session: u64,
}

/// One session's telemetry.
#[derive(Default)]
pub(super) struct Session {
    pub(super) backend_spans: Vec<Span>,
    pub(super) platform_spans: Vec<Span>,
    pub(super) web_spans: Vec<Span>,
    pub(super) events: Vec<LogRecord>,
    pub(super) web_events: Vec<LogRecord>,
    pub(super) llm_calls: u64,
}

pub(super) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(super) const SECOND: u64 = 1_000_000_000;

impl Generator {
    pub(super) fn event(
        &self,
        at: u64,
        name: &str,
        mut attributes: Vec<KeyValue>,
        user: &[KeyValue],
    ) -> LogRecord {
        attributes.extend_from_slice(user);
        LogRecord {
            time_unix_nano: at,
            observed_time_unix_nano: at,
            severity_number: 9,
            severity_text: "INFO".into(),
            event_name: name.to_owned(),
            attributes,
            ..Default::default()
        }
    }

    fn model(&mut self) -> &'static Model {
        if self.scenario == Some(Scenario::CostSpike) {
            return self.rng.pick(EXPENSIVE);
        }
        let total: u64 = MODELS.iter().map(|m| m.weight).sum();
        let mut n = self.rng.below(total);
        for m in MODELS {
            if n < m.weight {
                return m;
            }
            n -= m.weight;
        }
        &MODELS[0]
    }

    pub(super) fn prompt(&mut self) -> String {
        let n = self.rng.below(9000) + 1000;
        self.rng
            .pick(PROMPTS)
            .replace("{email}", &format!("jane.doe{n}@example.com"))
            .replace("{phone}", &format!("+1 415 555 {n:04}"))
            .replace("{card}", "4111 1111 1111 1111")
    }

    pub(super) fn session(&mut self, end: u64) -> Session {
        self.session += 1;
        let mut out = Session::default();
        let (guest, user_id, user) = self.identity();
        let r = &mut self.rng;
        let conversation = format!("conv-{:016x}", r.next());
        let turns = 1 + r.below(4);
        // The session's timeline ends at `end`; each turn takes a few seconds.
        let at = end.saturating_sub(turns * 6 * SECOND + 2 * SECOND);
        let chat = Chat {
            guest,
            conversation: &conversation,
            user: &user,
        };
        self.open(&mut out, at, &chat);
        let ended = self.turns(&mut out, at, turns, &chat);
        self.close(&mut out, &ended, &chat, &user_id);
        self.web(&mut out, end);
        out
    }

    /// A guest or a signed-in user of some tier: whether a guest, the user id, and the
    /// attributes every event of the session carries.
    fn identity(&mut self) -> (bool, String, Vec<KeyValue>) {
        let r = &mut self.rng;
        let guest = r.chance(0.3);
        let user_id = if guest {
            format!("guest-{}", r.below(100_000))
        } else {
            format!("user-{}", r.below(500))
        };
        let mut user = vec![s("user.id", user_id.as_str())];
        if guest {
            user.push(b("user.is_guest", true));
        } else {
            user.push(s("user.tier", *r.pick(&["free", "pro", "enterprise"])));
        }
        (guest, user_id, user)
    }

    /// The chat opens and its conversation is created; some guests are asked to sign up.
    fn open(&mut self, out: &mut Session, at: u64, chat: &Chat<'_>) {
        let user = chat.user;
        let entry = *self.rng.pick(&["widget", "help_page", "dashboard"]);
        out.events
            .push(self.event(at, "chat_opened", vec![s("chat.entry_point", entry)], user));
        out.events.push(self.event(
            at,
            "conversation_created",
            vec![s("session.id", chat.conversation)],
            user,
        ));
        if chat.guest && self.rng.chance(0.3) {
            out.events
                .push(self.event(at, "guest_user_signup_prompt", vec![], user));
        }
    }

    /// The session's turns from `at`, until the last or until the user leaves unanswered.
    fn turns(&mut self, out: &mut Session, mut at: u64, turns: u64, chat: &Chat<'_>) -> Ended {
        let mut ended = Ended {
            at,
            model_used: "gpt-4o-mini",
            last_failed: false,
            left_unanswered: false,
        };
        for turn in 0..turns {
            let intent = *self.rng.pick(INTENTS);
            self.ask(out, at, turn == 0, intent, chat);
            // Some users leave before their last question is answered.
            if turn + 1 == turns && self.rng.chance(0.08) {
                ended.left_unanswered = true;
                break;
            }
            let (model, failed) = self.answer(out, &mut at, intent, chat);
            ended.model_used = model;
            ended.last_failed = failed;
        }
        ended.at = at;
        ended
    }

    /// The user's message, with its intent; some users' first message is marked.
    fn ask(&mut self, out: &mut Session, at: u64, first: bool, intent: &str, chat: &Chat<'_>) {
        let confidence = self.rng.range(0.35, 0.99);
        if first && !chat.guest && self.rng.chance(0.2) {
            out.events
                .push(self.event(at, "first_chat_message", vec![], chat.user));
        }
        out.events.push(self.event(
            at,
            "message_sent",
            vec![
                s("session.id", chat.conversation),
                s("chat.intent", intent),
                f("chat.intent.confidence", confidence),
            ],
            chat.user,
        ));
    }

    /// The backend's answer: its spans, an error log if the LLM call failed, the answer
    /// event and sometimes a report. Moves `at` past the turn; returns the model and
    /// whether the call failed.
    fn answer(
        &mut self,
        out: &mut Session,
        at: &mut u64,
        intent: &str,
        chat: &Chat<'_>,
    ) -> (&'static str, bool) {
        let (spans, error, model, took) = self.turn(*at, chat.conversation, chat.user);
        let failed = error.is_some();
        out.backend_spans.extend(spans);
        out.llm_calls += 1;
        if let Some(kind) = error {
            // The backend logs the failure, as an app's logger would.
            out.events.push(error_log(*at + took, kind));
        }
        *at += took + SECOND;
        if !failed {
            out.events.push(self.event(
                *at,
                "message_received",
                vec![s("session.id", chat.conversation)],
                chat.user,
            ));
        }
        if intent == "reports" && !failed && self.rng.chance(0.5) {
            let kind = *self.rng.pick(&["weekly", "campaign", "keywords"]);
            out.events.push(self.event(
                *at,
                "report_generated",
                vec![s("report.type", kind)],
                chat.user,
            ));
        }
        (model, failed)
    }

    /// After the turns: feedback, platform connections and calls, and the chat closing.
    fn close(&mut self, out: &mut Session, ended: &Ended, chat: &Chat<'_>, user_id: &str) {
        let at = ended.at;
        if self.rng.chance(0.35) {
            let unhappy = if ended.last_failed { 0.8 } else { 0.25 };
            let rating = if self.rng.chance(unhappy) {
                "down"
            } else {
                "up"
            };
            out.events.push(self.event(
                at,
                "message_feedback",
                vec![
                    s("session.id", chat.conversation),
                    s("feedback.rating", rating),
                    s("gen_ai.response.model", ended.model_used),
                ],
                chat.user,
            ));
        }
        if !chat.guest && self.rng.chance(0.2) {
            self.connect_platform(out, at, chat.user);
        }
        if !chat.guest && self.rng.chance(0.5) {
            self.platform_call(out, at, user_id);
        }
        if !ended.left_unanswered && self.rng.chance(0.8) {
            out.events.push(self.event(
                at + SECOND,
                "chat_closed",
                vec![s("session.id", chat.conversation)],
                chat.user,
            ));
        }
    }

    /// One chat turn: the server span, a database query and an LLM call.
    fn turn(
        &mut self,
        start: u64,
        conversation: &str,
        user: &[KeyValue],
    ) -> (Vec<Span>, Option<&'static str>, &'static str, u64) {
        let model = self.model();
        let r = &mut self.rng;
        let trace = id16(r);
        let server_id = id8(r);
        let (db, db_ms) = self.db_query(&trace, &server_id, start);
        let db_failed = db.status.is_some();
        let llm_start = start + 2_000_000 + (db_ms * 1e6) as u64;
        let shape = self.llm_shape(model);
        let error = shape.error.map(|(kind, _)| kind);
        let failed = error.is_some();
        let llm = self.llm_call(
            model,
            &shape,
            (&trace, &server_id),
            llm_start,
            (conversation, user),
        );
        let llm_end = llm.end_time_unix_nano;
        let mut spans = vec![db, llm];
        spans.extend(super::agent::spans(&trace, &server_id, llm_start, llm_end));
        let end = llm_end + 3_000_000;
        spans.push(server_span(
            trace,
            server_id,
            start,
            end,
            failed || db_failed,
        ));
        (spans, error, model.name, end - start)
    }

    /// The turn's database query, failing in a database outage; returns it and its
    /// duration in milliseconds.
    fn db_query(&mut self, trace: &[u8], server_id: &[u8], start: u64) -> (Span, f64) {
        let r = &mut self.rng;
        let db_ms = r.range(3.0, 40.0);
        let db_failed = match self.scenario {
            Some(Scenario::DatabaseOutage) => r.chance(0.97),
            _ => r.chance(0.002),
        };
        let mut db = Span {
            trace_id: trace.to_vec(),
            span_id: id8(r),
            parent_span_id: server_id.to_vec(),
            name: "SELECT conversations".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: start + 2_000_000,
            end_time_unix_nano: start + 2_000_000 + (db_ms * 1e6) as u64,
            attributes: vec![
                s("db.system.name", "postgresql"),
                s("db.operation.name", "SELECT"),
                s("db.collection.name", "conversations"),
                s("server.address", "db.internal"),
            ],
            ..Default::default()
        };
        if db_failed {
            db.attributes
                .push(s("error.type", "ConnectionRefusedError"));
            db.status = Some(error_status("connection refused"));
        }
        (db, db_ms)
    }

    /// The widget's page load and its web vitals.
    fn web(&mut self, out: &mut Session, at: u64) {
        let r = &mut self.rng;
        let load_ms = r.range(150.0, 1800.0);
        out.web_spans.push(Span {
            trace_id: id16(r),
            span_id: id8(r),
            name: "documentLoad".into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: at.saturating_sub((load_ms * 1e6) as u64),
            end_time_unix_nano: at,
            ..Default::default()
        });
        let slow = if self.scenario == Some(Scenario::LatencyDegradation) {
            2.0
        } else {
            1.0
        };
        let vitals = [
            ("LCP", r.range(900.0, 4200.0) * slow, 2500.0, 4000.0),
            ("INP", r.range(40.0, 600.0) * slow, 200.0, 500.0),
            ("CLS", r.range(0.0, 0.3), 0.1, 0.25),
            ("FCP", r.range(400.0, 3200.0) * slow, 1800.0, 3000.0),
            ("TTFB", r.range(100.0, 1900.0) * slow, 800.0, 1800.0),
        ];
        for (name, value, good, poor) in vitals {
            let rating = if value <= good {
                "good"
            } else if value <= poor {
                "needs-improvement"
            } else {
                "poor"
            };
            let body = Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("name", Value::StringValue(name.into())),
                    kv("value", Value::DoubleValue(value)),
                    kv("delta", Value::DoubleValue(value)),
                    kv(
                        "id",
                        Value::StringValue(format!("v4-{}", r.next() % 1_000_000)),
                    ),
                    kv("rating", Value::StringValue(rating.into())),
                ],
            });
            out.web_events.push(LogRecord {
                time_unix_nano: at,
                observed_time_unix_nano: at,
                severity_number: 9,
                event_name: "browser.web_vital".into(),
                body: Some(AnyValue { value: Some(body) }),
                ..Default::default()
            });
        }
    }
}

pub(super) fn error_status(message: &str) -> Status {
    Status {
        code: StatusCode::Error as i32,
        message: message.to_owned(),
    }
}

/// The session's fixed parts that every turn and event uses.
struct Chat<'a> {
    guest: bool,
    conversation: &'a str,
    user: &'a [KeyValue],
}

/// Where the turns left the session.
struct Ended {
    at: u64,
    model_used: &'static str,
    last_failed: bool,
    left_unanswered: bool,
}

/// The error log record the backend writes when an LLM call fails with `kind`.
fn error_log(at: u64, kind: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: at,
        observed_time_unix_nano: at,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(Value::StringValue("LLM call failed".into())),
        }),
        attributes: vec![s("exception.type", kind)],
        ..Default::default()
    }
}

/// The chat turn's server span, a 500 when the database or the LLM call failed.
fn server_span(trace: Vec<u8>, span_id: Vec<u8>, start: u64, end: u64, failed: bool) -> Span {
    let status = if failed { 500 } else { 200 };
    let mut server = Span {
        trace_id: trace,
        span_id,
        name: "POST /api/chat".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: vec![
            s("http.request.method", "POST"),
            s("http.route", "/api/chat"),
            i("http.response.status_code", status),
        ],
        ..Default::default()
    };
    if status == 500 {
        server.attributes.push(s("error.type", "500"));
        server.status = Some(error_status("upstream failure"));
    }
    server
}
