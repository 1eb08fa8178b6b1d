//! The price table, model-name matching and the cost of a call.
//!
//! The embedded table is `prices.csv`, generated from LiteLLM's price file by
//! `scripts/update-prices.py` (its header says which file and when). Prices are USD per
//! 1M tokens. A model can have several rows with different effective dates; a call is
//! priced by the newest row in effect when it ended.

use std::collections::HashMap;

use crate::derive::llm::Tokens;

/// USD per 1M tokens. A missing cache price bills those tokens at the input price, a
/// missing reasoning price at the output price.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache reads.
    pub cache_read: Option<f64>,
    /// Cache writes.
    pub cache_write: Option<f64>,
    /// Reasoning output.
    pub reasoning: Option<f64>,
}

impl Price {
    /// The cost in USD of `tokens` at this price.
    pub fn cost(&self, t: &Tokens) -> f64 {
        let per_token = |n: u64, usd_per_million: f64| n as f64 * usd_per_million;
        (per_token(t.input, self.input)
            + per_token(t.cache_read, self.cache_read.unwrap_or(self.input))
            + per_token(t.cache_write, self.cache_write.unwrap_or(self.input))
            + per_token(t.output, self.output)
            + per_token(t.reasoning, self.reasoning.unwrap_or(self.output)))
            / 1e6
    }
}

impl Price {
    /// What the cache reads of `t` saved against paying the uncached input price for them.
    pub fn cache_savings(&self, t: &Tokens) -> f64 {
        let read = self.cache_read.unwrap_or(self.input);
        (t.cache_read as f64 * (self.input - read)).max(0.0) / 1e6
    }
}

/// One row: a price and the Unix day it takes effect.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Row {
    effective_day: i64,
    price: Price,
}

/// Prices by lowercase model key.
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    rows: HashMap<String, Vec<Row>>,
}

/// How a model name was matched.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// The table key that matched.
    pub key: String,
    /// Its price in effect for the call.
    pub price: Price,
    /// The day that price took effect.
    pub effective: String,
}

/// The embedded table.
pub const EMBEDDED: &str = include_str!("prices.csv");

/// The longest model name that is priced. Matching holds up to 65 candidate names at once,
/// each nearly as long as the name, and copies each again under every provider prefix: a
/// hostile multi-MiB name cost that much memory and time on every span. No real model name
/// comes near this length; a longer one counts as unpriced.
pub const MAX_MODEL_BYTES: usize = 1024;

/// Where a provider's models sit in LiteLLM-style keys (`xai/grok-4`).
const PROVIDER_PREFIXES: &[(&str, &str)] = &[
    ("x_ai", "xai/"),
    ("gcp.gemini", "gemini/"),
    ("gcp.vertex_ai", "vertex_ai/"),
    ("mistral_ai", "mistral/"),
    ("deepseek", "deepseek/"),
    ("groq", "groq/"),
    ("together_ai", "together_ai/"),
    ("azure.ai.openai", "azure/"),
    ("aws.bedrock", "bedrock/"),
];

/// Bedrock cross-region inference prefixes (`us.anthropic.claude-…`).
const BEDROCK_REGIONS: &[&str] = &[
    "us.", "eu.", "apac.", "ap.", "ca.", "jp.", "au.", "global.", "us-gov.",
];

/// Bedrock model vendors (`anthropic.claude-…`).
const BEDROCK_VENDORS: &[&str] = &[
    "anthropic.",
    "meta.",
    "amazon.",
    "mistral.",
    "cohere.",
    "ai21.",
    "deepseek.",
    "openai.",
    "qwen.",
];

pub use crate::model::time::parse_day;

fn format_day(day: i64) -> String {
    // The inverse of parse_day.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn strip_suffix_digits(s: &str, sep: char, n: usize) -> Option<&str> {
    let (head, tail) = s.rsplit_once(sep)?;
    (tail.len() == n && tail.bytes().all(|b| b.is_ascii_digit()) && !head.is_empty())
        .then_some(head)
}

/// A dated snapshot suffix: `-2024-08-06`, `-20250514`, `@20250514`, `-0613`.
fn strip_date(s: &str) -> Option<&str> {
    let n = s.len();
    if n > 11
        && s.as_bytes()[n - 11] == b'-'
        && let (Some(head), Some(date)) = (s.get(..n - 11), s.get(n - 10..))
        && date.as_bytes()[4] == b'-'
        && parse_day(date).is_some()
    {
        return Some(head);
    }
    strip_suffix_digits(s, '-', 8)
        .or_else(|| strip_suffix_digits(s, '@', 8))
        .or_else(|| strip_suffix_digits(s, '-', 4))
}

/// A version suffix: `-001`, `@001`, `-v2:0`, `:0`, `-latest`.
fn strip_version(s: &str) -> Option<&str> {
    if let Some(head) = s.strip_suffix("-latest") {
        return Some(head);
    }
    if let Some((head, tail)) = s.rsplit_once(':')
        && tail.bytes().all(|b| b.is_ascii_digit())
        && !tail.is_empty()
    {
        return Some(head);
    }
    if let Some((head, tail)) = s.rsplit_once("-v")
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(head);
    }
    strip_suffix_digits(s, '-', 3).or_else(|| strip_suffix_digits(s, '@', 3))
}

/// The names to try for `model`, most specific first: the name itself, then without
/// the `ft:` fine-tune wrapper, provider prefixes, Bedrock region and vendor prefixes,
/// version suffixes and date suffixes, alone and combined.
pub fn candidates(model: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |s: &str, out: &mut Vec<String>| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    let name = model.trim().to_ascii_lowercase();
    push(&name, &mut out);
    // ft:gpt-4o-2024-08-06:org::id prices as gpt-4o-2024-08-06.
    if let Some(rest) = name.strip_prefix("ft:") {
        push(rest.split(':').next().unwrap_or(rest), &mut out);
    }
    // Provider prefixes, one at a time: openrouter/openai/gpt-4o, models/gemini-2.5-pro.
    let mut i = 0;
    while i < out.len() {
        let c = out[i].clone();
        if let Some((_, rest)) = c.split_once('/') {
            push(rest, &mut out);
        }
        for region in BEDROCK_REGIONS {
            if let Some(rest) = c.strip_prefix(region)
                && BEDROCK_VENDORS.iter().any(|v| rest.starts_with(v))
            {
                push(rest, &mut out);
            }
        }
        for vendor in BEDROCK_VENDORS {
            if let Some(rest) = c.strip_prefix(vendor) {
                push(rest, &mut out);
            }
        }
        if let Some(head) = strip_version(&c) {
            push(head, &mut out);
        }
        if let Some(head) = strip_date(&c) {
            push(head, &mut out);
        }
        i += 1;
        if out.len() > 64 {
            break;
        }
    }
    out
}

impl PriceTable {
    /// The embedded table.
    pub fn embedded() -> PriceTable {
        // The embedded file is checked by a test; a bad row cannot ship.
        PriceTable::parse(EMBEDDED).unwrap_or_default()
    }

    /// Parses the CSV format of `prices.csv`.
    pub fn parse(text: &str) -> Result<PriceTable, String> {
        let mut table = PriceTable::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("model,") {
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            let [model, input, output, cr, cw, reasoning, effective] = f[..] else {
                return Err(format!(
                    "line {}: expected 7 fields, found {}",
                    i + 1,
                    f.len()
                ));
            };
            let num = |s: &str, what: &str| -> Result<Option<f64>, String> {
                if s.is_empty() {
                    return Ok(None);
                }
                match s.parse::<f64>() {
                    Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                    _ => Err(format!("line {}: {what} {s:?} is not a price", i + 1)),
                }
            };
            let price = Price {
                input: num(input, "input")?.ok_or(format!("line {}: no input price", i + 1))?,
                output: num(output, "output")?.ok_or(format!("line {}: no output price", i + 1))?,
                cache_read: num(cr, "cache_read")?,
                cache_write: num(cw, "cache_write")?,
                reasoning: num(reasoning, "reasoning")?,
            };
            let day = parse_day(effective).ok_or(format!(
                "line {}: effective {effective:?} is not YYYY-MM-DD",
                i + 1
            ))?;
            table.set(model, day, price);
        }
        table.alias_bedrock_only_models();
        Ok(table)
    }

    /// Models the table knows only in their Bedrock form (`anthropic.claude-opus-4-1-
    /// 20250805-v1:0`), because the provider's own listing was retired from the source,
    /// are also priced under their bare name, which is what the provider's SDKs report.
    /// A bare key that exists keeps its own price; region-prefixed keys are left alone,
    /// since regional prices differ.
    fn alias_bedrock_only_models(&mut self) {
        let mut aliases = Vec::new();
        for (key, rows) in &self.rows {
            let Some(bare) = BEDROCK_VENDORS.iter().find_map(|v| key.strip_prefix(v)) else {
                continue;
            };
            let mut bare = bare;
            while let Some(head) = strip_version(bare) {
                bare = head;
            }
            if !bare.is_empty() && !self.rows.contains_key(bare) {
                aliases.push((bare.to_owned(), rows.clone()));
            }
        }
        // Several Bedrock versions of one model: the first in key order wins, stably.
        aliases.sort_by(|a, b| a.0.cmp(&b.0));
        for (bare, rows) in aliases {
            self.rows.entry(bare).or_insert(rows);
        }
    }

    /// Adds or replaces the price of `model` from `effective_day` on.
    pub fn set(&mut self, model: &str, effective_day: i64, price: Price) {
        let rows = self
            .rows
            .entry(model.trim().to_ascii_lowercase())
            .or_default();
        rows.retain(|r| r.effective_day != effective_day);
        rows.push(Row {
            effective_day,
            price,
        });
        rows.sort_by_key(|r| r.effective_day);
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table key that `model` from `provider` (a `gen_ai.provider.name` value)
    /// matches, trying the names of [`candidates`], each under the provider's own key
    /// prefix first.
    /// A name longer than [`MAX_MODEL_BYTES`] is never priced.
    pub fn resolve(&self, model: &str, provider: &str) -> Option<String> {
        if model.len() > MAX_MODEL_BYTES {
            return None;
        }
        let candidates = candidates(model);
        let own = PROVIDER_PREFIXES
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, prefix)| *prefix);
        let mut keys = candidates
            .iter()
            .flat_map(|c| {
                own.map(|p| format!("{p}{c}"))
                    .into_iter()
                    .chain([c.clone()])
            })
            // OpenAI-compatible proxies report `openai` for any backend: try every
            // provider's keys last.
            .chain(candidates.iter().flat_map(|c| {
                PROVIDER_PREFIXES
                    .iter()
                    .map(move |(_, p)| format!("{p}{c}"))
            }));
        keys.find(|k| self.rows.contains_key(k))
    }

    /// The price of table key `key` in effect for a call that ended at `end_unix_nano`
    /// (0: now): the newest row in effect, or the oldest row for a call older than all.
    pub fn price_at(&self, key: &str, end_unix_nano: u64) -> Option<(Price, i64)> {
        let rows = self.rows.get(key)?;
        let day = if end_unix_nano == 0 {
            i64::MAX
        } else {
            (end_unix_nano / 86_400_000_000_000) as i64
        };
        let row = rows
            .iter()
            .rev()
            .find(|r| r.effective_day <= day)
            .or(rows.first())?;
        Some((row.price, row.effective_day))
    }

    /// Finds the price of `model` from `provider` for a call that ended at
    /// `end_unix_nano` (0: now).
    pub fn find(&self, model: &str, provider: &str, end_unix_nano: u64) -> Option<Match> {
        let key = self.resolve(model, provider)?;
        let (price, day) = self.price_at(&key, end_unix_nano)?;
        Some(Match {
            key,
            price,
            effective: format_day(day),
        })
    }
}

#[cfg(test)]
mod tests;
