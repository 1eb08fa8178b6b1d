//! PII and secret redaction.
//!
//! This first part is the detection engine: [`Scanner`] finds e-mail addresses, phone
//! numbers, payment cards, SSNs, IP addresses, IBANs and API keys in free text, and
//! [`mask`] replaces them with typed placeholders. Wiring it into the pipeline as the
//! `redaction` processor (locations, policies, hashing, audit) is issue 3's remaining work.

mod detect;
mod validate;

pub use self::detect::{Detector, Finding, Scanner, ScannerBuildError};

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
