//! The `llm_*` families, built on [`crate::metrics::bounded`].

use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Unit;

pub use crate::metrics::bounded::*;
use crate::metrics::spec::{FamilyMaker, FamilySpec};

/// Semconv bucket boundaries for `gen_ai.client.operation.duration` and
/// `…time_to_first_chunk`, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

const REQUESTS: FamilySpec = FamilySpec {
    name: "llm_requests",
    help: "LLM calls, by outcome (success or error).",
    unit: None,
    labels: &["service", "provider", "model", "operation", "outcome"],
};

const TOKENS: FamilySpec = FamilySpec {
    name: "llm_tokens",
    help: "Tokens of LLM calls, in disjoint types: input (uncached), cache_read, cache_write, output (not reasoning), reasoning.",
    unit: None,
    labels: &["service", "provider", "model", "type"],
};

const COST: FamilySpec = FamilySpec {
    name: "llm_cost_usd",
    help: "Cost of LLM calls in USD, computed from the price table or reported by the app (cost_source).",
    unit: None,
    labels: &["service", "provider", "model", "cost_source"],
};

const DURATION: FamilySpec = FamilySpec {
    name: "llm_request_duration",
    help: "Duration of LLM calls.",
    unit: Some(Unit::Seconds),
    labels: &["service", "provider", "model", "operation"],
};

const TTFT: FamilySpec = FamilySpec {
    name: "llm_time_to_first_token",
    help: "Time from the start of a streamed LLM call to its first chunk.",
    unit: Some(Unit::Seconds),
    labels: &["service", "provider", "model"],
};

const ERRORS: FamilySpec = FamilySpec {
    name: "llm_errors",
    help: "Failed LLM calls, by low-cardinality error class.",
    unit: None,
    labels: &["service", "provider", "model", "error_type"],
};

const UNPRICED: FamilySpec = FamilySpec {
    name: "llm_unpriced_tokens",
    help: "Tokens of calls to models the price table does not know and that reported no cost.",
    unit: None,
    labels: &["service", "provider", "model"],
};

const FINISH_REASONS: FamilySpec = FamilySpec {
    name: "llm_finish_reasons",
    help: "Why generation stopped; content_filter is a moderation flag.",
    unit: None,
    labels: &["service", "provider", "model", "reason"],
};

const CACHE_SAVINGS: FamilySpec = FamilySpec {
    name: "llm_cache_savings_usd",
    help: "What cache reads saved in USD: cache-read tokens at the uncached input price, less what they cost.",
    unit: None,
    labels: &["service", "provider", "model"],
};

const WITHOUT_USAGE: FamilySpec = FamilySpec {
    name: "llm_calls_without_usage",
    help: "Successful LLM calls that reported no token count (a stream without include_usage, an emitter that drops usage): counted at $0.",
    unit: None,
    labels: &["service", "provider", "model", "operation"],
};

const TOOL_CALLS: FamilySpec = FamilySpec {
    name: "llm_tool_calls",
    help: "Tool calls (execute_tool, MCP tools/call, the AI SDK's ai.toolCall), by tool and outcome.",
    unit: None,
    labels: &["service", "tool", "outcome"],
};

const TOOL_DURATION: FamilySpec = FamilySpec {
    name: "llm_tool_call_duration",
    help: "Duration of tool calls.",
    unit: Some(Unit::Seconds),
    labels: &["service", "tool"],
};

const AGENT_INVOCATIONS: FamilySpec = FamilySpec {
    name: "llm_agent_invocations",
    help: "Agent and workflow invocations (invoke_agent, invoke_workflow), by kind, name and outcome.",
    unit: None,
    labels: &["service", "kind", "agent", "outcome"],
};

const AGENT_DURATION: FamilySpec = FamilySpec {
    name: "llm_agent_duration",
    help: "Duration of agent and workflow invocations.",
    unit: Some(Unit::Seconds),
    labels: &["service", "kind", "agent"],
};

const EVALUATIONS: FamilySpec = FamilySpec {
    name: "llm_evaluations",
    help: "Evaluation results (gen_ai.evaluation.result events) by evaluation and score label (none without one).",
    unit: None,
    labels: &["service", "evaluation", "label"],
};

const EVALUATION_SCORE: FamilySpec = FamilySpec {
    name: "llm_evaluation_score",
    help: "Scores of evaluation results by evaluation.",
    unit: None,
    labels: &["service", "evaluation"],
};

/// Every `llm_*` family.
pub struct LlmMetrics {
    /// `llm_requests_total`.
    pub requests: Family<Counter>,
    /// `llm_tokens_total`.
    pub tokens: Family<Counter>,
    /// `llm_cost_usd_total`.
    pub cost: Family<FloatCounter>,
    /// `llm_request_duration_seconds`.
    pub duration: Family<Histogram>,
    /// `llm_time_to_first_token_seconds`.
    pub ttft: Family<Histogram>,
    /// `llm_errors_total`.
    pub errors: Family<Counter>,
    /// `llm_unpriced_tokens_total`.
    pub unpriced: Family<Counter>,
    /// `llm_finish_reasons_total`.
    pub finish_reasons: Family<Counter>,
    /// `llm_cache_savings_usd_total`.
    pub cache_savings: Family<FloatCounter>,
    /// `llm_calls_without_usage_total`.
    pub without_usage: Family<Counter>,
    /// `llm_tool_calls_total`.
    pub tool_calls: Family<Counter>,
    /// `llm_tool_call_duration_seconds`.
    pub tool_duration: Family<Histogram>,
    /// `llm_agent_invocations_total`.
    pub agent_invocations: Family<Counter>,
    /// `llm_agent_duration_seconds`.
    pub agent_duration: Family<Histogram>,
    /// `llm_evaluations_total`.
    pub evaluations: Family<Counter>,
    /// `llm_evaluation_score`.
    pub evaluation_score: Family<Histogram>,
    /// The evaluation names kept as labels.
    pub evaluation_names: ValueLimit,
    /// The evaluation score labels kept as labels.
    pub evaluation_labels: ValueLimit,
    /// The tool names kept as labels.
    pub tool_names: ValueLimit,
    /// The agent and workflow names kept as labels.
    pub agent_names: ValueLimit,
    /// `llm_budget_usd{period}`.
    pub budgets: Vec<(&'static str, f64)>,
    /// Seconds a series may stay idle.
    pub ttl: u64,
    started: Instant,
}

impl LlmMetrics {
    /// The families, with `dims` (Prometheus label names) appended to the request, token
    /// and cost families, `limit` series each.
    pub fn new(dims: &[String], limit: usize, ttl: u64) -> LlmMetrics {
        let m = FamilyMaker {
            keep: &["outcome", "type", "cost_source", "operation"],
            limit,
        };
        let histogram = || Histogram::new(DURATION_BUCKETS.into_iter());
        LlmMetrics {
            requests: m.make(&REQUESTS, dims, Counter::default),
            tokens: m.make(&TOKENS, dims, Counter::default),
            cost: m.make(&COST, dims, FloatCounter::default),
            duration: m.make(&DURATION, &[], histogram),
            ttft: m.make(&TTFT, &[], histogram),
            errors: m.make(&ERRORS, &[], Counter::default),
            unpriced: m.make(&UNPRICED, &[], Counter::default),
            finish_reasons: m.make(&FINISH_REASONS, &[], Counter::default),
            cache_savings: m.make(&CACHE_SAVINGS, &[], FloatCounter::default),
            without_usage: m.make(&WITHOUT_USAGE, &[], Counter::default),
            tool_calls: m.make(&TOOL_CALLS, &[], Counter::default),
            tool_duration: m.make(&TOOL_DURATION, &[], histogram),
            agent_invocations: m.make(&AGENT_INVOCATIONS, &[], Counter::default),
            agent_duration: m.make(&AGENT_DURATION, &[], histogram),
            evaluations: m.make(&EVALUATIONS, &[], Counter::default),
            evaluation_score: m.make(&EVALUATION_SCORE, &[], || {
                Histogram::new(super::evaluations::SCORE_BUCKETS.into_iter())
            }),
            evaluation_names: ValueLimit::new(
                "llm_evaluation_names",
                super::evaluations::MAX_NAMES,
            ),
            evaluation_labels: ValueLimit::new(
                "llm_evaluation_labels",
                super::evaluations::MAX_LABELS,
            ),
            tool_names: ValueLimit::new("llm_tool_names", super::agents::MAX_NAMES),
            agent_names: ValueLimit::new("llm_agent_names", super::agents::MAX_NAMES),
            budgets: Vec::new(),
            ttl,
            started: Instant::now(),
        }
    }

    /// Seconds since the families were made: the clock of idle expiry.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn expire(&self) {
        let Some(oldest) = self.now().checked_sub(self.ttl) else {
            return;
        };
        self.requests.expire(oldest);
        self.tokens.expire(oldest);
        self.cost.expire(oldest);
        self.duration.expire(oldest);
        self.ttft.expire(oldest);
        self.errors.expire(oldest);
        self.unpriced.expire(oldest);
        self.finish_reasons.expire(oldest);
        self.cache_savings.expire(oldest);
        self.without_usage.expire(oldest);
        self.tool_calls.expire(oldest);
        self.evaluations.expire(oldest);
        self.evaluation_score.expire(oldest);
        self.tool_duration.expire(oldest);
        self.agent_invocations.expire(oldest);
        self.agent_duration.expire(oldest);
    }
}

impl std::fmt::Debug for LlmMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmMetrics").finish_non_exhaustive()
    }
}

impl Collector for LlmMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.expire();
        self.requests.encode(&mut encoder, MetricType::Counter)?;
        self.tokens.encode(&mut encoder, MetricType::Counter)?;
        self.cost.encode(&mut encoder, MetricType::Counter)?;
        self.duration.encode(&mut encoder, MetricType::Histogram)?;
        self.ttft.encode(&mut encoder, MetricType::Histogram)?;
        self.errors.encode(&mut encoder, MetricType::Counter)?;
        self.unpriced.encode(&mut encoder, MetricType::Counter)?;
        self.finish_reasons
            .encode(&mut encoder, MetricType::Counter)?;
        self.cache_savings
            .encode(&mut encoder, MetricType::Counter)?;
        self.without_usage
            .encode(&mut encoder, MetricType::Counter)?;
        self.tool_calls.encode(&mut encoder, MetricType::Counter)?;
        self.evaluations.encode(&mut encoder, MetricType::Counter)?;
        self.evaluation_score
            .encode(&mut encoder, MetricType::Histogram)?;
        self.tool_duration
            .encode(&mut encoder, MetricType::Histogram)?;
        self.agent_invocations
            .encode(&mut encoder, MetricType::Counter)?;
        self.agent_duration
            .encode(&mut encoder, MetricType::Histogram)?;
        if !self.budgets.is_empty() {
            let mut m = encoder.encode_descriptor(
                "llm_budget_usd",
                "Configured LLM spending budgets in USD, for alert rules.",
                None,
                MetricType::Gauge,
            )?;
            for (period, usd) in &self.budgets {
                m.encode_family(&[("period", *period)])?.encode_gauge(usd)?;
            }
        }
        Ok(())
    }
}

/// Where the `genai` processor's families live once one is built.
pub type LlmMetricsSlot = Slot<LlmMetrics>;
