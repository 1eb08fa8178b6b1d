//! The queue between the receivers and the pipeline workers, bounded in bytes.
//!
//! It holds raw request bodies, so its bound is the exact memory they take. Receivers never
//! wait on it: a push that would pass the bound is refused at once, and the receiver answers
//! with the OTLP retryable status. Memory held by queued requests is therefore bounded by
//! configuration, not by how fast clients send (rotel's batch-counted queues are the
//! counter-example in performance.md §1.4).
//!
//! One rule keeps huge requests from being refused forever: an empty queue accepts any
//! single request. Request size is already capped by the receivers.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::config::{ConfigError, Path};
use super::units::ByteSize;

/// Why a push was refused; the item is handed back.
#[derive(Debug)]
pub enum PushError<T> {
    /// The queue is at its bound; retry later.
    Full(T),
    /// The queue is closed for shutdown.
    Closed(T),
}

/// A point-in-time view of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLevel {
    /// Requests waiting.
    pub requests: usize,
    /// Bytes waiting.
    pub bytes: u64,
}

struct State<T> {
    entries: VecDeque<(T, u64)>,
    level: QueueLevel,
    closed: bool,
    /// Entries popped but not yet marked done.
    in_flight: usize,
}

/// A multi-producer, multi-consumer queue bounded in bytes.
pub struct BoundedQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    idle: Condvar,
    max_bytes: u64,
}

impl<T> BoundedQueue<T> {
    /// Creates a queue that holds at most `max_bytes`.
    pub fn new(max_bytes: u64) -> BoundedQueue<T> {
        BoundedQueue {
            state: Mutex::new(State {
                entries: VecDeque::new(),
                level: QueueLevel::default(),
                closed: false,
                in_flight: 0,
            }),
            not_empty: Condvar::new(),
            idle: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every field is updated before a guard drops, so a poisoned lock (a panicking
        // worker) still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured bound, in bytes.
    pub fn capacity(&self) -> u64 {
        self.max_bytes
    }

    /// Adds an item of `bytes`, or hands it back if the bound would be passed or the queue
    /// is closed.
    pub fn push(&self, item: T, bytes: u64) -> Result<QueueLevel, PushError<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed(item));
        }
        if state.level.bytes + bytes > self.max_bytes && state.level.requests > 0 {
            return Err(PushError::Full(item));
        }
        state.level.bytes += bytes;
        state.level.requests += 1;
        state.entries.push_back((item, bytes));
        let level = state.level;
        drop(state);
        self.not_empty.notify_one();
        Ok(level)
    }

    /// Takes the oldest item, waiting while the queue is empty and open. Returns `None` once
    /// the queue is closed and drained. Call [`BoundedQueue::done`] when the item is handled.
    pub fn pop(&self) -> Option<(T, QueueLevel)> {
        let mut state = self.lock();
        loop {
            if let Some((item, bytes)) = state.entries.pop_front() {
                state.level.bytes -= bytes;
                state.level.requests -= 1;
                state.in_flight += 1;
                return Some((item, state.level));
            }
            if state.closed {
                return None;
            }
            state = self
                .not_empty
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Marks a popped item as handled.
    pub fn done(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let idle = state.in_flight == 0 && state.entries.is_empty();
        drop(state);
        if idle {
            self.idle.notify_all();
        }
    }

    /// Refuses further pushes and wakes every waiting worker; queued items still drain.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
    }

    /// Waits until every queued and in-flight item is handled, or `timeout` passes.
    /// Returns what was still left.
    pub fn wait_drained(&self, timeout: Duration) -> QueueLevel {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.in_flight > 0 || !state.entries.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .idle
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.level
    }

    /// The current level.
    #[cfg(test)]
    pub(crate) fn level(&self) -> QueueLevel {
        self.lock().level
    }
}

/// `service.queue`: the bound of the queue between receivers and workers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Most request bytes (as received) waiting at once.
    #[serde(default = "QueueConfig::default_max_bytes")]
    pub max_bytes: ByteSize,
    /// What a refused client is told to wait before retrying.
    #[serde(
        default = "QueueConfig::default_retry_after",
        deserialize_with = "super::units::deserialize_duration"
    )]
    pub retry_after: std::time::Duration,
}

impl QueueConfig {
    fn default_max_bytes() -> ByteSize {
        ByteSize(64 << 20)
    }
    pub(crate) fn default_retry_after() -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    pub(crate) fn check(&self, path: &Path, errors: &mut Vec<ConfigError>) {
        if self.max_bytes.0 == 0 {
            errors.push(ConfigError {
                path: format!("{path}.max_bytes"),
                message: "must be at least 1 byte".into(),
            });
        }
        if self.retry_after.is_zero() {
            errors.push(ConfigError {
                path: format!("{path}.retry_after"),
                message: "must be longer than zero".into(),
            });
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: Self::default_max_bytes(),
            retry_after: Self::default_retry_after(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_byte_bound_and_accepts_after_pop() {
        let q = BoundedQueue::new(100);
        q.push("a", 60).map_err(|_| "push").unwrap();
        assert!(matches!(q.push("b", 41), Err(PushError::Full("b"))));
        q.push("c", 40).map_err(|_| "push").unwrap();
        let (item, level) = q.pop().unwrap();
        assert_eq!(
            (item, level),
            (
                "a",
                QueueLevel {
                    requests: 1,
                    bytes: 40
                }
            )
        );
        q.done();
        q.push("b", 41).map_err(|_| "push").unwrap();
        assert_eq!(
            q.level(),
            QueueLevel {
                requests: 2,
                bytes: 81
            }
        );
    }

    #[test]
    fn empty_queue_takes_one_oversized_item() {
        let q = BoundedQueue::new(10);
        q.push(1, 500).map_err(|_| "push").unwrap();
        assert!(matches!(q.push(2, 1), Err(PushError::Full(2))));
    }

    #[test]
    fn a_push_wakes_a_blocked_worker() {
        let q = std::sync::Arc::new(BoundedQueue::new(100));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let q = q.clone();
            std::thread::spawn(move || tx.send(q.pop().map(|(item, _)| item)));
        }
        q.push(7, 1).map_err(|_| "push").unwrap();
        // Bounded: a push that woke nobody fails here instead of hanging the suite.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Some(7));
    }

    #[test]
    fn close_drains_then_ends_workers() {
        let q = std::sync::Arc::new(BoundedQueue::new(100));
        q.push(1, 1).map_err(|_| "push").unwrap();
        q.close();
        assert!(matches!(q.push(2, 1), Err(PushError::Closed(2))));
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while let Some(_item) = q.pop() {
                    n += 1;
                    q.done();
                }
                n
            })
        };
        assert_eq!(worker.join().unwrap(), 1);
        assert_eq!(
            q.wait_drained(Duration::from_secs(5)),
            QueueLevel::default()
        );
    }
}
