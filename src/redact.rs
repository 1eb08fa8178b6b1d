//! PII and secret redaction.
//!
//! [`Scanner`] finds e-mail addresses, phone numbers, payment cards, SSNs, IP addresses,
//! IBANs and API keys in free text; [`Redactor`], the `redaction` processor, runs it over
//! every string of a batch and applies the configured action, key rules and user-id
//! pseudonyms.

mod config;
mod content;
mod counter;
mod detect;
mod glob;
mod json;
mod key;
mod optout;
pub(crate) mod phone;
mod phone_patterns;
mod processor;
mod rule_cache;
mod unescape;
pub(crate) mod validate;
mod walk;

pub use self::config::{Action, ContentPolicy, FACTORY, PatternConfig, RedactionConfig};
pub use self::counter::RedactionCounter;
pub use self::detect::{CustomPattern, Detector, Finding, Scanner, ScannerBuildError};
pub use self::processor::{Pseudonymiser, Redactor};

/// Replaces each finding in `text` by its detector's placeholder. Returns `None`, and
/// allocates nothing, when there is nothing to replace.
pub fn mask(text: &str, findings: &[Finding]) -> Option<String> {
    if findings.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.range.start]);
        out.push_str(f.detector.placeholder());
        at = f.range.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}
