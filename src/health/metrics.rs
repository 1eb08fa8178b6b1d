//! Every family of the `health` processor, and how they are rendered.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use foldhash::fast::FixedState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Unit;

use super::HealthConfig;
use crate::metrics::bounded::{Family, Histogram};
use crate::metrics::spec::{FamilyMaker, FamilySpec};

/// Bucket boundaries of `app_operation_duration_seconds`, before the configured
/// thresholds are added.
const BASE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every family of the `health` processor.
pub struct HealthMetrics {
    pub(super) config: HealthConfig,
    pub(super) started: Instant,
    pub(super) operations: Family<Histogram>,
    pub(super) errors: Family<Counter>,
    pub(super) expected: Family<Counter>,
    pub(super) logs: Family<Counter>,
    pub(super) log_exceptions: Family<Counter>,
    pub(super) integration_requests: Family<Counter>,
    pub(super) integration_duration: Family<Histogram>,
    pub(super) integration_rate_limited: Family<Counter>,
    pub(super) integration_last_sync: Family<Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub(super) connections: Family<Counter>,
    pub(super) connection_failures: Family<Counter>,
    pub(super) web_vitals: Vec<(&'static str, Family<Histogram>)>,
    pub(super) tokens: Mutex<Tokens>,
}

/// Token expiry per platform connection, keyed by a hash of the connection's id: the
/// state holds no id.
#[derive(Default)]
pub(super) struct Tokens {
    pub(super) expiry: HashMap<(String, u64), f64, FixedState>,
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

const OPERATIONS: FamilySpec = FamilySpec {
    name: "app_operation_duration",
    help: "Duration of operations by component (ai, database, platform, frontend, server) and normalised operation.",
    unit: Some(Unit::Seconds),
    labels: &["service", "component", "operation"],
};

const ERRORS: FamilySpec = FamilySpec {
    name: "app_errors",
    help: "Failed operations by component and error class, expected outcomes excluded.",
    unit: None,
    labels: &["service", "component", "error_type"],
};

const EXPECTED: FamilySpec = FamilySpec {
    name: "app_expected_outcomes",
    help: "Outcomes an expected-outcome rule matched (rate limits, guest 401s, validation): not errors, and not dropped.",
    unit: None,
    labels: &["service", "component", "rule"],
};

const LOGS: FamilySpec = FamilySpec {
    name: "app_log_records",
    help: "Log records by service and severity.",
    unit: None,
    labels: &["service", "severity"],
};

const LOG_EXCEPTIONS: FamilySpec = FamilySpec {
    name: "app_log_exceptions",
    help: "Error-level log records with an exception.type, by that type.",
    unit: None,
    labels: &["service", "exception_type"],
};

const INTEGRATION_REQUESTS: FamilySpec = FamilySpec {
    name: "integration_requests",
    help: "Requests to third-party platforms, by outcome (success, error, rate_limited).",
    unit: None,
    labels: &["platform", "outcome"],
};

const INTEGRATION_DURATION: FamilySpec = FamilySpec {
    name: "integration_request_duration",
    help: "Duration of requests to third-party platforms.",
    unit: Some(Unit::Seconds),
    labels: &["platform"],
};

const INTEGRATION_RATE_LIMITED: FamilySpec = FamilySpec {
    name: "integration_rate_limited",
    help: "Requests to third-party platforms that were rate limited (429).",
    unit: None,
    labels: &["platform"],
};

const INTEGRATION_LAST_SYNC: FamilySpec = FamilySpec {
    name: "integration_last_sync_timestamp",
    help: "When the last successful request to each platform ended, Unix seconds: data freshness.",
    unit: Some(Unit::Seconds),
    labels: &["platform"],
};

const CONNECTIONS: FamilySpec = FamilySpec {
    name: "integration_connections",
    help: "Platform connection attempts from platform_connect_initiated, platform_connected and platform_connection_failed events.",
    unit: None,
    labels: &["platform", "outcome"],
};

const CONNECTION_FAILURES: FamilySpec = FamilySpec {
    name: "integration_connection_failures",
    help: "Failed platform connections (OAuth and others) by reason.",
    unit: None,
    labels: &["platform", "reason"],
};

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

impl HealthMetrics {
    pub(super) fn new(config: &HealthConfig) -> HealthMetrics {
        let keep = ["component", "outcome", "severity", "rating"];
        let m = FamilyMaker {
            keep: &keep,
            limit: config.series.series_limit,
        };
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
            operations: m.make(&OPERATIONS, &[], move || Histogram::new(duration_buckets.clone().into_iter())),
            errors: m.make(&ERRORS, &[], Counter::default),
            expected: m.make(&EXPECTED, &[], Counter::default),
            logs: m.make(&LOGS, &[], Counter::default),
            log_exceptions: m.make(&LOG_EXCEPTIONS, &[], Counter::default),
            integration_requests: m.make(&INTEGRATION_REQUESTS, &[], Counter::default),
            integration_duration: m.make(&INTEGRATION_DURATION, &[], move || Histogram::new(buckets.clone().into_iter())),
            integration_rate_limited: m.make(&INTEGRATION_RATE_LIMITED, &[], Counter::default),
            integration_last_sync: m.make(&INTEGRATION_LAST_SYNC, &[], Gauge::default),
            connections: m.make(&CONNECTIONS, &[], Counter::default),
            connection_failures: m.make(&CONNECTION_FAILURES, &[], Counter::default),
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
                            config.series.series_limit,
                            move || Histogram::new(buckets.clone().into_iter()),
                        ),
                    )
                })
                .collect(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn expire(&self) {
        let Some(oldest) = self.now().checked_sub(self.config.series.ttl_secs()) else {
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
