//! The Python GenAI instrumentations of `tests/it/genai.rs`, checked the way
//! `js_clients` checks the JavaScript ones: the real `openai` client under each
//! instrumentation (`tests/python/drive_openai.py`: a chat with `user`, a streamed chat with
//! usage, an embedding, a 429) against the logging fake server, exporting OTLP/HTTP
//! protobuf to its own llmwatch. The expected metrics come from the wire and the served-call
//! log (`emitter_checks`); the run is recorded in `tests/corpus/python-*` with
//! `LLMWATCH_RECORD_CORPUS=1`, so the corpus replay covers the Python emitters too.

use std::path::Path;
use std::process::Command;

use super::emitter_checks::Layout;
use super::emitter_verify::{
    CONFIG, Coverage, FakeOpenAi, Reports, Subject, driver_succeeded, verify,
};
use super::python_clients::venv_python;
use super::support::{Llmwatch, TempDir};

struct PythonEmitter {
    subject: Subject<'static>,
    mode: &'static str,
    venv: &'static str,
    var: &'static str,
    env: &'static [(&'static str, &'static str)],
}

fn run(e: &PythonEmitter) {
    let python = venv_python(e.venv, e.var);
    let dir = TempDir::new("py");
    let log = dir.path("served.jsonl");
    let fake = FakeOpenAi::start(&log);
    let service = e.subject.name;
    let lw = Llmwatch::start(CONFIG);
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/drive_openai.py"))
        .args([
            e.mode,
            service,
            &format!("http://{}", lw.http()),
            &format!("http://127.0.0.1:{}/{service}/v1", fake.port),
        ])
        .envs(e.env.iter().copied())
        .output()
        .unwrap();
    driver_succeeded(service, &out);
    verify(&e.subject, "http/protobuf", service, &lw, &log, true);
}

/// openai-v2 sends neither cached nor reasoning tokens, in either mode.
const NO_CACHE_NOR_REASONING: Reports = Reports {
    cache_read: Coverage::None,
    reasoning: Coverage::None,
    ..Reports::ALL
};

#[test]
fn openai_v2_legacy_against_the_wire() {
    run(&PythonEmitter {
        subject: Subject {
            name: "python-openai-v2-legacy",
            versions: "openai 2.54.0, opentelemetry-instrumentation-openai-v2 2.4b0, opentelemetry-util-genai 0.4b0, opentelemetry-sdk 1.45.2",
            layout: Layout::GenAi,
            reports: NO_CACHE_NOR_REASONING,
            defects: &[],
        },
        mode: "v2",
        venv: ".venv-genai-v2-legacy",
        var: "LLMWATCH_PYTHON_GENAI_V2_LEGACY",
        env: &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")],
    });
}

#[test]
fn openai_v2_latest_against_the_wire() {
    run(&PythonEmitter {
        subject: Subject {
            name: "python-openai-v2-latest",
            versions: "openai 2.54.0, opentelemetry-instrumentation-openai-v2 2.4b0, opentelemetry-util-genai 1.1b0 (gen_ai_latest_experimental), opentelemetry-sdk 1.45.2",
            layout: Layout::GenAi,
            reports: NO_CACHE_NOR_REASONING,
            defects: &[],
        },
        mode: "v2",
        venv: ".venv-genai-v2-latest",
        var: "LLMWATCH_PYTHON_GENAI_V2_LATEST",
        env: &[
            (
                "OTEL_SEMCONV_STABILITY_OPT_IN",
                "gen_ai_latest_experimental",
            ),
            (
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                "span_and_event",
            ),
            ("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "true"),
        ],
    });
}

#[test]
fn traceloop_python_against_the_wire() {
    run(&PythonEmitter {
        subject: Subject {
            name: "python-traceloop",
            versions: "openai 2.54.0, opentelemetry-instrumentation-openai (Traceloop) 0.62.4, opentelemetry-sdk 1.45.2",
            layout: Layout::GenAi,
            reports: Reports {
                reasoning: Coverage::Partial,
                ..Reports::ALL
            },
            defects: &[],
        },
        mode: "traceloop",
        venv: ".venv-genai-vendor",
        var: "LLMWATCH_PYTHON_GENAI_VENDOR",
        env: &[("TRACELOOP_TRACE_CONTENT", "true")],
    });
}

#[test]
fn openinference_python_against_the_wire() {
    run(&PythonEmitter {
        subject: Subject {
            name: "python-openinference",
            versions: "openai 2.54.0, openinference-instrumentation-openai 0.1.66, opentelemetry-sdk 1.45.2",
            layout: Layout::OpenInference,
            reports: Reports::ALL,
            defects: &[],
        },
        mode: "openinference",
        venv: ".venv-genai-vendor",
        var: "LLMWATCH_PYTHON_GENAI_VENDOR",
        env: &[],
    });
}
