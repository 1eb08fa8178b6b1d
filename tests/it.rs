//! Integration tests: the real llmwatch binary on 127.0.0.1 with ports chosen by the OS,
//! driven by real clients (the Python OpenTelemetry SDK, tonic, raw HTTP) and checked with
//! real tools (promtool).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod it {
    pub mod support;

    mod analytics;
    mod app_metrics;
    mod bad_input;
    mod cli;
    mod collector_compat;
    mod connections;
    mod corpus;
    mod dashboards;
    mod durable;
    mod emitter_checks;
    mod emitter_verify;
    mod evaluations;
    mod exposition;
    mod forward;
    mod genai;
    mod health;
    mod hostile_caches;
    mod hostile_metrics;
    mod identity_inheritance;
    mod js_clients;
    mod lifecycle;
    mod mcp_tools;
    mod overload;
    mod pii_harness;
    mod python_clients;
    mod python_emitters;
    mod redaction;
    mod redaction_bypass;
    mod report;
    mod report_delivery;
    mod slo;
    mod slo_inhibition;
    mod tls;
    mod users_fleet;
}
