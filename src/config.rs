//! The YAML configuration, in the OpenTelemetry Collector's shape.
//!
//! Parsing runs in two phases, as in Vector and quickwit: the document is read into a
//! generic tree, `${env:…}` references are expanded with an environment passed in as a
//! function (tests hand in a map), then each component is decoded into its own typed config
//! and cross-checked. Every problem found along the way is collected with its YAML path, so
//! an operator fixes all mistakes in one run.
//!
//! Process behaviour (log format, which file to load) is set by flags, not here.

mod env;
pub(crate) use crate::component::config::decode_at;
pub use crate::component::config::{ConfigError, Path, check_endpoint, component_type};
pub use crate::component::units;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::component::queue::QueueConfig;
use crate::export::ExporterConfig;
use crate::model::Signal;
use crate::receive::ReceiverConfig;
use crate::registry::ProcessorConfig;

/// The default configuration, `otel-config.yaml` at the repository root, built in.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../otel-config.yaml");

/// The name the embedded default is reported under.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded otel-config.yaml>";

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Receivers by component id (`otlp`, `otlp/browser`).
    pub receivers: BTreeMap<String, ReceiverConfig>,
    /// Processors by component id.
    pub processors: BTreeMap<String, ProcessorConfig>,
    /// Exporters by component id.
    pub exporters: BTreeMap<String, ExporterConfig>,
    /// The pipelines, in name order.
    pub pipelines: Vec<PipelineConfig>,
    /// Process-wide settings of the pipeline.
    pub service: ServiceSettings,
    /// Things that are allowed but probably not meant, logged at start.
    pub warnings: Vec<String>,
    /// Scheduled reports (`reports:`), if any.
    pub reports: Option<crate::report::config::ReportsConfig>,
    /// The service level objectives (`slos:`), for `llmwatch slo-rules`.
    pub slos: crate::slo::Slos,
}

/// One `service.pipelines` entry, with its references checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// The pipeline's name, e.g. `traces` or `traces/redacted`.
    pub name: String,
    /// The signal, from the name.
    pub signal: Signal,
    /// Receiver ids.
    pub receivers: Vec<String>,
    /// Processor ids, in the order they run.
    pub processors: Vec<String>,
    /// Exporter ids.
    pub exporters: Vec<String>,
}

/// `service` settings other than the pipelines.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// The queue between receivers and the pipeline workers.
    pub queue: QueueConfig,
    /// Pipeline worker threads.
    pub workers: usize,
    /// How long shutdown may take to drain the queue and flush exporters.
    pub shutdown_timeout: Duration,
}

/// Every problem found in a configuration.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.errors))]
pub struct ConfigErrors {
    /// The problems, in document order where known.
    pub errors: Vec<ConfigError>,
}

fn render(errors: &[ConfigError]) -> String {
    let mut out = format!("{} problem(s) in the configuration:", errors.len());
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(&e.to_string());
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoot {
    #[serde(default)]
    receivers: Map<String, Value>,
    #[serde(default)]
    processors: Map<String, Value>,
    #[serde(default)]
    exporters: Map<String, Value>,
    service: RawService,
    #[serde(default)]
    reports: Option<Value>,
    #[serde(default)]
    slos: Option<Value>,
}

fn default_workers() -> usize {
    0
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    pipelines: BTreeMap<String, RawPipeline>,
    #[serde(default)]
    queue: QueueConfig,
    /// Worker threads; 0 means one per available core.
    #[serde(default = "default_workers")]
    workers: usize,
    #[serde(
        default = "default_shutdown_timeout",
        deserialize_with = "units::deserialize_duration"
    )]
    shutdown_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    receivers: Vec<String>,
    #[serde(default)]
    processors: Vec<String>,
    #[serde(default)]
    exporters: Vec<String>,
}

impl Config {
    /// Parses and validates `text`, reading `${env:…}` from `env`.
    #[allow(clippy::too_many_lines)] // split in the registry change
    pub fn from_yaml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let fail = |errors| Err(ConfigErrors { errors });
        let mut tree: Value = match serde_saphyr::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(ConfigError::new(
                    &Path::default(),
                    format!("invalid YAML: {e}"),
                ));
                return fail(errors);
            }
        };
        if !tree.is_object() {
            errors.push(ConfigError::new(&Path::default(), "the configuration must be a mapping with receivers, processors, exporters and service"));
            return fail(errors);
        }
        env::expand(&mut tree, env, &mut Path::default(), &mut errors);
        // A value whose reference could not be expanded is reported once, not again by the
        // checks that read it.
        let env_errors = errors.len();
        let env_paths: Vec<String> = errors.iter().map(|e| e.path.clone()).collect();
        let Some(root) = decode_at::<RawRoot>(tree, &Path::default(), &mut errors) else {
            return fail(errors);
        };
        let root_path = Path::default();

        let declared = |m: &Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
        let declared = Declared {
            receivers: declared(&root.receivers),
            processors: declared(&root.processors),
            exporters: declared(&root.exporters),
        };
        let receivers = decode_components(
            root.receivers,
            &root_path.join("receivers"),
            &mut errors,
            |kind, value, path, errors| ReceiverConfig::decode(kind, value, path, errors, env),
        );
        let processors = decode_components(
            root.processors,
            &root_path.join("processors"),
            &mut errors,
            |kind, value, path, errors| ProcessorConfig::decode(kind, value, path, errors, env),
        );
        let exporters = decode_components(
            root.exporters,
            &root_path.join("exporters"),
            &mut errors,
            ExporterConfig::decode,
        );

        let slos =
            crate::slo::Slos::decode(root.slos, &root_path.join("slos"), &processors, &mut errors);
        let service_path = root_path.join("service");
        let pipelines = check_pipelines(
            root.service.pipelines,
            &declared,
            &service_path.join("pipelines"),
            &mut errors,
        );
        root.service
            .queue
            .check(&service_path.join("queue"), &mut errors);

        let prometheus = exporters
            .keys()
            .filter(|id| component_type(id) == "prometheus")
            .count();
        if prometheus != 1 {
            errors.push(ConfigError::new(
                &root_path.join("exporters"),
                format!("exactly one prometheus exporter is required (found {prometheus}): it serves /metrics, /healthz and /readyz"),
            ));
        }

        let reports = root.reports.and_then(|r| {
            crate::report::config::ReportsConfig::decode(
                r,
                &root_path.join("reports"),
                &mut errors,
                env,
            )
        });

        // Two persistent send queues in one directory would read each other's records.
        let mut queue_dirs: BTreeMap<&std::path::Path, &str> = BTreeMap::new();
        for (id, cfg) in &exporters {
            if let ExporterConfig::Otlp(otlp) = cfg
                && let Some(dir) = otlp.queue.directory.as_deref()
                && let Some(first) = queue_dirs.insert(dir, id)
            {
                errors.push(ConfigError::new(
                    &root_path
                        .join("exporters")
                        .join(id)
                        .join("queue")
                        .join("directory"),
                    format!(
                        "{} is also the queue directory of {first}: each exporter needs its own",
                        dir.display()
                    ),
                ));
            }
        }

        if !errors.is_empty() {
            let mut i = 0;
            errors.retain(|e| {
                i += 1;
                i <= env_errors || !env_paths.contains(&e.path)
            });
            return fail(errors);
        }
        let mut warnings: Vec<String> = pipelines
            .iter()
            .filter(|p| !p.processors.iter().any(|id| component_type(id) == "redaction"))
            .map(|p| format!("pipeline {} has no redaction processor: its telemetry is exported and measured unredacted", p.name))
            .collect();
        for (id, cfg) in &processors {
            warnings.extend(
                cfg.warnings()
                    .into_iter()
                    .map(|w| format!("processors.{id}: {w}")),
            );
        }
        let workers = match root.service.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Ok(Config {
            receivers,
            processors,
            exporters,
            pipelines,
            warnings,
            reports,
            slos,
            service: ServiceSettings {
                queue: root.service.queue,
                workers,
                shutdown_timeout: root.service.shutdown_timeout,
            },
        })
    }

    /// Parses the embedded default.
    pub fn embedded(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        Config::from_yaml(DEFAULT_CONFIG_YAML, env)
    }

    /// The signals some pipeline handles.
    pub fn signals(&self) -> impl Iterator<Item = Signal> + '_ {
        Signal::ALL
            .into_iter()
            .filter(|s| self.pipelines.iter().any(|p| p.signal == *s))
    }
}

fn decode_components<T>(
    raw: Map<String, Value>,
    path: &Path,
    errors: &mut Vec<ConfigError>,
    decode: impl Fn(&str, Value, &Path, &mut Vec<ConfigError>) -> Option<T>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (id, value) in raw {
        let here = path.join(&id);
        if id.is_empty() || id.ends_with('/') || id.matches('/').count() > 1 {
            errors.push(ConfigError::new(
                &here,
                "invalid component id: use `type` or `type/name`",
            ));
            continue;
        }
        let value = if value.is_null() {
            Value::Object(Map::new())
        } else {
            value
        };
        if let Some(cfg) = decode(component_type(&id), value, &here, errors) {
            out.insert(id, cfg);
        }
    }
    out
}

/// The position of a redaction processor listed after a processor of another type: every
/// other stage must see redacted data only.
fn misplaced_redaction(processors: &[String]) -> Option<usize> {
    let first_other = processors
        .iter()
        .position(|id| component_type(id) != "redaction")?;
    processors
        .iter()
        .skip(first_other)
        .position(|id| component_type(id) == "redaction")
        .map(|i| i + first_other)
}

/// Component ids present in the document, valid or not: a pipeline that names an invalid
/// component is not reported again.
struct Declared {
    receivers: Vec<String>,
    processors: Vec<String>,
    exporters: Vec<String>,
}

fn check_pipelines(
    raw: BTreeMap<String, RawPipeline>,
    declared: &Declared,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<PipelineConfig> {
    if raw.is_empty() {
        errors.push(ConfigError::new(
            path,
            "no pipelines: define at least one of traces, logs or metrics",
        ));
    }
    let mut out = Vec::new();
    for (name, p) in raw {
        let here = path.join(&name);
        let Some(signal) = Signal::from_pipeline_name(&name) else {
            errors.push(ConfigError::new(&here, "unknown pipeline type: the name must be traces, logs or metrics, optionally followed by /name"));
            continue;
        };
        if let Some(i) = misplaced_redaction(&p.processors) {
            let mut at = here.join("processors");
            at.push_index(i);
            errors.push(ConfigError::new(&at, "redaction must come before every other processor, so that no other stage sees unredacted data"));
        }
        let mut check = |kind: &str, ids: &[String], known: &[String]| {
            if ids.is_empty() && kind != "processors" {
                errors.push(ConfigError::new(
                    &here.join(kind),
                    format!("a pipeline needs at least one entry in {kind}"),
                ));
            }
            for (i, id) in ids.iter().enumerate() {
                if !known.contains(id) {
                    let mut p = here.join(kind);
                    p.push_index(i);
                    errors.push(ConfigError::new(
                        &p,
                        format!("{id:?} is not defined in the top-level {kind} section"),
                    ));
                }
            }
        };
        check("receivers", &p.receivers, &declared.receivers);
        check("processors", &p.processors, &declared.processors);
        check("exporters", &p.exporters, &declared.exporters);
        out.push(PipelineConfig {
            name,
            signal,
            receivers: p.receivers,
            processors: p.processors,
            exporters: p.exporters,
        });
    }
    out
}

#[cfg(test)]
mod tests;
