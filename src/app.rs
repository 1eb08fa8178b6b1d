//! Builds every part from a [`Config`], runs it, and owns graceful shutdown.
//!
//! Shutdown order: `/readyz` turns 503; receivers stop accepting and finish requests in
//! flight; the queue closes and drains through the pipeline; exporters flush; the admin
//! server stops last so the drain can be watched. All of it within `service.shutdown_timeout`.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, AdminState};
use crate::config::{Config, component_type};
use crate::export::{Exporter, ExporterConfig};
use crate::metrics::OwnMetrics;
use crate::pipeline::{JobQueue, Pipeline, Pipelines, Stage, spawn_workers};
use crate::receive::{Ingest, grpc, http};
use crate::registry::{ProcessorConfig, ProcessorContext};

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything accepted was processed and flushed.
    Drained,
    /// The shutdown timeout passed with requests still queued or in flight.
    TimedOut {
        /// Requests left behind.
        requests: usize,
    },
}

/// The prometheus exporter's optional `auth` for `/metrics` and `/admin/*`, checked, and
/// the counter of the requests it refuses.
fn admin_auth(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    registry: &mut Registry,
) -> anyhow::Result<(
    Option<crate::net::auth::Auth>,
    prometheus_client::metrics::counter::Counter,
)> {
    let refused = prometheus_client::metrics::counter::Counter::default();
    registry.register(
        "llmwatch_admin_refused_requests",
        "Requests to /metrics or /admin/* refused for a missing or wrong bearer token",
        refused.clone(),
    );
    let Some((id, auth)) = config.exporters.iter().find_map(|(id, cfg)| match cfg {
        ExporterConfig::Prometheus(p) => p.auth.as_ref().map(|a| (id, a)),
        _ => None,
    }) else {
        return Ok((None, refused));
    };
    let mut errors = Vec::new();
    auth.check(&format!("exporters.{id}.auth"), &mut errors, env);
    if let Some(e) = errors.first() {
        anyhow::bail!("{}: {}", e.path, e.message);
    }
    Ok((Some(auth.build(env)), refused))
}

/// `POST /admin/forget`'s work: the first redaction processor's pseudonym of a raw id,
/// removed from the top users and the funnel progress.
fn forgetter(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    ctx: &ProcessorContext<'_>,
) -> Result<Option<admin::Forget>, String> {
    let Some(redaction) = config.processors.values().find_map(|p| match p {
        ProcessorConfig::Redaction(c) => Some(c),
        _ => None,
    }) else {
        return Ok(None);
    };
    let pseudonymiser = redaction.pseudonymiser(env)?;
    let chat = Arc::clone(&ctx.chat);
    let analytics = ctx.analytics.clone();
    Ok(Some(Arc::new(move |id: &str| {
        let pseudonym = pseudonymiser.pseudonym(id);
        let removed =
            chat.forget(&pseudonym) + analytics.0.get().map_or(0, |a| a.forget(&pseudonym));
        (pseudonym, removed)
    })))
}

/// Resolves the `host:port` a listener binds on. The configuration only checked its syntax
/// ([`crate::config::check_endpoint`]), so a host name is looked up here, once, at start.
async fn resolve_endpoint(endpoint: &str, listener: &str) -> anyhow::Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(endpoint)
        .await
        .with_context(|| format!("resolving the endpoint {endpoint:?} of {listener}"))?;
    addrs
        .next()
        .with_context(|| format!("the endpoint {endpoint:?} of {listener} resolved to no address"))
}

fn shutdown_future(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Runs llmwatch until `stop` resolves, then shuts down gracefully.
#[allow(clippy::too_many_lines)] // split in the registry change
pub async fn run(
    config: Config,
    env: &dyn Fn(&str) -> Option<String>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let mut registry = Registry::default();
    let queue = Arc::new(JobQueue::new(config.service.queue.max_bytes.0));
    let metrics = OwnMetrics::register(&mut registry, queue.capacity());
    let conn_metrics = crate::receive::conn::ConnMetrics::register(&mut registry);

    let overflow = crate::genai::metrics::OverflowCounter::default();
    registry.register(
        "llmwatch_metric_overflow",
        "Label values folded into `other`, or series not kept, because a family or dimension reached its limit.",
        overflow.0.clone(),
    );
    let app_metrics = config.exporters.values().find_map(|cfg| match cfg {
        ExporterConfig::Prometheus(p) if p.app_metrics.enabled => Some(Arc::new(
            crate::metrics::otlp::AppMetrics::new(p.app_metrics.clone(), overflow.clone()),
        )),
        _ => None,
    });
    let export_ctx = crate::export::ExportContext {
        app_metrics: app_metrics.clone(),
        own: Arc::clone(&metrics),
        otlp: crate::export::otlp::OtlpMetrics::register(&mut registry),
    };
    let mut exporters: BTreeMap<&str, Arc<dyn Exporter>> = BTreeMap::new();
    for (id, cfg) in &config.exporters {
        let exporter = cfg
            .build(id, &export_ctx)
            .with_context(|| format!("starting exporter {id}"))?;
        exporters.insert(id, exporter);
    }
    let ctx = ProcessorContext::register(&mut registry, env, overflow);
    let mut processors: BTreeMap<&str, Stage> = BTreeMap::new();
    for (id, cfg) in &config.processors {
        let processor = cfg
            .build(&ctx)
            .map_err(|e| anyhow::anyhow!("starting processor {id}: {e}"))?;
        processors.insert(id, processor);
    }
    let pipelines = config
        .pipelines
        .iter()
        .map(|p| Pipeline {
            name: p.name.clone(),
            signal: p.signal,
            processors: p
                .processors
                .iter()
                .filter_map(|id| processors.get(id.as_str()).map(|x| (id.clone(), x.clone())))
                .collect(),
            exporters: p
                .exporters
                .iter()
                .filter_map(|id| {
                    exporters
                        .get(id.as_str())
                        .map(|x| (id.clone(), Arc::clone(x)))
                })
                .collect(),
        })
        .collect();
    let pipelines = Arc::new(
        Pipelines::new(pipelines, Arc::clone(&metrics))
            .with_retry_after(config.service.queue.retry_after),
    );
    let workers = spawn_workers(
        config.service.workers,
        Arc::clone(&queue),
        Arc::clone(&pipelines),
    )
    .context("starting pipeline workers")?;

    // Scheduled reports: one task of their own, whose failures are counted, not fatal.
    let reports = config.reports.clone().map(|r| {
        crate::report::scheduler::Scheduler::register(
            r,
            config.slos.objectives.clone(),
            &mut registry,
        )
    });
    let (receivers_tx, receivers_rx) = watch::channel(false);
    let (admin_tx, admin_rx) = watch::channel(false);
    let (admin_auth, refused) = admin_auth(&config, env, &mut registry)?;
    let forgotten = prometheus_client::metrics::counter::Counter::default();
    registry.register(
        "llmwatch_forgotten_users",
        "Users forgotten by POST /admin/forget",
        forgotten.clone(),
    );
    let forget = forgetter(&config, env, &ctx).map_err(anyhow::Error::msg)?;
    let admin_state = Arc::new(AdminState {
        registry: Arc::new(registry),
        ready: AtomicBool::new(false),
        app_metrics,
        auth: admin_auth,
        refused,
        forget,
        forgotten,
    });

    let admin_addr = config
        .exporters
        .values()
        .find_map(|cfg| match cfg {
            ExporterConfig::Prometheus(p) => Some(p.endpoint.as_str()),
            _ => None,
        })
        .context("no prometheus exporter")?;
    let admin_addr = resolve_endpoint(admin_addr, "the admin server").await?;
    let admin_tls = config.exporters.values().find_map(|cfg| match cfg {
        ExporterConfig::Prometheus(p) => p.tls.as_ref(),
        _ => None,
    });
    let admin_listener = admin::AdminListener {
        tls: admin_tls,
        conns: conn_metrics.clone(),
    };
    let (local, admin_server) = admin::bind(
        admin_addr,
        Arc::clone(&admin_state),
        admin_listener,
        shutdown_future(&admin_rx),
    )
    .await
    .with_context(|| format!("binding the admin server on {admin_addr}"))?;
    tracing::info!(component = "admin", address = %local, "listening");
    let admin_task = tokio::spawn(admin_server);

    let mut servers = JoinSet::new();
    for (id, rc) in &config.receivers {
        let signals: Vec<_> = config
            .pipelines
            .iter()
            .filter(|p| p.receivers.contains(id))
            .map(|p| p.signal)
            .collect();
        if signals.is_empty() {
            tracing::warn!(receiver = %id, "receiver is in no pipeline; not starting it");
            continue;
        }
        let auth = rc.auth.as_ref().map(|a| a.build(env));
        let ingest = Arc::new(
            Ingest::new(
                Arc::clone(&queue),
                Arc::clone(&metrics),
                auth,
                signals,
                rc.max_decompressed_size.as_usize(),
                config.service.queue.retry_after,
            )
            .with_receive(rc.receive_budget.0, conn_metrics.clone()),
        );
        if let Some(gc) = &rc.protocols.grpc {
            let addr = resolve_endpoint(&gc.endpoint, &format!("receiver {id} (grpc)")).await?;
            let (local, server) = grpc::bind(
                gc,
                addr,
                Arc::clone(&ingest),
                shutdown_future(&receivers_rx),
            )
            .await
            .with_context(|| format!("binding receiver {id} (grpc) on {addr}"))?;
            tracing::info!(component = %format!("{id}/grpc"), address = %local, "listening");
            servers.spawn(async move { server.await.map_err(anyhow::Error::from) });
        }
        if let Some(hc) = &rc.protocols.http {
            let addr = resolve_endpoint(&hc.endpoint, &format!("receiver {id} (http)")).await?;
            let (local, server) = http::bind(
                hc,
                addr,
                Arc::clone(&ingest),
                shutdown_future(&receivers_rx),
            )
            .await
            .with_context(|| format!("binding receiver {id} (http) on {addr}"))?;
            tracing::info!(component = %format!("{id}/http"), address = %local, "listening");
            servers.spawn(async move { server.await.map_err(anyhow::Error::from) });
        }
        debug_assert_eq!(component_type(id), "otlp");
    }
    let reports_task = reports.map(|r| tokio::spawn(r.run(shutdown_future(&receivers_rx))));
    admin_state.ready.store(true, Ordering::Release);
    tracing::info!(workers = config.service.workers, "ready");

    tokio::pin!(stop);
    let failure = tokio::select! {
        () = &mut stop => None,
        Some(result) = servers.join_next() => Some(result),
    };
    if let Some(result) = failure {
        match result {
            Ok(Ok(())) => tracing::error!("a receiver stopped unexpectedly; shutting down"),
            Ok(Err(error)) => tracing::error!(%error, "a receiver failed; shutting down"),
            Err(error) => tracing::error!(%error, "a receiver task panicked; shutting down"),
        }
    }

    let deadline = Instant::now() + config.service.shutdown_timeout;
    tracing::info!(timeout = ?config.service.shutdown_timeout, "shutting down");
    admin_state.ready.store(false, Ordering::Release);
    let _ = receivers_tx.send(true);
    if let Some(task) = reports_task {
        task.abort();
    }
    let receivers_done = tokio::time::timeout_at(deadline.into(), async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    if receivers_done.is_err() {
        tracing::warn!("receivers did not finish in-flight requests before the shutdown timeout");
        servers.abort_all();
    }
    queue.close();
    let remaining = deadline.saturating_duration_since(Instant::now());
    let queue_for_wait = Arc::clone(&queue);
    let left = tokio::task::spawn_blocking(move || queue_for_wait.wait_drained(remaining))
        .await
        .context("waiting for the queue to drain")?;
    let outcome = if left.requests == 0 {
        let pipelines_for_flush = Arc::clone(&pipelines);
        tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
            pipelines_for_flush.flush();
        })
        .await
        .context("flushing exporters")?;
        Outcome::Drained
    } else {
        tracing::error!(
            requests = left.requests,
            bytes = left.bytes,
            "shutdown timeout passed before the queue drained"
        );
        pipelines.flush();
        Outcome::TimedOut {
            requests: left.requests,
        }
    };
    let _ = admin_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(1), admin_task).await;
    tracing::info!(outcome = ?outcome, "stopped");
    Ok(outcome)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "received"),
                    _ = int.recv() => tracing::info!(signal = "SIGINT", "received"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
