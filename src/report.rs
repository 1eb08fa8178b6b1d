//! Reports: a daily summary, a weekly deep dive and a monthly board report, built from
//! Prometheus's HTTP API (so a fleet of llmwatch instances reports as one) and rendered as
//! Markdown (chat), HTML (e-mail), PDF (the board) or JSON (machines and tests).
//!
//! A report never shows a number that no data backs: a figure without data is "no data",
//! a period without any LLM call is an empty report ([`EXIT_EMPTY`]), and a Prometheus
//! that cannot be reached is an error ([`EXIT_UNREACHABLE`]).
//! Delivery (`deliver.rs`) and scheduling inside `serve` (`scheduler.rs`, configured by
//! the `reports:` section, `config.rs`) build the same reports.

pub mod catalogue;
pub mod chart;
pub mod collect;
pub mod config;
pub mod deliver;
pub mod html;
pub mod markdown;
pub mod model;
pub mod pdf;
pub mod period;
pub mod prom;
pub mod schedule;
pub mod scheduler;
pub mod text;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use self::model::{Report, Status};
use self::period::{Period, PeriodKind};
use self::prom::{PromError, Prometheus};

/// Exit code of a report without data for its period.
pub const EXIT_EMPTY: u8 = 3;
/// Exit code when Prometheus cannot be reached or refuses a query.
pub const EXIT_UNREACHABLE: u8 = 4;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// For chat.
    Markdown,
    /// For e-mail, charts inline.
    Html,
    /// The board report, paginated, charts included.
    Pdf,
    /// Every figure with its unit, query and period.
    Json,
}

/// `llmwatch report` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The period: a day, a week, or a month (30 days).
    #[arg(long, value_enum)]
    pub period: CliPeriod,
    /// End of the period (RFC 3339); now when omitted.
    #[arg(long)]
    pub end: Option<Timestamp>,
    /// Prometheus's base URL.
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub prometheus: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file; stdout when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A configured dimension (label) to break spend down by; repeatable.
    #[arg(long = "dimension")]
    pub dimensions: Vec<String>,
    /// How long one query may take.
    #[arg(long, default_value = "30", value_name = "SECONDS")]
    pub timeout: u64,
}

/// The period flag.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CliPeriod {
    /// 24 hours.
    Day,
    /// 7 days.
    Week,
    /// 30 days.
    Month,
}

impl From<CliPeriod> for PeriodKind {
    fn from(p: CliPeriod) -> PeriodKind {
        match p {
            CliPeriod::Day => PeriodKind::Day,
            CliPeriod::Week => PeriodKind::Week,
            CliPeriod::Month => PeriodKind::Month,
        }
    }
}

/// A report and its rendering.
pub struct Built {
    /// The figures.
    pub report: Report,
    /// The rendered bytes.
    pub bytes: Vec<u8>,
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Prometheus failed.
    #[error(transparent)]
    Prometheus(#[from] PromError),
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
}

/// What to build.
#[derive(Clone, Debug)]
pub struct Request {
    /// The period.
    pub period: Period,
    /// The format.
    pub format: Format,
    /// Spend dimensions.
    pub dimensions: Vec<String>,
    /// The configured service level objectives.
    pub slos: Vec<crate::slo::Objective>,
}

/// Collects and renders one report.
pub async fn build(prometheus: &Prometheus, request: &Request) -> Result<Built, ReportError> {
    if let Some(bad) = request
        .dimensions
        .iter()
        .find(|d| !catalogue::is_label_name(d))
    {
        return Err(ReportError::Invalid(format!(
            "dimension {bad:?} is not a Prometheus label name"
        )));
    }
    let report = collect::collect(
        prometheus,
        request.period,
        &request.dimensions,
        &request.slos,
    )
    .await?;
    let bytes = match request.format {
        Format::Json => {
            serde_json::to_vec_pretty(&report).map_err(|e| ReportError::Invalid(e.to_string()))?
        }
        Format::Markdown => markdown::render(&report).into_bytes(),
        Format::Html => {
            let (charts, empty) = chart::charts(prometheus, &request.period).await?;
            html::render(&report, &charts, &empty).into_bytes()
        }
        Format::Pdf => {
            let (charts, empty) = chart::charts(prometheus, &request.period).await?;
            pdf::render(&report, &charts, &empty).map_err(ReportError::Invalid)?
        }
    };
    Ok(Built { report, bytes })
}

/// Runs `llmwatch report` with the configuration's objectives: writes the report, and
/// returns 0, [`EXIT_EMPTY`] or [`EXIT_UNREACHABLE`] (1 for bad flags or an unwritable
/// file).
pub fn main(args: Args, slos: Vec<crate::slo::Objective>) -> ExitCode {
    let request = Request {
        period: Period::ending(args.period.into(), args.end.unwrap_or_else(Timestamp::now)),
        format: args.format,
        dimensions: args.dimensions,
        slos,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let built = runtime.block_on(async {
        let prometheus = Prometheus::new(&args.prometheus, Duration::from_secs(args.timeout))
            .map_err(ReportError::Invalid)?;
        build(&prometheus, &request).await
    });
    let built = match built {
        Ok(b) => b,
        Err(ReportError::Invalid(message)) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
        Err(ReportError::Prometheus(e)) => {
            eprintln!("no report: {e}");
            return ExitCode::from(EXIT_UNREACHABLE);
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &built.bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => std::io::Write::write_all(&mut std::io::stdout(), &built.bytes)
            .map_err(|e| format!("cannot write the report: {e}")),
    };
    if let Err(message) = written {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "{} report ({:?}, {} bytes) built in {:.0?}; {} figures or tables without data",
        request.period.kind.name(),
        built.report.status,
        built.bytes.len(),
        started.elapsed(),
        built.report.missing.len()
    );
    if built.report.status == Status::Empty {
        eprintln!(
            "no data: Prometheus has no LLM calls or spend from {} to {}",
            request.period.start, request.period.end
        );
        return ExitCode::from(EXIT_EMPTY);
    }
    ExitCode::SUCCESS
}
