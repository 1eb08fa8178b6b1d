//! Faithful JSON rewriting: only the masked values change. The original text is rewritten,
//! never round-tripped through a generic value, so key order, duplicate keys, number
//! spelling and whitespace stay byte for byte.

use std::ops::Range;

use super::Finding;

/// How a finding in a JSON document is replaced.
pub(super) struct Edit {
    /// The bytes to replace.
    pub range: Range<usize>,
    /// Whether the placeholder must be written as a JSON string (the finding was a number).
    pub quoted: bool,
}

/// The edits that redact `findings` in `text`, when `text` is a JSON document (object or
/// array): a finding inside a string is replaced as it is; one inside a number (a card
/// written as a JSON number) widens to the whole number and becomes a string. `None` when
/// `text` is not JSON, or a finding crosses a string's edge.
pub(super) fn plan(text: &str, findings: &[Finding]) -> Option<Vec<Edit>> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('['))
        || serde_json::from_str::<serde::de::IgnoredAny>(text).is_err()
    {
        return None;
    }
    let strings = string_spans(text.as_bytes());
    let mut edits: Vec<Edit> = Vec::with_capacity(findings.len());
    for f in findings {
        let r = f.range.clone();
        // The last string that starts at or before the finding.
        let i = strings.partition_point(|s| s.start <= r.start);
        let inside = i > 0 && strings[i - 1].end >= r.end && strings[i - 1].start <= r.start;
        let overlaps = strings.iter().any(|s| s.start < r.end && r.start < s.end);
        let edit = if inside {
            Edit {
                range: r,
                quoted: false,
            }
        } else if !overlaps {
            Edit {
                range: number_token(text.as_bytes(), r),
                quoted: true,
            }
        } else {
            return None;
        };
        if edits.last().is_some_and(|e| e.range.end > edit.range.start) {
            return None;
        }
        edits.push(edit);
    }
    Some(edits)
}

/// The byte ranges of the contents of every string token (keys included), in order.
fn string_spans(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(bytes.len());
            spans.push(start..end);
            i = end + 1;
        } else {
            i += 1;
        }
    }
    spans
}

/// `r` widened to the number token around it.
fn number_token(bytes: &[u8], r: Range<usize>) -> Range<usize> {
    let part = |b: u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
    let mut start = r.start;
    while start > 0 && part(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = r.end;
    while end < bytes.len() && part(bytes[end]) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Detector;

    fn finding(text: &str, value: &str) -> Finding {
        let start = text.find(value).unwrap();
        Finding {
            detector: Detector::Card,
            range: start..start + value.len(),
        }
    }

    #[test]
    fn strings_stay_and_numbers_become_strings() {
        let text = r#"{"b":1,"a":"card 4111111111111111","a":2,"n":4111111111111111.0}"#;
        let edits = plan(text, &[finding(text, "4111111111111111\"")]).map(|e| e.len());
        assert_eq!(edits, None, "a finding across a string's edge is refused");
        let start = text.rfind("4111111111111111").unwrap();
        let f = [
            finding(text, "4111111111111111"),
            Finding {
                detector: Detector::Card,
                range: start..start + 16,
            },
        ];
        let edits = plan(text, &f).unwrap();
        assert!(!edits[0].quoted);
        assert!(edits[1].quoted);
        assert_eq!(&text[edits[1].range.clone()], "4111111111111111.0");
        assert!(plan("not json 4111111111111111", &[]).is_none());
    }
}
