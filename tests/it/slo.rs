//! The SLO rules end to end: `llmwatch slo-rules` and `llmwatch validate` on a user's
//! objectives, and the shipped default rules in a real Prometheus scraping llmwatch while
//! `llmwatch demo` runs: every default objective's error ratio is computed from what
//! llmwatch really exposes, normal traffic pages nothing, `--scenario error-spike` brings
//! the fast-burn page of LLM call availability to `firing`, and each other incident pages
//! the objectives it hurts.
//!
//! What the test compresses: Prometheus starts empty, so a range of 1h (or 6h, 3d, 28d)
//! holds only the seconds of data scraped so far (every second), and each window's error
//! ratio is that of the whole run. The page fires as soon as the run's error ratio passes
//! 14.4 times the budget in both the 1h and the 5m window, which takes seconds instead of
//! the minutes of the workbook's detection time; the promtool tests
//! (prometheus/tests/slo*.yaml) check the detection times themselves.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::dashboards::{Demo, LOCAL, default_config, root};
use super::support::{Llmwatch, Prometheus, TempDir, binary, tool};

const OBJECTIVES: [&str; 5] = [
    "llm-availability",
    "llm-latency",
    "llm-ttft",
    "chat-turns",
    "platform-availability",
];

/// The `slo` labels of the `slo:error_ratio:rate5m` series that have a finite value.
fn measured(prometheus: &Prometheus) -> Vec<String> {
    let mut slos: Vec<String> = prometheus
        .query("slo:error_ratio:rate5m >= 0")
        .unwrap_or_default()
        .iter()
        .map(|s| s["metric"]["slo"].as_str().unwrap_or_default().to_owned())
        .collect();
    slos.sort();
    slos.dedup();
    slos
}

fn firing<'a>(alerts: &'a [Value], name: &str, slo: &str) -> Option<&'a Value> {
    alerts.iter().find(|a| {
        a["labels"]["alertname"] == name && a["labels"]["slo"] == slo && a["state"] == "firing"
    })
}

/// What a report asks for each objective has an answer, in [0, 1] for attainment, and a
/// finite budget used (waiting until 150 s after `started`).
fn check_report_queries(prometheus: &Prometheus, started: Instant) {
    let config = llmwatch::config::Config::embedded(&|_| None).unwrap();
    for o in &config.slos.objectives {
        let q = llmwatch::slo::report_queries(o, "1h");
        let value = |r: &Value| r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
        let attained = prometheus.query(&q.attainment).unwrap();
        assert!(!attained.is_empty(), "{}: {}", o.name, q.attainment);
        assert!(
            attained.iter().map(value).all(|v| (0.0..=1.0).contains(&v)),
            "{attained:?}"
        );
        loop {
            let used = prometheus.query(&q.budget_used).unwrap();
            if !used.is_empty() && used.iter().map(value).all(f64::is_finite) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(150),
                "{}: no budget used: {used:?}",
                o.name
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[test]
fn the_error_spike_pages_the_llm_availability_slo_in_a_real_prometheus() {
    let lw = Llmwatch::start_with(&default_config(None), &LOCAL, "info");
    let prometheus = Prometheus::start(&[lw.admin], &[root().join("prometheus/rules/slo.yaml")]);
    let started = Instant::now();
    {
        // Normal traffic: every objective is measured from llmwatch's own series (the
        // selectors, `le` values and event names of the rules match what it exposes).
        let _demo = Demo::start(&lw, None, "8");
        let mut expected: Vec<String> = OBJECTIVES.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        // And enough traffic that the demo's few failures are not a large share of it.
        let volume = "sum(increase(chat_events_total{event=\"message_sent\"}[1h])) > 300";
        loop {
            if measured(&prometheus) == expected
                && prometheus.query(volume).is_some_and(|r| !r.is_empty())
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "objectives measured after 90 s: {:?}",
                measured(&prometheus)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        check_report_queries(&prometheus, started);
        // The demo's own failures (3% of calls, a third of them rate limits) burn the
        // availability budget at about 4x, under both page thresholds; nothing pages.
        let alerts = prometheus.alerts();
        assert!(
            !alerts
                .iter()
                .any(|a| a["labels"]["alertname"] == "SLOFastBurn" && a["state"] == "firing"),
            "normal traffic paged: {alerts:?}"
        );
        let ratios = prometheus
            .query("slo:error_ratio:rate5m")
            .unwrap_or_default();
        println!(
            "normal traffic, error ratios after {:?}:",
            started.elapsed()
        );
        for r in &ratios {
            println!("  {} {}", r["metric"], r["value"][1]);
        }
        let tickets: Vec<String> = alerts
            .iter()
            .filter(|a| a["labels"]["alertname"] == "SLOSlowBurn" && a["state"] == "firing")
            .map(|a| a["labels"]["slo"].as_str().unwrap_or_default().to_owned())
            .collect();
        println!("normal traffic, tickets open: {tickets:?}");
    }
    let _spike = Demo::start(&lw, Some("error-spike"), "8");
    let took = wait_page(&prometheus, "llm-availability");
    println!("SLOFastBurn (llm-availability) firing {took:?} into the error spike");
}

/// Waits (at most 90 s) until `SLOFastBurn` of `slo` fires, and checks its labels.
fn wait_page(prometheus: &Prometheus, slo: &str) -> Duration {
    let started = Instant::now();
    loop {
        let alerts = prometheus.alerts();
        if let Some(alert) = firing(&alerts, "SLOFastBurn", slo) {
            assert_eq!(alert["labels"]["severity"], "critical");
            let slice = if slo == "platform-availability" {
                "platform"
            } else {
                "service"
            };
            assert!(alert["labels"][slice].is_string(), "{alert}");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "SLOFastBurn of {slo} did not fire within 90 s; alerts: {alerts:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn each_demo_incident_pages_the_objectives_its_users_feel() {
    let incidents: [(&str, &[&str]); 3] = [
        ("error-spike", &["chat-turns"]),
        ("latency-degradation", &["llm-ttft", "llm-latency"]),
        ("platform-outage", &["platform-availability"]),
    ];
    let mut fired = Vec::new();
    for (scenario, slos) in incidents {
        let lw = Llmwatch::start_with(&default_config(None), &LOCAL, "info");
        let prometheus =
            Prometheus::start(&[lw.admin], &[root().join("prometheus/rules/slo.yaml")]);
        let _demo = Demo::start(&lw, Some(scenario), "8");
        let started = Instant::now();
        for slo in slos {
            wait_page(&prometheus, slo);
            fired.push(format!("{slo} ({scenario}, {:.0?})", started.elapsed()));
        }
    }
    println!("SLOFastBurn fired: {}", fired.join("; "));
}

fn llmwatch(args: &[&str]) -> std::process::Output {
    Command::new(binary()).args(args).output().unwrap()
}

#[test]
fn slo_rules_writes_the_rules_of_a_users_objectives_and_validate_refuses_bad_ones() {
    let dir = TempDir::new("slo-rules");
    let base = std::fs::read_to_string(root().join("otel-config.yaml")).unwrap();
    let config = dir.path("config.yaml");
    std::fs::write(
        &config,
        format!(
            "{base}\nslos:\n  objectives:\n    - {{ name: premium-latency, sli: llm_latency, target: 99, window: 30d, by: [service, model], threshold: 10.24s }}\n"
        ),
    )
    .unwrap();
    let out = dir.path("rules.yaml");
    let run = llmwatch(&[
        "slo-rules",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rules = std::fs::read_to_string(&out).unwrap();
    assert!(rules.contains(
        r#"sum by (service, model) (rate(llm_request_duration_seconds_bucket{le="10.24"}[30d]))"#
    ));
    assert_eq!(rules.matches("- alert: ").count(), 2, "{rules}");
    let check = Command::new(tool("LLMWATCH_PROMTOOL", "promtool"))
        .args(["check", "rules"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // To stdout without --out, the same text.
    let stdout = llmwatch(&["slo-rules", "--config", config.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&stdout.stdout), rules);

    let bad = dir.path("bad.yaml");
    std::fs::write(
        &bad,
        format!("{base}\nslos:\n  objectives:\n    - {{ name: x, sli: llm_ttft, target: 99.9, threshold: 1s }}\n"),
    )
    .unwrap();
    for command in ["validate", "slo-rules"] {
        let run = llmwatch(&[command, "--config", bad.to_str().unwrap()]);
        assert!(!run.status.success(), "{command} accepted a bad objective");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.contains("slos.objectives[0].threshold: 1s is not a bucket boundary of llm_time_to_first_token_seconds"),
            "{command}: {stderr}"
        );
        assert!(run.stdout.is_empty());
    }
}
