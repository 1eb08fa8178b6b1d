use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match Config::from_yaml(yaml, env) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

const MINIMAL: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  prometheus:
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [prometheus] }
"#;

#[test]
fn shipped_default_parses() {
    let config = Config::embedded(&no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.pipelines.len(), 3);
    let ReceiverConfig { protocols, .. } = &config.receivers["otlp"];
    assert_eq!(protocols.grpc.as_ref().unwrap().endpoint, "0.0.0.0:4317");
    assert_eq!(protocols.http.as_ref().unwrap().endpoint, "0.0.0.0:4318");
    assert!(config.service.workers >= 1);
    assert!(
        config
            .pipelines
            .iter()
            .all(|p| p.processors.first().map(String::as_str) == Some("redaction")),
        "redaction runs first in every default pipeline"
    );
    assert!(
        config.pipelines.iter().all(|p| p.processors
            == if p.signal == crate::model::Signal::Metrics {
                &["redaction", "health"][..]
            } else {
                &["redaction", "genai", "health", "chat_analytics"][..]
            }),
        "genai (traces, logs) and health follow redaction in the default pipelines"
    );
}

#[test]
fn the_default_starts_without_a_key_and_never_uses_the_public_one() {
    let config = Config::embedded(&|_| None).unwrap();
    assert!(!DEFAULT_CONFIG_YAML.contains("insecure_dev_key"));
    assert!(config.processors.keys().any(|id| id == "redaction"));
}

#[test]
fn shipped_file_is_the_embedded_default() {
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/otel-config.yaml")).unwrap();
    assert_eq!(on_disk, DEFAULT_CONFIG_YAML);
}

#[test]
fn env_overrides_default_endpoints() {
    let env = |n: &str| (n == "LLMWATCH_GRPC_ENDPOINT").then(|| "127.0.0.1:5317".to_owned());
    let config = Config::embedded(&env).unwrap();
    assert_eq!(
        config.receivers["otlp"]
            .protocols
            .grpc
            .as_ref()
            .unwrap()
            .endpoint,
        "127.0.0.1:5317"
    );
}

#[test]
fn null_protocol_enables_defaults() {
    let config = Config::from_yaml(MINIMAL, &no_env).unwrap();
    let rc = &config.receivers["otlp"];
    assert_eq!(
        rc.protocols.grpc.as_ref().unwrap().max_recv_msg_size.0,
        16 << 20
    );
    assert!(rc.protocols.http.is_none());
}

#[test]
fn unknown_key_names_its_path_and_the_known_keys() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        endpont: 0.0.0.0:4317\n",
    );
    let errs = errors(&yaml, &no_env);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("receivers.otlp.protocols.grpc.endpont: unknown field `endpont`"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("endpoint"), "{}", errs[0]);
}

#[test]
fn unknown_top_level_section_is_an_error() {
    let errs = errors(&format!("{MINIMAL}\nexporter:\n  nop:\n"), &no_env);
    assert!(errs[0].contains("unknown field `exporter`"), "{errs:?}");
}

#[test]
fn bad_endpoint_says_what_is_expected() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: localhost\n",
    );
    let errs = errors(&yaml, &no_env);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "receivers.otlp.protocols.grpc.endpoint: invalid endpoint \"localhost\": missing port"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn host_name_endpoints_validate_without_a_lookup() {
    // `.invalid` never resolves (RFC 6761): validation checks the syntax only, so this
    // passes, and returns without waiting on DNS; the name is looked up when binding.
    let yaml = MINIMAL
        .replace(
            "      grpc:\n",
            "      grpc:\n        endpoint: nonexistent.invalid:4317\n      http:\n        endpoint: localhost:4318\n",
        )
        .replace(
            "  prometheus:\n",
            "  prometheus:\n    endpoint: nonexistent.invalid:9464\n",
        );
    let config = Config::from_yaml(&yaml, &no_env).unwrap_or_else(|e| panic!("{e}"));
    let protocols = &config.receivers["otlp"].protocols;
    assert_eq!(
        protocols.grpc.as_ref().unwrap().endpoint,
        "nonexistent.invalid:4317"
    );
    assert_eq!(protocols.http.as_ref().unwrap().endpoint, "localhost:4318");
}

#[test]
fn missing_env_var_names_it_and_suggests_a_default() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: ${env:OTLP_GRPC}\n",
    );
    let errs = errors(&yaml, &no_env);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "receivers.otlp.protocols.grpc.endpoint: environment variable OTLP_GRPC is not set"
        ),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("${env:OTLP_GRPC:-value}"), "{}", errs[0]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "nope" }
      http: { endpoint: "${env:MISSING_HTTP}" }
  kafka: {}
processors:
  sanitizer: {}
exporters:
  file: { path: "/tmp/x", rotation: { max_megabytes: 0 } }
  nop: { latencyy: 1s }
  otlp: {}
  kafka: {}
service:
  queue: { max_bytes: 0 }
  pipelines:
    traces: { receivers: [otlp, zipkin], exporters: [file, debug] }
    spans: { receivers: [otlp], exporters: [nop] }
"#;
    let errs = errors(yaml, &no_env);
    let expect = [
        "receivers.otlp.protocols.http.endpoint: environment variable MISSING_HTTP is not set",
        "receivers.otlp.protocols.grpc.endpoint: invalid endpoint \"nope\"",
        "receivers.kafka: unknown receiver type \"kafka\"",
        "processors.sanitizer: unknown processor type \"sanitizer\"",
        "exporters.file.rotation.max_megabytes: must be at least 1",
        "exporters.nop.latencyy: unknown field",
        "exporters.otlp: missing field `endpoint`",
        "exporters.kafka: unknown exporter type \"kafka\"",
        "service.pipelines.spans: unknown pipeline type",
        "service.pipelines.traces.receivers[1]: \"zipkin\" is not defined",
        "service.pipelines.traces.exporters[1]: \"debug\" is not defined",
        "service.queue.max_bytes: must be at least 1 byte",
        "exporters: exactly one prometheus exporter is required (found 0)",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in:\n{}",
            errs.join("\n")
        );
    }
    // Nothing is reported twice: not the unexpanded endpoint, and not the pipeline's
    // reference to the invalid otlp receiver.
    assert_eq!(errs.len(), expect.len(), "{}", errs.join("\n"));
}

#[test]
fn auth_tokens_come_from_the_environment() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n    auth:\n      bearer_tokens:\n        - { name: web, token_env: LLMWATCH_TOKEN_WEB }\n",
    );
    let errs = errors(&yaml, &no_env);
    assert!(errs[0].starts_with("receivers.otlp.auth.bearer_tokens[0].token_env: environment variable LLMWATCH_TOKEN_WEB is not set"), "{errs:?}");
    let env = |n: &str| (n == "LLMWATCH_TOKEN_WEB").then(|| "0123456789abcdef0123".to_owned());
    Config::from_yaml(&yaml, &env).unwrap();
}

#[test]
fn invalid_yaml_is_reported() {
    let errs = errors("receivers: [\n", &no_env);
    assert!(errs[0].starts_with("<root>: invalid YAML"), "{errs:?}");
}

#[test]
fn units_are_parsed_with_their_path() {
    let yaml = format!("{MINIMAL}  queue: {{ max_bytes: 12 parsecs }}\n");
    let errs = errors(&yaml, &no_env);
    assert!(
        errs[0].starts_with("service.queue.max_bytes: invalid size"),
        "{errs:?}"
    );
}

#[test]
fn pipelines_without_redaction_are_warned_about_and_redaction_must_come_first() {
    let config = Config::from_yaml(MINIMAL, &no_env).unwrap();
    assert_eq!(
        config.warnings,
        [
            "pipeline traces has no redaction processor: its telemetry is exported and measured unredacted"
        ]
    );
    let with = MINIMAL
        .replace(
            "exporters:\n  prometheus:",
            "processors:\n  redaction: { user_id_keys: [], identity_keys: false }\nexporters:\n  prometheus:",
        )
        .replace(
            "traces: { receivers: [otlp], exporters: [prometheus] }",
            "traces: { receivers: [otlp], processors: [redaction], exporters: [prometheus] }",
        );
    assert!(
        Config::from_yaml(&with, &no_env)
            .unwrap()
            .warnings
            .is_empty()
    );
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        misplaced_redaction(&ids(&["redaction", "redaction/b", "genai"])),
        None
    );
    assert_eq!(misplaced_redaction(&ids(&["genai", "redaction"])), Some(1));
    assert_eq!(
        misplaced_redaction(&ids(&["redaction", "genai", "redaction/late"])),
        Some(2)
    );
    assert_eq!(misplaced_redaction(&ids(&[])), None);
}

#[test]
fn otlp_exporter_reads_a_bare_endpoint_and_insecure_as_the_collector_does() {
    let yaml = |endpoint: &str, tls: &str| {
        format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:4317" }}
exporters:
  prometheus: {{}}
  otlp: {{ endpoint: "{endpoint}", tls: {tls} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, prometheus] }}
"#
        )
    };
    let endpoint = |endpoint: &str, tls: &str| {
        let config = crate::config::Config::from_yaml(&yaml(endpoint, tls), &no_env)
            .unwrap_or_else(|e| panic!("{e:?}"));
        config.exporters["otlp"]
            .downcast::<crate::export::otlp::OtlpConfig>()
            .expect("an otlp exporter's config")
            .endpoint
            .clone()
    };
    assert_eq!(endpoint("collector:4317", "{}"), "https://collector:4317");
    assert_eq!(
        endpoint("collector:4317", "{ insecure: true }"),
        "http://collector:4317"
    );
    assert_eq!(
        endpoint("http://collector:4317", "{ insecure: true }"),
        "http://collector:4317"
    );
    let errs = errors(
        &yaml("https://collector:4317", "{ insecure: true }"),
        &no_env,
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("exporters.otlp.tls.insecure: insecure: true means plain text")),
        "{errs:?}"
    );
}

#[test]
fn otlp_exporter_settings_are_checked_and_credentials_never_echoed() {
    let yaml = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:4317" }
exporters:
  prometheus: {}
  otlp/a:
    endpoint: "ftp://collector:4317"
  otlp/b:
    endpoint: "http://collector:4317"
    headers: { authorization: "Bearer s3cret\nvalue" }
    tls: { cert_file: /nonexistent.pem }
    batch: { max_bytes: 8MiB }
    queue: { max_bytes: 1MiB, fsync: true }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp/a, otlp/b, prometheus] }
"#;
    let errs = errors(yaml, &no_env);
    let expect = [
        "exporters.otlp/a.endpoint: invalid endpoint \"ftp://collector:4317\": expected http://host:port",
        "exporters.otlp/b.headers.authorization: the value is not a valid header value",
        "exporters.otlp/b.tls: TLS settings need an https:// endpoint",
        "exporters.otlp/b.tls: cert_file and key_file go together",
        "exporters.otlp/b.tls.cert_file: /nonexistent.pem is not a readable file",
        "exporters.otlp/b.queue.max_bytes: must hold at least one batch",
        "exporters.otlp/b.queue.fsync: needs queue.directory",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "missing {e:?} in:\n{}",
            errs.join("\n")
        );
    }
    assert!(
        !errs.join("\n").contains("s3cret"),
        "a credential was echoed"
    );
}

#[test]
fn two_persistent_send_queues_may_not_share_a_directory() {
    let yaml = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:4317" }
exporters:
  prometheus: {}
  otlp/a: { endpoint: "http://a:4317", queue: { directory: /var/lib/llmwatch/q } }
  otlp/b: { endpoint: "http://b:4317", queue: { directory: /var/lib/llmwatch/q } }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp/a, otlp/b, prometheus] }
"#;
    let errs = errors(yaml, &no_env);
    assert_eq!(
        errs,
        vec![
            "exporters.otlp/b.queue.directory: /var/lib/llmwatch/q is also the queue directory of otlp/a: each exporter needs its own"
        ]
    );
}
