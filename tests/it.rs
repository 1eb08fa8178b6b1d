//! Integration tests: the real llmwatch binary on 127.0.0.1 with ports chosen by the OS,
//! driven by real clients (the Python OpenTelemetry SDK, tonic, raw HTTP) and checked with
//! real tools (promtool).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod it {
    pub mod support;

    mod analytics;
    mod app_metrics;
    mod bad_input;
    mod dashboards;
    mod exposition;
    mod forward;
    mod genai;
    mod health;
    mod lifecycle;
    mod overload;
    mod pii_harness;
    mod python_clients;
    mod redaction;
    mod redaction_bypass;
    mod users_fleet;
}
