//! The send queue of one `otlp` exporter, bounded in bytes, in memory or written ahead.
//!
//! Pipeline workers push encoded requests; the exporter's sender takes the oldest ones,
//! same signal, as one batch, and removes them only once they are delivered or given up
//! on. A batch being sent therefore still counts against the bound.
//!
//! When a push finds the queue full, `when_full` decides:
//! - `block`: the push is taken anyway, and the exporter reports that it admits nothing
//!   more, so the pipeline refuses new requests with the OTLP retryable status. The bound
//!   can be passed by the requests already past that check, at most one per worker.
//! - `drop_oldest`: the oldest entries are dropped, counted, until the new one fits. A
//!   batch being sent may be among them; its sender sees that and stops retrying it.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::config::FullPolicy;
use super::wal::{self, Location, Wal};
use crate::model::Signal;

enum Stored {
    Memory(Bytes),
    Disk(Location),
}

struct Entry {
    seq: u64,
    signal: Signal,
    items: u32,
    /// Payload length.
    len: u32,
    /// What the entry counts against the bound.
    size: u64,
    queued_at: Instant,
    data: Stored,
}

/// Items dropped to make room, by signal.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Dropped {
    pub(super) traces: u64,
    pub(super) logs: u64,
    pub(super) metrics: u64,
}

impl Dropped {
    fn add(&mut self, signal: Signal, items: u64) {
        match signal {
            Signal::Traces => self.traces += items,
            Signal::Logs => self.logs += items,
            Signal::Metrics => self.metrics += items,
        }
    }

    /// Each signal with a non-zero count.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Signal, u64)> {
        [
            (Signal::Traces, self.traces),
            (Signal::Logs, self.logs),
            (Signal::Metrics, self.metrics),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
}

/// Oldest entries of one signal, concatenated into one request.
#[derive(Debug)]
pub(super) struct Taken {
    pub(super) signal: Signal,
    pub(super) items: u64,
    pub(super) body: Bytes,
    /// The sequence number of the newest entry in it.
    pub(super) last: u64,
}

struct State {
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
    wal: Option<Wal>,
}

/// What recovery of a persistent queue found.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    pub(super) batches: usize,
    pub(super) items: u64,
    pub(super) bytes: u64,
    pub(super) truncated_bytes: u64,
}

/// A byte-bounded FIFO of encoded requests.
pub(super) struct SendQueue {
    state: Mutex<State>,
    /// `state.bytes`, published after every change, so the pipeline's push-back check and
    /// the queue gauge read it without the lock.
    held: AtomicU64,
    max_bytes: u64,
    policy: FullPolicy,
}

impl SendQueue {
    /// An in-memory queue.
    pub(super) fn memory(max_bytes: u64, policy: FullPolicy) -> SendQueue {
        SendQueue {
            state: Mutex::new(State {
                entries: VecDeque::new(),
                bytes: 0,
                next_seq: 0,
                wal: None,
            }),
            held: AtomicU64::new(0),
            max_bytes,
            policy,
        }
    }

    /// A queue written ahead to `dir`, with what it recovered from there.
    pub(super) fn persistent(
        dir: &Path,
        fsync: bool,
        max_bytes: u64,
        policy: FullPolicy,
    ) -> io::Result<(SendQueue, Recovered)> {
        let (wal, recovery) = Wal::open(dir, fsync)?;
        let now = Instant::now();
        let mut report = Recovered {
            truncated_bytes: recovery.truncated_bytes,
            ..Recovered::default()
        };
        let entries: VecDeque<Entry> = recovery
            .records
            .into_iter()
            .map(|r| {
                let size = wal::HEADER as u64 + u64::from(r.len);
                report.batches += 1;
                report.items += u64::from(r.items);
                report.bytes += size;
                Entry {
                    seq: r.seq,
                    signal: r.signal,
                    items: r.items,
                    len: r.len,
                    size,
                    queued_at: now,
                    data: Stored::Disk(r.at),
                }
            })
            .collect();
        let queue = SendQueue {
            state: Mutex::new(State {
                bytes: report.bytes,
                entries,
                next_seq: recovery.next_seq,
                wal: Some(wal),
            }),
            held: AtomicU64::new(report.bytes),
            max_bytes,
            policy,
        };
        Ok((queue, report))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured bound.
    pub(super) fn capacity(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes held now.
    pub(super) fn bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether a new request would fit.
    pub(super) fn has_room(&self) -> bool {
        self.bytes() < self.max_bytes
    }

    /// Queues one encoded request; returns what was dropped to make room for it.
    pub(super) fn push(&self, signal: Signal, items: u64, payload: Vec<u8>) -> io::Result<Dropped> {
        let items = u32::try_from(items).unwrap_or(u32::MAX);
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "request over 4 GiB"))?;
        let mut state = self.lock();
        let size = match state.wal {
            Some(_) => wal::HEADER as u64 + u64::from(len),
            None => u64::from(len),
        };
        let mut dropped = Dropped::default();
        if self.policy == FullPolicy::DropOldest {
            while state.bytes + size > self.max_bytes {
                let Some(old) = state.entries.pop_front() else {
                    break;
                };
                state.bytes -= old.size;
                dropped.add(old.signal, u64::from(old.items));
            }
            self.held.store(state.bytes, Ordering::Relaxed);
            if dropped != Dropped::default() {
                let next = state.entries.front().map_or(state.next_seq, |e| e.seq);
                if let Some(wal) = state.wal.as_mut() {
                    wal.checkpoint(next)?;
                }
            }
        }
        let seq = state.next_seq;
        let data = match state.wal.as_mut() {
            Some(wal) => Stored::Disk(wal.append(seq, signal, items, &payload)?.0),
            None => Stored::Memory(Bytes::from(payload)),
        };
        state.next_seq += 1;
        state.bytes += size;
        state.entries.push_back(Entry {
            seq,
            signal,
            items,
            len,
            size,
            queued_at: Instant::now(),
            data,
        });
        self.held.store(state.bytes, Ordering::Relaxed);
        Ok(dropped)
    }

    /// How long until the oldest entry has waited `linger`, or zero if the entries of its
    /// signal already fill a batch. `None` when empty.
    pub(super) fn wait_for(
        &self,
        max_items: u64,
        max_bytes: u64,
        linger: std::time::Duration,
    ) -> Option<std::time::Duration> {
        let state = self.lock();
        let head = state.entries.front()?;
        let (mut items, mut bytes) = (0u64, 0u64);
        for e in state.entries.iter().take_while(|e| e.signal == head.signal) {
            items += u64::from(e.items);
            bytes += u64::from(e.len);
            if items >= max_items || bytes >= max_bytes {
                return Some(std::time::Duration::ZERO);
            }
        }
        Some(linger.saturating_sub(head.queued_at.elapsed()))
    }

    /// The oldest entries of the head's signal, up to `max_items` and `max_bytes` (always
    /// at least one), without removing them.
    pub(super) fn take(&self, max_items: u64, max_bytes: u64) -> io::Result<Option<Taken>> {
        let mut state = self.lock();
        let State { entries, wal, .. } = &mut *state;
        let Some(head) = entries.front() else {
            return Ok(None);
        };
        let signal = head.signal;
        let (mut items, mut bytes, mut count) = (0u64, 0u64, 0usize);
        for e in entries.iter() {
            let over =
                items + u64::from(e.items) > max_items || bytes + u64::from(e.len) > max_bytes;
            if e.signal != signal || (count > 0 && over) {
                break;
            }
            items += u64::from(e.items);
            bytes += u64::from(e.len);
            count += 1;
        }
        let chosen = entries.range(..count);
        let body = match (count, &head.data) {
            // One in-memory entry goes out as it is, without a copy.
            (1, Stored::Memory(b)) => b.clone(),
            _ => {
                let mut body = BytesMut::with_capacity(bytes as usize);
                for e in chosen.clone() {
                    match (&e.data, wal.as_mut()) {
                        (Stored::Memory(b), _) => body.extend_from_slice(b),
                        (Stored::Disk(at), Some(wal)) => {
                            body.extend_from_slice(&wal.read(*at, e.len)?)
                        }
                        (Stored::Disk(_), None) => {
                            return Err(io::Error::other("an entry on disk without a log"));
                        }
                    }
                }
                body.freeze()
            }
        };
        let last = chosen.last().map_or(head.seq, |e| e.seq);
        Ok(Some(Taken {
            signal,
            items,
            body,
            last,
        }))
    }

    /// Whether entry `seq` is still queued (not dropped to make room).
    pub(super) fn holds(&self, seq: u64) -> bool {
        self.lock().entries.front().is_some_and(|e| e.seq <= seq)
    }

    /// Removes every entry up to `last`: delivered, or given up on.
    pub(super) fn remove_through(&self, last: u64) -> io::Result<()> {
        let mut state = self.lock();
        let mut removed = false;
        while state.entries.front().is_some_and(|e| e.seq <= last) {
            if let Some(e) = state.entries.pop_front() {
                state.bytes -= e.size;
                removed = true;
            }
        }
        self.held.store(state.bytes, Ordering::Relaxed);
        if removed {
            let next = state.entries.front().map_or(state.next_seq, |e| e.seq);
            if let Some(wal) = state.wal.as_mut() {
                wal.checkpoint(next)?;
            }
        }
        Ok(())
    }

    /// Whether entries survive a restart.
    pub(super) fn is_persistent(&self) -> bool {
        self.lock().wal.is_some()
    }

    /// Drops everything queued (shutdown of an in-memory queue that could not deliver).
    pub(super) fn drain_all(&self) -> Dropped {
        let mut state = self.lock();
        let mut dropped = Dropped::default();
        for e in state.entries.drain(..) {
            dropped.add(e.signal, u64::from(e.items));
        }
        state.bytes = 0;
        self.held.store(0, Ordering::Relaxed);
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_the_oldest_entries_of_one_signal_within_the_limits() {
        let q = SendQueue::memory(1 << 20, FullPolicy::Block);
        q.push(Signal::Traces, 2, b"aa".to_vec()).expect("push");
        q.push(Signal::Traces, 3, b"bbb".to_vec()).expect("push");
        q.push(Signal::Logs, 1, b"c".to_vec()).expect("push");
        let t = q.take(100, 100).expect("io").expect("some");
        assert_eq!(
            (t.signal, t.items, &t.body[..]),
            (Signal::Traces, 5, &b"aabbb"[..])
        );
        assert_eq!(q.bytes(), 6, "taken entries count until removed");
        q.remove_through(t.last).expect("remove");
        let t = q.take(100, 100).expect("io").expect("some");
        assert_eq!((t.signal, t.items), (Signal::Logs, 1));
        q.remove_through(t.last).expect("remove");
        assert_eq!(q.bytes(), 0);
        q.push(Signal::Traces, 2, b"aa".to_vec()).expect("push");
        q.push(Signal::Traces, 3, b"bbb".to_vec()).expect("push");
        let t = q.take(4, 100).expect("io").expect("some");
        assert_eq!(t.items, 2, "the item limit stops the batch");
        let t = q.take(1, 1).expect("io").expect("some");
        assert_eq!(t.items, 2, "an oversized head still goes alone");
    }

    #[test]
    fn block_keeps_everything_and_reports_no_room() {
        let q = SendQueue::memory(10, FullPolicy::Block);
        q.push(Signal::Traces, 1, vec![0; 8]).expect("push");
        assert!(q.has_room());
        let d = q.push(Signal::Traces, 1, vec![0; 8]).expect("push");
        assert_eq!(d, Dropped::default());
        assert!(!q.has_room());
        assert_eq!(q.bytes(), 16);
    }

    #[test]
    fn drop_oldest_makes_room_and_counts_what_it_dropped() {
        let q = SendQueue::memory(10, FullPolicy::DropOldest);
        q.push(Signal::Traces, 4, vec![0; 4]).expect("push");
        q.push(Signal::Logs, 3, vec![0; 4]).expect("push");
        let taken = q.take(100, 100).expect("io").expect("some");
        let d = q.push(Signal::Metrics, 9, vec![0; 6]).expect("push");
        assert_eq!(
            d,
            Dropped {
                traces: 4,
                ..Dropped::default()
            }
        );
        assert!(
            !q.holds(taken.last),
            "the sender learns its batch was dropped"
        );
        assert_eq!(q.bytes(), 10);
    }

    #[test]
    fn a_persistent_queue_gives_back_what_was_not_removed() {
        let dir = std::env::temp_dir().join(format!("llmwatch-sq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (q, rec) =
                SendQueue::persistent(&dir, false, 1 << 20, FullPolicy::Block).expect("opens");
            assert_eq!(rec.batches, 0);
            q.push(Signal::Traces, 2, b"first".to_vec()).expect("push");
            q.push(Signal::Traces, 5, b"second".to_vec()).expect("push");
            let t = q.take(2, 1 << 20).expect("io").expect("some");
            q.remove_through(t.last).expect("remove");
        }
        let (q, rec) =
            SendQueue::persistent(&dir, false, 1 << 20, FullPolicy::Block).expect("opens");
        assert_eq!((rec.batches, rec.items), (1, 5));
        let t = q.take(100, 1 << 20).expect("io").expect("some");
        assert_eq!(&t.body[..], b"second");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
