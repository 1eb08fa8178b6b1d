//! The `llmwatch` binary: parses flags, starts logging, runs the chosen command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use llmwatch::app::{self, Outcome};
use llmwatch::config::{Config, ConfigErrors, DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_YAML};
use prost::Message;

/// mimalloc instead of the system allocator: decoding makes ~38 small allocations per span,
/// and with glibc's allocator one 100-span batch took 2.5x longer through the pipeline
/// (`cargo bench --bench decode`, pipeline_pass_through/100: 506 µs → 204 µs median).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OpenTelemetry sidecar for LLM applications: OTLP in, PII out, AI metrics for Prometheus.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file; the embedded otel-config.yaml when omitted.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log filter, in tracing's EnvFilter syntax (RUST_LOG overrides it).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the sidecar (the default).
    Serve,
    /// Checks a configuration and exits: 0 when valid, 1 with every problem listed.
    Validate,
    /// Shows how a model name matches the price table and what a call costs.
    Price {
        /// The model name as an emitter reports it, e.g. `openai/gpt-4o-2024-08-06`.
        model: String,
        /// The provider, as `gen_ai.provider.name` (or an older spelling).
        #[arg(long, default_value = "")]
        provider: String,
        /// Input tokens, cached ones included (the OTel convention).
        #[arg(long, default_value_t = 0)]
        input: u64,
        /// Output tokens, reasoning included.
        #[arg(long, default_value_t = 0)]
        output: u64,
        /// Input tokens read from a cache.
        #[arg(long, default_value_t = 0)]
        cache_read: u64,
        /// Input tokens written to a cache.
        #[arg(long, default_value_t = 0)]
        cache_write: u64,
        /// Output tokens spent on reasoning.
        #[arg(long, default_value_t = 0)]
        reasoning: u64,
    },
    /// Sends realistic chatbot telemetry over OTLP to an llmwatch, for the dashboards and
    /// alerts; `--scenario` simulates an incident.
    Demo {
        /// The OTLP receiver: `http://host:4317` for gRPC, `http://host:4318` for HTTP.
        #[arg(long, default_value = "http://127.0.0.1:4317")]
        endpoint: String,
        /// `grpc` or `http` (OTLP/HTTP with protobuf).
        #[arg(long, value_enum, default_value_t = DemoProtocol::Grpc)]
        protocol: DemoProtocol,
        /// Chat sessions started per second (each has 1 to 4 LLM calls).
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Stop after this long (`20s`, `5m`, `1h30m`, as in the config; a bare number is
        /// seconds); runs until Ctrl-C without it.
        #[arg(long, value_parser = cli_duration)]
        duration: Option<std::time::Duration>,
        /// Seed of the content: the same seed sends the same sessions.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// An incident to simulate.
        #[arg(long, value_enum)]
        scenario: Option<llmwatch::demo::Scenario>,
        /// No progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// Builds a report (a day, a week or a month) from Prometheus: Markdown, HTML, PDF or
    /// JSON. Exits 3 when the period has no data, 4 when Prometheus cannot be reached.
    Report(llmwatch::report::Args),
    /// Writes the Prometheus rules (error ratios, burn-rate alerts, error budgets) of the
    /// config's `slos:` section, to stdout or `--out`.
    SloRules {
        /// Output file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Writes the reference benchmark request (performance.md §6) for load tools.
    #[command(hide = true)]
    BenchRequest {
        /// Spans in the request.
        #[arg(long, default_value_t = 100)]
        spans: usize,
        /// Frame it as a gRPC message (for h2load).
        #[arg(long)]
        grpc_frame: bool,
        /// The chatbot mix (LLM, HTTP, database, server and internal spans) instead of
        /// LLM spans only.
        #[arg(long)]
        chatbot: bool,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn load(path: Option<&PathBuf>) -> Result<(String, Config), String> {
    let env = |name: &str| std::env::var(name).ok();
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => (
            DEFAULT_CONFIG_NAME.to_owned(),
            DEFAULT_CONFIG_YAML.to_owned(),
        ),
    };
    Config::from_yaml(&text, &env)
        .map(|c| (name.clone(), c))
        .map_err(|e: ConfigErrors| format!("{name}: {e}"))
}

/// A duration as the config writes it, or a bare number of seconds.
fn cli_duration(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(std::time::Duration::from_secs_f64(secs)),
        Ok(_) => Err(format!("invalid duration {s:?}")),
        Err(_) => llmwatch::config::units::parse_duration(s),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    let path = cli.config.as_ref();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Validate => validate(path),
        Command::Price {
            model,
            provider,
            input,
            output,
            cache_read,
            cache_write,
            reasoning,
        } => {
            let usage = llmwatch::derive::llm::RawUsage {
                input: Some(input),
                output: Some(output),
                cache_read: Some(cache_read),
                cache_write: Some(cache_write),
                reasoning: Some(reasoning),
                ..Default::default()
            };
            price(path, &model, &provider, &usage)
        }
        Command::BenchRequest {
            spans,
            grpc_frame,
            chatbot,
            out,
        } => bench_request(spans, grpc_frame, chatbot, &out),
        Command::Demo {
            endpoint,
            protocol,
            rate,
            duration,
            seed,
            scenario,
            quiet,
        } => {
            let positive = |x: f64| x.is_finite() && x > 0.0;
            if !positive(rate) || duration.is_some_and(|d| d.is_zero()) {
                eprintln!("--rate and --duration must be positive numbers");
                return ExitCode::FAILURE;
            }
            demo(llmwatch::demo::Options {
                endpoint,
                protocol: protocol.into(),
                rate,
                duration,
                seed,
                scenario,
                progress: !quiet,
            })
        }
        Command::Report(args) => report(path, args),
        Command::SloRules { out } => slo_rules(path, out.as_ref()),
        Command::Serve => serve(path),
    }
}

/// `llmwatch validate`: loads the config and says whether it is valid.
fn validate(path: Option<&PathBuf>) -> ExitCode {
    match load(path) {
        Ok((name, _)) => {
            eprintln!("{name}: configuration is valid");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// `llmwatch report`: builds a report with the config's SLOs.
fn report(path: Option<&PathBuf>, args: llmwatch::report::Args) -> ExitCode {
    match load(path) {
        Ok((_, config)) => llmwatch::report::main(args, config.slos.objectives),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// `llmwatch price`: explains the price of `usage` of `model` with the configured price
/// table on stdout; fails when the model has no price.
fn price(
    path: Option<&PathBuf>,
    model: &str,
    provider: &str,
    usage: &llmwatch::derive::llm::RawUsage,
) -> ExitCode {
    let config = match load(path) {
        Ok((_, config)) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let genai = config
        .processors
        .values()
        .find_map(|p| p.downcast::<llmwatch::genai::GenaiConfig>().cloned());
    let table = genai.unwrap_or_default().price_table();
    let (report, priced) = llmwatch::genai::explain_price(&table, model, provider, usage);
    // The report is the command's output, so it goes to stdout.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes());
    if priced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `llmwatch bench-request`: writes a benchmark request of `spans` spans to `out`.
fn bench_request(spans: usize, grpc_frame: bool, chatbot: bool, out: &Path) -> ExitCode {
    let body = if chatbot {
        llmwatch::bench::chatbot_traces(spans, 42)
    } else {
        llmwatch::bench::reference_traces(spans, 42)
    }
    .encode_to_vec();
    let body = if grpc_frame {
        llmwatch::bench::grpc_frame(&body)
    } else {
        body
    };
    match std::fs::write(out, &body) {
        Ok(()) => {
            eprintln!("wrote {} bytes to {}", body.len(), out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// `llmwatch demo`: sends the demo's telemetry until its duration passes or a
/// termination signal; fails if any request was not delivered.
fn demo(options: llmwatch::demo::Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(llmwatch::demo::run(options, app::termination_signal())) {
        Ok(totals) if totals.failed_requests == 0 => ExitCode::SUCCESS,
        Ok(totals) => {
            eprintln!("{} requests were not delivered", totals.failed_requests);
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's transports.
#[derive(Clone, Copy, ValueEnum)]
enum DemoProtocol {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf.
    Http,
}

impl From<DemoProtocol> for llmwatch::export::otlp::Protocol {
    fn from(p: DemoProtocol) -> Self {
        match p {
            DemoProtocol::Grpc => llmwatch::export::otlp::Protocol::Grpc,
            DemoProtocol::Http => llmwatch::export::otlp::Protocol::HttpProtobuf,
        }
    }
}

fn slo_rules(path: Option<&PathBuf>, out: Option<&PathBuf>) -> ExitCode {
    let rules = match load(path) {
        Ok((_, config)) => llmwatch::slo::render_rules(&config.slos.objectives),
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let written = match out {
        Some(file) => std::fs::write(file, &rules)
            .map_err(|e| format!("cannot write {}: {e}", file.display())),
        // The rules are the command's output, so they go to stdout.
        None => std::io::Write::write_all(&mut std::io::stdout(), rules.as_bytes())
            .map_err(|e| format!("cannot write the rules: {e}")),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: Option<&PathBuf>) -> ExitCode {
    let (name, config) = match load(path) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(config = %name, version = env!("CARGO_PKG_VERSION"), "starting llmwatch");
    for warning in &config.warnings {
        tracing::warn!(config = %name, "{warning}");
    }
    llmwatch::receive::raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("llmwatch-io")
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match runtime.block_on(app::run(config, &env, app::termination_signal())) {
        Ok(Outcome::Drained) => ExitCode::SUCCESS,
        Ok(Outcome::TimedOut { .. }) => ExitCode::from(2),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "llmwatch failed");
            ExitCode::FAILURE
        }
    }
}
