//! Counting a call once within its trace: a second description of one call (the same
//! `gen_ai.response.id`, the same span, or a parent and child span with the same model and
//! usage) is merged into the first, and every merge is counted by rule.
//!
//! Every rule is scoped to one trace: response ids repeat across traces (mock and fixture
//! servers, caching gateways), and two calls in two traces are two calls. A call without a
//! trace id is never merged.
//!
//! The record is sharded by trace id, so workers recording different traces rarely meet
//! on a lock, and bounded in bytes: ids are hashed to 64 bits before they are stored and
//! models are cut to [`MODEL_BYTES`], so an entry has a fixed size whatever the telemetry
//! sends, and each shard holds at most two generations of [`SHARD_CALLS`] calls.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use foldhash::fast::FixedState;
use foldhash::quality::RandomState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as PromFamily;

use opentelemetry_proto::tonic::trace::v1::Span;

use super::nested_tools::NestedTools;
use crate::derive::llm::Call;

/// Shards of the record; a power of two.
const SHARDS: usize = 8;

/// Calls remembered per shard and generation: 7/8 of a power of two, so the maps fill
/// their buckets without doubling them.
pub(crate) const SHARD_CALLS: usize = 1792;

/// Bytes of a model name kept in a fingerprint: enough to tell model families apart
/// (`gpt-4o` requested, `gpt-4o-2024-08-06` answered extends it).
pub(crate) const MODEL_BYTES: usize = 24;

/// The most bytes the record holds, whatever it is fed: per shard and generation, two
/// maps of [`SHARD_CALLS`] fingerprints and one set of as many hashed ids, with the
/// hash tables' control bytes and spare buckets (a table of n entries has
/// n * 8 / 7 rounded up to a power of two buckets).
pub const MAX_BYTES: usize = {
    let buckets = (SHARD_CALLS * 8 / 7).next_power_of_two();
    let fingerprints = buckets * (size_of::<(u64, Fingerprint)>() + 1);
    let ids = buckets * (size_of::<u64>() + 1);
    SHARDS * 2 * (2 * fingerprints + ids)
};

/// Why a call was merged into one counted before: the `rule` label of
/// `llmwatch_genai_deduplicated_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The same `gen_ai.response.id` in the same trace.
    ResponseId,
    /// The same span: a span and the `operation.details` event logged in it, or a span
    /// received twice.
    SameSpan,
    /// A parent and its child span with the same model and usage (an SDK span inside a
    /// framework span).
    ParentChild,
    /// A tool span directly inside or around a span of the same tool
    /// ([`super::nested_tools`]).
    NestedTool,
}

impl Rule {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ResponseId => "response_id",
            Rule::SameSpan => "same_span",
            Rule::ParentChild => "parent_child",
            Rule::NestedTool => "nested_tool",
        }
    }
}

/// What to record of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything: it was not counted before.
    New,
    /// Nothing: it was counted before, by this rule.
    Duplicate(Rule),
    /// Only its duration and time to first token: the span of a call counted from its
    /// log event, which has neither.
    TimingOnly,
}

/// The labels of `llmwatch_genai_deduplicated_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    rule: &'static str,
}

/// `llmwatch_genai_deduplicated_total{rule}`: descriptions merged into a call counted
/// before.
#[derive(Clone, Debug, Default)]
pub struct DedupeCounter(pub PromFamily<RuleLabels, Counter>);

impl DedupeCounter {
    fn inc(&self, rule: Rule) {
        self.0
            .get_or_create(&RuleLabels {
                rule: rule.as_str(),
            })
            .inc();
    }

    /// The merges counted under `rule`.
    pub fn get(&self, rule: Rule) -> u64 {
        self.0
            .get_or_create(&RuleLabels {
                rule: rule.as_str(),
            })
            .get()
    }
}

/// A call's model (cut to [`MODEL_BYTES`], lowercased), usage and outcome: what decides
/// whether a parent and a child span describe one call. Fixed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    model: [u8; MODEL_BYTES],
    model_len: u8,
    failed: bool,
    from_event: bool,
    /// `u64::MAX` when absent.
    input: u64,
    output: u64,
}

impl Fingerprint {
    fn of(call: &Call) -> Fingerprint {
        let name = call.model().as_bytes();
        let len = name.len().min(MODEL_BYTES);
        let mut model = [0; MODEL_BYTES];
        model[..len].copy_from_slice(&name[..len]);
        model.make_ascii_lowercase();
        Fingerprint {
            model,
            model_len: u8::try_from(len).unwrap_or(u8::MAX),
            failed: call.error.is_some(),
            from_event: call.from_event,
            input: call
                .usage
                .input
                .or(call.usage.uncached_input)
                .unwrap_or(u64::MAX),
            output: call.usage.output.unwrap_or(u64::MAX),
        }
    }

    fn model(&self) -> &[u8] {
        &self.model[..usize::from(self.model_len)]
    }

    /// The same call: equal usage and outcome, and one model name extends the other
    /// (`gpt-4o` requested, `gpt-4o-2024-08-06` answered).
    fn same_call(&self, other: &Fingerprint) -> bool {
        self.input == other.input
            && self.output == other.output
            && self.failed == other.failed
            && self.same_model(other)
    }

    fn same_model(&self, other: &Fingerprint) -> bool {
        self.model().starts_with(other.model()) || other.model().starts_with(self.model())
    }

    /// An operation span without usage around `child`, a call of the same model and
    /// outcome (AI SDK 7's `embeddings` span around the one with the usage).
    fn wraps(&self, child: &Fingerprint) -> bool {
        self.input == u64::MAX
            && self.output == u64::MAX
            && self.failed == child.failed
            && self.same_model(child)
    }
}

/// One generation of one shard: hashed keys only.
#[derive(Default)]
struct Generation {
    /// Hashes of (trace id, response id).
    response_ids: HashSet<u64, FixedState>,
    /// Hashes of (trace id, span id) of counted calls, with their fingerprints.
    spans: HashMap<u64, Fingerprint, FixedState>,
    /// Hashes of (trace id, parent span id) of counted calls, with their fingerprints.
    parents: HashMap<u64, Fingerprint, FixedState>,
}

impl Generation {
    fn full(&self) -> bool {
        self.spans.len() >= SHARD_CALLS
            || self.parents.len() >= SHARD_CALLS
            || self.response_ids.len() >= SHARD_CALLS
    }

    fn bytes(&self) -> usize {
        let entry = size_of::<(u64, Fingerprint)>() + 1;
        (self.spans.capacity() + self.parents.capacity()) * entry
            + self.response_ids.capacity() * (size_of::<u64>() + 1)
    }
}

#[derive(Default)]
struct Shard {
    current: Generation,
    previous: Generation,
}

/// The hashed keys of one call.
struct Keys {
    own: Option<u64>,
    parent: Option<u64>,
    response: Option<u64>,
}

/// Calls already counted, per trace, so that a second description of one call is not
/// counted again. Each shard keeps two generations: when the current one fills, it
/// becomes the previous one and the oldest is forgotten.
pub struct Dedupe {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
    merged: DedupeCounter,
    tools: NestedTools,
}

impl Default for Dedupe {
    fn default() -> Dedupe {
        Dedupe {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: RandomState::default(),
            merged: DedupeCounter::default(),
            tools: NestedTools::default(),
        }
    }
}

pub(crate) fn is_id(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().any(|b| *b != 0)
}

impl Dedupe {
    /// `llmwatch_genai_deduplicated_total`, to register.
    pub fn counter(&self) -> DedupeCounter {
        self.merged.clone()
    }

    fn keys(&self, call: &Call) -> Keys {
        let h =
            |tag: u8, id: &[u8]| is_id(id).then(|| self.hasher.hash_one((tag, &call.trace_id, id)));
        Keys {
            own: h(0, &call.span_id),
            parent: h(0, &call.parent_span_id),
            response: call
                .response_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .map(|id| self.hasher.hash_one((1u8, &call.trace_id, id))),
        }
    }

    /// Whether the tool span `span` (tool `name` of `service`) repeats a tool call seen
    /// in its trace ([`NestedTools`]). A repeat that would have been counted (`counted`)
    /// is counted under [`Rule::NestedTool`].
    pub fn tool(&self, span: &Span, service: &str, name: &str, counted: bool) -> bool {
        let nested = self.tools.nested(span, service, name, !counted);
        if nested && counted {
            self.merged.inc(Rule::NestedTool);
        }
        nested
    }

    /// Whether `call` was counted already; if not, remembers it as counted. Every merge
    /// is counted under its rule.
    pub fn seen(&self, call: &Call) -> Verdict {
        if !is_id(&call.trace_id) {
            return Verdict::New;
        }
        let verdict = self.check(call);
        if let Verdict::Duplicate(rule) = verdict {
            self.merged.inc(rule);
        }
        verdict
    }

    fn check(&self, call: &Call) -> Verdict {
        let shard = self.hasher.hash_one(&call.trace_id) as usize % SHARDS;
        let keys = self.keys(call);
        let fp = Fingerprint::of(call);
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Shard { current, previous } = &mut *shard;
        for g in [&mut *current, &mut *previous] {
            if let Some(f) = keys.own.and_then(|k| g.spans.get_mut(&k)) {
                if f.from_event && !call.from_event {
                    f.from_event = false;
                    return Verdict::TimingOnly;
                }
                return Verdict::Duplicate(Rule::SameSpan);
            }
        }
        let gens = [&*current, &*previous];
        if let Some(id) = keys.response
            && gens.iter().any(|g| g.response_ids.contains(&id))
        {
            return Verdict::Duplicate(Rule::ResponseId);
        }
        let nested = |map: &HashMap<u64, Fingerprint, FixedState>, key: Option<u64>| {
            key.and_then(|k| map.get(&k))
                .is_some_and(|f| f.same_call(&fp))
        };
        // Its parent was counted with the same model and usage, or one of its children,
        // or it has no usage and one of its children of the same model was counted.
        let wrapper = |g: &Generation| {
            keys.own
                .and_then(|k| g.parents.get(&k))
                .is_some_and(|child| fp.wraps(child))
        };
        if gens
            .iter()
            .any(|g| nested(&g.spans, keys.parent) || nested(&g.parents, keys.own) || wrapper(g))
        {
            return Verdict::Duplicate(Rule::ParentChild);
        }
        let forgotten = current
            .full()
            .then(|| std::mem::replace(previous, std::mem::take(current)));
        current.response_ids.extend(keys.response);
        current.spans.extend(keys.own.map(|k| (k, fp)));
        current.parents.extend(keys.parent.map(|k| (k, fp)));
        // Freeing a generation is not done while other workers wait on this shard.
        drop(shard);
        drop(forgotten);
        Verdict::New
    }

    /// Bytes the record holds now (hash-table storage; the fingerprints are inline).
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.current.bytes() + s.previous.bytes()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(trace: u8, span: u8, parent: u8, response: Option<&str>, model: &str) -> Call {
        Call {
            request_model: Some(model.to_owned()),
            response_id: response.map(str::to_owned),
            trace_id: vec![trace; 16],
            span_id: vec![span; 8],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![parent; 8]
            },
            usage: crate::derive::llm::RawUsage {
                input: Some(10),
                output: Some(5),
                ..Default::default()
            },
            ..Call::default()
        }
    }

    #[test]
    fn a_response_id_merges_only_within_its_trace() {
        let d = Dedupe::default();
        assert_eq!(d.seen(&call(1, 1, 0, Some("r-1"), "a")), Verdict::New);
        // Another trace, same response id: a call of its own.
        assert_eq!(d.seen(&call(2, 1, 0, Some("r-1"), "b")), Verdict::New);
        // The same trace, another span, same response id: the same call.
        assert_eq!(
            d.seen(&call(1, 2, 0, Some("r-1"), "c")),
            Verdict::Duplicate(Rule::ResponseId)
        );
        assert_eq!(d.counter().get(Rule::ResponseId), 1);
        assert_eq!(d.counter().get(Rule::SameSpan), 0);
    }

    #[test]
    fn same_span_and_parent_child_merge_and_are_counted() {
        let d = Dedupe::default();
        assert_eq!(
            d.seen(&call(1, 2, 1, None, "gpt-4o-2024-08-06")),
            Verdict::New
        );
        assert_eq!(
            d.seen(&call(1, 2, 1, None, "gpt-4o-2024-08-06")),
            Verdict::Duplicate(Rule::SameSpan)
        );
        assert_eq!(
            d.seen(&call(1, 1, 0, None, "gpt-4o")),
            Verdict::Duplicate(Rule::ParentChild)
        );
        // The same spans in another trace are other calls.
        assert_eq!(d.seen(&call(3, 1, 0, None, "gpt-4o")), Verdict::New);
        assert_eq!(d.counter().get(Rule::SameSpan), 1);
        assert_eq!(d.counter().get(Rule::ParentChild), 1);
    }

    #[test]
    fn an_operation_span_without_usage_merges_into_its_child_with_usage() {
        // AI SDK 7: `embeddings` (no usage) around `embeddings` (8 input tokens); the
        // child ends, and is exported, first.
        let d = Dedupe::default();
        let mut child = call(1, 2, 1, None, "text-embedding-3-small");
        child.usage.output = None;
        assert_eq!(d.seen(&child), Verdict::New);
        let mut parent = call(1, 1, 0, None, "text-embedding-3-small");
        parent.usage = crate::derive::llm::RawUsage::default();
        assert_eq!(d.seen(&parent), Verdict::Duplicate(Rule::ParentChild));
        // A usage-less call whose child is another model, or failed, is a call of its own.
        let mut other = call(2, 2, 1, None, "gpt-4o");
        assert_eq!(d.seen(&other), Verdict::New);
        other.error = Some("rate_limited".to_owned());
        other.span_id = vec![3; 8];
        other.parent_span_id = vec![2; 8];
        assert_eq!(d.seen(&other), Verdict::New);
        let mut lone = call(2, 1, 0, None, "text-embedding-3-small");
        lone.usage = crate::derive::llm::RawUsage::default();
        assert_eq!(d.seen(&lone), Verdict::New);
    }

    #[test]
    fn calls_without_a_trace_are_never_merged() {
        let d = Dedupe::default();
        let mut c = call(0, 1, 0, Some("r-1"), "a");
        c.trace_id.clear();
        assert_eq!(d.seen(&c), Verdict::New);
        assert_eq!(d.seen(&c), Verdict::New);
        assert_eq!(d.bytes(), 0);
    }

    #[test]
    fn the_record_stays_within_its_byte_bound_whatever_the_ids() {
        let d = Dedupe::default();
        let long = "x".repeat(10_000);
        for i in 0..(SHARDS * SHARD_CALLS * 3) as u64 {
            let c = Call {
                request_model: Some(format!("{long}{i}")),
                response_id: Some(format!("{long}{i}")),
                trace_id: i.to_le_bytes().repeat(2),
                span_id: (i + 1).to_le_bytes().to_vec(),
                parent_span_id: (i + 2).to_le_bytes().to_vec(),
                ..Call::default()
            };
            assert_eq!(d.seen(&c), Verdict::New);
        }
        let bytes = d.bytes();
        assert!(bytes > 0 && bytes <= MAX_BYTES, "{bytes} > {MAX_BYTES}");
        // A fixed size per entry: the 10 kB ids and models are not kept.
        const { assert!(MAX_BYTES < 4 << 20) };
    }
}
