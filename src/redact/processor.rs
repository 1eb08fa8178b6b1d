//! The `redaction` processor: runs the scanner over every string a batch carries and
//! rewrites it in place.
//!
//! Locations: resource, scope, span, span-event and link attributes; span names and
//! status messages; log bodies (strings, and strings nested in kvlists and arrays) and
//! log attributes; metric data point and exemplar attributes. A string is rewritten only
//! when something was found in it. A string that holds JSON (as `gen_ai.input.messages`
//! does) is redacted inside its JSON strings and stays valid JSON.

use std::collections::BTreeMap;

use foldhash::fast::RandomState;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Deserialize;

use super::detect::CustomPattern;
use super::{Detector, Finding, Scanner};
use crate::model::{Batch, Payload};
use crate::pipeline::{ProcessError, Processor};

/// What happens to a finding.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace with a typed placeholder, `[EMAIL]`.
    #[default]
    Mask,
    /// Replace with a keyed-hash placeholder, `[EMAIL:3f9a1c]`: equal values still correlate.
    Hash,
    /// Drop the attribute that holds it (in a log body or a name: mask).
    Drop,
}

/// What happens to prompt and completion content.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContentPolicy {
    /// Keep content, redacted like every other string.
    #[default]
    Keep,
    /// Drop content attributes, content span events and the bodies of content log events.
    Drop,
    /// Keep only metadata: `<key>.length` (characters) and `<key>.pii` (the detectors that
    /// fired in it) instead of the content.
    Metadata,
}

/// One user-defined pattern.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// Lowercase letters, digits and `_`; the placeholder is its uppercase in brackets.
    pub name: String,
    /// A regex in Rust `regex` syntax.
    pub regex: String,
    /// The action for its findings; the processor's `action` when absent.
    #[serde(default)]
    pub action: Option<Action>,
}

/// `processors.redaction`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Detectors to run, by name; all of them by default.
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// The action for every detector without an override.
    #[serde(default)]
    pub action: Action,
    /// Per-detector actions, e.g. `{ email: hash, private_key: drop }`.
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// User-defined patterns: `[{ name: employee_id, regex: "EMP-[0-9]{6}", action: hash }]`.
    #[serde(default)]
    pub patterns: Vec<PatternConfig>,
    /// Attribute keys never scanned (globs with `*`): ids, counts, model names.
    #[serde(default = "RedactionConfig::default_allow_keys")]
    pub allow_keys: Vec<String>,
    /// Attribute keys whose values are always replaced by `[REDACTED]` (globs with `*`).
    #[serde(default = "RedactionConfig::default_block_keys")]
    pub block_keys: Vec<String>,
    /// What to do with prompt and completion content.
    #[serde(default)]
    pub content: ContentPolicy,
    /// Attribute keys that hold content (globs with `*`), across GenAI conventions.
    #[serde(default = "RedactionConfig::default_content_keys")]
    pub content_keys: Vec<String>,
    /// Span event and log event names whose payload is content.
    #[serde(default = "RedactionConfig::default_content_events")]
    pub content_events: Vec<String>,
    /// Attributes that mark telemetry as opted out of user-level analytics (for example a
    /// Do-Not-Track flag), on the resource or the item, with the value `true`, `"true"` or 1.
    /// Such telemetry keeps counting in error and health metrics, but its user ids are
    /// removed instead of pseudonymised.
    #[serde(default = "RedactionConfig::default_opt_out_keys")]
    pub opt_out_keys: Vec<String>,
    /// Scan span names too.
    #[serde(default = "RedactionConfig::yes")]
    pub span_names: bool,
    /// Add `redaction.masked.count` and `redaction.masked.types` to every span and log
    /// record that had something redacted, for audits.
    #[serde(default)]
    pub summary: bool,
    /// Attribute keys holding user ids, replaced by a keyed hash (empty: off).
    #[serde(default = "RedactionConfig::default_user_id_keys")]
    pub user_id_keys: Vec<String>,
    /// The environment variable holding the hashing key (at least 16 bytes).
    #[serde(default = "RedactionConfig::default_key_env")]
    pub hash_key_env: String,
    /// Use a fixed, public development key when none is set. Pseudonyms made with it can be
    /// reversed by anyone who guesses the ids: never in production.
    #[serde(default)]
    pub insecure_dev_key: bool,
}

impl RedactionConfig {
    fn yes() -> bool {
        true
    }
    fn default_allow_keys() -> Vec<String> {
        [
            // Ids known to be random or opaque; a catch-all like `*.id` would also skip a
            // `customer.id` that holds an e-mail address.
            "trace_id",
            "span_id",
            "gen_ai.response.id",
            "gen_ai.conversation.id",
            "session.id",
            "service.instance.id",
            "gen_ai.usage.*",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.system",
            "gen_ai.provider.name",
            "gen_ai.operation.name",
            "gen_ai.response.finish_reasons",
            "server.port",
            "http.response.status_code",
            "telemetry.sdk.*",
            "service.name",
            "service.version",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_block_keys() -> Vec<String> {
        [
            "*password*",
            "*passwd*",
            "*secret*",
            "http.request.header.authorization",
            "http.request.header.cookie",
            "db.connection_string",
        ]
        .map(String::from)
        .to_vec()
    }
    /// The user-id keys of every convention in genai-semconv.md: OTel, OpenAI, Traceloop,
    /// OpenInference, Langfuse, the Vercel AI SDK and LiteLLM.
    fn default_user_id_keys() -> Vec<String> {
        [
            "user.id",
            "enduser.id",
            "enduser.pseudo.id",
            "gen_ai.user",
            "gen_ai.request.user",
            "llm.user",
            "traceloop.association.properties.user_id",
            "langfuse.user.id",
            "langfuse.trace.metadata.langfuse_user_id",
            "langfuse.observation.metadata.langfuse_user_id",
            "ai.telemetry.metadata.userId",
            "litellm.end_user.id",
            "metadata.user_api_key_user_id",
            "metadata.user_api_key_end_user_id",
            "user_id",
            "session.user_id",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_content_keys() -> Vec<String> {
        [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.prompt*",
            "gen_ai.completion*",
            "llm.input_messages*",
            "llm.output_messages*",
            "input.value",
            "output.value",
            "ai.prompt*",
            "ai.response.text",
            "ai.response.object",
            "traceloop.entity.input",
            "traceloop.entity.output",
            "langfuse.observation.input",
            "langfuse.observation.output",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_content_events() -> Vec<String> {
        [
            "gen_ai.content.prompt",
            "gen_ai.content.completion",
            "gen_ai.system.message",
            "gen_ai.user.message",
            "gen_ai.assistant.message",
            "gen_ai.tool.message",
            "gen_ai.choice",
            "gen_ai.client.inference.operation.details",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_opt_out_keys() -> Vec<String> {
        ["user.analytics_opt_out", "user.dnt", "app.do_not_track"]
            .map(String::from)
            .to_vec()
    }
    fn default_key_env() -> String {
        "LLMWATCH_REDACTION_KEY".to_owned()
    }

    fn needs_key(&self) -> bool {
        !self.user_id_keys.is_empty()
            || self.action == Action::Hash
            || self.actions.values().any(|a| *a == Action::Hash)
    }

    fn detectors(&self) -> Result<Vec<Detector>, String> {
        let Some(names) = &self.detectors else {
            return Ok(Detector::ALL.to_vec());
        };
        names
            .iter()
            .map(|n| {
                Detector::ALL
                    .into_iter()
                    .find(|d| d.name() == n)
                    .ok_or_else(|| format!("unknown detector {n:?}"))
            })
            .collect()
    }

    /// Keys the GenAI metrics stage reads: a redaction rule that removes or rewrites them
    /// silently breaks token and cost metrics.
    const DERIVE_NEEDS: [&'static str; 7] = [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.operation.name",
    ];

    /// Settings that are valid but probably not meant: rules that hide keys the GenAI
    /// metrics need.
    pub fn warnings(&self) -> Vec<String> {
        let block: Vec<Glob> = self.block_keys.iter().map(|g| Glob::new(g)).collect();
        let content: Vec<Glob> = self.content_keys.iter().map(|g| Glob::new(g)).collect();
        Self::DERIVE_NEEDS
            .iter()
            .filter_map(|key| {
                if block.iter().any(|g| g.matches(key)) {
                    Some(format!(
                        "block_keys hides {key}, which the GenAI metrics read"
                    ))
                } else if self.content != ContentPolicy::Keep
                    && content.iter().any(|g| g.matches(key))
                {
                    Some(format!(
                        "content_keys covers {key}, which the GenAI metrics read"
                    ))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Problems that would stop the processor from building, with the environment given.
    pub fn check(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if let Err(e) = self.detectors() {
            errors.push((
                "detectors".to_owned(),
                format!(
                    "{e}; known: {}",
                    Detector::ALL.map(Detector::name).join(", ")
                ),
            ));
        }
        for (i, p) in self.patterns.iter().enumerate() {
            let valid_name = !p.name.is_empty()
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name
                || Detector::ALL.iter().any(|d| d.name() == p.name)
                || self.patterns[..i].iter().any(|q| q.name == p.name)
            {
                errors.push((format!("patterns[{i}].name"), format!("{:?} must be unique, not a built-in detector's, and use lowercase letters, digits and _", p.name)));
            }
            match regex_automata::meta::Regex::new(&p.regex) {
                Err(e) => errors.push((
                    format!("patterns[{i}].regex"),
                    format!("invalid regex: {e}"),
                )),
                Ok(r) if r.is_match("") => errors.push((
                    format!("patterns[{i}].regex"),
                    "matches the empty string".to_owned(),
                )),
                Ok(_) => {}
            }
        }
        for name in self.actions.keys() {
            if !Detector::ALL.iter().any(|d| d.name() == name) {
                errors.push((format!("actions.{name}"), "not a detector name".to_owned()));
            }
        }
        if self.needs_key() && !self.insecure_dev_key {
            match env(&self.hash_key_env) {
                None => errors.push((
                    "hash_key_env".to_owned(),
                    format!(
                        "hashing is on (user ids or a hash action) but {} is not set; set it to a secret of at least 16 bytes, or set insecure_dev_key: true for development only",
                        self.hash_key_env
                    ),
                )),
                Some(k) if k.len() < 16 => errors.push(("hash_key_env".to_owned(), format!("the key in {} is shorter than 16 bytes", self.hash_key_env))),
                Some(_) => {}
            }
        }
        errors
    }

    /// Builds the processor, counting into `counter`.
    pub fn build(
        &self,
        counter: &RedactionCounter,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Redactor, String> {
        let detectors = self.detectors()?;
        let patterns: Vec<CustomPattern> = self
            .patterns
            .iter()
            .map(|p| CustomPattern {
                name: p.name.clone(),
                regex: p.regex.clone(),
            })
            .collect();
        let scanner = Scanner::with_patterns(&detectors, &patterns).map_err(|e| e.to_string())?;
        let material = match env(&self.hash_key_env) {
            Some(k) => k,
            None if self.insecure_dev_key || !self.needs_key() => {
                if self.needs_key() {
                    tracing::warn!(env = %self.hash_key_env, "redaction is hashing with the public development key; pseudonyms are reversible");
                }
                "llmwatch insecure development key".to_owned()
            }
            None => return Err(format!("{} is not set", self.hash_key_env)),
        };
        Ok(Redactor {
            scanner,
            actions: Detector::ALL
                .map(|d| self.actions.get(d.name()).copied().unwrap_or(self.action)),
            custom_actions: self
                .patterns
                .iter()
                .map(|p| p.action.unwrap_or(self.action))
                .collect(),
            allow: self.allow_keys.iter().map(|g| Glob::new(g)).collect(),
            block: self.block_keys.iter().map(|g| Glob::new(g)).collect(),
            user_ids: self.user_id_keys.clone(),
            span_names: self.span_names,
            summary: self.summary,
            opt_out: self.opt_out_keys.clone(),
            content: self.content,
            content_keys: self.content_keys.iter().map(|g| Glob::new(g)).collect(),
            content_events: self.content_events.clone(),
            key: blake3::derive_key("llmwatch redaction 2026-11 pseudonyms", material.as_bytes()),
            counter: counter.0.clone(),
            rules: Default::default(),
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedactionLabels {
    detector: &'static str,
    location: &'static str,
}

/// `llmwatch_redactions_total`, shared by every redaction processor.
#[derive(Clone, Default)]
pub struct RedactionCounter(Family<RedactionLabels, Counter>);

impl RedactionCounter {
    /// Registers the family in `registry`.
    pub fn register(registry: &mut Registry) -> RedactionCounter {
        let counter = RedactionCounter::default();
        registry.register(
            "llmwatch_redactions",
            "Values redacted, by detector (or key rule: blocked_key, user_id) and location",
            counter.0.clone(),
        );
        counter
    }
}

/// A key glob, compiled once: `*` stands for any run of characters.
#[derive(Clone, Debug)]
enum Glob {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    General(String),
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        let stars = pattern.matches('*').count();
        let inner = pattern.trim_matches('*');
        match (stars, pattern.starts_with('*'), pattern.ends_with('*')) {
            (0, _, _) => Glob::Exact(pattern.to_owned()),
            (1, false, true) => Glob::Prefix(inner.to_owned()),
            (1, true, false) => Glob::Suffix(inner.to_owned()),
            (2, true, true) if !inner.contains('*') => Glob::Contains(inner.to_owned()),
            _ => Glob::General(pattern.to_owned()),
        }
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Glob::Exact(p) => key == p,
            Glob::Prefix(p) => key.starts_with(p.as_str()),
            Glob::Suffix(p) => key.ends_with(p.as_str()),
            Glob::Contains(p) => key.contains(p.as_str()),
            Glob::General(p) => glob(p, key),
        }
    }
}

/// Matches `key` against a glob where `*` stands for any run of characters.
fn glob(pattern: &str, key: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == key;
    };
    let Some(mut tail) = key.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Appends every string inside `value`, space-separated.
fn flatten_strings(value: &AnyValue, out: &mut String) {
    match &value.value {
        Some(Value::StringValue(s)) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        Some(Value::ArrayValue(a)) => a.values.iter().for_each(|v| flatten_strings(v, out)),
        Some(Value::KvlistValue(kv)) => kv
            .values
            .iter()
            .filter_map(|kv| kv.value.as_ref())
            .for_each(|v| flatten_strings(v, out)),
        _ => {}
    }
}

/// Adds `redaction.masked.count` and `redaction.masked.types` for what changed between
/// `before` and `after`, when anything did.
fn add_summary(attrs: &mut Vec<KeyValue>, before: &Counts, after: &Counts) {
    let mut total = 0;
    let mut types: Vec<&'static str> = Vec::new();
    for (key, &n) in after {
        let d = n - before.get(key).copied().unwrap_or(0);
        if d > 0 {
            total += d;
            if !types.contains(&key.0) {
                types.push(key.0);
            }
        }
    }
    if total == 0 {
        return;
    }
    types.sort_unstable();
    attrs.push(KeyValue {
        key: "redaction.masked.count".to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(i64::try_from(total).unwrap_or(i64::MAX))),
        }),
        ..Default::default()
    });
    let values = types
        .into_iter()
        .map(|t| AnyValue {
            value: Some(Value::StringValue(t.to_owned())),
        })
        .collect();
    attrs.push(KeyValue {
        key: "redaction.masked.types".to_owned(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(
                opentelemetry_proto::tonic::common::v1::ArrayValue { values },
            )),
        }),
        ..Default::default()
    });
}

/// Counts per (detector or rule, location), summed for a batch and recorded once.
type Counts = BTreeMap<(&'static str, &'static str), u64>;

/// The built `redaction` processor.
pub struct Redactor {
    scanner: Scanner,
    actions: [Action; 18],
    custom_actions: Vec<Action>,
    allow: Vec<Glob>,
    block: Vec<Glob>,
    user_ids: Vec<String>,
    span_names: bool,
    summary: bool,
    opt_out: Vec<String>,
    content: ContentPolicy,
    content_keys: Vec<Glob>,
    content_events: Vec<String>,
    key: [u8; 32],
    counter: Family<RedactionLabels, Counter>,
    /// Decisions per attribute key: keys repeat in every span, so the globs run once per
    /// key. Bounded, so hostile key names cannot grow it; past the bound rules are computed.
    /// foldhash with a per-process seed: SipHash was 6% of a redaction pass.
    rules: std::sync::RwLock<std::collections::HashMap<String, KeyRule, RandomState>>,
}

/// Most attribute keys whose rule is remembered.
const RULE_CACHE_KEYS: usize = 4096;

#[derive(Clone, Copy)]
enum KeyRule {
    Allow,
    Block,
    UserId,
    Content,
    Scan,
}

impl Redactor {
    fn action_for(&self, d: Detector) -> Action {
        match d {
            Detector::Custom(i) => self
                .custom_actions
                .get(usize::from(i))
                .copied()
                .unwrap_or_default(),
            other => other.index().map_or(Action::Mask, |i| self.actions[i]),
        }
    }

    fn rule(&self, key: &str) -> KeyRule {
        use std::sync::PoisonError;
        if let Some(rule) = self
            .rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return *rule;
        }
        let rule = self.compute_rule(key);
        let mut rules = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        if rules.len() < RULE_CACHE_KEYS {
            rules.insert(key.to_owned(), rule);
        }
        rule
    }

    fn compute_rule(&self, key: &str) -> KeyRule {
        if self.user_ids.iter().any(|k| k == key) {
            KeyRule::UserId
        } else if self.block.iter().any(|g| g.matches(key)) {
            KeyRule::Block
        } else if self.content == ContentPolicy::Metadata
            && let Some(base) = key
                .strip_suffix(".length")
                .or_else(|| key.strip_suffix(".pii"))
            && self.content_keys.iter().any(|g| g.matches(base))
        {
            // The metadata this policy wrote: an int and detector names, never content.
            KeyRule::Allow
        } else if self.content != ContentPolicy::Keep
            && self.content_keys.iter().any(|g| g.matches(key))
        {
            KeyRule::Content
        } else if self.allow.iter().any(|g| g.matches(key)) {
            KeyRule::Allow
        } else {
            KeyRule::Scan
        }
    }

    /// The keyed pseudonym of `value`: 16 hex digits of keyed BLAKE3. The analytics stages
    /// count users by it.
    pub fn pseudonym(&self, value: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let hash = blake3::keyed_hash(&self.key, value.as_bytes());
        let mut out = String::with_capacity(16);
        for b in &hash.as_bytes()[..8] {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    fn replacement(&self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in findings {
            out.push_str(&text[at..f.range.start]);
            match self.action_for(f.detector) {
                Action::Hash => {
                    let short = &self.pseudonym(&text[f.range.clone()])[..6];
                    let p = self.scanner.placeholder(f.detector);
                    out.push_str(&p[..p.len() - 1]);
                    out.push(':');
                    out.push_str(short);
                    out.push(']');
                }
                Action::Mask | Action::Drop => out.push_str(self.scanner.placeholder(f.detector)),
            }
            at = f.range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Redacts a string in place. Returns whether a drop action fired.
    fn redact_string(
        &self,
        s: &mut String,
        location: &'static str,
        counts: &mut Counts,
        found: &mut Vec<Finding>,
    ) -> bool {
        found.clear();
        self.scanner.scan(s, found);
        if found.is_empty() {
            return false;
        }
        for f in found.iter() {
            *counts
                .entry((self.scanner.name(f.detector), location))
                .or_default() += 1;
        }
        let drop = found
            .iter()
            .any(|f| self.action_for(f.detector) == Action::Drop);
        let trimmed = s.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(mut json) = serde_json::from_str::<serde_json::Value>(s)
        {
            self.redact_json(&mut json, found);
            if let Ok(text) = serde_json::to_string(&json) {
                *s = text;
                return drop;
            }
        }
        *s = self.replacement(s, found);
        drop
    }

    fn redact_json(&self, v: &mut serde_json::Value, found: &mut Vec<Finding>) {
        match v {
            serde_json::Value::String(s) => {
                found.clear();
                self.scanner.scan(s, found);
                if !found.is_empty() {
                    *s = self.replacement(s, found);
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|i| self.redact_json(i, found))
            }
            serde_json::Value::Object(map) => {
                // Keys can carry PII too (`{"jane@example.com": …}`): rebuild the map only
                // when one does.
                let dirty_key = map.keys().any(|k| {
                    found.clear();
                    self.scanner.scan(k, found);
                    !found.is_empty()
                });
                if dirty_key {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| {
                            found.clear();
                            self.scanner.scan(&k, found);
                            let k = if found.is_empty() {
                                k
                            } else {
                                self.replacement(&k, found)
                            };
                            (k, v)
                        })
                        .collect();
                }
                map.values_mut().for_each(|i| self.redact_json(i, found))
            }
            _ => {}
        }
    }

    fn redact_any(
        &self,
        v: &mut AnyValue,
        location: &'static str,
        counts: &mut Counts,
        found: &mut Vec<Finding>,
    ) -> bool {
        match &mut v.value {
            Some(Value::StringValue(s)) => self.redact_string(s, location, counts, found),
            Some(Value::ArrayValue(a)) => {
                let mut drop = false;
                for item in &mut a.values {
                    drop |= self.redact_any(item, location, counts, found);
                }
                drop
            }
            Some(Value::KvlistValue(kv)) => {
                self.redact_attributes(&mut kv.values, location, counts, found);
                false
            }
            _ => false,
        }
    }

    fn redact_attributes(
        &self,
        attrs: &mut Vec<KeyValue>,
        location: &'static str,
        counts: &mut Counts,
        found: &mut Vec<Finding>,
    ) {
        let mut metadata = Vec::new();
        attrs.retain_mut(|kv| {
            let Some(value) = kv.value.as_mut() else {
                return true;
            };
            match self.rule(&kv.key) {
                KeyRule::Content => {
                    *counts.entry(("content", location)).or_default() += 1;
                    if self.content == ContentPolicy::Metadata {
                        metadata.extend(self.content_metadata(&kv.key, value, found));
                    }
                    false
                }
                KeyRule::Allow => true,
                KeyRule::Block => {
                    *counts.entry(("blocked_key", location)).or_default() += 1;
                    value.value = Some(Value::StringValue("[REDACTED]".to_owned()));
                    true
                }
                KeyRule::UserId => {
                    let raw = match &value.value {
                        Some(Value::StringValue(s)) => s.clone(),
                        Some(Value::IntValue(i)) => i.to_string(),
                        _ => return true,
                    };
                    *counts.entry(("user_id", location)).or_default() += 1;
                    value.value = Some(Value::StringValue(self.pseudonym(&raw)));
                    true
                }
                KeyRule::Scan => !self.redact_any(value, location, counts, found),
            }
        });
        attrs.extend(metadata);
    }

    /// `<key>.length` and `<key>.pii` (`length` and `pii` for an empty key) for a content
    /// value under the metadata policy.
    fn content_metadata(
        &self,
        key: &str,
        value: &AnyValue,
        found: &mut Vec<Finding>,
    ) -> [KeyValue; 2] {
        let mut text = String::new();
        flatten_strings(value, &mut text);
        found.clear();
        self.scanner.scan(&text, found);
        let mut kinds: Vec<&'static str> = found
            .iter()
            .map(|f| self.scanner.name(f.detector))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let pii = kinds
            .into_iter()
            .map(|k| AnyValue {
                value: Some(Value::StringValue(k.to_owned())),
            })
            .collect();
        [
            KeyValue {
                key: if key.is_empty() {
                    "length".to_owned()
                } else {
                    format!("{key}.length")
                },
                value: Some(AnyValue {
                    value: Some(Value::IntValue(text.chars().count() as i64)),
                }),
                ..Default::default()
            },
            KeyValue {
                key: if key.is_empty() {
                    "pii".to_owned()
                } else {
                    format!("{key}.pii")
                },
                value: Some(AnyValue {
                    value: Some(Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue { values: pii },
                    )),
                }),
                ..Default::default()
            },
        ]
    }

    fn is_content_event(&self, name: &str) -> bool {
        self.content != ContentPolicy::Keep && self.content_events.iter().any(|e| e == name)
    }

    /// Replaces every string, array or kvlist attribute of a content event by its metadata.
    fn content_event_attributes(
        &self,
        attrs: &mut Vec<KeyValue>,
        counts: &mut Counts,
        location: &'static str,
        found: &mut Vec<Finding>,
    ) {
        *counts.entry(("content", location)).or_default() += 1;
        let mut out = Vec::with_capacity(attrs.len() * 2);
        for kv in attrs.drain(..) {
            // Metadata written by an earlier pass (or an earlier llmwatch) stays as it is.
            if kv.key.ends_with(".pii")
                && matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(Value::ArrayValue(_))
                )
            {
                out.push(kv);
                continue;
            }
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(_) | Value::ArrayValue(_) | Value::KvlistValue(_)) => {
                    if let Some(v) = kv.value.as_ref() {
                        out.extend(self.content_metadata(&kv.key, v, found));
                    }
                }
                _ => out.push(kv),
            }
        }
        *attrs = out;
    }

    fn opted_out(&self, attrs: &[KeyValue]) -> bool {
        attrs.iter().any(|kv| {
            self.opt_out.contains(&kv.key)
                && match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::BoolValue(b)) => *b,
                    Some(Value::StringValue(s)) => s.eq_ignore_ascii_case("true") || s == "1",
                    Some(Value::IntValue(i)) => *i == 1,
                    _ => false,
                }
        })
    }

    fn remove_user_ids(
        &self,
        attrs: &mut Vec<KeyValue>,
        counts: &mut Counts,
        location: &'static str,
    ) {
        let before = attrs.len();
        attrs.retain(|kv| !self.user_ids.contains(&kv.key));
        let removed = (before - attrs.len()) as u64;
        if removed > 0 {
            *counts.entry(("opted_out_user_id", location)).or_default() += removed;
        }
    }

    /// Removes user ids from telemetry marked as opted out, before anything else runs.
    fn strip_opted_out(&self, payload: &mut Payload, counts: &mut Counts) {
        if self.opt_out.is_empty() || self.user_ids.is_empty() {
            return;
        }
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    let all = rs
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes));
                    if all && let Some(r) = rs.resource.as_mut() {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                    for span in rs.scope_spans.iter_mut().flat_map(|ss| &mut ss.spans) {
                        if all || self.opted_out(&span.attributes) {
                            self.remove_user_ids(&mut span.attributes, counts, "span");
                            for e in &mut span.events {
                                self.remove_user_ids(&mut e.attributes, counts, "span_event");
                            }
                        }
                    }
                }
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    let all = rl
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes));
                    if all && let Some(r) = rl.resource.as_mut() {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                    for rec in rl.scope_logs.iter_mut().flat_map(|sl| &mut sl.log_records) {
                        if all || self.opted_out(&rec.attributes) {
                            self.remove_user_ids(&mut rec.attributes, counts, "log");
                        }
                    }
                }
            }
            Payload::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    if rm
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes))
                        && let Some(r) = rm.resource.as_mut()
                    {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                }
            }
        }
    }

    fn redact_payload(&self, payload: &mut Payload, counts: &mut Counts) {
        self.strip_opted_out(payload, counts);
        let mut found = Vec::new();
        let f = &mut found;
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    if let Some(r) = rs.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for ss in &mut rs.scope_spans {
                        if let Some(s) = ss.scope.as_mut() {
                            self.redact_attributes(&mut s.attributes, "scope", counts, f);
                        }
                        for span in &mut ss.spans {
                            let snapshot = self.summary.then(|| counts.clone());
                            if self.span_names {
                                self.redact_string(&mut span.name, "span_name", counts, f);
                            }
                            self.redact_attributes(&mut span.attributes, "span", counts, f);
                            if let Some(status) = span.status.as_mut() {
                                self.redact_string(&mut status.message, "span_status", counts, f);
                            }
                            if self.content == ContentPolicy::Drop {
                                let before = span.events.len();
                                span.events.retain(|e| !self.is_content_event(&e.name));
                                let dropped = (before - span.events.len()) as u64;
                                if dropped > 0 {
                                    *counts.entry(("content", "span_event")).or_default() +=
                                        dropped;
                                }
                            } else if self.content == ContentPolicy::Metadata {
                                for event in span
                                    .events
                                    .iter_mut()
                                    .filter(|e| self.is_content_event(&e.name))
                                {
                                    self.content_event_attributes(
                                        &mut event.attributes,
                                        counts,
                                        "span_event",
                                        f,
                                    );
                                }
                            }
                            for event in &mut span.events {
                                self.redact_attributes(
                                    &mut event.attributes,
                                    "span_event",
                                    counts,
                                    f,
                                );
                            }
                            for link in &mut span.links {
                                self.redact_attributes(
                                    &mut link.attributes,
                                    "span_link",
                                    counts,
                                    f,
                                );
                            }
                            if let Some(before) = snapshot {
                                add_summary(&mut span.attributes, &before, counts);
                            }
                        }
                    }
                }
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    if let Some(r) = rl.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for sl in &mut rl.scope_logs {
                        if let Some(s) = sl.scope.as_mut() {
                            self.redact_attributes(&mut s.attributes, "scope", counts, f);
                        }
                        for rec in &mut sl.log_records {
                            let snapshot = self.summary.then(|| counts.clone());
                            let event_name = if rec.event_name.is_empty() {
                                rec.attributes
                                    .iter()
                                    .find(|kv| kv.key == "event.name")
                                    .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                        Value::StringValue(s) => Some(s.clone()),
                                        _ => None,
                                    })
                            } else {
                                Some(rec.event_name.clone())
                            };
                            if event_name.is_some_and(|n| self.is_content_event(&n))
                                && let Some(body) = rec.body.take()
                            {
                                *counts.entry(("content", "log_body")).or_default() += 1;
                                if self.content == ContentPolicy::Metadata {
                                    let [length, pii] = self.content_metadata("", &body, f);
                                    rec.body = Some(AnyValue {
                                        value: Some(Value::KvlistValue(
                                            opentelemetry_proto::tonic::common::v1::KeyValueList {
                                                values: vec![length, pii],
                                            },
                                        )),
                                    });
                                }
                            }
                            if let Some(body) = rec.body.as_mut() {
                                self.redact_any(body, "log_body", counts, f);
                            }
                            self.redact_attributes(&mut rec.attributes, "log", counts, f);
                            if let Some(before) = snapshot {
                                add_summary(&mut rec.attributes, &before, counts);
                            }
                        }
                    }
                }
            }
            Payload::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    if let Some(r) = rm.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for sm in &mut rm.scope_metrics {
                        if let Some(s) = sm.scope.as_mut() {
                            self.redact_attributes(&mut s.attributes, "scope", counts, f);
                        }
                        for m in &mut sm.metrics {
                            self.redact_metric(m.data.as_mut(), counts, f);
                        }
                    }
                }
            }
        }
    }

    fn redact_metric(&self, data: Option<&mut Data>, counts: &mut Counts, f: &mut Vec<Finding>) {
        macro_rules! points {
            ($points:expr) => {
                for dp in $points {
                    self.redact_attributes(&mut dp.attributes, "metric", counts, f);
                    for e in &mut dp.exemplars {
                        self.redact_attributes(&mut e.filtered_attributes, "exemplar", counts, f);
                    }
                }
            };
        }
        match data {
            Some(Data::Gauge(g)) => points!(&mut g.data_points),
            Some(Data::Sum(s)) => points!(&mut s.data_points),
            Some(Data::Histogram(h)) => points!(&mut h.data_points),
            Some(Data::ExponentialHistogram(h)) => points!(&mut h.data_points),
            Some(Data::Summary(s)) => {
                for dp in &mut s.data_points {
                    self.redact_attributes(&mut dp.attributes, "metric", counts, f);
                }
            }
            None => {}
        }
    }
}

impl Processor for Redactor {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        let mut counts = Counts::new();
        self.redact_payload(&mut batch.payload, &mut counts);
        for ((detector, location), n) in counts {
            self.counter
                .get_or_create(&RedactionLabels { detector, location })
                .inc_by(n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
