//! Identity from the enclosing span: an LLM call without a user or a session takes the
//! nearest ancestor's within its trace (an app can often put `user.id` / `session.id`
//! only on its own `POST /api/chat` server span, AI SDK 7 only on its `step` and
//! `invoke_agent` spans).
//!
//! Ancestors usually end, and so arrive, after the call they enclose, often in a later
//! batch; sometimes earlier. So the spans that carry an identity are remembered, and so
//! are the parent links of every span of a trace with a call waiting or an identity
//! seen; a call whose chain of ancestors is not complete yet waits for it, at most
//! [`InheritConfig::wait`]. A call whose chain ends at a root without an identity keeps
//! what it had. A call that gives up waiting keeps what it had too, and is counted.
//!
//! Only the attribution waits: the `llm_*` metrics of the call are recorded at once.
//! Everything is bounded in entries and in bytes: identities are cut to
//! [`IDENTITY_BYTES`], ids are hashed to 64 bits, the record of spans keeps two
//! generations per shard, and a call that finds the waiting room full gives up at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use foldhash::fast::FixedState;
use foldhash::quality::RandomState;
use serde::Deserialize;

/// Shards of the record; a power of two.
const SHARDS: usize = 8;

/// Bytes of a user or session id kept: pseudonyms and session ids are far shorter.
pub const IDENTITY_BYTES: usize = 128;

/// Ancestors walked at most, against cycles and absurd depths.
const MAX_DEPTH: usize = 64;

/// `processors.chat_analytics.identity_inheritance`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InheritConfig {
    /// How long a call waits for its ancestors.
    #[serde(
        default = "InheritConfig::default_wait",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub wait: Duration,
    /// Spans remembered plus calls waiting, at most.
    #[serde(default = "InheritConfig::default_max_entries")]
    pub max_entries: usize,
    /// Bytes the record and the waiting calls hold, at most.
    #[serde(default = "InheritConfig::default_max_bytes")]
    pub max_bytes: usize,
}

impl Default for InheritConfig {
    fn default() -> InheritConfig {
        InheritConfig {
            wait: InheritConfig::default_wait(),
            max_entries: InheritConfig::default_max_entries(),
            max_bytes: InheritConfig::default_max_bytes(),
        }
    }
}

impl InheritConfig {
    fn default_wait() -> Duration {
        Duration::from_secs(5)
    }
    fn default_max_entries() -> usize {
        200_000
    }
    fn default_max_bytes() -> usize {
        16 << 20
    }

    /// Problems, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if self.max_entries < 2 * SHARDS * 2 {
            errors.push((
                "identity_inheritance.max_entries".to_owned(),
                format!("must be at least {}", 2 * SHARDS * 2),
            ));
        }
        if self.max_bytes < 64 << 10 {
            errors.push((
                "identity_inheritance.max_bytes".to_owned(),
                "must be at least 65536".to_owned(),
            ));
        }
        errors
    }
}

/// A user and a session (the conversation, else the session), as found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Who {
    pub user: Option<String>,
    pub session: Option<String>,
}

impl Who {
    fn complete(&self) -> bool {
        self.user.is_some() && self.session.is_some()
    }

    fn bytes(&self) -> usize {
        self.user.as_ref().map_or(0, String::len) + self.session.as_ref().map_or(0, String::len)
    }

    /// Each id cut to [`IDENTITY_BYTES`].
    fn cut(self) -> Who {
        let c = |id: Option<String>| {
            id.map(|id| {
                if id.len() > IDENTITY_BYTES {
                    cut(&id)
                } else {
                    id
                }
            })
        };
        Who {
            user: c(self.user),
            session: c(self.session),
        }
    }

    /// Fills what is missing from `other`.
    fn fill(&mut self, other: &Who) {
        if self.user.is_none() {
            self.user.clone_from(&other.user);
        }
        if self.session.is_none() {
            self.session.clone_from(&other.session);
        }
    }
}

/// An id cut to [`IDENTITY_BYTES`] on a character boundary.
pub fn cut(id: &str) -> String {
    let mut end = id.len().min(IDENTITY_BYTES);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].to_owned()
}

/// How a waiting call ended: the `result` label of `llmwatch_identity_inheritance_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An ancestor gave it a user or a session.
    Inherited,
    /// Its chain of ancestors ended at a root with nothing to give.
    Nothing,
    /// It gave up waiting for an ancestor: attributed with what it had.
    Timeout,
    /// The waiting room was full: attributed at once with what it had.
    Full,
}

impl Outcome {
    /// Every outcome, with its label value.
    pub const ALL: [(Outcome, &'static str); 4] = [
        (Outcome::Inherited, "inherited"),
        (Outcome::Nothing, "nothing"),
        (Outcome::Timeout, "timeout"),
        (Outcome::Full, "full"),
    ];
}

/// A remembered span: its parent (hashed, 0 for a root) and its identity.
struct Node {
    parent: u64,
    who: Who,
}

/// Bytes one node costs besides its strings: the map entry and a control byte.
const NODE_BYTES: usize = size_of::<(u64, Node)>() + 1;
/// Bytes one trace entry costs.
const TRACE_BYTES: usize = size_of::<u64>() + 1;

#[derive(Default)]
struct Generation {
    nodes: HashMap<u64, Node, FixedState>,
    traces: HashSet<u64, FixedState>,
    bytes: usize,
}

struct Waiting<T> {
    start: u64,
    who: Who,
    deadline: Instant,
    payload: T,
}

struct Shard<T> {
    current: Generation,
    previous: Generation,
    waiting: VecDeque<Waiting<T>>,
    waiting_bytes: usize,
    /// Spans arrived since the waiting calls were last tried.
    fresh: bool,
}

impl<T> Default for Shard<T> {
    fn default() -> Shard<T> {
        Shard {
            current: Generation::default(),
            previous: Generation::default(),
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            fresh: false,
        }
    }
}

enum Walk {
    /// Every ancestor up to the root is known, or `who` is complete.
    Done(Who),
    /// An ancestor has not arrived.
    Missing,
}

impl<T> Shard<T> {
    fn node(&self, key: u64) -> Option<&Node> {
        self.current
            .nodes
            .get(&key)
            .or_else(|| self.previous.nodes.get(&key))
    }

    fn walk(&self, start: u64, own: &Who) -> Walk {
        let mut who = own.clone();
        let mut key = start;
        for _ in 0..MAX_DEPTH {
            if key == 0 || who.complete() {
                return Walk::Done(who);
            }
            let Some(node) = self.node(key) else {
                return Walk::Missing;
            };
            who.fill(&node.who);
            key = node.parent;
        }
        Walk::Done(who)
    }

    fn interesting(&self, trace: u64) -> bool {
        self.current.traces.contains(&trace) || self.previous.traces.contains(&trace)
    }
}

/// One call's attribution, once known.
pub struct Settled<T> {
    /// What the call had, with what its ancestors gave.
    pub who: Who,
    /// What the caller parked with it.
    pub payload: T,
    /// How it ended; `None` for a call that had a user and a session, or no ancestor.
    pub outcome: Option<Outcome>,
}

/// The record of ancestors and the calls waiting for them, shared by every worker.
pub struct Inheritance<T> {
    shards: [Mutex<Shard<T>>; SHARDS],
    hasher: RandomState,
    config: InheritConfig,
}

impl<T> Inheritance<T> {
    /// An empty record.
    pub fn new(config: InheritConfig) -> Inheritance<T> {
        Inheritance {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: RandomState::default(),
            config,
        }
    }

    fn shard(&self, trace: u64) -> std::sync::MutexGuard<'_, Shard<T>> {
        self.shards[trace as usize % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn trace_key(&self, trace: &[u8]) -> Option<u64> {
        is_id(trace).then(|| self.hasher.hash_one((0u8, trace)) | 1)
    }

    fn span_key(&self, trace: &[u8], span: &[u8]) -> u64 {
        if is_id(span) {
            self.hasher.hash_one((1u8, trace, span)) | 1
        } else {
            0
        }
    }

    /// Makes room for `bytes` in the current generation of `shard`: when it is full, it
    /// becomes the previous one and the oldest is returned, to be freed unlocked.
    fn room(&self, shard: &mut Shard<T>, bytes: usize) -> Option<Generation> {
        let g = &shard.current;
        let full = g.nodes.len() + g.traces.len() >= self.config.max_entries / SHARDS / 4
            || g.bytes + bytes > self.config.max_bytes / SHARDS / 4;
        full.then(|| std::mem::replace(&mut shard.previous, std::mem::take(&mut shard.current)))
    }

    /// Marks the trace of a call that will look for its ancestors, before the spans of
    /// its batch are observed, so that they are remembered.
    pub fn expect(&self, trace: &[u8]) {
        let Some(t) = self.trace_key(trace) else {
            return;
        };
        let mut shard = self.shard(t);
        if shard.current.traces.contains(&t) {
            return;
        }
        let forgotten = self.room(&mut shard, TRACE_BYTES);
        shard.current.traces.insert(t);
        shard.current.bytes += TRACE_BYTES;
        drop(shard);
        drop(forgotten);
    }

    /// Remembers a span: always when it carries an identity, else when its trace has a
    /// call waiting or an identity seen.
    pub fn observe(&self, trace: &[u8], span: &[u8], parent: &[u8], who: Who) {
        let who = who.cut();
        let Some(t) = self.trace_key(trace) else {
            return;
        };
        let key = self.span_key(trace, span);
        if key == 0 {
            return;
        }
        let parent = self.span_key(trace, parent);
        let has = who.user.is_some() || who.session.is_some();
        let mut shard = self.shard(t);
        if !has && !shard.interesting(t) {
            return;
        }
        let bytes = NODE_BYTES + who.bytes() + TRACE_BYTES;
        let forgotten = self.room(&mut shard, bytes);
        let s = &mut *shard;
        s.current.traces.insert(t);
        s.current.bytes += bytes;
        s.current.nodes.insert(key, Node { parent, who });
        s.fresh = true;
        drop(shard);
        drop(forgotten);
    }

    /// Attributes a call with `own` identity, whose ancestors start at `start` (its
    /// parent span; for a call found in a log event, the span it belongs to). Returns
    /// the call settled now, or `None` when it waits.
    pub fn attribute(
        &self,
        trace: &[u8],
        start: &[u8],
        own: Who,
        payload: T,
    ) -> Option<Settled<T>> {
        let own = own.cut();
        let (Some(t), key) = (self.trace_key(trace), self.span_key(trace, start)) else {
            return Some(Settled {
                who: own,
                payload,
                outcome: None,
            });
        };
        if own.complete() || key == 0 {
            return Some(Settled {
                who: own,
                payload,
                outcome: None,
            });
        }
        let mut shard = self.shard(t);
        if let Walk::Done(who) = shard.walk(key, &own) {
            let outcome = Some(if who == own {
                Outcome::Nothing
            } else {
                Outcome::Inherited
            });
            return Some(Settled {
                who,
                payload,
                outcome,
            });
        }
        let bytes = size_of::<Waiting<T>>() + own.bytes();
        let room_entries = self.config.max_entries / SHARDS / 2;
        let room_bytes = self.config.max_bytes / SHARDS / 2;
        if shard.waiting.len() >= room_entries || shard.waiting_bytes + bytes > room_bytes {
            return Some(Settled {
                who: own,
                payload,
                outcome: Some(Outcome::Full),
            });
        }
        shard.waiting_bytes += bytes;
        shard.waiting.push_back(Waiting {
            start: key,
            who: own,
            deadline: Instant::now() + self.config.wait,
            payload,
        });
        None
    }

    /// The waiting calls whose ancestors have arrived, and those that waited past their
    /// deadline (all of them with `give_up`, at shutdown).
    pub fn settle(&self, now: Instant, give_up: bool) -> Vec<Settled<T>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if shard.waiting.is_empty() || (!shard.fresh && !give_up && !shard.overdue(now)) {
                continue;
            }
            shard.fresh = false;
            let waiting = std::mem::take(&mut shard.waiting);
            for w in waiting {
                let walked = shard.walk(w.start, &w.who);
                let settled = match walked {
                    Walk::Done(who) => {
                        let outcome = if who == w.who {
                            Outcome::Nothing
                        } else {
                            Outcome::Inherited
                        };
                        Some((who, outcome))
                    }
                    Walk::Missing if give_up || now >= w.deadline => {
                        Some((w.who.clone(), Outcome::Timeout))
                    }
                    Walk::Missing => None,
                };
                match settled {
                    Some((who, outcome)) => {
                        shard.waiting_bytes -= size_of::<Waiting<T>>() + w.who.bytes();
                        out.push(Settled {
                            who,
                            payload: w.payload,
                            outcome: Some(outcome),
                        });
                    }
                    None => shard.waiting.push_back(w),
                }
            }
        }
        out
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .waiting
                    .len()
            })
            .sum()
    }

    /// Bytes held now: the record's and the waiting calls'.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.current.bytes + s.previous.bytes + s.waiting_bytes
            })
            .sum()
    }
}

impl<T> Shard<T> {
    fn overdue(&self, now: Instant) -> bool {
        self.waiting.front().is_some_and(|w| now >= w.deadline)
    }
}

fn is_id(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().any(|b| *b != 0)
}

#[cfg(test)]
mod tests;
