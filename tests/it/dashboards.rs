//! The shipped Grafana dashboards and the monitoring stack, end to end:
//! - the committed dashboards are what `scripts/gen-dashboards.py` writes;
//! - they, and the provisioning files, validate against their JSON schemas (the dashboard
//!   schema is generated from `@grafana/schema`), and the validator rejects a broken copy;
//! - every panel has a description, a unit, the shared datasource and the variables;
//! - promtool parses every panel query;
//! - with llmwatch on its default config (plus forwarding to a second llmwatch) scraped by a
//!   real Prometheus that evaluates the shipped rules, and `llmwatch demo` running, every
//!   panel's queries return data;
//! - each `llmwatch demo --scenario` incident brings its alert to `firing`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::python_clients::python;
use super::support::{Llmwatch, Prometheus, TempDir, binary, http_request, tool};

pub(super) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

const FILES: [&str; 6] = [
    "llm-operations.json",
    "ai-cost.json",
    "product-analytics.json",
    "technical-health.json",
    "pipeline.json",
    "slos.json",
];

fn dashboards() -> Vec<(String, Value)> {
    FILES
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root().join("grafana/dashboards").join(f)).unwrap();
            ((*f).to_owned(), serde_json::from_str(&text).unwrap())
        })
        .collect()
}

/// Every panel that shows data (rows left out), with its dashboard's file name.
fn panels() -> Vec<(String, Value)> {
    dashboards()
        .into_iter()
        .flat_map(|(file, d)| {
            d["panels"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["type"] != "row")
                .map(|p| (file.clone(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn exprs(panel: &Value) -> Vec<String> {
    panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect()
}

/// A query as Grafana would send it with every variable at "All".
fn concrete(expr: &str) -> String {
    expr.replace("$service", ".*")
        .replace("$provider", ".*")
        .replace("$model", ".*")
        .replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
}

fn check_jsonschema() -> PathBuf {
    python(false).with_file_name("check-jsonschema")
}

#[test]
fn committed_dashboards_are_what_the_generator_writes() {
    let dir = TempDir::new("dashboards");
    let status = Command::new("python3")
        .arg(root().join("scripts/gen-dashboards.py"))
        .arg(&dir.0)
        .status()
        .unwrap();
    assert!(status.success());
    for f in FILES {
        let generated = std::fs::read_to_string(dir.path(f)).unwrap();
        let committed = std::fs::read_to_string(root().join("grafana/dashboards").join(f)).unwrap();
        assert!(
            generated == committed,
            "grafana/dashboards/{f} differs from what scripts/gen-dashboards.py writes: run it and commit"
        );
    }
}

/// check-jsonschema on `files` with the schema `schema` of grafana/schema.
fn validate(schema: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(root().join("grafana/schema").join(schema))
        .args(files)
        .output()
        .unwrap()
}

/// A mistake made in a dashboard.
type Breakage = fn(&mut Value);

/// The mistakes tooling.md saw the validator catch.
const BREAKAGES: [(&str, Breakage); 4] = [
    ("graphTooltip as text", |d| {
        d["graphTooltip"] = "shared".into()
    }),
    ("refresh as a number", |d| d["refresh"] = 30.into()),
    ("a panel without gridPos.y", |d| {
        d["panels"][0]["gridPos"]
            .as_object_mut()
            .unwrap()
            .remove("y");
    }),
    ("a misspelt top-level key", |d| {
        let panels = d.as_object_mut().unwrap().remove("panels").unwrap();
        d["panles"] = panels;
    }),
];

#[test]
fn dashboards_and_provisioning_validate_against_their_schemas() {
    let files: Vec<PathBuf> = FILES
        .iter()
        .map(|f| root().join("grafana/dashboards").join(f))
        .collect();
    let out = validate("dashboard.schema.json", &files);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let provisioning = [
        root().join("grafana/provisioning/datasources/llmwatch.yaml"),
        root().join("grafana/provisioning/dashboards/llmwatch.yaml"),
    ];
    let out = validate("provisioning.schema.json", &provisioning);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The validator bites: the mistakes tooling.md saw it catch.
    let dir = TempDir::new("broken");
    let (_, good) = &dashboards()[0];
    for (what, breakage) in BREAKAGES {
        let mut broken = good.clone();
        breakage(&mut broken);
        let path = dir.path("broken.json");
        std::fs::write(&path, serde_json::to_string(&broken).unwrap()).unwrap();
        let out = validate("dashboard.schema.json", &[path]);
        assert!(!out.status.success(), "the schema accepted {what}");
    }
    let path = dir.path("datasources.yaml");
    std::fs::write(
        &path,
        "apiVersion: 1\ndatasources:\n  - { name: p, type: prometheus, acess: proxy, url: x }\n",
    )
    .unwrap();
    assert!(
        !validate("provisioning.schema.json", &[path])
            .status
            .success()
    );
}

#[test]
fn every_panel_is_described_with_a_unit_and_every_dashboard_has_the_variables() {
    for (file, d) in dashboards() {
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(vars, ["service", "provider", "model"], "{file}");
        assert!(
            d["uid"].as_str().unwrap().starts_with("llmwatch-"),
            "{file}"
        );
    }
    let mut ids = BTreeSet::new();
    for (file, p) in panels() {
        let title = p["title"].as_str().unwrap();
        let at = format!("{file}: {title}");
        assert!(ids.insert(at.clone()), "two panels named {at}");
        assert!(
            p["description"].as_str().is_some_and(|d| d.len() > 20),
            "{at}: no description"
        );
        assert!(
            p["fieldConfig"]["defaults"]["unit"].is_string(),
            "{at}: no unit"
        );
        assert_eq!(p["datasource"]["uid"], "llmwatch-prometheus", "{at}");
        assert!(!exprs(&p).is_empty(), "{at}: no query");
        if matches!(p["type"].as_str(), Some("stat" | "gauge" | "bargauge")) {
            assert!(
                p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
                "{at}: no thresholds"
            );
        }
        // Every llm_* query but the budget gauge (which has no model) follows the
        // variables; the tool and agent families, which have no provider or model, follow
        // the service.
        for e in exprs(&p) {
            let agents = e.contains("llm_tool_") || e.contains("llm_agent_");
            assert!(
                !e.replace("llm_budget_usd", "").contains("llm_")
                    || e.contains("$model")
                    || (agents && e.contains("$service")),
                "{at}: an llm_* query ignores the variables: {e}"
            );
        }
    }
}

#[test]
fn promtool_parses_every_panel_query() {
    let rules: Vec<Value> = panels()
        .iter()
        .flat_map(|(_, p)| exprs(p))
        .enumerate()
        .map(
            |(i, e)| serde_json::json!({"record": format!("panel:query{i}"), "expr": concrete(&e)}),
        )
        .collect();
    assert!(rules.len() > 60, "{} queries", rules.len());
    let dir = TempDir::new("panel-queries");
    let path = dir.path("panels.yaml");
    // JSON is YAML.
    std::fs::write(
        &path,
        serde_json::json!({"groups": [{"name": "panels", "rules": rules}]}).to_string(),
    )
    .unwrap();
    let out = Command::new(tool("LLMWATCH_PROMTOOL", "promtool"))
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `llmwatch demo` as a child process, stopped on drop.
pub(super) struct Demo(Child);

impl Demo {
    pub(super) fn start(lw: &Llmwatch, scenario: Option<&str>, rate: &str) -> Demo {
        let mut cmd = Command::new(binary());
        cmd.args([
            "demo",
            "--quiet",
            "--rate",
            rate,
            "--duration",
            "300",
            "--endpoint",
        ])
        .arg(format!("http://{}", lw.grpc()));
        if let Some(s) = scenario {
            cmd.args(["--scenario", s]);
        }
        Demo(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The embedded default config on 127.0.0.1, with conversations that end after 5 s idle
/// (so abandonment shows within the test) and, when `sink` is given, an `otlp` exporter
/// forwarding every pipeline to it.
pub(super) fn default_config(sink: Option<std::net::SocketAddr>) -> String {
    let mut yaml = std::fs::read_to_string(root().join("otel-config.yaml")).unwrap();
    let idle = "    hll_precision: 10";
    assert!(yaml.contains(idle));
    yaml = yaml.replacen(idle, "    conversation_idle: 5s\n    hll_precision: 10", 1);
    if let Some(sink) = sink {
        let exporters = "exporters:\n";
        assert!(yaml.contains(exporters));
        yaml = yaml.replacen(
            exporters,
            &format!(
                "exporters:\n  otlp:\n    endpoint: \"http://{sink}\"\n    compression: zstd\n"
            ),
            1,
        );
        assert_eq!(yaml.matches("exporters: [prometheus]").count(), 3);
        yaml = yaml.replace("exporters: [prometheus]", "exporters: [prometheus, otlp]");
    }
    yaml
}

pub(super) const LOCAL: [(&str, &str); 3] = [
    ("LLMWATCH_GRPC_ENDPOINT", "127.0.0.1:0"),
    ("LLMWATCH_HTTP_ENDPOINT", "127.0.0.1:0"),
    ("LLMWATCH_METRICS_ENDPOINT", "127.0.0.1:0"),
];

pub(super) fn rule_files(dir: &TempDir, alerts_for: Option<&str>) -> Vec<PathBuf> {
    let rules = root().join("prometheus/rules");
    let mut files = vec![
        rules.join("llmwatch-recording.yaml"),
        rules.join("llmwatch-users.yaml"),
        rules.join("slo.yaml"),
    ];
    if let Some(duration) = alerts_for {
        // The shipped alerts, with every `for:` shortened so an incident fires within the
        // test instead of after minutes.
        let text = std::fs::read_to_string(rules.join("llmwatch-alerts.yaml")).unwrap();
        let mut shortened = String::new();
        let mut n = 0;
        for line in text.lines() {
            if let Some(indent) = line.strip_suffix(line.trim_start())
                && line.trim_start().starts_with("for: ")
            {
                shortened.push_str(&format!("{indent}for: {duration}\n"));
                n += 1;
            } else {
                shortened.push_str(line);
                shortened.push('\n');
            }
        }
        assert!(n >= 10, "only {n} `for:` lines");
        let path = dir.path("alerts.yaml");
        std::fs::write(&path, shortened).unwrap();
        files.push(path);
    }
    files
}

/// Panels whose queries end in `or on() vector(0)`: they show 0 when the event never
/// happened, and the demo has no incident that makes them happen. The demo's tools never
/// fail, so the error share of "Tool calls" reads 0 by its fallback too.
const ZERO_WHEN_NOTHING_HAPPENED: [&str; 6] = [
    "Calls without usage",
    "Exports by exporter",
    "Forwarding retries and drops",
    "Series folded into other",
    "Items dropped by processors",
    "Tool calls",
];

fn has_value(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

/// A sink for the forwarded telemetry, which only counts it.
const SINK: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  nop: {}
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [nop] }
    logs: { receivers: [otlp], exporters: [nop] }
    metrics: { receivers: [otlp], exporters: [nop] }
"#;

/// Each query of each panel that Prometheus answers with no value, as `file: title: expr`.
fn panels_without_data(prometheus: &Prometheus, panels: &[(String, Value)]) -> Vec<String> {
    let mut missing = Vec::new();
    for (file, p) in panels {
        let title = p["title"].as_str().unwrap();
        for e in exprs(p) {
            let result = prometheus
                .query(&concrete(&e))
                .unwrap_or_else(|| panic!("{file}: {title}: Prometheus refused the query {e}"));
            if !has_value(&result) {
                missing.push(format!("{file}: {title}: {e}"));
            }
        }
    }
    missing
}

/// The panels that have data only from their `or on() vector(0)` fallback.
fn zero_only_panels(prometheus: &Prometheus, panels: &[(String, Value)]) -> BTreeSet<String> {
    let mut zero_only = BTreeSet::new();
    for (_, p) in panels {
        for e in exprs(p) {
            if let Some((real, _)) = e.split_once(" or on() vector(0)") {
                let result = prometheus.query(&concrete(real)).unwrap_or_default();
                if !has_value(&result) {
                    zero_only.insert(p["title"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    zero_only
}

#[test]
fn every_panel_returns_data_from_a_real_prometheus_while_the_demo_runs() {
    let sink = Llmwatch::start(SINK);
    let lw = Llmwatch::start_with(&default_config(Some(sink.grpc())), &LOCAL, "info");
    let dir = TempDir::new("stack");
    let prometheus = Prometheus::start(&[lw.admin], &rule_files(&dir, None));
    let _demo = Demo::start(&lw, None, "8");
    // A client with a broken body, so the refusal panels have a reason to show.
    let refused = http_request(
        lw.http(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        b"\xff\xff\xff not protobuf",
    );
    assert_eq!(refused.status, 400);

    let panels = panels();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let mut missing: Vec<String>;
    loop {
        missing = panels_without_data(&prometheus, &panels);
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        missing.is_empty(),
        "panels without data after {:?}:\n{}",
        started.elapsed(),
        missing.join("\n")
    );
    // The zero fallbacks hide nothing else: the panels that got data only from them are
    // exactly the ones listed.
    let zero_only = zero_only_panels(&prometheus, &panels);
    let expected: BTreeSet<String> = ZERO_WHEN_NOTHING_HAPPENED
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(zero_only, expected);
    println!(
        "{} panels, {} queries, all with data after {:?}; zero by fallback only: {}",
        panels.len(),
        panels.iter().map(|(_, p)| exprs(p).len()).sum::<usize>(),
        started.elapsed(),
        ZERO_WHEN_NOTHING_HAPPENED.join(", ")
    );
}

/// Waits (at most `timeout`) until `alert` is firing.
pub(super) fn wait_firing(prometheus: &Prometheus, alert: &str, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if prometheus
            .alerts()
            .iter()
            .any(|a| a["labels"]["alertname"] == alert && a["state"] == "firing")
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{alert} did not fire within {timeout:?}; alerts: {:?}",
            prometheus.alerts()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Alerts that need history the test cannot make (a week-old baseline, an auth setup,
/// hours of ratings): `promtool test rules` covers them (prometheus/tests).
const COVERED_BY_PROMTOOL_ONLY: [&str; 7] = [
    "LLMToolErrorRateHigh",
    "LLMCostSpike",
    "LLMLatencyDegraded",
    "LLMUsageUnusual",
    "SatisfactionLow",
    "ReceiverAuthFailureSpike",
    "LlmwatchSeriesOverflow",
];

#[test]
fn each_demo_incident_fires_its_alert_in_prometheus() {
    let incidents: [(Option<&str>, &[&str]); 6] = [
        (None, &["IntegrationTokensExpiring", "LLMModelsUnpriced"]),
        (Some("error-spike"), &["LLMErrorRateHigh"]),
        (Some("provider-outage"), &["LLMProviderDown"]),
        (Some("database-outage"), &["DatabaseDown"]),
        (Some("platform-outage"), &["PlatformAPIDown"]),
        (Some("latency-degradation"), &["AILatencyP95Poor"]),
    ];
    let mut fired = Vec::new();
    for (scenario, alerts) in incidents {
        let lw = Llmwatch::start_with(&default_config(None), &LOCAL, "info");
        let dir = TempDir::new("alerts");
        let prometheus = Prometheus::start(&[lw.admin], &rule_files(&dir, Some("5s")));
        let _demo = Demo::start(&lw, scenario, "8");
        for alert in alerts {
            let took = wait_firing(&prometheus, alert, Duration::from_secs(120));
            fired.push(format!(
                "{alert} ({}, {took:.0?})",
                scenario.unwrap_or("normal traffic")
            ));
        }
    }
    // The budget: a cost spike (about 4 USD a second at this rate) against a 200 USD daily
    // budget passes 80% and then 100%.
    let env: Vec<(&str, &str)> = LOCAL
        .iter()
        .copied()
        .chain([("LLMWATCH_DAILY_BUDGET_USD", "200")])
        .collect();
    let mut lw = Llmwatch::start_with(&default_config(None), &env, "info");
    let dir = TempDir::new("alerts");
    let prometheus = Prometheus::start(&[lw.admin], &rule_files(&dir, Some("5s")));
    {
        let _demo = Demo::start(&lw, Some("cost-spike"), "3");
        for alert in ["DailyLLMBudget80Percent", "DailyLLMBudgetExhausted"] {
            let took = wait_firing(&prometheus, alert, Duration::from_secs(120));
            fired.push(format!("{alert} (cost-spike, {took:.0?})"));
        }
    }
    // llmwatch itself goes away.
    assert!(lw.terminate(Duration::from_secs(20)).success());
    let took = wait_firing(&prometheus, "LlmwatchDown", Duration::from_secs(60));
    fired.push(format!("LlmwatchDown (llmwatch stopped, {took:.0?})"));

    // Every shipped alert is either seen firing here or listed as promtool-only.
    let text =
        std::fs::read_to_string(root().join("prometheus/rules/llmwatch-alerts.yaml")).unwrap();
    let shipped: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    let accounted: BTreeSet<&str> = fired
        .iter()
        .map(|f| f.split(' ').next().unwrap())
        .chain(COVERED_BY_PROMTOOL_ONLY)
        .collect();
    assert_eq!(shipped, accounted);
    println!("fired: {}", fired.join("; "));
}
