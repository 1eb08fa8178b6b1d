//! The queue between the receivers and the pipeline workers, bounded in items and bytes.
//!
//! Receivers never wait on it: a push that would pass either bound is refused at once, and
//! the receiver answers with the OTLP retryable status. Memory held by queued batches is
//! therefore bounded by configuration, not by how fast clients send (rotel's batch-counted
//! queues are the counter-example in performance.md §1.4).
//!
//! One rule keeps huge requests from being refused forever: an empty queue accepts any
//! single batch. Request size is already capped by the receivers.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::model::Batch;

/// Why a push was refused; the batch is handed back.
#[derive(Debug)]
pub enum PushError {
    /// The queue is at a bound; retry later.
    Full(Batch),
    /// The queue is closed for shutdown.
    Closed(Batch),
}

/// A point-in-time view of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueLevel {
    /// Batches waiting.
    pub batches: usize,
    /// Items waiting.
    pub items: u64,
    /// Bytes waiting.
    pub bytes: u64,
}

#[derive(Default)]
struct State {
    batches: VecDeque<Batch>,
    level: QueueLevel,
    closed: bool,
    /// Batches popped but not yet marked done.
    in_flight: usize,
}

/// A multi-producer, multi-consumer queue bounded in items and bytes.
pub struct BatchQueue {
    state: Mutex<State>,
    not_empty: Condvar,
    idle: Condvar,
    max_items: u64,
    max_bytes: u64,
}

impl BatchQueue {
    /// Creates a queue with the given bounds.
    pub fn new(max_items: u64, max_bytes: u64) -> BatchQueue {
        BatchQueue {
            state: Mutex::new(State::default()),
            not_empty: Condvar::new(),
            idle: Condvar::new(),
            max_items,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked mid-pop leaves the state consistent: every field is
        // updated before the guard drops, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured bounds, `(items, bytes)`.
    pub fn capacity(&self) -> (u64, u64) {
        (self.max_items, self.max_bytes)
    }

    /// Adds a batch, or hands it back if a bound would be passed or the queue is closed.
    pub fn push(&self, batch: Batch) -> Result<QueueLevel, PushError> {
        let mut state = self.lock();
        if state.closed {
            return Err(PushError::Closed(batch));
        }
        let level = state.level;
        let fits = level.items + batch.items <= self.max_items
            && level.bytes + batch.bytes <= self.max_bytes;
        if !fits && level.batches > 0 {
            return Err(PushError::Full(batch));
        }
        state.level.items += batch.items;
        state.level.bytes += batch.bytes;
        state.level.batches += 1;
        state.batches.push_back(batch);
        let level = state.level;
        drop(state);
        self.not_empty.notify_one();
        Ok(level)
    }

    /// Takes the oldest batch, waiting while the queue is empty and open. Returns `None` once
    /// the queue is closed and drained. Call [`BatchQueue::done`] when the batch is handled.
    pub fn pop(&self) -> Option<(Batch, QueueLevel)> {
        let mut state = self.lock();
        loop {
            if let Some(batch) = state.batches.pop_front() {
                state.level.items -= batch.items;
                state.level.bytes -= batch.bytes;
                state.level.batches -= 1;
                state.in_flight += 1;
                return Some((batch, state.level));
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

    /// Marks a popped batch as handled.
    pub fn done(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let idle = state.in_flight == 0 && state.batches.is_empty();
        drop(state);
        if idle {
            self.idle.notify_all();
        }
    }

    /// Refuses further pushes and wakes every waiting worker; queued batches still drain.
    pub fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_all();
    }

    /// Waits until every queued and in-flight batch is handled, or `timeout` passes.
    /// Returns what was still left.
    pub fn wait_drained(&self, timeout: Duration) -> QueueLevel {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.in_flight > 0 || !state.batches.is_empty() {
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
    pub fn level(&self) -> QueueLevel {
        self.lock().level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Payload, Transport};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    fn batch(items: u64, bytes: u64) -> Batch {
        let mut b = Batch::new(
            Payload::Traces(ExportTraceServiceRequest::default()),
            Transport::Grpc,
            bytes,
        );
        b.items = items;
        b
    }

    #[test]
    fn refuses_past_item_bound_and_accepts_after_pop() {
        let q = BatchQueue::new(10, 1 << 20);
        q.push(batch(6, 1)).map_err(|_| "push").unwrap();
        assert!(matches!(q.push(batch(5, 1)), Err(PushError::Full(_))));
        q.push(batch(4, 1)).map_err(|_| "push").unwrap();
        let (b, level) = q.pop().unwrap();
        assert_eq!((b.items, level.items), (6, 4));
        q.done();
        q.push(batch(5, 1)).map_err(|_| "push").unwrap();
        assert_eq!(
            q.level(),
            QueueLevel {
                batches: 2,
                items: 9,
                bytes: 2
            }
        );
    }

    #[test]
    fn refuses_past_byte_bound() {
        let q = BatchQueue::new(1000, 100);
        q.push(batch(1, 60)).map_err(|_| "push").unwrap();
        assert!(matches!(q.push(batch(1, 41)), Err(PushError::Full(_))));
        q.push(batch(1, 40)).map_err(|_| "push").unwrap();
    }

    #[test]
    fn empty_queue_takes_one_oversized_batch() {
        let q = BatchQueue::new(10, 10);
        q.push(batch(50, 500)).map_err(|_| "push").unwrap();
        assert!(matches!(q.push(batch(1, 1)), Err(PushError::Full(_))));
    }

    #[test]
    fn close_drains_then_ends_workers() {
        let q = std::sync::Arc::new(BatchQueue::new(100, 100));
        q.push(batch(1, 1)).map_err(|_| "push").unwrap();
        q.close();
        assert!(matches!(q.push(batch(1, 1)), Err(PushError::Closed(_))));
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while let Some(_b) = q.pop() {
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
