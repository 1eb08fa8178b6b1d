//! The `health` processor: what an on-call engineer reads. It records every span's
//! component (ai, database, platform, server, frontend) latency and errors by normalised
//! operation, keeps expected outcomes (rate limits, guest 401s, validation failures) apart
//! from real errors, counts log records by severity, and records platform integration
//! traffic and browser web vitals.
//!
//! It is a recorder of derived facts ([`crate::derive`]): the wire is read there; here
//! only the config's rules (platform hosts, frontend services, expected outcomes) apply.

mod config;
mod metrics;

use std::borrow::Cow;
use std::sync::{Arc, PoisonError};

use opentelemetry_proto::tonic::common::v1::KeyValue;

pub use self::config::{
    AttributeMatch, COMPONENTS, ExpectedRule, FACTORY, HealthConfig, PlatformRule,
};
pub use self::metrics::HealthMetrics;
use crate::component::{ProcessError, Processor};
use crate::derive::Recorder;
pub use crate::derive::app::normalise_operation;
use crate::derive::llm::{error_class, unix_nanos};
use crate::derive::{Facts, LogFacts, OpKind, SpanFacts, WebVital};
use crate::metrics::bounded::{OverflowCounter, TraceExemplar, label_value};
use crate::model::Batch;
use crate::model::attrs::{self, get as attr, number, text};
use crate::model::glob::glob;
use crate::semconv::events::CONNECT_EVENTS;

/// Where the `health` families live once a processor is built.
pub type HealthMetricsSlot = crate::metrics::bounded::Slot<HealthMetrics>;

/// The built `health` processor.
pub struct HealthProcessor {
    metrics: Arc<HealthMetrics>,
    overflow: OverflowCounter,
}

/// The first of `keys` on the item, then on what encloses it.
fn lookup(item: &[KeyValue], outer: &[KeyValue], keys: &[&str]) -> Option<String> {
    attrs::first(&[item, outer], keys)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.')),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// What one span tells.
struct Classified<'a> {
    component: &'static str,
    operation: Cow<'a, str>,
    platform: Option<&'a str>,
}

impl HealthProcessor {
    fn config(&self) -> &HealthConfig {
        &self.metrics.config
    }

    /// The platform rule that knows `host` or `peer`, first match wins.
    fn platform(&self, host: Option<&str>, peer: Option<&str>) -> Option<&str> {
        self.config()
            .platforms
            .iter()
            .find(|rule| {
                host.is_some_and(|h| rule.hosts.iter().any(|p| host_matches(p, h)))
                    || peer.is_some_and(|p| rule.peer_services.iter().any(|s| s == p))
            })
            .map(|rule| rule.name.as_str())
    }

    /// The component of a span: what derive read, with this processor's platform and
    /// frontend rules applied.
    fn classify<'a>(&'a self, f: &'a SpanFacts<'_>) -> Option<Classified<'a>> {
        let op = &f.op;
        let platform = match &op.kind {
            OpKind::Client { host, peer, .. } => self.platform(host.as_deref(), peer.as_deref()),
            _ => None,
        };
        let browser = op.browser
            || self
                .config()
                .frontend_services
                .iter()
                .any(|s| s == f.service);
        let (component, operation) = match (&op.kind, platform) {
            (OpKind::Ai(o), _) => ("ai", Cow::Borrowed(o.as_str())),
            (OpKind::Database(o), _) => ("database", Cow::Borrowed(o.as_str())),
            (OpKind::Client { operation, .. }, Some(_)) => {
                ("platform", Cow::Borrowed(operation.as_str()))
            }
            _ if browser => ("frontend", Cow::Owned(normalise_operation(&f.span.name))),
            (OpKind::Server(o), _) => ("server", Cow::Borrowed(o.as_str())),
            _ => return None,
        };
        Some(Classified {
            component,
            operation,
            platform,
        })
    }

    fn expected_rule(
        &self,
        class: &str,
        status: Option<u16>,
        span: &[KeyValue],
        resource: &[KeyValue],
    ) -> Option<&str> {
        self.config()
            .expected
            .iter()
            .find(|r| {
                let by_status = status.is_some_and(|s| r.status_codes.contains(&s));
                let by_type = r.error_types.iter().any(|p| glob(p, class));
                let attr_ok = r.attribute.as_ref().is_none_or(|m| {
                    lookup(span, resource, &[m.key.as_str()]).is_some_and(|v| v == m.value)
                });
                (by_status || by_type) && attr_ok
            })
            .map(|r| r.name.as_str())
    }

    fn record_span(&self, f: &SpanFacts<'_>) {
        let (span, service) = (f.span, f.service);
        for v in &f.vitals {
            self.observe_web_vital(v, service);
        }
        for e in &f.events {
            let event = e.event;
            if let Some((_, outcome)) = CONNECT_EVENTS.iter().find(|(n, _)| *n == event.name) {
                self.record_connect(outcome, &event.attributes, &span.attributes);
            }
            self.record_token(&event.attributes, &span.attributes, None);
        }
        if f.vital_span {
            return;
        }
        if let Some(c) = self.classify(f) {
            self.record_operation(f, &c);
        }
    }

    /// Latency, errors and platform traffic of one classified span.
    fn record_operation(&self, f: &SpanFacts<'_>, c: &Classified<'_>) {
        let (m, of) = (&self.metrics, &self.overflow);
        let now = m.now();
        let svc = label_value(f.service);
        let op = label_value(&c.operation);
        let exemplar = TraceExemplar::new(&f.span.trace_id);
        if let Some(d) = f.op.duration {
            m.operations.with(&[&svc, c.component, &op], now, of, |h| {
                h.observe(d, exemplar.clone(), None)
            });
        }
        let failure = f.op.failure(c.component);
        let rule = failure.as_ref().and_then(|(class, status)| {
            self.expected_rule(class, *status, &f.span.attributes, f.resource)
        });
        match (&failure, rule) {
            (Some(_), Some(rule)) => {
                let rule = label_value(rule);
                m.expected.with(&[&svc, c.component, &rule], now, of, |c| {
                    c.inc();
                });
            }
            (Some((class, _)), None) => {
                let class = label_value(class);
                m.errors.with(&[&svc, c.component, &class], now, of, |c| {
                    c.inc();
                });
            }
            (None, _) => {}
        }
        self.record_token(&f.span.attributes, f.resource, c.platform);
        if let Some(platform) = c.platform {
            self.record_platform(f, platform, failure.as_ref(), exemplar);
        }
    }

    /// Requests, rate limits, latency and last sync of one platform call.
    fn record_platform(
        &self,
        f: &SpanFacts<'_>,
        platform: &str,
        failure: Option<&(String, Option<u16>)>,
        exemplar: Option<TraceExemplar>,
    ) {
        let (m, of) = (&self.metrics, &self.overflow);
        let now = m.now();
        let platform = label_value(platform);
        let rate_limited = failure.is_some_and(|(class, status)| {
            *status == Some(429) || class == "rate_limited" || class == "RateLimitError"
        });
        let outcome = match (failure, rate_limited) {
            (_, true) => "rate_limited",
            (Some(_), false) => "error",
            (None, _) => "success",
        };
        m.integration_requests
            .with(&[&platform, outcome], now, of, |c| {
                c.inc();
            });
        if rate_limited {
            m.integration_rate_limited.with(&[&platform], now, of, |c| {
                c.inc();
            });
        }
        if let Some(d) = f.op.duration {
            m.integration_duration
                .with(&[&platform], now, of, |h| h.observe(d, exemplar, None));
        }
        let end = f.span.end_time_unix_nano;
        if failure.is_none() && end > 0 {
            let ended = end as f64 / 1e9;
            m.integration_last_sync.with(&[&platform], now, of, |g| {
                if ended > g.get() {
                    g.set(ended);
                }
            });
        }
    }

    /// Records one web vital of `service`.
    fn observe_web_vital(&self, v: &WebVital, service: &str) {
        let Some((_, family)) = self.metrics.web_vitals.iter().find(|(s, _)| *s == v.name) else {
            return;
        };
        let svc = label_value(service);
        family.with(&[&svc, v.rating], self.metrics.now(), &self.overflow, |h| {
            h.observe(v.value, None, None)
        });
    }

    /// A platform connection event, from a span event or a log event. The platform is
    /// `integration.platform` (or `platform`) on the event, else on its span.
    fn record_connect(&self, outcome: &str, attrs: &[KeyValue], outer: &[KeyValue]) {
        let m = &self.metrics;
        let now = m.now();
        let platform = lookup(attrs, outer, &["integration.platform", "platform"])
            .unwrap_or_else(|| "unknown".to_owned());
        let platform = label_value(&platform);
        m.connections
            .with(&[&platform, outcome], now, &self.overflow, |c| {
                c.inc();
            });
        if outcome == "failed" {
            let reason = lookup(
                attrs,
                outer,
                &[
                    "integration.failure_reason",
                    "oauth.error",
                    "error.type",
                    "reason",
                ],
            )
            .map_or_else(|| "unknown".to_owned(), |r| error_class(&r));
            let reason = label_value(&reason);
            m.connection_failures
                .with(&[&platform, &reason], now, &self.overflow, |c| {
                    c.inc();
                });
        }
    }

    /// Remembers when a connection's token expires, from `integration.token.expires_at`
    /// (Unix seconds, or an RFC 3339 UTC time) and `integration.connection.id` (else the
    /// pseudonymous user id) on a span or event.
    fn record_token(&self, attrs: &[KeyValue], outer: &[KeyValue], platform: Option<&str>) {
        let Some(expires) = attr(attrs, "integration.token.expires_at")
            .or_else(|| attr(outer, "integration.token.expires_at"))
            .and_then(|v| {
                number(v).or_else(|| text(v).and_then(|t| unix_nanos(&t)).map(|n| n as f64 / 1e9))
            })
        else {
            return;
        };
        let platform = platform
            .map(str::to_owned)
            .or_else(|| lookup(attrs, outer, &["integration.platform", "platform"]))
            .unwrap_or_else(|| "unknown".to_owned());
        let Some(connection) = lookup(
            attrs,
            outer,
            &["integration.connection.id", "user.id", "enduser.id"],
        ) else {
            return;
        };
        let id = u64::from_le_bytes(
            blake3::hash(connection.as_bytes()).as_bytes()[..8]
                .try_into()
                .unwrap_or_default(),
        );
        let platform = label_value(&platform).into_owned();
        let mut tokens = self
            .metrics
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (platform, id);
        if tokens.expiry.len() >= self.metrics.config.max_connections
            && !tokens.expiry.contains_key(&key)
        {
            drop(tokens);
            self.overflow.inc("integration_connections");
            return;
        }
        tokens.expiry.insert(key, expires);
    }

    fn record_log(&self, f: &LogFacts<'_>) {
        let (rec, service, event) = (f.record, f.service, f.event);
        let m = &self.metrics;
        let now = m.now();
        if let Some(v) = &f.vital {
            self.observe_web_vital(v, service);
        }
        if let Some((_, outcome)) = CONNECT_EVENTS.iter().find(|(n, _)| Some(*n) == event) {
            self.record_connect(outcome, &rec.attributes, &[]);
        }
        if event.is_some() {
            self.record_token(&rec.attributes, &[], None);
        }
        let severity = match rec.severity_number {
            1..=4 => "trace",
            5..=8 => "debug",
            9..=12 => "info",
            13..=16 => "warn",
            17..=20 => "error",
            21..=24 => "fatal",
            _ => match rec.severity_text.to_ascii_lowercase().as_str() {
                "trace" => "trace",
                "debug" => "debug",
                "info" | "information" => "info",
                "warn" | "warning" => "warn",
                "error" | "err" => "error",
                "fatal" | "critical" => "fatal",
                _ => "unspecified",
            },
        };
        let svc = label_value(service);
        m.logs.with(&[&svc, severity], now, &self.overflow, |c| {
            c.inc();
        });
        if matches!(severity, "error" | "fatal")
            && let Some(t) = attr(&rec.attributes, "exception.type").and_then(text)
        {
            let class = label_value(&error_class(&t)).into_owned();
            m.log_exceptions
                .with(&[&svc, &class], now, &self.overflow, |c| {
                    c.inc();
                });
        }
    }
}

impl Recorder for HealthProcessor {
    fn record(&self, facts: &mut Facts<'_>) -> Result<(), ProcessError> {
        for f in &facts.spans {
            self.record_span(f);
        }
        for f in &facts.logs {
            self.record_log(f);
        }
        for (service, v) in &facts.metric_vitals {
            self.observe_web_vital(v, service);
        }
        Ok(())
    }
}

impl Processor for HealthProcessor {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        Recorder::record(self, &mut crate::derive::derive(batch))
    }
}

#[cfg(test)]
mod tests;
