//! What the demo's sessions are made of: models with their prices' shape, intents,
//! prompts, third-party platforms, and attribute helpers.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::bench::Rng;
use crate::model::attrs::kv;

/// A trace id.
pub(super) fn id16(r: &mut Rng) -> Vec<u8> {
    [r.next().to_be_bytes(), r.next().to_be_bytes()].concat()
}

/// A span id.
pub(super) fn id8(r: &mut Rng) -> Vec<u8> {
    r.next().to_be_bytes().to_vec()
}

pub(super) fn s(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}
pub(super) fn i(key: &str, v: i64) -> KeyValue {
    kv(key, Value::IntValue(v))
}
pub(super) fn f(key: &str, v: f64) -> KeyValue {
    kv(key, Value::DoubleValue(v))
}
pub(super) fn b(key: &str, v: bool) -> KeyValue {
    kv(key, Value::BoolValue(v))
}

pub(super) struct Model {
    pub(super) provider: &'static str,
    pub(super) name: &'static str,
    /// Relative share of traffic.
    pub(super) weight: u64,
    /// Seconds per 100 output tokens.
    pub(super) speed: f64,
}

pub(super) const MODELS: &[Model] = &[
    Model {
        provider: "openai",
        name: "gpt-4o-mini",
        weight: 40,
        speed: 0.6,
    },
    Model {
        provider: "openai",
        name: "gpt-4o",
        weight: 25,
        speed: 1.0,
    },
    Model {
        provider: "anthropic",
        name: "claude-sonnet-4-5-20250929",
        weight: 20,
        speed: 1.1,
    },
    Model {
        provider: "gcp.vertex_ai",
        name: "gemini-2.5-flash",
        weight: 15,
        speed: 0.5,
    },
    // A self-hosted model: no list price, so its tokens show as unpriced.
    Model {
        provider: "vllm",
        name: "acme-support-7b",
        weight: 3,
        speed: 0.4,
    },
];

pub(super) const EXPENSIVE: &[Model] = &[
    Model {
        provider: "openai",
        name: "gpt-4o",
        weight: 1,
        speed: 1.0,
    },
    Model {
        provider: "anthropic",
        name: "claude-opus-4-1-20250805",
        weight: 1,
        speed: 1.6,
    },
];

pub(super) const INTENTS: &[&str] = &[
    "billing",
    "reports",
    "campaign_performance",
    "account",
    "integration_help",
    "other",
];

pub(super) const PROMPTS: &[&str] = &[
    "Why did my cost per click go up last week? My email is {email} if you need it.",
    "Compare campaign ROAS for March and April, and send the report to {email}.",
    "My card {card} was charged twice, please call me on {phone}.",
    "Summarise the top five keywords by conversions.",
    "How do I connect my Google Ads account?",
];

pub(super) struct Platform {
    pub(super) name: &'static str,
    pub(super) host: &'static str,
    pub(super) path: &'static str,
}

pub(super) const PLATFORMS: &[Platform] = &[
    Platform {
        name: "google_ads",
        host: "googleads.googleapis.com",
        path: "/v17/customers/{id}/googleAds:search",
    },
    Platform {
        name: "meta_graph",
        host: "graph.facebook.com",
        path: "/v19.0/act_{id}/insights",
    },
    Platform {
        name: "google_analytics",
        host: "analyticsdata.googleapis.com",
        path: "/v1beta/properties/{id}:runReport",
    },
];
