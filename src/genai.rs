//! The `genai` processor: records the LLM calls that the derive stage found
//! ([`crate::derive::llm`]), counts each call once within its trace ([`dedupe`]), prices
//! it, and records the `llm_*` families.
//!
//! It reads the batch after redaction and never changes it. Labels come only from closed
//! sets, normalised names (provider, operation, model, error class, finish reason) and
//! the extra dimensions the config lists, each with a value limit: free text never
//! becomes a label.

pub mod agents;
mod config;
pub mod dedupe;
pub mod evaluations;
pub mod matches;
pub mod metrics;
pub mod nested_tools;
pub mod price;

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;

pub use self::config::{BudgetConfig, FACTORY, GenaiConfig, GenaiShared, PriceConfig};
use self::dedupe::{Dedupe, Verdict};
use self::metrics::{LlmMetrics, OverflowCounter, TraceExemplar};
use self::price::{Price, PriceTable};
use crate::component::{ProcessError, Processor};
use crate::derive::Recorder;
use crate::derive::agent::{AgentKind, AgentOp};
use crate::derive::llm::{self as extract, Call, Tokens};
use crate::derive::{Counted, Facts};
use crate::model::Batch;
use crate::semconv::evaluation::EVALUATION_EVENT;

pub use crate::metrics::bounded::DimensionConfig;

struct Dimension {
    attribute: String,
    values: metrics::ValueLimit,
}

/// What `llmwatch price` prints: the names tried, the match, the price and the cost of
/// `usage`; and whether the model is priced.
pub fn explain_price(
    table: &PriceTable,
    model: &str,
    provider: &str,
    usage: &extract::RawUsage,
) -> (String, bool) {
    use std::fmt::Write;
    let provider = extract::provider(provider);
    let mut out = String::new();
    let _ = writeln!(out, "model      {model} (provider {provider})");
    let _ = writeln!(out, "tried      {}", price::candidates(model).join(", "));
    let Some(m) = table.find(model, &provider, 0) else {
        let _ = writeln!(
            out,
            "matched    nothing: its tokens count in llm_unpriced_tokens_total, never as $0"
        );
        return (out, false);
    };
    let or =
        |v: Option<f64>, fallback: &str| v.map_or_else(|| fallback.to_owned(), |v| v.to_string());
    let p = m.price;
    let _ = writeln!(out, "matched    {} (effective {})", m.key, m.effective);
    let _ = writeln!(
        out,
        "price      input {}, output {}, cache_read {}, cache_write {}, reasoning {} (USD per 1M tokens)",
        p.input,
        p.output,
        or(p.cache_read, "= input"),
        or(p.cache_write, "= input"),
        or(p.reasoning, "= output"),
    );
    let t = usage.tokens();
    let _ = writeln!(
        out,
        "tokens     input {} (uncached), cache_read {}, cache_write {}, output {} (not reasoning), reasoning {}",
        t.input, t.cache_read, t.cache_write, t.output, t.reasoning
    );
    let _ = writeln!(out, "cost       ${:.9}", p.cost(&t));
    (out, true)
}

/// The built `genai` processor.
pub struct GenaiProcessor {
    metrics: Arc<LlmMetrics>,
    prices: PriceTable,
    /// Table keys by provider and model name as reported.
    matched: matches::Matches,
    prefer_reported: bool,
    dimensions: Vec<Dimension>,
    dedupe: Option<Arc<Dedupe>>,
    overflow: OverflowCounter,
}

fn attribute(attrs: &[KeyValue], key: &str) -> Option<String> {
    crate::model::attrs::get(attrs, key).and_then(crate::model::attrs::text)
}

impl GenaiProcessor {
    /// The label value of each dimension for an item with `attrs` under `resource`.
    fn dimension_values(&self, attrs: &[KeyValue], resource: &[KeyValue]) -> Vec<String> {
        self.dimensions
            .iter()
            .map(|d| {
                let Some(v) =
                    attribute(attrs, &d.attribute).or_else(|| attribute(resource, &d.attribute))
                else {
                    return String::new();
                };
                d.values
                    .admit(metrics::label_value(&v).into_owned(), &self.overflow)
            })
            .collect()
    }

    /// Records one call; returns what was counted of it, `None` when it was merged into
    /// a call counted before.
    pub fn record(&self, call: &Call, dims: &[String]) -> Option<Counted> {
        let verdict = match &self.dedupe {
            Some(d) => d.seen(call),
            None => Verdict::New,
        };
        let m = &self.metrics;
        let now = m.now();
        let of = &self.overflow;
        let (service, provider, model) = (
            metrics::label_value(&call.service),
            metrics::label_value(&call.provider),
            metrics::label_value(call.model()),
        );
        let base = [service.as_ref(), provider.as_ref(), model.as_ref()];
        match verdict {
            Verdict::Duplicate(_) => return None,
            Verdict::TimingOnly => {
                self.record_timing(call, &base, now);
                return None;
            }
            Verdict::New => {}
        }
        let operation = metrics::label_value(&call.operation);
        let outcome = if call.error.is_some() {
            "error"
        } else {
            "success"
        };
        let (labels, len) = with_dims(&base, &[&operation, outcome], dims);
        m.requests.with(&labels[..len], now, of, |c| {
            c.inc();
        });
        if call.error.is_none() && call.usage.is_empty() {
            let (labels, len) = with_dims(&base, &[&operation], &[]);
            m.without_usage.with(&labels[..len], now, of, |c| {
                c.inc();
            });
        }
        let tokens = call.usage.tokens();
        for (kind, n) in tokens.by_type() {
            if n > 0 {
                let (labels, len) = with_dims(&base, &[kind], dims);
                m.tokens.with(&labels[..len], now, of, |c| {
                    c.inc_by(n);
                });
            }
        }
        let cost = self.record_cost(call, &tokens, &base, dims, now);
        self.record_timing(call, &base, now);
        self.record_outcome(call, &base, now);
        Some(Counted {
            cost_usd: cost.unwrap_or(0.0),
            tokens: tokens.total(),
            failed: call.error.is_some(),
        })
    }

    /// Records a counted call's cost (reported or computed, as configured), its cache
    /// savings, or its tokens as unpriced; returns the cost.
    fn record_cost(
        &self,
        call: &Call,
        tokens: &Tokens,
        base: &[&str; 3],
        dims: &[String],
        now: u64,
    ) -> Option<f64> {
        let (m, of) = (&self.metrics, &self.overflow);
        let price = self.price(call.model(), &call.provider, call.end_unix_nano);
        let computed = price.map(|p| p.cost(tokens));
        if let Some(saved) = price.map(|p| p.cache_savings(tokens)).filter(|s| *s > 0.0) {
            m.cache_savings.with(base, now, of, |c| {
                c.inc_by(saved);
            });
        }
        let cost = match (call.reported_cost, computed) {
            (Some(r), _) if self.prefer_reported => Some((r, "reported")),
            (_, Some(c)) => Some((c, "computed")),
            (Some(r), None) => Some((r, "reported")),
            (None, None) => None,
        };
        match cost {
            Some((usd, source)) => {
                let (labels, len) = with_dims(base, &[source], dims);
                m.cost.with(&labels[..len], now, of, |c| {
                    c.inc_by(usd);
                });
            }
            None if tokens.total() > 0 => m.unpriced.with(base, now, of, |c| {
                c.inc_by(tokens.total());
            }),
            None => {}
        }
        cost.map(|(usd, _)| usd)
    }

    /// Records a counted call's error class and finish reasons.
    fn record_outcome(&self, call: &Call, base: &[&str; 3], now: u64) {
        let (m, of) = (&self.metrics, &self.overflow);
        if let Some(e) = &call.error {
            let e = metrics::label_value(e);
            m.errors
                .with(&[base[0], base[1], base[2], &e], now, of, |c| {
                    c.inc();
                });
        }
        for r in &call.finish_reasons {
            let r = metrics::label_value(r);
            m.finish_reasons
                .with(&[base[0], base[1], base[2], &r], now, of, |c| {
                    c.inc();
                });
        }
    }
}

/// `base`, `extra` and `dims`, on the stack.
fn with_dims<'a>(
    base: &[&'a str],
    extra: &[&'a str],
    dims: &'a [String],
) -> ([&'a str; metrics::MAX_LABELS], usize) {
    let mut out = [""; metrics::MAX_LABELS];
    let mut n = 0;
    for v in base
        .iter()
        .chain(extra)
        .copied()
        .chain(dims.iter().map(String::as_str))
    {
        if n < out.len() {
            out[n] = v;
            n += 1;
        }
    }
    (out, n)
}

impl GenaiProcessor {
    /// Whether `op` is not to be counted: an MCP transport span, or a tool span nested
    /// in one of the same tool counted before (unless `dedupe: false`).
    fn nested_tool(&self, span: &Span, service: &str, op: &AgentOp) -> bool {
        if op.kind != AgentKind::Tool {
            return false;
        }
        let nested = self
            .dedupe
            .as_ref()
            .is_some_and(|d| d.tool(span, service, &op.name, !op.transport));
        op.transport || nested
    }

    /// The price of `model` from `provider` for a call that ended at `end_unix_nano`.
    fn price(&self, model: &str, provider: &str, end_unix_nano: u64) -> Option<Price> {
        let key = self
            .matched
            .get_or_resolve(provider, model, || self.prices.resolve(model, provider))?;
        Some(self.prices.price_at(&key, end_unix_nano)?.0)
    }

    fn record_timing(&self, call: &Call, base: &[&str; 3], now: u64) {
        let m = &self.metrics;
        let of = &self.overflow;
        let exemplar = TraceExemplar::new(&call.trace_id);
        if let Some(d) = call.duration {
            let operation = metrics::label_value(&call.operation);
            let labels = [base[0], base[1], base[2], operation.as_ref()];
            m.duration
                .with(&labels, now, of, |h| h.observe(d, exemplar.clone(), None));
        }
        if let Some(t) = call.ttft {
            m.ttft.with(base, now, of, |h| h.observe(t, exemplar, None));
        }
    }
}

impl Recorder for GenaiProcessor {
    fn record(&self, facts: &mut Facts<'_>) -> Result<(), ProcessError> {
        for f in &mut facts.spans {
            if let Some(op) = &f.agent
                && !self.nested_tool(f.span, f.service, op)
            {
                agents::record(
                    &self.metrics,
                    f.service,
                    op,
                    &f.span.trace_id,
                    &self.overflow,
                );
            }
            for e in f.events.iter().filter(|e| e.event.name == EVALUATION_EVENT) {
                let result = crate::derive::evaluation::from_attributes(&e.event.attributes);
                evaluations::record(&self.metrics, f.service, &result, &self.overflow);
            }
            if let Some(c) = &mut f.call {
                let dims = self.dimension_values(&f.span.attributes, f.resource);
                c.counted = GenaiProcessor::record(self, &c.call, &dims);
            }
        }
        for f in &mut facts.logs {
            if f.event == Some(EVALUATION_EVENT) {
                let result = crate::derive::evaluation::from_attributes(&f.record.attributes);
                evaluations::record(&self.metrics, f.service, &result, &self.overflow);
            }
            if let Some(c) = &mut f.call {
                let dims = self.dimension_values(&f.record.attributes, f.resource);
                c.counted = GenaiProcessor::record(self, &c.call, &dims);
            }
        }
        Ok(())
    }
}

impl Processor for GenaiProcessor {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        Recorder::record(self, &mut crate::derive::derive(batch))
    }
}

#[cfg(test)]
mod tests;
