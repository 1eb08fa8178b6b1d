//! One tool call described by nested spans counts once: an agent framework's
//! `execute_tool` span around the MCP client's `tools/call` span of the same tool, or the
//! MCP client and server spans of one call in one process. A tool span directly inside,
//! or directly around, a span of the same tool, service and trace seen before is the same
//! call. The `mcp` SDK's transport span (`MCP send tools/call {tool}`, between the client's
//! span and the server's) is never a call itself, only a link: a call span whose parent or
//! child is a transport span is nested when the span on the transport span's other side
//! was seen. The transport span ends, and is exported, before the client's around it;
//! should it arrive after both, they count as two calls (counting is never deferred).
//!
//! Scoped to one trace and one service: an MCP call instrumented on both sides in two
//! services counts once per side. Bounded like [`super::dedupe`]: ids are hashed to 64
//! bits with the service and tool name, and two generations of [`GENERATION`] spans are
//! kept, so a nested span that arrives more than that many tool spans later counts again.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use foldhash::fast::FixedState;
use foldhash::quality::RandomState;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::dedupe::is_id;

/// Tool spans remembered per generation and kind (calls, transport links): 7/8 of a power
/// of two.
pub(crate) const GENERATION: usize = 3584;

/// The most bytes the record holds: per generation, two sets of [`GENERATION`] hashes and
/// two maps of as many pairs, with their control bytes and spare buckets.
pub const MAX_BYTES: usize = {
    let buckets = (GENERATION * 8 / 7).next_power_of_two();
    let set = buckets * (size_of::<u64>() + 1);
    let map = buckets * (size_of::<(u64, u64)>() + 1);
    2 * (2 * set + 2 * map)
};

/// Keys are hashes of (trace id, span id, service, tool).
#[derive(Default)]
struct Generation {
    /// The call spans seen: their own keys.
    spans: HashSet<u64, FixedState>,
    /// The same spans' parents' keys.
    parents: HashSet<u64, FixedState>,
    /// Transport spans: own key to parent key.
    up: HashMap<u64, u64, FixedState>,
    /// Transport spans: parent key to own key.
    down: HashMap<u64, u64, FixedState>,
}

impl Generation {
    fn full(&self) -> bool {
        self.spans.len().max(self.parents.len()) >= GENERATION
            || self.up.len().max(self.down.len()) >= GENERATION
    }

    fn bytes(&self) -> usize {
        (self.spans.capacity() + self.parents.capacity()) * (size_of::<u64>() + 1)
            + (self.up.capacity() + self.down.capacity()) * (size_of::<(u64, u64)>() + 1)
    }

    /// A call span of key `own` under `parent` touches a call span seen here, directly or
    /// across one transport span.
    fn touches(&self, own: u64, parent: Option<u64>) -> bool {
        let above = parent.is_some_and(|p| {
            self.spans.contains(&p) || self.up.get(&p).is_some_and(|g| self.spans.contains(g))
        });
        let below = self.parents.contains(&own)
            || self
                .down
                .get(&own)
                .is_some_and(|t| self.parents.contains(t));
        above || below
    }
}

/// The tool spans seen lately, to tell a nested description of one call.
#[derive(Default)]
pub struct NestedTools {
    generations: Mutex<[Generation; 2]>,
    hasher: RandomState,
}

impl NestedTools {
    /// Whether `span`, a span of tool `name` in `service`, is nested in or around a call
    /// span of the same tool seen before in its trace; remembers it. A `transport` span is
    /// remembered as a link and never nested. A span without a trace or span id is never
    /// nested.
    pub fn nested(&self, span: &Span, service: &str, name: &str, transport: bool) -> bool {
        if !is_id(&span.trace_id) || !is_id(&span.span_id) {
            return false;
        }
        let h = |id: &[u8]| self.hasher.hash_one((&span.trace_id, id, service, name));
        let own = h(&span.span_id);
        let parent = is_id(&span.parent_span_id).then(|| h(&span.parent_span_id));
        let mut gens = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let nested = !transport && gens.iter().any(|g| g.touches(own, parent));
        let [current, previous] = &mut *gens;
        let forgotten = current
            .full()
            .then(|| std::mem::replace(previous, std::mem::take(current)));
        match (transport, parent) {
            (true, Some(parent)) => {
                current.up.insert(own, parent);
                current.down.insert(parent, own);
            }
            (true, None) => {}
            (false, _) => {
                current.spans.insert(own);
                current.parents.extend(parent);
            }
        }
        drop(gens);
        drop(forgotten);
        nested
    }

    /// Bytes the record holds now.
    pub fn bytes(&self) -> usize {
        let gens = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        gens.iter().map(Generation::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8, id: u16, parent: u16) -> Span {
        let id8 = |n: u16| {
            if n == 0 {
                Vec::new()
            } else {
                [n.to_be_bytes().as_slice(), &[1; 6]].concat()
            }
        };
        Span {
            trace_id: vec![trace; 16],
            span_id: id8(id),
            parent_span_id: id8(parent),
            ..Span::default()
        }
    }

    #[test]
    fn a_chain_of_spans_of_one_tool_is_one_call_whichever_arrives_first() {
        // Server 3 in transport 2 in client 1, in every order in which the transport
        // span comes before the client's: it ends first, and SDKs export spans as they end
        // (the server's may end before or after the transport's). With the transport last,
        // the server's and the client's are two calls: counting is not deferred.
        let orders: [[u16; 3]; 3] = [[3, 2, 1], [2, 3, 1], [2, 1, 3]];
        for order in orders {
            let n = NestedTools::default();
            let counted = order
                .iter()
                .filter(|id| {
                    let (span, transport) = match id {
                        3 => (span(1, 3, 2), false),
                        2 => (span(1, 2, 1), true),
                        _ => (span(1, 1, 0), false),
                    };
                    let nested = n.nested(&span, "app", "weather", transport);
                    !transport && !nested
                })
                .count();
            assert_eq!(counted, 1, "{order:?}");
        }
        // A framework's span around the client's, the transport first (the server runs
        // elsewhere): the client's counts, the framework's does not.
        let n = NestedTools::default();
        assert!(!n.nested(&span(3, 2, 1), "app", "weather", true));
        assert!(!n.nested(&span(3, 1, 9), "app", "weather", false));
        assert!(n.nested(&span(3, 9, 0), "app", "weather", false));
        // A parent before its child.
        assert!(!n.nested(&span(1, 10, 0), "app", "search", false));
        assert!(n.nested(&span(1, 11, 10), "app", "search", false));
    }

    #[test]
    fn other_tools_services_traces_and_siblings_are_other_calls() {
        let n = NestedTools::default();
        assert!(!n.nested(&span(1, 2, 1), "app", "weather", false));
        assert!(!n.nested(&span(1, 1, 0), "app", "search", false));
        assert!(!n.nested(&span(1, 1, 0), "mcp-server", "weather", false));
        assert!(!n.nested(&span(2, 1, 0), "app", "weather", false));
        // Two calls of one tool under one agent span.
        assert!(!n.nested(&span(1, 5, 4), "app", "lookup", false));
        assert!(!n.nested(&span(1, 6, 4), "app", "lookup", false));
        // No ids: never nested.
        assert!(!n.nested(&span(0, 1, 0), "app", "weather", false));
        assert!(!n.nested(&span(0, 1, 0), "app", "weather", false));
    }

    #[test]
    fn the_record_stays_within_its_byte_bound() {
        let n = NestedTools::default();
        assert_eq!(n.bytes(), 0);
        for i in 0..(GENERATION * 5) {
            let id = u16::try_from(i % 60_000 + 1).unwrap();
            n.nested(
                &span(u8::try_from(i % 250 + 1).unwrap(), id, id),
                "app",
                "t",
                false,
            );
        }
        let bytes = n.bytes();
        assert!(bytes > 0 && bytes <= MAX_BYTES, "{bytes} > {MAX_BYTES}");
    }
}
