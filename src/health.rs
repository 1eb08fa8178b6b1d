//! The `health` processor: what an on-call engineer reads. It classifies every span into
//! a component (ai, database, platform, server, frontend), records latency and errors by
//! component and normalised operation, keeps expected outcomes (rate limits, guest 401s,
//! validation failures) apart from real errors, counts log records by severity, and
//! derives platform integration traffic and browser web vitals.
//!
//! Like `genai`, it reads batches after redaction and never changes them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use foldhash::fast::FixedState;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;
use serde::Deserialize;

use crate::derive::llm::{error_class, http_class, unix_nanos};
use crate::derive::{Facts, LogFacts, SpanFacts};
use crate::metrics::bounded::{
    Family, Histogram, OverflowCounter, Thresholds, TraceExemplar, label_value,
};
use crate::model::Batch;
use crate::model::attrs::{self, get as attr, number, text};
use crate::model::glob::glob;
use crate::pipeline::{ProcessError, Processor, Recorder};
use crate::semconv::events::{CONNECT_EVENTS, EXCEPTION_EVENT, EXCEPTION_TYPE, WEB_VITAL_EVENT};

/// A third-party platform, recognised by the host a client span called.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlatformRule {
    /// The `platform` label value.
    pub name: String,
    /// Hosts, exact or `*.suffix`, matched against `server.address`, the `url.full` host
    /// and their older names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `peer.service` values.
    #[serde(default)]
    pub peer_services: Vec<String>,
}

/// A rule for an outcome that is expected, not an error.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRule {
    /// The `rule` label value.
    pub name: String,
    /// HTTP status codes that match (any, when empty and `error_types` is set).
    #[serde(default)]
    pub status_codes: Vec<u16>,
    /// Error classes that match, with `*` as a wildcard.
    #[serde(default)]
    pub error_types: Vec<String>,
    /// An attribute that must also hold this value, e.g. `{key: user.is_guest, value: "true"}`.
    #[serde(default)]
    pub attribute: Option<AttributeMatch>,
}

/// An attribute equal to a value.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    /// The key, on the span or its resource.
    pub key: String,
    /// The value, compared as a string.
    pub value: String,
}

/// `processors.health`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Platform rules, first match wins.
    #[serde(default = "HealthConfig::default_platforms")]
    pub platforms: Vec<PlatformRule>,
    /// Services whose spans are browser telemetry, besides those whose resource says
    /// `telemetry.sdk.language: webjs`.
    #[serde(default)]
    pub frontend_services: Vec<String>,
    /// Latency thresholds per component in seconds: `[excellent, good]`. Up to the first
    /// is excellent, up to the second good, above it poor.
    #[serde(default = "HealthConfig::default_thresholds")]
    pub thresholds: BTreeMap<String, [f64; 2]>,
    /// Outcomes that are expected, counted apart from errors.
    #[serde(default = "HealthConfig::default_expected")]
    pub expected: Vec<ExpectedRule>,
    /// Platform connections whose token expiry is tracked; more are counted in
    /// `llmwatch_metric_overflow_total{family="integration_connections"}` and not tracked.
    #[serde(default = "HealthConfig::default_max_connections")]
    pub max_connections: usize,
    /// Series per family; values past it fold into `other`.
    #[serde(default = "HealthConfig::default_series_limit")]
    pub series_limit: usize,
    /// Series idle this long disappear from `/metrics`.
    #[serde(
        default = "HealthConfig::default_series_ttl",
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub series_ttl: Duration,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            platforms: HealthConfig::default_platforms(),
            frontend_services: Vec::new(),
            thresholds: HealthConfig::default_thresholds(),
            expected: HealthConfig::default_expected(),
            max_connections: HealthConfig::default_max_connections(),
            series_limit: HealthConfig::default_series_limit(),
            series_ttl: HealthConfig::default_series_ttl(),
        }
    }
}

/// The components, in classification order.
pub const COMPONENTS: [&str; 5] = ["ai", "database", "platform", "frontend", "server"];

impl HealthConfig {
    fn default_platforms() -> Vec<PlatformRule> {
        let rule = |name: &str, hosts: &[&str]| PlatformRule {
            name: name.to_owned(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            peer_services: Vec::new(),
        };
        vec![
            rule(
                "google_analytics",
                &[
                    "analyticsdata.googleapis.com",
                    "analyticsadmin.googleapis.com",
                    "analyticsreporting.googleapis.com",
                    "*.google-analytics.com",
                ],
            ),
            rule("google_ads", &["googleads.googleapis.com"]),
            rule(
                "google_oauth",
                &["oauth2.googleapis.com", "accounts.google.com"],
            ),
            rule("google_apis", &["*.googleapis.com"]),
            rule(
                "meta_graph",
                &[
                    "graph.facebook.com",
                    "graph.instagram.com",
                    "*.facebook.com",
                ],
            ),
        ]
    }
    fn default_thresholds() -> BTreeMap<String, [f64; 2]> {
        [
            ("ai", [2.0, 5.0]),
            ("frontend", [0.1, 0.3]),
            ("database", [0.1, 0.5]),
            ("platform", [0.5, 2.0]),
            ("server", [0.3, 1.0]),
        ]
        .into_iter()
        .map(|(c, t)| (c.to_owned(), t))
        .collect()
    }
    fn default_expected() -> Vec<ExpectedRule> {
        vec![
            ExpectedRule {
                name: "rate_limited".to_owned(),
                status_codes: vec![429],
                error_types: vec!["rate_limited".to_owned(), "RateLimitError".to_owned()],
                attribute: None,
            },
            ExpectedRule {
                name: "guest_unauthorized".to_owned(),
                status_codes: vec![401],
                error_types: Vec::new(),
                attribute: Some(AttributeMatch {
                    key: "user.is_guest".to_owned(),
                    value: "true".to_owned(),
                }),
            },
            ExpectedRule {
                name: "validation".to_owned(),
                status_codes: vec![400, 422],
                error_types: vec!["*Validation*".to_owned(), "invalid_request".to_owned()],
                attribute: None,
            },
        ]
    }
    fn default_series_limit() -> usize {
        2000
    }
    fn default_max_connections() -> usize {
        10_000
    }
    fn default_series_ttl() -> Duration {
        Duration::from_secs(3600)
    }

    /// Problems, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        for (component, [excellent, good]) in &self.thresholds {
            if !COMPONENTS.contains(&component.as_str()) {
                errors.push((
                    format!("thresholds.{component}"),
                    format!(
                        "unknown component; the components are {}",
                        COMPONENTS.join(", ")
                    ),
                ));
            } else if !(excellent.is_finite()
                && *excellent > 0.0
                && good > excellent
                && good.is_finite())
            {
                errors.push((
                    format!("thresholds.{component}"),
                    "must be [excellent, good] seconds, 0 < excellent < good".to_owned(),
                ));
            }
        }
        for (i, r) in self.expected.iter().enumerate() {
            if r.status_codes.is_empty() && r.error_types.is_empty() {
                errors.push((
                    format!("expected[{i}]"),
                    "needs status_codes or error_types".to_owned(),
                ));
            }
        }
        for (i, p) in self.platforms.iter().enumerate() {
            if p.hosts.is_empty() && p.peer_services.is_empty() {
                errors.push((
                    format!("platforms[{i}]"),
                    "needs hosts or peer_services".to_owned(),
                ));
            }
        }
        if self.series_limit == 0 {
            errors.push(("series_limit".to_owned(), "must be at least 1".to_owned()));
        }
        errors
    }

    /// Builds the processor. Every `health` processor records into one set of families.
    pub fn build(
        &self,
        slot: &HealthMetricsSlot,
        overflow: &OverflowCounter,
        thresholds: &Thresholds,
    ) -> Result<HealthProcessor, String> {
        let metrics = Arc::clone(slot.0.get_or_init(|| Arc::new(HealthMetrics::new(self))));
        if metrics.config != *self {
            return Err(
                "every health processor must have the same settings: they record into one set of families"
                    .to_owned(),
            );
        }
        for (component, [excellent, good]) in &self.thresholds {
            thresholds.set(component, "excellent", *excellent);
            thresholds.set(component, "good", *good);
        }
        Ok(HealthProcessor {
            metrics,
            overflow: overflow.clone(),
        })
    }
}

/// Bucket boundaries of `app_operation_duration_seconds`, before the configured
/// thresholds are added.
const BASE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every family of the `health` processor.
pub struct HealthMetrics {
    config: HealthConfig,
    started: Instant,
    operations: Family<Histogram>,
    errors: Family<Counter>,
    expected: Family<Counter>,
    logs: Family<Counter>,
    log_exceptions: Family<Counter>,
    integration_requests: Family<Counter>,
    integration_duration: Family<Histogram>,
    integration_rate_limited: Family<Counter>,
    integration_last_sync: Family<Gauge<f64, std::sync::atomic::AtomicU64>>,
    connections: Family<Counter>,
    connection_failures: Family<Counter>,
    web_vitals: Vec<(&'static str, Family<Histogram>)>,
    tokens: Mutex<Tokens>,
}

/// Token expiry per platform connection, keyed by a hash of the connection's id: the
/// state holds no id.
#[derive(Default)]
struct Tokens {
    expiry: HashMap<(String, u64), f64, FixedState>,
}

/// The windows of `integration_tokens_expiring`.
const EXPIRY_WINDOWS: [(&str, f64); 3] = [("expired", 0.0), ("1d", 86_400.0), ("7d", 604_800.0)];

/// Web vitals, their families and bucket boundaries (seconds, or unitless for CLS).
const WEB_VITALS: [(&str, &str, Option<Unit>, &[f64]); 5] = [
    (
        "lcp",
        "web_vitals_lcp",
        Some(Unit::Seconds),
        &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0],
    ),
    (
        "inp",
        "web_vitals_inp",
        Some(Unit::Seconds),
        &[0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0],
    ),
    (
        "fcp",
        "web_vitals_fcp",
        Some(Unit::Seconds),
        &[0.5, 1.0, 1.8, 2.5, 3.0, 4.0, 6.0],
    ),
    (
        "ttfb",
        "web_vitals_ttfb",
        Some(Unit::Seconds),
        &[0.1, 0.2, 0.4, 0.8, 1.2, 1.8, 3.0],
    ),
    (
        "cls",
        "web_vitals_cls",
        None,
        &[0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0],
    ),
];

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

impl HealthMetrics {
    fn new(config: &HealthConfig) -> HealthMetrics {
        let limit = config.series_limit;
        let keep = ["component", "outcome", "severity", "rating"];
        let mut buckets: Vec<f64> = BASE_BUCKETS
            .iter()
            .copied()
            .chain(config.thresholds.values().flatten().copied())
            .collect();
        buckets.sort_by(f64::total_cmp);
        buckets.dedup();
        let duration_buckets = buckets.clone();
        HealthMetrics {
            config: config.clone(),
            started: Instant::now(),
            operations: Family::new(
                "app_operation_duration",
                "Duration of operations by component (ai, database, platform, frontend, server) and normalised operation.",
                Some(Unit::Seconds),
                labels(&["service", "component", "operation"]),
                &keep,
                limit,
                move || Histogram::new(duration_buckets.clone().into_iter()),
            ),
            errors: Family::new(
                "app_errors",
                "Failed operations by component and error class, expected outcomes excluded.",
                None,
                labels(&["service", "component", "error_type"]),
                &keep,
                limit,
                Counter::default,
            ),
            expected: Family::new(
                "app_expected_outcomes",
                "Outcomes an expected-outcome rule matched (rate limits, guest 401s, validation): not errors, and not dropped.",
                None,
                labels(&["service", "component", "rule"]),
                &keep,
                limit,
                Counter::default,
            ),
            logs: Family::new(
                "app_log_records",
                "Log records by service and severity.",
                None,
                labels(&["service", "severity"]),
                &keep,
                limit,
                Counter::default,
            ),
            log_exceptions: Family::new(
                "app_log_exceptions",
                "Error-level log records with an exception.type, by that type.",
                None,
                labels(&["service", "exception_type"]),
                &keep,
                limit,
                Counter::default,
            ),
            integration_requests: Family::new(
                "integration_requests",
                "Requests to third-party platforms, by outcome (success, error, rate_limited).",
                None,
                labels(&["platform", "outcome"]),
                &keep,
                limit,
                Counter::default,
            ),
            integration_duration: Family::new(
                "integration_request_duration",
                "Duration of requests to third-party platforms.",
                Some(Unit::Seconds),
                labels(&["platform"]),
                &keep,
                limit,
                move || Histogram::new(buckets.clone().into_iter()),
            ),
            integration_rate_limited: Family::new(
                "integration_rate_limited",
                "Requests to third-party platforms that were rate limited (429).",
                None,
                labels(&["platform"]),
                &keep,
                limit,
                Counter::default,
            ),
            integration_last_sync: Family::new(
                "integration_last_sync_timestamp",
                "When the last successful request to each platform ended, Unix seconds: data freshness.",
                Some(Unit::Seconds),
                labels(&["platform"]),
                &keep,
                limit,
                Gauge::default,
            ),
            connections: Family::new(
                "integration_connections",
                "Platform connection attempts from platform_connect_initiated, platform_connected and platform_connection_failed events.",
                None,
                labels(&["platform", "outcome"]),
                &keep,
                limit,
                Counter::default,
            ),
            connection_failures: Family::new(
                "integration_connection_failures",
                "Failed platform connections (OAuth and others) by reason.",
                None,
                labels(&["platform", "reason"]),
                &keep,
                limit,
                Counter::default,
            ),
            tokens: Mutex::new(Tokens::default()),
            web_vitals: WEB_VITALS
                .iter()
                .map(|(short, name, unit, buckets)| {
                    let buckets = buckets.to_vec();
                    (
                        *short,
                        Family::new(
                            name,
                            "Browser web vital, from browser.web_vital events, by page and rating (good, needs-improvement, poor).",
                            unit.clone(),
                            labels(&["service", "rating"]),
                            &keep,
                            limit,
                            move || Histogram::new(buckets.clone().into_iter()),
                        ),
                    )
                })
                .collect(),
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn expire(&self) {
        let Some(oldest) = self
            .now()
            .checked_sub(self.config.series_ttl.as_secs().max(1))
        else {
            return;
        };
        self.operations.expire(oldest);
        self.errors.expire(oldest);
        self.expected.expire(oldest);
        self.logs.expire(oldest);
        self.log_exceptions.expire(oldest);
        self.integration_requests.expire(oldest);
        self.integration_duration.expire(oldest);
        self.integration_rate_limited.expire(oldest);
        self.integration_last_sync.expire(oldest);
        self.connections.expire(oldest);
        self.connection_failures.expire(oldest);
        for (_, f) in &self.web_vitals {
            f.expire(oldest);
        }
    }
}

impl HealthMetrics {
    /// `integration_tokens_expiring{platform,within}`: connections whose token has
    /// expired, or expires within a day or a week, counted at scrape time.
    fn encode_tokens(&self, encoder: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.expiry.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for ((platform, _), expires) in &tokens.expiry {
            for (window, seconds) in EXPIRY_WINDOWS {
                let within = if seconds == 0.0 {
                    *expires <= now
                } else {
                    *expires > now && *expires <= now + seconds
                };
                *counts.entry((platform.as_str(), window)).or_default() += i64::from(within);
            }
        }
        let mut m = encoder.encode_descriptor(
            "integration_tokens_expiring",
            "Tracked platform connections whose token has expired (within=\"expired\") or expires within 1d or 7d.",
            None,
            MetricType::Gauge,
        )?;
        for ((platform, window), n) in counts {
            m.encode_family(&[("platform", platform), ("within", window)])?
                .encode_gauge(&n)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for HealthMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMetrics").finish_non_exhaustive()
    }
}

impl Collector for HealthMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.expire();
        self.operations
            .encode(&mut encoder, MetricType::Histogram)?;
        self.errors.encode(&mut encoder, MetricType::Counter)?;
        self.expected.encode(&mut encoder, MetricType::Counter)?;
        self.logs.encode(&mut encoder, MetricType::Counter)?;
        self.log_exceptions
            .encode(&mut encoder, MetricType::Counter)?;
        self.integration_requests
            .encode(&mut encoder, MetricType::Counter)?;
        self.integration_duration
            .encode(&mut encoder, MetricType::Histogram)?;
        self.integration_rate_limited
            .encode(&mut encoder, MetricType::Counter)?;
        self.integration_last_sync
            .encode(&mut encoder, MetricType::Gauge)?;
        self.connections.encode(&mut encoder, MetricType::Counter)?;
        self.connection_failures
            .encode(&mut encoder, MetricType::Counter)?;
        for (_, f) in &self.web_vitals {
            f.encode(&mut encoder, MetricType::Histogram)?;
        }
        self.encode_tokens(&mut encoder)?;
        Ok(())
    }
}

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

/// The host of a URL, without port or credentials.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(h, _)| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then_some(host)
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.')),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// Replaces path segments that are ids (numbers, UUIDs, long hex or mixed tokens) by
/// `{id}`, drops the query, and cuts the result to 64 bytes: operation names stay few.
pub fn normalise_operation(name: &str) -> String {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    let id_like = |seg: &str| {
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let hex = seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        !seg.is_empty()
            && (digits == seg.len()
                || (hex && seg.len() >= 8 && digits > 0)
                || (digits >= 3 && seg.len() >= 12))
    };
    let mut out = String::with_capacity(name.len().min(64));
    for (i, seg) in name.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        // `GET /users/42`: the method and the first segment share a piece; Google's
        // `properties/123456:runReport` puts the method after a colon.
        let (seg, method) = match seg.split_once(':') {
            Some((id, m)) if !id.is_empty() => (id, Some(m)),
            _ => (seg, None),
        };
        match seg.rsplit_once(' ') {
            Some((head, last)) if id_like(last) => {
                out.push_str(head);
                out.push_str(" {id}");
            }
            _ if id_like(seg) => out.push_str("{id}"),
            _ => out.push_str(seg),
        }
        if let Some(m) = method {
            out.push(':');
            out.push_str(m);
        }
    }
    let mut end = out.len().min(64);
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out
}

/// What one span tells.
struct Classified {
    component: &'static str,
    operation: String,
    platform: Option<String>,
}

impl HealthProcessor {
    fn config(&self) -> &HealthConfig {
        &self.metrics.config
    }

    fn platform(&self, span: &[KeyValue], resource: &[KeyValue]) -> Option<String> {
        let host = lookup(
            span,
            resource,
            &["server.address", "net.peer.name", "http.host"],
        )
        .or_else(|| {
            lookup(span, resource, &["url.full", "http.url"])
                .and_then(|u| url_host(&u).map(str::to_owned))
        });
        let peer = lookup(span, resource, &["peer.service"]);
        self.config()
            .platforms
            .iter()
            .find(|rule| {
                host.as_deref()
                    .is_some_and(|h| rule.hosts.iter().any(|p| host_matches(p, h)))
                    || peer
                        .as_deref()
                        .is_some_and(|p| rule.peer_services.iter().any(|s| s == p))
            })
            .map(|rule| rule.name.clone())
    }

    fn classify(&self, f: &SpanFacts<'_>) -> Option<Classified> {
        let (span, resource, service) = (f.span, f.resource, f.service);
        let a = &span.attributes[..];
        let method = lookup(a, &[], &["http.request.method", "http.method"]);
        let kind = span.kind;
        if let Some(op) = f.call.as_ref().map(|c| c.call.operation.as_str()) {
            return Some(Classified {
                component: "ai",
                operation: op.to_owned(),
                platform: None,
            });
        }
        if let Some(system) = lookup(a, &[], &["db.system.name", "db.system"]) {
            let op = lookup(a, &[], &["db.operation.name", "db.operation"])
                .or_else(|| {
                    lookup(a, &[], &["db.query.text", "db.statement"])
                        .and_then(|q| q.split_whitespace().next().map(str::to_ascii_uppercase))
                })
                .unwrap_or_else(|| "query".to_owned());
            let target = lookup(a, &[], &["db.collection.name", "db.sql.table"]);
            let operation = match target {
                Some(t) => format!("{system} {op} {t}"),
                None => format!("{system} {op}"),
            };
            return Some(Classified {
                component: "database",
                operation: normalise_operation(&operation),
                platform: None,
            });
        }
        let client = kind == SpanKind::Client as i32 || kind == SpanKind::Producer as i32;
        if client && let Some(platform) = self.platform(a, resource) {
            let path = lookup(a, &[], &["url.path", "http.target"])
                .or_else(|| {
                    lookup(a, &[], &["url.full", "http.url"]).and_then(|u| {
                        let rest = u.split_once("://")?.1;
                        Some(rest.find('/').map_or("/", |i| &rest[i..]).to_owned())
                    })
                })
                .unwrap_or_default();
            let operation = match method {
                Some(m) => format!("{m} {path}"),
                None => span.name.clone(),
            };
            return Some(Classified {
                component: "platform",
                operation: normalise_operation(operation.trim()),
                platform: Some(platform),
            });
        }
        let browser = lookup(resource, &[], &["telemetry.sdk.language"])
            .is_some_and(|l| l == "webjs")
            || self.config().frontend_services.iter().any(|s| s == service);
        if browser {
            return Some(Classified {
                component: "frontend",
                operation: normalise_operation(&span.name),
                platform: None,
            });
        }
        if kind == SpanKind::Server as i32 || kind == SpanKind::Consumer as i32 {
            let operation = match (method, lookup(a, &[], &["http.route"])) {
                (Some(m), Some(r)) => format!("{m} {r}"),
                _ => span.name.clone(),
            };
            return Some(Classified {
                component: "server",
                operation: normalise_operation(&operation),
                platform: None,
            });
        }
        None
    }

    /// The error class of a failed span, or `None` when it did not fail.
    fn failure(&self, span: &Span, component: &str) -> Option<(String, Option<u16>)> {
        let a = &span.attributes[..];
        let status = lookup(a, &[], &["http.response.status_code", "http.status_code"])
            .and_then(|s| s.parse::<u16>().ok());
        let error_type = lookup(a, &[], &["error.type"]);
        let failed_status = status.is_some_and(|s| {
            // OTel: 4xx are errors of client spans, not of server spans.
            s >= 500 || (s >= 400 && component != "server")
        });
        let failed = failed_status
            || error_type.is_some()
            || span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32);
        if !failed {
            return None;
        }
        let class = error_type
            .map(|e| error_class(&e))
            .or_else(|| {
                span.events
                    .iter()
                    .find(|e| e.name == EXCEPTION_EVENT)
                    .and_then(|e| attr(&e.attributes, EXCEPTION_TYPE).and_then(text))
                    .map(|t| error_class(&t))
            })
            .or_else(|| {
                status
                    .filter(|s| *s >= 400)
                    .map(|s| http_class(s).to_owned())
            })
            .unwrap_or_else(|| "error".to_owned());
        Some((class, status))
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
        let (span, resource, service) = (f.span, f.resource, f.service);
        let m = &self.metrics;
        let of = &self.overflow;
        let now = m.now();
        for event in &span.events {
            if event.name == WEB_VITAL_EVENT {
                self.record_web_vital(&event.attributes, None, service);
            }
            if let Some((_, outcome)) = CONNECT_EVENTS.iter().find(|(n, _)| *n == event.name) {
                self.record_connect(outcome, &event.attributes, &span.attributes);
            }
            self.record_token(&event.attributes, &span.attributes, None);
        }
        if self.record_web_vital_span(span, service) {
            return;
        }
        let Some(c) = self.classify(f) else {
            return;
        };
        let svc = label_value(service);
        let op = label_value(&c.operation);
        let duration = (span.end_time_unix_nano > span.start_time_unix_nano
            && span.start_time_unix_nano > 0)
            .then(|| (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e9);
        let exemplar = TraceExemplar::new(&span.trace_id);
        if let Some(d) = duration {
            m.operations.with(&[&svc, c.component, &op], now, of, |h| {
                h.observe(d, exemplar.clone(), None)
            });
        }
        let failure = self.failure(span, c.component);
        let rule = failure.as_ref().and_then(|(class, status)| {
            self.expected_rule(class, *status, &span.attributes, resource)
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
        self.record_token(&span.attributes, resource, c.platform.as_deref());
        if let Some(platform) = &c.platform {
            let platform = label_value(platform);
            let rate_limited = failure.as_ref().is_some_and(|(class, status)| {
                *status == Some(429) || class == "rate_limited" || class == "RateLimitError"
            });
            let outcome = match (&failure, rate_limited) {
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
            if let Some(d) = duration {
                m.integration_duration
                    .with(&[&platform], now, of, |h| h.observe(d, exemplar, None));
            }
            if failure.is_none() && span.end_time_unix_nano > 0 {
                let ended = span.end_time_unix_nano as f64 / 1e9;
                m.integration_last_sync.with(&[&platform], now, of, |g| {
                    if ended > g.get() {
                        g.set(ended);
                    }
                });
            }
        }
    }

    /// A `browser.web_vital` event: fields in the body (the semconv event) or in
    /// `browser.web_vital.*` attributes. LCP, INP, FCP and TTFB arrive in milliseconds,
    /// as the web-vitals library reports them.
    fn record_web_vital(&self, attrs: &[KeyValue], body: Option<&AnyValue>, service: &str) {
        let fields: &[KeyValue] = match body.and_then(|b| b.value.as_ref()) {
            Some(Value::KvlistValue(kv)) => &kv.values,
            _ => &[],
        };
        let get = |field: &str| {
            attr(fields, field).or_else(|| attr(attrs, &format!("browser.web_vital.{field}")))
        };
        let (Some(name), Some(value)) = (
            get("name").and_then(text).map(|n| n.to_ascii_lowercase()),
            get("value").and_then(number),
        ) else {
            return;
        };
        let rating = get("rating").and_then(text);
        self.observe_web_vital(&name, value / 1000.0, rating, service);
    }

    /// Records one web vital; `seconds` is ignored for CLS, which has no unit, and
    /// `value_ms / 1000` is passed for the others. `name` is `lcp`, `inp`, `fcp`, `ttfb`
    /// or `cls`, in any case.
    fn observe_web_vital(&self, name: &str, seconds: f64, rating: Option<String>, service: &str) {
        let name = name.to_ascii_lowercase();
        let Some((short, family)) = self.metrics.web_vitals.iter().find(|(s, _)| *s == name) else {
            return;
        };
        if seconds.is_nan() || seconds < 0.0 {
            return;
        }
        let value = if *short == "cls" {
            seconds * 1000.0
        } else {
            seconds
        };
        let rating = rating
            .filter(|r| matches!(r.as_str(), "good" | "needs-improvement" | "poor"))
            .unwrap_or_else(|| "unknown".to_owned());
        let svc = label_value(service);
        family.with(&[&svc, &rating], self.metrics.now(), &self.overflow, |h| {
            h.observe(value, None, None)
        });
    }

    /// A web-vital span, as browser web-vitals instrumentations make them: named `lcp`,
    /// `cls`, `inp`, `fcp` or `ttfb`, with `<name>.value` (ms; unitless for CLS) and
    /// `<name>.rating`.
    fn record_web_vital_span(&self, span: &Span, service: &str) -> bool {
        let name = span.name.to_ascii_lowercase();
        if !WEB_VITALS.iter().any(|(s, ..)| *s == name) {
            return false;
        }
        let Some(value) = attr(&span.attributes, &format!("{name}.value")).and_then(number) else {
            return false;
        };
        let rating = attr(&span.attributes, &format!("{name}.rating")).and_then(text);
        self.observe_web_vital(&name, value / 1000.0, rating, service);
        true
    }

    /// Web vitals reported as gauge or sum metrics named `lcp`, `inp`, `fcp`, `ttfb` or
    /// `cls` under a `browser.web_vital.`, `web_vitals.` or `webvitals.` prefix (or none),
    /// in ms or s; each data point is one observation, rated by its `rating` attribute.
    fn record_web_vital_metrics(
        &self,
        req: &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    ) {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
        for rm in &req.resource_metrics {
            let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let service = crate::derive::service_name(resource);
            for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let lower = m.name.to_ascii_lowercase();
                let short = [
                    "browser.web_vital.",
                    "web_vitals.",
                    "webvitals.",
                    "web_vital.",
                ]
                .iter()
                .find_map(|p| lower.strip_prefix(p))
                .unwrap_or(&lower);
                if !WEB_VITALS.iter().any(|(s, ..)| *s == short) {
                    continue;
                }
                let to_seconds = match m.unit.as_str() {
                    "s" => 1.0,
                    "ms" | "" => 1e-3,
                    _ if short == "cls" => 1e-3,
                    _ => continue,
                };
                let points = match &m.data {
                    Some(Data::Gauge(g)) => &g.data_points,
                    Some(Data::Sum(s)) => &s.data_points,
                    _ => continue,
                };
                for p in points {
                    let v = match p.value {
                        Some(N::AsDouble(d)) => d,
                        Some(N::AsInt(i)) => i as f64,
                        None => continue,
                    };
                    let rating = attr(&p.attributes, "rating").and_then(text);
                    self.observe_web_vital(short, v * to_seconds, rating, service);
                }
            }
        }
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
        if event == Some(WEB_VITAL_EVENT) {
            self.record_web_vital(&rec.attributes, rec.body.as_ref(), service);
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
        if let Some(req) = facts.metrics {
            self.record_web_vital_metrics(req);
        }
        Ok(())
    }
}

impl Processor for HealthProcessor {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        Recorder::record(self, &mut crate::derive::derive(batch))
    }

    fn recorder(&self) -> Option<&dyn Recorder> {
        Some(self)
    }
}

#[cfg(test)]
mod tests;
