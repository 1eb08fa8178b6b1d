//! Integration tests: the real llmwatch binary on 127.0.0.1 with ports chosen by the OS,
//! driven by real clients (the Python OpenTelemetry SDK, tonic, raw HTTP) and checked with
//! real tools (promtool).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod it {
    pub mod support;

    mod analytics;
    mod app_metrics;
    mod bad_input;
    mod corpus;
    mod dashboards;
    mod emitter_checks;
    mod emitter_verify;
    mod evaluations;
    mod exposition;
    mod forward;
    mod genai;
    mod health;
    mod identity_inheritance;
    mod js_clients;
    mod lifecycle;
    mod mcp_tools;
    mod overload;
    mod python_clients;
    mod python_emitters;
    mod redaction;
    mod users_fleet;
}
