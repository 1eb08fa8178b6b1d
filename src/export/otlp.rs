//! The `otlp` exporter: forwards the processed, redacted telemetry to another OTLP
//! endpoint (a Collector, Tempo, Jaeger, a vendor) over gRPC or HTTP/protobuf.
//!
//! Pipeline workers never wait on the network. `export` encodes the batch, splits it to the
//! batch limits and appends it to the exporter's own [`SendQueue`]; a sender thread, one
//! per exporter with its own single-threaded runtime, takes batches off the queue and
//! delivers them. A slow or dead destination therefore fills only its own queue: the other
//! exporters, the processors and `/metrics` go on.
//!
//! Delivery is at-least-once for everything accepted into the queue, as long as the
//! destination comes back within the retry bound and, in `drop_oldest` mode, before the
//! queue fills. A persistent queue adds restarts and crashes to that. What can be lost is
//! counted in `llmwatch_exporter_dropped_items` with its reason.

mod config;
mod meters;
mod queue;
mod send;
mod split;
mod wal;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub use self::config::{
    BatchConfig, Compression, FACTORY, FullPolicy, OtlpConfig, Protocol, RetryConfig,
    SendQueueConfig, TlsConfig,
};
pub use self::meters::OtlpMetrics;
use self::meters::{Meters, QueueLabels};
use self::queue::{Dropped, SendQueue, Taken};
use self::send::{Outcome, Sender};
use super::{Delivery, ExportError, Exporter};
use crate::metrics::OwnMetrics;
use crate::model::{Batch, Signal};

/// What the exporter and its sender thread share.
struct Shared {
    config: OtlpConfig,
    queue: SendQueue,
    meters: Meters,
    wake: Notify,
    /// Set at shutdown: send what is queued without waiting for batches to fill, and stop
    /// when the queue is empty or a send fails.
    draining: AtomicBool,
    /// When draining started; the drain gives up `timeout` after it.
    drain_started: Mutex<Option<Instant>>,
}

impl Shared {
    /// Whether shutdown has waited long enough for the drain.
    fn drain_overdue(&self) -> bool {
        self.drain_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() > self.config.timeout)
    }
}

/// The `otlp` exporter.
pub struct OtlpExporter {
    shared: Arc<Shared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl OtlpExporter {
    /// Opens the queue (recovering a persistent one) and starts the sender thread.
    pub fn start(
        id: &str,
        config: OtlpConfig,
        own: Arc<OwnMetrics>,
        otlp: OtlpMetrics,
    ) -> std::io::Result<OtlpExporter> {
        let queue = open_queue(id, &config)?;
        let meters = Meters {
            id: id.to_owned(),
            own,
            otlp,
        };
        meters
            .otlp
            .queue_capacity
            .get_or_create(&QueueLabels {
                exporter: id.into(),
            })
            .set(i64::try_from(queue.capacity()).unwrap_or(i64::MAX));
        meters.queue(&queue);
        let shared = Arc::new(Shared {
            config,
            queue,
            meters,
            wake: Notify::new(),
            draining: AtomicBool::new(false),
            drain_started: Mutex::new(None),
        });
        let sender = spawn_sender(id, Arc::clone(&shared))?;
        Ok(OtlpExporter {
            shared,
            sender: Mutex::new(Some(sender)),
        })
    }
}

/// Opens the exporter's send queue: in memory, or persistent and recovered from disk.
fn open_queue(id: &str, config: &OtlpConfig) -> std::io::Result<SendQueue> {
    let q = &config.queue;
    Ok(match &q.directory {
        Some(dir) => {
            let (queue, recovered) =
                SendQueue::persistent(dir, q.fsync, q.max_bytes.0, q.when_full)?;
            if recovered.batches > 0 || recovered.truncated_bytes > 0 {
                tracing::info!(
                    exporter = %id,
                    batches = recovered.batches,
                    items = recovered.items,
                    bytes = recovered.bytes,
                    torn_bytes_discarded = recovered.truncated_bytes,
                    "recovered the persistent send queue"
                );
            }
            queue
        }
        None => SendQueue::memory(q.max_bytes.0, q.when_full),
    })
}

/// Starts the sender thread of `shared`, with its own runtime, once its client is built.
fn spawn_sender(id: &str, for_thread: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    // The client is built on the sender thread, inside its runtime; a bad TLS file or
    // header fails startup rather than the first export.
    let (built_tx, built_rx) = std::sync::mpsc::channel();
    let sender = std::thread::Builder::new()
        .name(format!("llmwatch-export-{id}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(error) => {
                    let _ = built_tx.send(Err(format!("starting its runtime: {error}")));
                    return;
                }
            };
            runtime.block_on(async {
                match Sender::new(&for_thread.config) {
                    Ok(sender) => {
                        let _ = built_tx.send(Ok(()));
                        run(&for_thread, sender).await;
                    }
                    Err(error) => {
                        let _ = built_tx.send(Err(error));
                    }
                }
            });
        })?;
    built_rx
        .recv()
        .map_err(|_| std::io::Error::other("the exporter thread stopped while starting"))?
        .map_err(std::io::Error::other)?;
    Ok(sender)
}

impl Exporter for OtlpExporter {
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError> {
        let s = &self.shared;
        let signal = batch.signal();
        let parts = split::split(
            &batch.payload,
            u64::from(s.config.batch.max_items),
            s.config.batch.max_bytes.as_usize(),
        );
        let mut enqueued = 0;
        let mut result = Ok(Delivery::Queued);
        for part in parts {
            match s.queue.push(signal, part.items, part.bytes) {
                Ok(dropped) => {
                    s.meters.dropped_all(&dropped, "queue_full");
                    enqueued += part.items;
                }
                Err(source) => {
                    // Only a persistent queue fails a push: the pipeline then refuses the
                    // request with the retryable status, so nothing is given up on here.
                    result = Err(ExportError::Io {
                        path: "the send queue".into(),
                        source,
                    });
                }
            }
        }
        s.meters
            .otlp
            .enqueued
            .get_or_create(&s.meters.labels(signal))
            .inc_by(enqueued);
        s.meters.queue(&s.queue);
        s.wake.notify_one();
        result
    }

    fn admits(&self) -> bool {
        self.shared.config.queue.when_full == FullPolicy::DropOldest || self.shared.queue.has_room()
    }

    fn durable(&self) -> bool {
        self.shared.config.queue.directory.is_some()
    }

    fn flush(&self) -> Result<(), ExportError> {
        let s = &self.shared;
        *s.drain_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        s.draining.store(true, Ordering::Release);
        s.wake.notify_one();
        let handle = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        if !s.queue.is_persistent() {
            let dropped = s.queue.drain_all();
            s.meters.dropped_all(&dropped, "shutdown");
            if dropped != Dropped::default() {
                tracing::warn!(exporter = %s.meters.id, ?dropped, "items still queued at shutdown were dropped; use queue.directory to keep them");
            }
        }
        s.meters.queue(&s.queue);
        Ok(())
    }
}

/// The sender loop: wait for a batch, deliver it, repeat; return when draining is done.
async fn run(s: &Shared, mut sender: Sender) {
    let batch = &s.config.batch;
    let max_bytes = batch.max_bytes.0;
    let max_items = u64::from(batch.max_items);
    loop {
        let draining = s.draining.load(Ordering::Acquire);
        match s.queue.wait_for(max_items, max_bytes, batch.timeout) {
            None if draining => return,
            Some(_) if draining && s.drain_overdue() => {
                tracing::warn!(exporter = %s.meters.id, "the drain at shutdown took longer than the export timeout; stopping");
                return;
            }
            None => {
                // Woken by a push or by shutdown; the timeout only guards a lost wake-up.
                let _ = tokio::time::timeout(Duration::from_secs(1), s.wake.notified()).await;
                continue;
            }
            Some(wait) if !wait.is_zero() && !draining => {
                let _ = tokio::time::timeout(wait, s.wake.notified()).await;
                continue;
            }
            Some(_) => {}
        }
        let taken = match s.queue.take(max_items, max_bytes) {
            Ok(Some(taken)) => taken,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(exporter = %s.meters.id, %error, "cannot read the send queue; stopping this exporter");
                return;
            }
        };
        if !deliver(s, &mut sender, &taken).await {
            // Draining and the destination is failing: leave the rest queued (persistent)
            // or to flush, which counts it.
            return;
        }
    }
}

/// Tries one batch until it is delivered, refused, dropped, or out of retries. Returns
/// false when shutdown interrupted it, leaving it queued.
async fn deliver(s: &Shared, sender: &mut Sender, taken: &Taken) -> bool {
    let m = &s.meters;
    let labels = m.labels(taken.signal);
    let retry = &s.config.retry;
    let started = Instant::now();
    let mut backoff = retry.initial_interval;
    loop {
        let attempt = Instant::now();
        let outcome = sender.send(taken.signal, taken.body.clone()).await;
        m.otlp
            .duration
            .get_or_create(&labels)
            .observe(attempt.elapsed().as_secs_f64());
        let (after, reason) = match outcome {
            Outcome::Delivered { rejected, message } => {
                let rejected = rejected.min(taken.items);
                m.own.exported(&m.id, taken.signal, taken.items - rejected);
                if rejected > 0 {
                    m.otlp.rejected.get_or_create(&labels).inc_by(rejected);
                    tracing::warn!(exporter = %m.id, rejected, message = %message, "the destination rejected part of a batch");
                }
                finish(s, taken);
                return true;
            }
            Outcome::Permanent { reason } => {
                m.own.export_failed(&m.id, taken.signal, taken.items);
                m.dropped(taken.signal, "non_retryable", taken.items);
                tracing::warn!(exporter = %m.id, items = taken.items, %reason, "export failed with a non-retryable error; dropping the batch");
                finish(s, taken);
                return true;
            }
            Outcome::Retry { after, reason } => (after, reason),
        };
        if s.draining.load(Ordering::Acquire) {
            tracing::warn!(exporter = %m.id, %reason, "shutting down while the destination fails");
            return false;
        }
        let wait = after.unwrap_or_else(|| jitter(backoff));
        let bound = retry.max_elapsed_time;
        if !bound.is_zero() && started.elapsed() + wait > bound {
            m.own.export_failed(&m.id, taken.signal, taken.items);
            m.dropped(taken.signal, "retries_exhausted", taken.items);
            tracing::warn!(exporter = %m.id, items = taken.items, %reason, elapsed = ?started.elapsed(), "export retries exhausted; dropping the batch");
            finish(s, taken);
            return true;
        }
        m.otlp.retried.get_or_create(&labels).inc_by(taken.items);
        tracing::debug!(exporter = %m.id, %reason, ?wait, "export failed; retrying");
        // Shutdown interrupts the wait.
        let _ = tokio::time::timeout(wait, async {
            while !s.draining.load(Ordering::Acquire) {
                s.wake.notified().await;
            }
        })
        .await;
        backoff = (backoff * 2).min(retry.max_interval);
        if !s.queue.holds(taken.last) {
            // Dropped to make room while we waited (drop_oldest): already counted.
            return true;
        }
    }
}

fn finish(s: &Shared, taken: &Taken) {
    if let Err(error) = s.queue.remove_through(taken.last) {
        tracing::error!(exporter = %s.meters.id, %error, "cannot record delivery in the send queue; the batch may be sent again after a restart");
    }
    s.meters.queue(&s.queue);
}

/// `base` scaled by a factor in [0.5, 1.5), so that many senders do not retry in step.
fn jitter(base: Duration) -> Duration {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    base.mul_f64(crate::bench::Rng(seed).range(0.5, 1.5))
}

/// A plain OTLP client over the exporter's transports, without queue or retries: what
/// `llmwatch demo` sends with.
pub struct Client(Sender);

impl Client {
    /// A client of `endpoint` (`http://host:port`). Must be called inside a Tokio runtime.
    pub fn new(endpoint: &str, protocol: Protocol) -> Result<Client, String> {
        let config = OtlpConfig {
            endpoint: endpoint.to_owned(),
            protocol,
            headers: Default::default(),
            compression: Compression::Gzip,
            timeout: Duration::from_secs(10),
            tls: TlsConfig::default(),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
            queue: SendQueueConfig::default(),
        };
        Sender::new(&config).map(Client)
    }

    /// Sends one encoded export request; an error says why it was not delivered.
    pub async fn send(&mut self, signal: Signal, body: bytes::Bytes) -> Result<(), String> {
        match self.0.send(signal, body).await {
            Outcome::Delivered { rejected: 0, .. } => Ok(()),
            Outcome::Delivered { rejected, message } => {
                Err(format!("{rejected} items rejected: {message}"))
            }
            Outcome::Retry { reason, .. } | Outcome::Permanent { reason } => Err(reason),
        }
    }
}
