//! A decoded view of text with JSON escapes (`\u0040`, `\n`) or percent-encoding (`%40`),
//! so that detectors see `jane@example.com` and find their values at an escaped boundary,
//! with a map from every decoded byte back to the source bytes it came from.

use std::ops::Range;

/// Text with its escapes decoded.
pub(super) struct Decoded {
    /// The decoded text.
    pub(super) text: String,
    /// For each byte of `text`, the source range it was decoded from.
    source: Vec<(u32, u32)>,
}

impl Decoded {
    /// Decodes `text`; `None` when it holds no escape, or is too long to map in `u32`.
    pub(super) fn new(text: &str) -> Option<Decoded> {
        if u32::try_from(text.len()).is_err() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut out = Decoded {
            text: String::with_capacity(text.len()),
            source: Vec::with_capacity(text.len()),
        };
        let mut changed = false;
        let mut i = 0;
        while i < bytes.len() {
            let (decoded, len) = match bytes[i] {
                b'\\' => json_escape(text, i),
                b'%' => percent(bytes, i),
                _ => (None, 0),
            };
            match decoded {
                Some(c) => {
                    changed = true;
                    out.push(c, i, i + len);
                    i += len;
                }
                None => {
                    let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                    // Each byte of a character copied as is maps to its own source byte.
                    for k in 0..c.len_utf8() {
                        out.source.push((to_u32(i + k), to_u32(i + k + 1)));
                    }
                    out.text.push(c);
                    i += c.len_utf8();
                }
            }
        }
        changed.then_some(out)
    }

    fn push(&mut self, c: char, start: usize, end: usize) {
        for _ in 0..c.len_utf8() {
            self.source.push((to_u32(start), to_u32(end)));
        }
        self.text.push(c);
    }

    /// The source range of the decoded range `r` (non-empty, on character boundaries).
    pub(super) fn source(&self, r: Range<usize>) -> Range<usize> {
        let start = self.source.get(r.start).map_or(0, |s| s.0 as usize);
        let end = self
            .source
            .get(r.end.saturating_sub(1))
            .map_or(start, |s| s.1 as usize);
        start..end
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The character a JSON escape at `i` stands for, and the escape's length in bytes.
fn json_escape(text: &str, i: usize) -> (Option<char>, usize) {
    let bytes = text.as_bytes();
    let simple = match bytes.get(i + 1) {
        Some(b'n') => Some('\n'),
        Some(b't') => Some('\t'),
        Some(b'r') => Some('\r'),
        Some(b'b') => Some('\u{8}'),
        Some(b'f') => Some('\u{c}'),
        Some(b'"') => Some('"'),
        Some(b'\\') => Some('\\'),
        Some(b'/') => Some('/'),
        Some(b'u') => None,
        _ => return (None, 0),
    };
    if simple.is_some() {
        return (simple, 2);
    }
    let unit = |at: usize| {
        text.get(at..at + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let Some(hi) = unit(i + 2) else {
        return (None, 0);
    };
    if (0xD800..0xDC00).contains(&hi)
        && text.get(i + 6..i + 8) == Some("\\u")
        && let Some(lo) = unit(i + 8).filter(|lo| (0xDC00..0xE000).contains(lo))
    {
        let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
        return (c, 12);
    }
    (char::from_u32(hi), 6)
}

/// The printable ASCII character a `%XX` at `i` encodes, and its length (3).
fn percent(bytes: &[u8], i: usize) -> (Option<char>, usize) {
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
        (Some(h), Some(l)) => {
            let v = h * 16 + l;
            ((0x20..0x7f).contains(&v).then(|| char::from(v as u8)), 3)
        }
        _ => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str, value: &str) -> String {
        let d = Decoded::new(text).unwrap();
        let at = d.text.find(value).unwrap();
        text[d.source(at..at + value.len())].to_owned()
    }

    #[test]
    fn escapes_decode_and_map_back() {
        assert_eq!(
            roundtrip("mail jane\\u0040example.com now", "jane@example.com"),
            "jane\\u0040example.com"
        );
        assert_eq!(
            roundtrip("to=jane%40example.com&x=1", "jane@example.com"),
            "jane%40example.com"
        );
        assert_eq!(roundtrip("a\\n4111 1111\\tb", "4111 1111"), "4111 1111");
        assert_eq!(roundtrip("\\ud83d\\ude00 é x", "é x"), "é x");
        assert!(Decoded::new("plain 100% text").is_none());
    }
}
