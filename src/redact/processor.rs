//! The `redaction` processor: runs the scanner over every string a batch carries and
//! rewrites it in place (`walk` visits the fields), with key rules and user-id pseudonyms.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::config::{Action, ContentPolicy};
use super::counter::{Counts, RedactionLabels};
use super::glob::Glob;
use super::json::{self, Edit};
use super::rule_cache::PerThread;
use super::{Detector, Finding, Scanner};
use crate::component::{ProcessError, Processor};
use crate::model::Batch;
use crate::semconv::identity::{IdentityKind, identity_kind};

/// The built `redaction` processor.
pub struct Redactor {
    pub(super) scanner: Scanner,
    pub(super) actions: [Action; 18],
    pub(super) custom_actions: Vec<Action>,
    pub(super) allow: Vec<Glob>,
    pub(super) block: Vec<Glob>,
    pub(super) user_ids: Vec<String>,
    pub(super) identity_keys: bool,
    pub(super) span_names: bool,
    pub(super) summary: bool,
    pub(super) opt_out: Vec<String>,
    pub(super) content: ContentPolicy,
    pub(super) content_keys: Vec<Glob>,
    pub(super) content_events: Vec<String>,
    pub(super) key: [u8; 32],
    pub(super) counter: Family<RedactionLabels, Counter>,
    /// Decisions per attribute key: keys repeat in every span, so the globs run once per
    /// key and thread. Bounded in bytes, so hostile key names cannot grow it.
    pub(super) rules: PerThread,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyRule {
    Allow,
    Block,
    UserId,
    Content,
    Scan,
}

impl Redactor {
    pub(super) fn action_for(&self, d: Detector) -> Action {
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
        self.rules.get_or(key, || self.compute_rule(key))
    }

    /// Whether `key` holds a user id: a configured key, or one of `semconv::identity`.
    pub(super) fn is_user_id_key(&self, key: &str) -> bool {
        self.user_ids.iter().any(|k| k == key)
            || (self.identity_keys && identity_kind(key) == Some(IdentityKind::User))
    }

    fn compute_rule(&self, key: &str) -> KeyRule {
        // Lowered once, not once per block glob: a hostile 20 MiB key was copied 13 times.
        let lower = (!self.block.is_empty()).then(|| key.to_ascii_lowercase());
        if self.is_user_id_key(key) {
            KeyRule::UserId
        } else if let Some(lower) = &lower
            && self.block.iter().any(|g| g.matches(lower))
        {
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
        } else if self.identity_keys && identity_kind(key).is_some() {
            // A session or conversation id not on the allow list (`ai.settings.context.
            // sessionId`): pseudonymised like a user id, so conversations still group.
            KeyRule::UserId
        } else {
            KeyRule::Scan
        }
    }

    /// The keyed pseudonym of `value`: 16 hex digits of keyed BLAKE3. The analytics stages
    /// count users by it.
    pub fn pseudonym(&self, value: &str) -> String {
        pseudonym(&self.key, value)
    }

    /// The replacement of `text` with `findings` masked; with `edits`, the JSON plan of
    /// the same findings (a `quoted` edit writes the placeholder as a JSON string).
    fn replacement(&self, text: &str, findings: &[Finding], edits: Option<&[Edit]>) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (i, f) in findings.iter().enumerate() {
            let (range, quoted) = match edits.and_then(|e| e.get(i)) {
                Some(e) => (e.range.clone(), e.quoted),
                None => (f.range.clone(), false),
            };
            out.push_str(&text[at..range.start]);
            if quoted {
                out.push('"');
            }
            let p = self.scanner.placeholder(f.detector);
            match self.action_for(f.detector) {
                Action::Hash => {
                    out.push_str(&p[..p.len() - 1]);
                    out.push(':');
                    out.push_str(&self.pseudonym(&text[f.range.clone()])[..6]);
                    out.push(']');
                }
                Action::Mask | Action::Drop => out.push_str(p),
            }
            if quoted {
                out.push('"');
            }
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Redacts a string in place. Returns whether a drop action fired. A JSON document is
    /// rewritten faithfully (`json::plan`).
    pub(super) fn redact_string(
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
        let edits = json::plan(s, found);
        *s = self.replacement(s, found, edits.as_deref());
        drop
    }

    /// Redacts a value in place. Returns whether a drop action fired.
    pub(super) fn redact_any(
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
            // Bytes that are UTF-8 text are scanned as text, and rewritten as its bytes.
            Some(Value::BytesValue(b)) => match std::str::from_utf8(b) {
                Ok(text) => {
                    let mut text = text.to_owned();
                    let drop = self.redact_string(&mut text, location, counts, found);
                    *b = text.into_bytes();
                    drop
                }
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// Replaces a user id by its pseudonym: every element of an array; a kvlist or bytes
    /// cannot be, and is dropped. Returns whether the attribute stays.
    fn pseudonymise(
        &self,
        value: &mut AnyValue,
        location: &'static str,
        counts: &mut Counts,
    ) -> bool {
        let text = |v: &Value| match v {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            Value::DoubleValue(d) => Some(d.to_string()),
            Value::BoolValue(b) => Some(b.to_string()),
            _ => None,
        };
        let Some(v) = value.value.as_mut() else {
            return true;
        };
        if let Value::ArrayValue(a) = v {
            let all: Option<Vec<String>> = a
                .values
                .iter()
                .map(|x| x.value.as_ref().and_then(text))
                .collect();
            if let Some(all) = all {
                *counts.entry(("user_id", location)).or_default() += all.len() as u64;
                for (x, raw) in a.values.iter_mut().zip(all) {
                    x.value = Some(Value::StringValue(self.pseudonym(&raw)));
                }
                return true;
            }
        } else if let Some(raw) = text(v) {
            *counts.entry(("user_id", location)).or_default() += 1;
            *v = Value::StringValue(self.pseudonym(&raw));
            return true;
        }
        *counts.entry(("dropped_user_id", location)).or_default() += 1;
        false
    }

    pub(super) fn redact_attributes(
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
                KeyRule::UserId => self.pseudonymise(value, location, counts),
                KeyRule::Scan => !self.redact_any(value, location, counts, found),
            }
        });
        attrs.extend(metadata);
    }
}

/// 16 hex digits of keyed BLAKE3 of `value`.
fn pseudonym(key: &[u8; 32], value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = blake3::keyed_hash(key, value.as_bytes());
    let mut out = String::with_capacity(16);
    for b in &hash.as_bytes()[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// The pseudonyms of a redaction processor's key, without its detectors: what
/// `POST /admin/forget` hashes a raw user id with.
pub struct Pseudonymiser(pub(super) [u8; 32]);

impl Pseudonymiser {
    /// The pseudonym the redaction processor gives `value`.
    pub fn pseudonym(&self, value: &str) -> String {
        pseudonym(&self.0, value)
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
