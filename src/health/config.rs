//! `processors.health`: platform rules, frontend services, latency thresholds, expected
//! outcomes and limits, with their checks and the processor's build.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::metrics::HealthMetrics;
use super::{HealthMetricsSlot, HealthProcessor};
use prometheus_client::registry::Registry;

use crate::component::factory::{BuildContext, Factory, ProcessorSettings, Shared, decode_checked};
use crate::component::series::{Bounded, SeriesBounds, deserialize_bounded};
use crate::derive::Stage;
use crate::metrics::bounded::{OverflowCounter, Thresholds};

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
#[serde(remote = "Self", deny_unknown_fields)]
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
    /// `series_limit` and `series_ttl`, beside the other keys.
    #[serde(skip)]
    pub series: SeriesBounds,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            platforms: HealthConfig::default_platforms(),
            frontend_services: Vec::new(),
            thresholds: HealthConfig::default_thresholds(),
            expected: HealthConfig::default_expected(),
            max_connections: HealthConfig::default_max_connections(),
            series: SeriesBounds::default(),
        }
    }
}

impl<'de> Deserialize<'de> for HealthConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_bounded(d)
    }
}

impl Bounded for HealthConfig {
    const TTL: bool = true;
    fn deserialize_rest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HealthConfig::deserialize(d)
    }
    fn set_bounds(&mut self, bounds: SeriesBounds) {
        self.series = bounds;
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
    fn default_max_connections() -> usize {
        10_000
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
        errors.extend(self.series.check());
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

/// The `health` processor type, for the registry.
pub const FACTORY: Factory<Arc<dyn ProcessorSettings<Stage>>> = Factory {
    type_name: "health",
    decode: |value, path, errors, _env| {
        let cfg = decode_checked(value, path, errors, HealthConfig::check)?;
        Some(Arc::new(cfg) as Arc<dyn ProcessorSettings<Stage>>)
    },
    register: register_shared,
};

/// What every `health` processor shares: its families' slot, and the latency thresholds.
fn register_shared(shared: &mut Shared, registry: &mut Registry) {
    shared.get_or_register(registry, |registry| {
        let thresholds = Thresholds::default();
        registry.register_collector(Box::new(thresholds.clone()));
        thresholds
    });
    let slot = HealthMetricsSlot::default();
    registry.register_collector(Box::new(slot.clone()));
    shared.insert(slot);
}

impl ProcessorSettings<Stage> for HealthConfig {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Stage, String> {
        let processor = HealthConfig::build(self, &ctx.get()?, &ctx.get()?, &ctx.get()?)?;
        Ok(Stage::Record(Arc::new(processor)))
    }
}
