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
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, AdminState};
use crate::analytics;
use crate::component::factory::{BuildContext, Shared};
use crate::config::Config;
use crate::export::{ExportContext, Exporter, PrometheusConfig};
use crate::metrics::OwnMetrics;
use crate::metrics::bounded::OverflowCounter;
use crate::metrics::otlp::AppMetrics;
use crate::pipeline::{JobQueue, Pipeline, Pipelines, Stage, spawn_workers};
use crate::receive::conn::ConnMetrics;
use crate::receive::{Ingest, grpc, http};
use crate::redact::RedactionConfig;
use crate::registry;

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

/// The one `prometheus` exporter's config (the configuration requires exactly one).
fn prometheus(config: &Config) -> anyhow::Result<&PrometheusConfig> {
    config
        .exporters
        .values()
        .find_map(|cfg| cfg.downcast::<PrometheusConfig>())
        .context("no prometheus exporter")
}

/// The prometheus exporter's optional `auth` for `/metrics` and `/admin/*`, checked, and
/// the counter of the requests it refuses.
fn admin_auth(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    registry: &mut Registry,
) -> anyhow::Result<(Option<crate::net::auth::Auth>, Counter)> {
    let refused = Counter::default();
    registry.register(
        "llmwatch_admin_refused_requests",
        "Requests to /metrics or /admin/* refused for a missing or wrong bearer token",
        refused.clone(),
    );
    let Some((id, auth)) = config.exporters.iter().find_map(|(id, cfg)| {
        let auth = cfg.downcast::<PrometheusConfig>()?.auth.as_ref()?;
        Some((id, auth))
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
    shared: &Shared,
) -> Result<Option<admin::Forget>, String> {
    let Some(redaction) = config
        .processors
        .values()
        .find_map(|p| p.downcast::<RedactionConfig>())
    else {
        return Ok(None);
    };
    let pseudonymiser = redaction.pseudonymiser(env)?;
    let missing = "the chat_analytics state was not registered";
    let chat: Arc<analytics::state::Shared> = shared.get().ok_or(missing)?;
    let analytics: analytics::AnalyticsSlot = shared.get().ok_or(missing)?;
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

/// What the running parts share, made before any of them.
struct Core {
    registry: Registry,
    queue: Arc<JobQueue>,
    metrics: Arc<OwnMetrics>,
    conns: ConnMetrics,
    overflow: OverflowCounter,
}

impl Core {
    fn new(config: &Config) -> Core {
        let mut registry = Registry::default();
        let queue = Arc::new(JobQueue::new(config.service.queue.max_bytes.0));
        let metrics = OwnMetrics::register(&mut registry, queue.capacity());
        let conns = ConnMetrics::register(&mut registry);
        let overflow = OverflowCounter::default();
        registry.register(
            "llmwatch_metric_overflow",
            "Label values folded into `other`, or series not kept, because a family or dimension reached its limit.",
            overflow.0.clone(),
        );
        Core {
            registry,
            queue,
            metrics,
            conns,
            overflow,
        }
    }
}

/// The started exporters, by id.
type Exporters<'c> = BTreeMap<&'c str, Arc<dyn Exporter>>;

/// Starts every configured exporter, by id, through its registered type; and the store
/// of apps' own metrics when the prometheus exporter keeps them.
fn build_exporters<'c>(
    config: &'c Config,
    core: &mut Core,
) -> anyhow::Result<(Exporters<'c>, Option<Arc<AppMetrics>>)> {
    let prometheus = prometheus(config)?;
    let app_metrics = prometheus.app_metrics.enabled.then(|| {
        Arc::new(AppMetrics::new(
            prometheus.app_metrics.clone(),
            core.overflow.clone(),
        ))
    });
    let ctx = ExportContext {
        app_metrics: app_metrics.clone(),
        own: Arc::clone(&core.metrics),
        otlp: crate::export::otlp::OtlpMetrics::register(&mut core.registry),
    };
    let mut exporters = BTreeMap::new();
    for (id, cfg) in &config.exporters {
        let exporter = cfg
            .build(id, &ctx)
            .with_context(|| format!("starting exporter {id}"))?;
        exporters.insert(id.as_str(), exporter);
    }
    Ok((exporters, app_metrics))
}

/// The configured pipelines over the built processors and exporters.
fn build_pipelines(
    config: &Config,
    processors: &BTreeMap<&str, Stage>,
    exporters: &Exporters<'_>,
    metrics: &Arc<OwnMetrics>,
) -> Arc<Pipelines> {
    let pipelines = config
        .pipelines
        .iter()
        .map(|p| Pipeline {
            name: p.name.clone(),
            signal: p.signal,
            processors: p
                .processors
                .iter()
                .filter_map(|id| Some((id.clone(), processors.get(id.as_str())?.clone())))
                .collect(),
            exporters: p
                .exporters
                .iter()
                .filter_map(|id| Some((id.clone(), Arc::clone(exporters.get(id.as_str())?))))
                .collect(),
        })
        .collect();
    Arc::new(
        Pipelines::new(pipelines, Arc::clone(metrics))
            .with_retry_after(config.service.queue.retry_after),
    )
}

/// The admin server's state: the registry it renders, its auth, and `/admin/forget`.
fn admin_state(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    mut registry: Registry,
    app_metrics: Option<Arc<AppMetrics>>,
    shared: &Shared,
) -> anyhow::Result<Arc<AdminState>> {
    let (auth, refused) = admin_auth(config, env, &mut registry)?;
    let forgotten = Counter::default();
    registry.register(
        "llmwatch_forgotten_users",
        "Users forgotten by POST /admin/forget",
        forgotten.clone(),
    );
    let forget = forgetter(config, env, shared).map_err(anyhow::Error::msg)?;
    Ok(Arc::new(AdminState {
        registry: Arc::new(registry),
        ready: AtomicBool::new(false),
        app_metrics,
        auth,
        refused,
        forget,
        forgotten,
    }))
}

/// Binds the admin server on the prometheus exporter's endpoint and serves it until
/// `stop` turns true.
async fn serve_admin(
    config: &Config,
    state: &Arc<AdminState>,
    conns: ConnMetrics,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let prometheus = prometheus(config)?;
    let addr = resolve_endpoint(&prometheus.endpoint, "the admin server").await?;
    let listener = admin::AdminListener {
        tls: prometheus.tls.as_ref(),
        conns,
    };
    let (local, server) = admin::bind(addr, Arc::clone(state), listener, shutdown_future(stop))
        .await
        .with_context(|| format!("binding the admin server on {addr}"))?;
    tracing::info!(component = "admin", address = %local, "listening");
    Ok(tokio::spawn(server))
}

/// Binds every receiver that some pipeline uses, on each of its transports.
async fn start_receivers(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
    core: &Core,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<JoinSet<anyhow::Result<()>>> {
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
        let ingest = Arc::new(
            Ingest::new(
                Arc::clone(&core.queue),
                Arc::clone(&core.metrics),
                rc.auth.as_ref().map(|a| a.build(env)),
                signals,
                rc.max_decompressed_size.as_usize(),
                config.service.queue.retry_after,
            )
            .with_receive(rc.receive_budget.0, core.conns.clone()),
        );
        if let Some(gc) = &rc.protocols.grpc {
            let addr = resolve_endpoint(&gc.endpoint, &format!("receiver {id} (grpc)")).await?;
            let (local, server) = grpc::bind(gc, addr, Arc::clone(&ingest), shutdown_future(stop))
                .await
                .with_context(|| format!("binding receiver {id} (grpc) on {addr}"))?;
            tracing::info!(component = %format!("{id}/grpc"), address = %local, "listening");
            servers.spawn(async move { server.await.map_err(anyhow::Error::from) });
        }
        if let Some(hc) = &rc.protocols.http {
            let addr = resolve_endpoint(&hc.endpoint, &format!("receiver {id} (http)")).await?;
            let (local, server) = http::bind(hc, addr, Arc::clone(&ingest), shutdown_future(stop))
                .await
                .with_context(|| format!("binding receiver {id} (http) on {addr}"))?;
            tracing::info!(component = %format!("{id}/http"), address = %local, "listening");
            servers.spawn(async move { server.await.map_err(anyhow::Error::from) });
        }
    }
    Ok(servers)
}

/// Runs llmwatch until `stop` resolves, then shuts down gracefully.
pub async fn run(
    config: Config,
    env: &dyn Fn(&str) -> Option<String>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let mut core = Core::new(&config);
    let (exporters, app_metrics) = build_exporters(&config, &mut core)?;
    let shared = registry::register_shared(&mut core.registry, core.overflow.clone());
    let processors = registry::build_processors(
        &config.processors,
        &BuildContext {
            env,
            shared: &shared,
        },
    )?;
    let pipelines = build_pipelines(&config, &processors, &exporters, &core.metrics);
    let workers = spawn_workers(
        config.service.workers,
        Arc::clone(&core.queue),
        Arc::clone(&pipelines),
    )
    .context("starting pipeline workers")?;

    // Scheduled reports: one task of their own, whose failures are counted, not fatal.
    let reports = config.reports.clone().map(|r| {
        crate::report::scheduler::Scheduler::register(
            r,
            config.slos.objectives.clone(),
            &mut core.registry,
        )
    });
    let (receivers_tx, receivers_rx) = watch::channel(false);
    let (admin_tx, admin_rx) = watch::channel(false);
    let registry = std::mem::take(&mut core.registry);
    let admin = admin_state(&config, env, registry, app_metrics, &shared)?;
    let admin_task = serve_admin(&config, &admin, core.conns.clone(), &admin_rx).await?;
    let mut servers = start_receivers(&config, env, &core, &receivers_rx).await?;
    let reports_task = reports.map(|r| tokio::spawn(r.run(shutdown_future(&receivers_rx))));
    admin.ready.store(true, Ordering::Release);
    tracing::info!(workers = config.service.workers, "ready");

    wait_for_stop(stop, &mut servers).await;
    let running = Running {
        deadline: Instant::now() + config.service.shutdown_timeout,
        admin,
        receivers_tx,
        reports_task,
        servers,
        queue: core.queue,
        pipelines,
        workers,
        admin_tx,
        admin_task,
    };
    tracing::info!(timeout = ?config.service.shutdown_timeout, "shutting down");
    running.shutdown().await
}

/// Waits for `stop`, or for a receiver to end, which is a failure.
async fn wait_for_stop(stop: impl Future<Output = ()>, servers: &mut JoinSet<anyhow::Result<()>>) {
    tokio::pin!(stop);
    let failure = tokio::select! {
        () = &mut stop => None,
        Some(result) = servers.join_next() => Some(result),
    };
    match failure {
        None => {}
        Some(Ok(Ok(()))) => tracing::error!("a receiver stopped unexpectedly; shutting down"),
        Some(Ok(Err(error))) => tracing::error!(%error, "a receiver failed; shutting down"),
        Some(Err(error)) => tracing::error!(%error, "a receiver task panicked; shutting down"),
    }
}

/// Everything shutdown stops, in order.
struct Running {
    deadline: Instant,
    admin: Arc<AdminState>,
    receivers_tx: watch::Sender<bool>,
    reports_task: Option<tokio::task::JoinHandle<()>>,
    servers: JoinSet<anyhow::Result<()>>,
    queue: Arc<JobQueue>,
    pipelines: Arc<Pipelines>,
    workers: Vec<std::thread::JoinHandle<()>>,
    admin_tx: watch::Sender<bool>,
    admin_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `/readyz` turns 503, receivers finish, the queue drains, exporters flush, and the
    /// admin server stops last.
    async fn shutdown(mut self) -> anyhow::Result<Outcome> {
        self.admin.ready.store(false, Ordering::Release);
        let _ = self.receivers_tx.send(true);
        if let Some(task) = self.reports_task.take() {
            task.abort();
        }
        let servers = &mut self.servers;
        let receivers_done = tokio::time::timeout_at(self.deadline.into(), async {
            while servers.join_next().await.is_some() {}
        })
        .await;
        if receivers_done.is_err() {
            tracing::warn!(
                "receivers did not finish in-flight requests before the shutdown timeout"
            );
            self.servers.abort_all();
        }
        let outcome = self.drain().await?;
        let _ = self.admin_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.admin_task).await;
        tracing::info!(outcome = ?outcome, "stopped");
        Ok(outcome)
    }

    /// Closes the queue, waits for it to drain until the deadline, and flushes.
    async fn drain(&mut self) -> anyhow::Result<Outcome> {
        self.queue.close();
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let queue = Arc::clone(&self.queue);
        let left = tokio::task::spawn_blocking(move || queue.wait_drained(remaining))
            .await
            .context("waiting for the queue to drain")?;
        if left.requests > 0 {
            tracing::error!(
                requests = left.requests,
                bytes = left.bytes,
                "shutdown timeout passed before the queue drained"
            );
            self.pipelines.flush();
            return Ok(Outcome::TimedOut {
                requests: left.requests,
            });
        }
        let pipelines = Arc::clone(&self.pipelines);
        let workers = std::mem::take(&mut self.workers);
        tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
            pipelines.flush();
        })
        .await
        .context("flushing exporters")?;
        Ok(Outcome::Drained)
    }
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
