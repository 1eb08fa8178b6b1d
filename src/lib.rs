//! llmwatch: an OpenTelemetry sidecar for LLM applications.
//!
//! Data moves one way: `receive` decodes OTLP into a bounded queue, `pipeline` workers run
//! the processors and hand the result to the exporters, and `admin` serves `/metrics`.
//! `decode`, `pipeline` processors and `metrics` are synchronous and do no I/O; sockets and
//! tasks live in `receive`, `export`, `admin` and `app`.

pub mod admin;
pub mod analytics;
pub mod app;
pub mod bench;
pub mod component;
pub mod config;
pub mod decode;
pub mod demo;
pub mod derive;
pub mod export;
pub mod genai;
pub mod health;
pub mod metrics;
pub mod model;
pub mod net;
pub mod pipeline;
pub mod receive;
pub mod redact;
pub mod registry;
pub mod report;
pub mod semconv;
pub mod slo;
#[cfg(test)]
mod testkit;
