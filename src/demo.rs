//! `llmwatch demo`: realistic chatbot telemetry over real OTLP, for trying the dashboards
//! and watching the alerts fire.
//!
//! Each simulated chat session is what a chatbot backend and its web widget would export
//! with the standard SDKs: product events as log events (`chat_opened`, messages with
//! intents, feedback, the platform-connection funnel), web vitals, and per turn a server
//! span with a database query and an LLM call (GenAI semantic conventions, several
//! providers and models, streaming with time to first token, cached tokens, prompts that
//! carry PII), plus calls to platform APIs whose tokens may be about to expire. Guests and
//! signed-in users mix, and a share of calls fail as in production: rate limits, timeouts,
//! 5xx.
//!
//! `--scenario` turns one kind of trouble up, so each alert can be watched firing. Content
//! comes from a seeded generator: the same seed gives the same sessions.

use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;

mod agent;
mod catalogue;
mod llm;
mod platform;
mod session;

use self::catalogue::s;
use self::session::{Generator, Session, now_nanos};
use crate::bench::Rng;
use crate::export::otlp::{Client, Protocol};
use crate::model::Signal;

/// Trouble a demo run can simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Half of all LLM calls fail (LLMErrorRateHigh).
    ErrorSpike,
    /// Long prompts to the most expensive models (daily budget alerts, cost panels).
    CostSpike,
    /// Every Anthropic call fails (LLMProviderDown).
    ProviderOutage,
    /// LLM calls take 4 times as long (AILatencyP95Poor).
    LatencyDegradation,
    /// Nearly every database query fails (DatabaseDown).
    DatabaseOutage,
    /// Every Meta Graph API call fails (PlatformAPIDown).
    PlatformOutage,
}

/// What `llmwatch demo` was asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// `http://host:port` of llmwatch's OTLP receiver.
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: Protocol,
    /// Chat sessions started per second.
    pub rate: f64,
    /// How long to run; `None` runs until interrupted.
    pub duration: Option<Duration>,
    /// Seed of the content generator.
    pub seed: u64,
    /// Trouble to simulate.
    pub scenario: Option<Scenario>,
    /// Print a progress line every second.
    pub progress: bool,
}

/// What a run sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub sessions: u64,
    pub llm_calls: u64,
    pub spans: u64,
    pub log_records: u64,
    pub failed_requests: u64,
}

fn resource(service: &str, extra: &[(&str, &str)]) -> Option<Resource> {
    let mut attributes = vec![
        s("service.name", service),
        s("service.version", "2.4.1"),
        s("deployment.environment.name", "demo"),
    ];
    attributes.extend(extra.iter().map(|(k, v)| s(k, *v)));
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "llmwatch-demo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

/// The requests for a group of sessions: one traces and one logs request.
fn requests(sessions: Vec<Session>) -> (ExportTraceServiceRequest, ExportLogsServiceRequest) {
    let (mut backend, mut platform, mut web_spans, mut events, mut web_events) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in sessions {
        backend.extend(s.backend_spans);
        platform.extend(s.platform_spans);
        web_spans.extend(s.web_spans);
        events.extend(s.events);
        web_events.extend(s.web_events);
    }
    let spans = |resource, spans| ResourceSpans {
        resource,
        scope_spans: vec![ScopeSpans {
            scope: scope(),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    };
    let logs = |resource, log_records| ResourceLogs {
        resource,
        scope_logs: vec![ScopeLogs {
            scope: scope(),
            log_records,
            ..Default::default()
        }],
        ..Default::default()
    };
    let web = [("telemetry.sdk.language", "webjs")];
    (
        ExportTraceServiceRequest {
            resource_spans: vec![
                spans(resource("chat-api", &[]), backend),
                spans(resource("sync-worker", &[]), platform),
                spans(resource("chat-web", &web), web_spans),
            ],
        },
        ExportLogsServiceRequest {
            resource_logs: vec![
                logs(resource("chat-api", &[]), events),
                logs(resource("chat-web", &web), web_events),
            ],
        },
    )
}

/// Runs the demo until its duration passes or `stop` resolves.
pub async fn run(
    options: Options,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Totals, String> {
    let mut client = Client::new(&options.endpoint, options.protocol)?;
    let mut generator = Generator {
        rng: Rng(options.seed),
        scenario: options.scenario,
        session: 0,
    };
    let mut totals = Totals::default();
    let started = Instant::now();
    // Sessions are sent in groups, ten times a second.
    let tick = Duration::from_millis(100);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut owed = 0.0f64;
    let mut last_progress = Instant::now();
    let mut last_error: Option<String> = None;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = &mut stop => break,
        }
        if options.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        owed += options.rate * tick.as_secs_f64();
        let n = owed.floor();
        owed -= n;
        if n >= 1.0 {
            let end = now_nanos();
            let sessions: Vec<Session> = (0..n as u64).map(|_| generator.session(end)).collect();
            if let Err(e) = send_sessions(&mut client, sessions, &mut totals).await {
                last_error = Some(e);
            }
        }
        if options.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprintln!(
                "{}",
                progress(
                    &totals,
                    started.elapsed(),
                    options.scenario,
                    last_error.take()
                )
            );
        }
    }
    if options.progress {
        eprintln!(
            "{}",
            progress(&totals, started.elapsed(), options.scenario, last_error)
        );
    }
    Ok(totals)
}

/// Sends one group of sessions as a traces and a logs request, counting what was sent
/// in `totals`; returns the last send error.
async fn send_sessions(
    client: &mut Client,
    sessions: Vec<Session>,
    totals: &mut Totals,
) -> Result<(), String> {
    totals.sessions += sessions.len() as u64;
    totals.llm_calls += sessions.iter().map(|s| s.llm_calls).sum::<u64>();
    let (traces, logs) = requests(sessions);
    let spans = crate::model::Payload::Traces(traces.clone()).item_count();
    let records = crate::model::Payload::Logs(logs.clone()).item_count();
    let mut result = Ok(());
    for (signal, body, items) in [
        (Signal::Traces, Bytes::from(traces.encode_to_vec()), spans),
        (Signal::Logs, Bytes::from(logs.encode_to_vec()), records),
    ] {
        match client.send(signal, body).await {
            Ok(()) => match signal {
                Signal::Traces => totals.spans += items,
                _ => totals.log_records += items,
            },
            Err(e) => {
                totals.failed_requests += 1;
                result = Err(e);
            }
        }
    }
    result
}

fn progress(
    t: &Totals,
    elapsed: Duration,
    scenario: Option<Scenario>,
    error: Option<String>,
) -> String {
    let mut line = format!(
        "demo {:>5.0}s  sessions {}  llm calls {}  spans {}  log records {}  failed requests {}",
        elapsed.as_secs_f64(),
        t.sessions,
        t.llm_calls,
        t.spans,
        t.log_records,
        t.failed_requests
    );
    if let Some(s) = scenario {
        line.push_str(&format!("  scenario {s:?}"));
    }
    if let Some(e) = error {
        line.push_str(&format!("  last error: {e}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::Span;

    use super::session::SECOND;
    use super::*;

    fn generate(seed: u64, scenario: Option<Scenario>, n: usize) -> Vec<Session> {
        let mut g = Generator {
            rng: Rng(seed),
            scenario,
            session: 0,
        };
        (0..n).map(|_| g.session(1_764_000_000 * SECOND)).collect()
    }

    fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
        crate::model::attrs::get(&span.attributes, key)?
            .value
            .as_ref()
    }

    #[test]
    fn the_same_seed_gives_the_same_sessions() {
        let a = requests(generate(7, None, 20));
        let b = requests(generate(7, None, 20));
        let c = requests(generate(8, None, 20));
        assert_eq!(a.0.encode_to_vec(), b.0.encode_to_vec());
        assert_eq!(a.1.encode_to_vec(), b.1.encode_to_vec());
        assert_ne!(a.0.encode_to_vec(), c.0.encode_to_vec());
    }

    #[test]
    fn scenarios_turn_their_trouble_up() {
        let llm_errors = |sessions: &[Session], provider: Option<&str>| {
            let calls: Vec<&Span> = sessions
                .iter()
                .flat_map(|s| &s.backend_spans)
                // LLM calls name their provider; the agent's and its tool's spans do not.
                .filter(|s| attr(s, "gen_ai.provider.name").is_some())
                .filter(|s| {
                    provider.is_none_or(|p| {
                        attr(s, "gen_ai.provider.name") == Some(&Value::StringValue(p.into()))
                    })
                })
                .collect();
            let failed = calls
                .iter()
                .filter(|s| attr(s, "error.type").is_some())
                .count();
            failed as f64 / calls.len() as f64
        };
        let normal = generate(1, None, 400);
        assert!(llm_errors(&normal, None) < 0.08);
        assert!(llm_errors(&generate(1, Some(Scenario::ErrorSpike), 400), None) > 0.4);
        let outage = generate(1, Some(Scenario::ProviderOutage), 400);
        assert_eq!(llm_errors(&outage, Some("anthropic")), 1.0);
        assert!(llm_errors(&outage, Some("openai")) < 0.1);
        let db_errors = |sessions: &[Session]| {
            let db: Vec<&Span> = sessions
                .iter()
                .flat_map(|s| &s.backend_spans)
                .filter(|s| attr(s, "db.system.name").is_some())
                .collect();
            db.iter().filter(|s| s.status.is_some()).count() as f64 / db.len() as f64
        };
        assert!(db_errors(&normal) < 0.05);
        assert!(db_errors(&generate(1, Some(Scenario::DatabaseOutage), 200)) > 0.9);
    }

    #[test]
    fn sessions_carry_every_kind_of_telemetry_the_dashboards_show() {
        let sessions = generate(3, None, 300);
        let (traces, logs) = requests(sessions);
        let events: std::collections::BTreeSet<&str> = logs
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|r| r.event_name.as_str())
            .collect();
        for want in [
            "chat_opened",
            "conversation_created",
            "message_sent",
            "message_received",
            "message_feedback",
            "chat_closed",
            "platform_connect_initiated",
            "oauth_started",
            "oauth_completed",
            "platform_connected",
            "platform_connection_failed",
            "browser.web_vital",
        ] {
            assert!(events.contains(want), "no {want}");
        }
        let text = format!("{traces:?}");
        for want in [
            "@example.com",
            "gen_ai.usage.cache_read.input_tokens",
            "time_to_first_chunk",
            "googleads.googleapis.com",
            "RateLimitError",
            "user.is_guest",
            "execute_tool",
            "invoke_agent chat-assistant",
        ] {
            assert!(
                text.contains(want) || format!("{logs:?}").contains(want),
                "no {want}"
            );
        }
    }
}
