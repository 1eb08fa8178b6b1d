//! Scheduled reports inside `serve`: each schedule sleeps until its next run, builds the
//! report of the period ending at the scheduled instant, and delivers it to every
//! audience. A failed attempt is retried with exponential backoff, and every outcome is
//! counted in `llmwatch_reports_total{report,outcome}`; none of it touches the pipeline
//! (it is one task on the runtime, and its errors stop at its loop).
//!
//! The last scheduled instant handled is kept in `state_dir/reports-state.json`. After a
//! restart, a run missed while llmwatch was down is sent once (the latest one: the report
//! of the period that ended then), not once per missed run. Without a state directory, or
//! on the very first start, nothing is sent until the next run.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::config::{ReportsConfig, ScheduledReport};
use super::deliver::{self, DeliveryError, Mail};
use super::model::Status;
use super::period::Period;
use super::prom::Prometheus;
use super::{Format, Request, chart, html, markdown, pdf};
use crate::slo::Objective;

/// Time one Prometheus query or one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    report: String,
    outcome: &'static str,
}

/// `llmwatch_reports_total`.
#[derive(Clone, Default)]
struct Counts(Family<Labels, Counter>);

impl Counts {
    fn add(&self, report: &str, outcome: &'static str) {
        self.0
            .get_or_create(&Labels {
                report: report.to_owned(),
                outcome,
            })
            .inc();
    }
}

/// The scheduled reports of one llmwatch.
pub struct Scheduler {
    config: Arc<ReportsConfig>,
    slos: Arc<[Objective]>,
    counts: Counts,
}

impl Scheduler {
    /// Registers `llmwatch_reports_total`; `slos` give every report its objectives section.
    pub fn register(
        config: ReportsConfig,
        slos: Vec<Objective>,
        registry: &mut Registry,
    ) -> Scheduler {
        let counts = Counts::default();
        registry.register(
            "llmwatch_reports",
            "Scheduled report deliveries by outcome: sent, retried (an attempt failed and is retried), failed (given up), no_data (nothing in the period, not sent), unreachable (Prometheus failed).",
            counts.0.clone(),
        );
        Scheduler {
            config: Arc::new(config),
            slos: slos.into(),
            counts,
        }
    }

    /// Runs every schedule until `stop` resolves.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let state = Arc::new(tokio::sync::Mutex::new(State::load(
            self.config.state_dir.as_deref(),
        )));
        let mut tasks = tokio::task::JoinSet::new();
        for name in self.config.schedules.keys() {
            let job = Job {
                name: name.clone(),
                config: Arc::clone(&self.config),
                slos: Arc::clone(&self.slos),
                counts: self.counts.clone(),
            };
            tasks.spawn(job.run(Arc::clone(&state)));
        }
        stop.await;
        tasks.abort_all();
    }
}

struct Job {
    name: String,
    config: Arc<ReportsConfig>,
    slos: Arc<[Objective]>,
    counts: Counts,
}

impl Job {
    fn report(&self) -> &ScheduledReport {
        &self.config.schedules[&self.name]
    }

    async fn run(self, state: Arc<tokio::sync::Mutex<State>>) {
        let schedule = self.report().schedule.clone();
        loop {
            let now = Timestamp::now();
            let due = schedule.last_at_or_before(now);
            let handled = state.lock().await.get(&self.name);
            match handled {
                Some(last) if last < due => {
                    tracing::info!(report = %self.name, scheduled = %due, "sending a run missed while llmwatch was down");
                    self.send(due).await;
                    state.lock().await.set(&self.name, due);
                }
                Some(_) => {}
                None => state.lock().await.set(&self.name, due),
            }
            let next = schedule.next_after(now);
            let wait = next.duration_since(Timestamp::now()).unsigned_abs();
            tracing::info!(report = %self.name, schedule = %schedule.text, next = %next, "report scheduled");
            tokio::time::sleep(wait).await;
            self.send(next).await;
            state.lock().await.set(&self.name, next);
        }
    }

    /// Builds the report of the period ending at `end` and delivers it, retrying.
    async fn send(&self, end: Timestamp) {
        let report = self.report();
        let request = Request {
            period: Period::ending(report.period, end),
            format: report.format,
            dimensions: report.dimensions.clone(),
            slos: self.slos.to_vec(),
        };
        let built = self
            .retry("prometheus", || build(&self.config.prometheus, &request))
            .await;
        let Some(built) = built else {
            self.counts.add(&self.name, "unreachable");
            return;
        };
        if built.status == Status::Empty {
            tracing::warn!(report = %self.name, "no data in the period: the report is not sent");
            self.counts.add(&self.name, "no_data");
            return;
        }
        for (audience, a) in &report.audiences {
            for webhook in &a.webhooks {
                let url = &self.config.webhooks[webhook].0;
                let target = format!("{audience}/webhook {webhook}");
                let sent = self
                    .retry(&target, || async {
                        deliver::webhook(url, &built.summary, TIMEOUT).await
                    })
                    .await;
                self.counts
                    .add(&self.name, if sent.is_some() { "sent" } else { "failed" });
            }
            if let (false, Some(smtp)) = (a.email.is_empty(), &self.config.smtp) {
                let mail = Mail {
                    subject: &built.subject,
                    text: &built.markdown,
                    html: &built.html,
                    attachment: built
                        .pdf
                        .as_ref()
                        .map(|p| (built.pdf_name.as_str(), "application/pdf", p.as_slice())),
                };
                let target = format!("{audience}/email");
                let sent = self
                    .retry(&target, || deliver::email(smtp, &a.email, &mail, TIMEOUT))
                    .await;
                self.counts
                    .add(&self.name, if sent.is_some() { "sent" } else { "failed" });
            }
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts are used up.
    async fn retry<T, F, Fut>(&self, target: &str, mut attempt: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DeliveryError>>,
    {
        let retry = self.config.retry;
        let mut wait = retry.initial;
        for n in 1..=retry.attempts {
            match attempt().await {
                Ok(v) => return Some(v),
                Err(e) if e.retryable && n < retry.attempts => {
                    tracing::warn!(report = %self.name, target, attempt = n, error = %e, retry_in = ?wait, "report delivery failed; retrying");
                    self.counts.add(&self.name, "retried");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(retry.max);
                }
                Err(e) => {
                    tracing::error!(report = %self.name, target, attempt = n, error = %e, "report delivery failed; giving up");
                    return None;
                }
            }
        }
        None
    }
}

/// A report in every form the deliveries need.
struct Rendered {
    status: Status,
    subject: String,
    summary: String,
    markdown: String,
    html: String,
    pdf: Option<Vec<u8>>,
    pdf_name: String,
}

async fn build(url: &str, request: &Request) -> Result<Rendered, DeliveryError> {
    let failed = |e: String| DeliveryError {
        retryable: true,
        reason: e,
    };
    let prometheus = Prometheus::new(url, TIMEOUT).map_err(|e| DeliveryError {
        retryable: false,
        reason: e,
    })?;
    let report = super::collect::collect(
        &prometheus,
        request.period,
        &request.dimensions,
        &request.slos,
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    let (charts, empty) = chart::charts(&prometheus, &request.period)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let pdf = match request.format {
        Format::Pdf => Some(
            pdf::render(&report, &charts, &empty).map_err(|e| DeliveryError {
                retryable: false,
                reason: e,
            })?,
        ),
        _ => None,
    };
    let day = request.period.end.strftime("%Y-%m-%d").to_string();
    Ok(Rendered {
        status: report.status,
        subject: format!(
            "llmwatch {}: {} to {}",
            report.title,
            request.period.start.strftime("%Y-%m-%d %H:%M"),
            request.period.end.strftime("%Y-%m-%d %H:%M UTC")
        ),
        summary: markdown::summary(&report),
        markdown: markdown::render(&report),
        html: html::render(&report, &charts, &empty),
        pdf,
        pdf_name: format!("llmwatch-{}-{day}.pdf", request.period.kind.name()),
    })
}

/// The last scheduled instant handled, per report, kept in a file.
struct State {
    path: Option<PathBuf>,
    handled: BTreeMap<String, Timestamp>,
}

impl State {
    fn load(dir: Option<&Path>) -> State {
        let path = dir.map(|d| d.join("reports-state.json"));
        let handled = path
            .as_ref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice::<BTreeMap<String, String>>(&bytes)
                    .map_err(|e| tracing::warn!(path = %p.display(), error = %e, "unreadable report state; missed runs will not be sent"))
                    .ok(),
                Err(_) => None,
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        State { path, handled }
    }

    fn get(&self, name: &str) -> Option<Timestamp> {
        self.handled.get(name).copied()
    }

    /// Records `at` and writes the file (a temporary file renamed over it).
    fn set(&mut self, name: &str, at: Timestamp) {
        self.handled.insert(name.to_owned(), at);
        let Some(path) = &self.path else { return };
        let text: BTreeMap<&str, String> = self
            .handled
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect();
        let tmp = path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&text)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(error) = written {
            tracing::error!(path = %path.display(), %error, "cannot save the report state: a restart may send this run again");
        }
    }
}
