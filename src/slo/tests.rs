use super::*;
use crate::config::Config;

fn no_env(_: &str) -> Option<String> {
    None
}

/// A config with the three processors the objectives read, and `slos` as given.
fn with_slos(slos: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
processors:
  genai: {{}}
  health: {{}}
  chat_analytics: {{}}
exporters:
  prometheus:
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [genai, health, chat_analytics], exporters: [prometheus] }}
{slos}
"#
    )
}

fn objectives(yaml: &str) -> Vec<Objective> {
    Config::from_yaml(yaml, &no_env)
        .unwrap_or_else(|e| panic!("{e}"))
        .slos
        .objectives
}

fn errors(yaml: &str) -> Vec<String> {
    match Config::from_yaml(yaml, &no_env) {
        Ok(c) => panic!("accepted: {:?}", c.slos),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn shipped_rules_are_what_the_generator_writes_for_the_default_config() {
    let config = Config::embedded(&no_env).unwrap_or_else(|e| panic!("{e}"));
    let shipped = include_str!("../../prometheus/rules/slo.yaml");
    assert!(
        render_rules(&config.slos.objectives) == shipped,
        "prometheus/rules/slo.yaml differs from the generator's output: run `cargo run -- slo-rules --out prometheus/rules/slo.yaml` and commit"
    );
}

/// An objective as data: name, SLI, target, window in days, labels it is by, threshold.
type ObjectiveRow<'a> = (&'a str, SliKind, f64, u32, &'a [&'static str], Option<f64>);

/// The objectives of the embedded config.
const DEFAULT_OBJECTIVES: &[ObjectiveRow<'static>] = &[
    (
        "llm-availability",
        SliKind::LlmAvailability,
        99.5,
        28,
        &["service"],
        None,
    ),
    // The health processor's good threshold for `ai`.
    (
        "llm-latency",
        SliKind::LlmLatency,
        95.0,
        28,
        &["service"],
        Some(5.0),
    ),
    (
        "llm-ttft",
        SliKind::LlmTtft,
        95.0,
        28,
        &["service", "model"],
        Some(1.28),
    ),
    (
        "chat-turns",
        SliKind::ChatTurns,
        99.0,
        28,
        &["service"],
        None,
    ),
    (
        "platform-availability",
        SliKind::PlatformAvailability,
        99.0,
        28,
        &["platform"],
        None,
    ),
];

#[test]
fn the_defaults_cover_the_chatbot_with_thresholds_on_bucket_boundaries() {
    let config = Config::embedded(&no_env).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<ObjectiveRow<'_>> = config
        .slos
        .objectives
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                o.sli,
                o.target_percent,
                o.window_days,
                o.by.as_slice(),
                o.threshold,
            )
        })
        .collect();
    assert_eq!(got, DEFAULT_OBJECTIVES);
}

#[test]
fn defaults_whose_families_are_not_produced_are_left_out_silently() {
    let yaml = with_slos("")
        .replace("genai: {}", "")
        .replace("chat_analytics: {}", "");
    let yaml = yaml.replace("[genai, health, chat_analytics]", "[health]");
    let names: Vec<String> = objectives(&yaml).into_iter().map(|o| o.name).collect();
    assert_eq!(
        names,
        ["llm-availability", "llm-latency", "platform-availability"]
    );
}

#[test]
fn a_written_objective_must_be_measurable() {
    let yaml = with_slos("slos:\n  objectives:\n    - { name: t, sli: chat_turns, target: 99 }\n")
        .replace(
            "chat_analytics: {}",
            "chat_analytics: { events: [{ name: message_sent }] }",
        );
    assert_eq!(
        errors(&yaml),
        [
            "slos.objectives[0].sli: chat_turns counts the message_sent and message_received events: the chat_analytics catalogue must list both"
        ]
    );
    let yaml =
        with_slos("slos:\n  objectives:\n    - { name: a, sli: llm_availability, target: 99 }\n")
            .replace("  health: {}\n", "")
            .replace("genai, health,", "genai,");
    assert_eq!(
        errors(&yaml),
        [
            "slos.objectives[0].sli: llm_availability reads the families of the health processor, and none is declared"
        ]
    );
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let yaml = with_slos(
        r#"slos:
  objectives:
    - { name: Bad_Name, sli: llm_availability, target: 90, window: 7d }
    - { name: avail, sli: llm_availability, target: 99.9, by: [service, model] }
    - { name: avail, sli: chat_turns, target: 100, threshold: 1s }
    - { name: ttft, sli: llm_ttft, target: 99, threshold: 1.3s }
    - { name: lat, sli: llm_latency, target: 99, by: [model], threshold: fast }
    - { name: lat2, sli: llm_latency, target: 99, by: [model] }
    - { name: p, sli: platform_availability, target: 99, by: [platform, platform] }
"#,
    );
    assert_eq!(
        errors(&yaml),
        [
            "slos.objectives[0].name: invalid name \"Bad_Name\": use 1 to 64 of a-z, 0-9 and -",
            "slos.objectives[0].target: target 90 is out of range: it is a percentage below 100 and above 93.06, so that 14.4 times the error budget (the fast-burn page) stays under 100% errors",
            "slos.objectives[0].window: invalid window \"7d\": use 28d or 30d",
            "slos.objectives[1].by[1]: llm_availability cannot be sliced by \"model\": its families have only service. The expected outcomes it leaves out (a guest's 401, matched on a user attribute) are known only to app_*_total, which has no model label",
            "slos.objectives[2].name: \"avail\" is the name of an earlier objective",
            "slos.objectives[2].target: target 100 is out of range: it is a percentage below 100 and above 93.06, so that 14.4 times the error budget (the fast-burn page) stays under 100% errors",
            "slos.objectives[2].threshold: chat_turns has no threshold: only llm_latency and llm_ttft do",
            "slos.objectives[3].threshold: 1.3s is not a bucket boundary of llm_time_to_first_token_seconds, so the share of calls under it cannot be counted exactly; use one of 0.01s, 0.02s, 0.04s, 0.08s, 0.16s, 0.32s, 0.64s, 1.28s, 2.56s, 5.12s, 10.24s, 20.48s, 40.96s, 81.92s",
            "slos.objectives[4].threshold: invalid threshold \"fast\": use seconds such as 5s, 1.28s or 500ms",
            "slos.objectives[5].threshold: llm_latency sliced by model needs a threshold, one of 0.01s, 0.02s, 0.04s, 0.08s, 0.16s, 0.32s, 0.64s, 1.28s, 2.56s, 5.12s, 10.24s, 20.48s, 40.96s, 81.92s",
            "slos.objectives[6].by[1]: platform is listed twice",
        ]
    );
    let unknown = with_slos(
        "slos:\n  objectives:\n    - { name: a, sli: llm_availability, target: 99, traget: 1 }\n",
    );
    assert!(
        errors(&unknown)[0].starts_with("slos.objectives[0].traget: unknown field `traget`"),
        "{:?}",
        errors(&unknown)
    );
}

#[test]
fn latency_reads_the_health_histogram_by_service_and_the_genai_one_by_model() {
    let yaml = with_slos(
        r#"slos:
  objectives:
    - { name: fast, sli: llm_latency, target: 99, threshold: 2s, window: 30d }
    - { name: by-model, sli: llm_latency, target: 99, by: [model, service], threshold: 2.56s }
"#,
    );
    let o = objectives(&yaml);
    assert_eq!(o[1].by, ["service", "model"]);
    let rules = render_rules(&o);
    assert!(rules.contains(r#"sum by (service) (rate(app_operation_duration_seconds_bucket{component="ai",le="2.0"}[5m]))"#));
    assert!(rules.contains(
        r#"sum by (service) (rate(app_operation_duration_seconds_count{component="ai"}[30d]))"#
    ));
    assert!(rules.contains(
        r#"sum by (service, model) (rate(llm_request_duration_seconds_bucket{le="2.56"}[1h]))"#
    ));
    assert!(rules.contains("1 - slo:error_ratio:window{slo=\"by-model\"} / 0.01"));
    // 2 s is not a threshold of the health processor, so not a bucket of its histogram.
    let yaml = with_slos(
        "slos:\n  objectives:\n    - { name: x, sli: llm_latency, target: 99, threshold: 3s }\n",
    );
    assert_eq!(
        errors(&yaml),
        [
            "slos.objectives[0].threshold: 3s is not a bucket boundary of app_operation_duration_seconds (its thresholds.ai of the health processor), so the share of calls under it cannot be counted exactly; use one of 2s, 5s"
        ]
    );
}

#[test]
fn an_empty_list_writes_no_groups() {
    let o = objectives(&with_slos("slos:\n  objectives: []\n"));
    assert!(o.is_empty());
    assert!(render_rules(&o).ends_with("groups: []\n"));
}

#[test]
fn each_alert_pairs_a_long_and_a_short_window_at_the_workbooks_burn_rates() {
    let config = Config::embedded(&no_env).unwrap_or_else(|e| panic!("{e}"));
    let rules = render_rules(&config.slos.objectives[..1]);
    let lines: Vec<&str> = rules.lines().map(str::trim).collect();
    for (rate, long, short, _) in ALERT_PAIRS {
        let threshold = format!("({} * 0.005)", rules::num(rate));
        let pair = [
            format!("slo:error_ratio:rate{long}{{slo=\"llm-availability\"}} > {threshold}"),
            "and".to_owned(),
            format!("slo:error_ratio:rate{short}{{slo=\"llm-availability\"}} > {threshold}"),
        ];
        assert!(
            lines.windows(3).any(|w| w == pair),
            "{pair:?} not in\n{rules}"
        );
    }
    for w in RATE_WINDOWS {
        assert!(rules.contains(&format!("record: slo:error_ratio:rate{w}\n")));
    }
}

#[test]
fn report_queries_read_the_period_from_the_raw_families_and_the_budget_from_the_rules() {
    let config = Config::embedded(&no_env).unwrap_or_else(|e| panic!("{e}"));
    let q = report_queries(&config.slos.objectives[0], "7d");
    assert!(q.attainment.starts_with("1 - (\n"));
    assert!(
        q.attainment
            .contains(r#"sum by (service) (rate(app_errors_total{component="ai"}[7d]))"#)
    );
    assert_eq!(
        q.budget_used,
        r#"1 - slo:error_budget_remaining:ratio{slo="llm-availability"}"#
    );
}
