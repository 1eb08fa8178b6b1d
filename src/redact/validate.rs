//! Checks that turn a regex candidate into a finding, or reject it.
//!
//! Each takes the text and the candidate's byte range and returns the range to redact
//! (sometimes narrower, as for credentials inside a URL), or `None` for a false positive.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Whether the value at `range` stands apart from its neighbours: not glued to a letter,
/// a digit or `_`, nor to a token that continues through `-`, `_`, `.`, `/` or `:`
/// (`id-4111…`, `4111….5`, `12:415…`). Sentence punctuation, brackets, quotes, markdown
/// emphasis, whitespace, non-ASCII punctuation and the ends of the text are boundaries.
pub(crate) fn separated(text: &str, range: &Range<usize>) -> bool {
    let bytes = text.as_bytes();
    let at = |i: Option<usize>| i.and_then(|i| bytes.get(i)).copied();
    let word = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let before = at(range.start.checked_sub(1));
    let before2 = at(range.start.checked_sub(2));
    let glued_before = word(before)
        || (matches!(before, Some(b'-' | b'_' | b'.' | b'/')) && word(before2))
        || (before == Some(b':') && before2.is_some_and(|b| b.is_ascii_digit()));
    let after = at(Some(range.end));
    let after2 = at(Some(range.end + 1));
    let glued_after =
        word(after) || (matches!(after, Some(b'-' | b'_' | b'.' | b'/' | b':')) && word(after2));
    !glued_before && !glued_after
}

/// The runs of digits in `s`.
pub(crate) fn digit_groups(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect()
}

/// Whether three digit groups joined by one separator are a date: day, month and a year
/// of 19xx or 20xx in either order, or an ISO date.
pub(crate) fn is_date(groups: &[&str], seps: &[u8]) -> bool {
    let [a, b, c] = groups else {
        return false;
    };
    if seps.len() != 2 || seps[0] != seps[1] || !matches!(seps[0], b'.' | b'/' | b'-' | b' ') {
        return false;
    }
    let n = |g: &str| g.parse::<u32>().unwrap_or(0);
    let year = |g: &str| g.len() == 4 && (1900..2100).contains(&n(g));
    let day_month = |d: &str, m: &str| {
        d.len() <= 2 && m.len() <= 2 && (1..=31).contains(&n(d)) && (1..=12).contains(&n(m))
    };
    (year(c) && (day_month(a, b) || day_month(b, a))) || (year(a) && day_month(c, b))
}

/// Whether one of `words` (lowercase) starts a word in the `window` bytes before `start`.
pub(crate) fn near_keyword(text: &str, start: usize, words: &[&str], window: usize) -> bool {
    let mut from = start.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = text[from..start].to_lowercase();
    words.iter().any(|w| {
        window.match_indices(w).any(|(i, _)| {
            !window[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphabetic)
        })
    })
}

fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
}

/// Luhn checksum over the digits of `s`.
pub(crate) fn luhn(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether a card number's prefix and length belong to an issued brand (ISO/IEC 7812 IIN
/// ranges of Visa, Mastercard incl. the 2-series, Amex, Discover, JCB, Diners, Maestro,
/// UnionPay and Mir). Random digit runs that pass Luhn by chance mostly fail this.
fn card_brand(d: &str) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    match d.as_bytes()[0] {
        b'4' => matches!(n, 13 | 16 | 19), // Visa
        b'1' => p(4) == 1800 && n == 15,   // JCB-15
        b'5' => {
            (51..=55).contains(&p(2)) && n == 16
                || matches!(p(4), 5018 | 5020 | 5038 | 5893) && (12..=19).contains(&n)
        } // Mastercard, Maestro
        b'2' => {
            ((2221..=2720).contains(&p(4)) && n == 16)
                || ((2200..=2204).contains(&p(4)) && (16..=19).contains(&n))
                || (p(4) == 2131 && n == 15)
        } // Mastercard 2-series, Mir, JCB-15
        b'3' => {
            ((p(2) == 34 || p(2) == 37) && n == 15)                                              // Amex
                || ((3528..=3589).contains(&p(4)) && (15..=19).contains(&n))                     // JCB (15 and 16-19)
                || (((300..=305).contains(&p(3)) || p(2) == 36 || p(2) == 38 || p(2) == 39) && (14..=19).contains(&n)) // Diners
        }
        b'6' => {
            (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && (16..=19).contains(&n) // Discover
                || p(2) == 62 && (16..=19).contains(&n)                                          // UnionPay
                || matches!(p(4), 6304 | 6759 | 6761 | 6762 | 6763) && (12..=19).contains(&n) // Maestro
        }
        _ => false,
    }
}

/// A payment card: 13 to 19 digits, one consistent separator style, an issued brand
/// prefix, and a valid Luhn checksum.
pub(super) fn card(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if !(12..=19).contains(&d.len()) || !separated(text, &range) {
        return None;
    }
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return None;
    }
    // Printed cards group digits in fours (the last group shorter), or 4-6-5 and 4-6-4
    // for Amex and Diners; other groupings are invoice and order numbers.
    if let Some(&sep) = seps.first() {
        let groups: Vec<usize> = s.split(sep).map(str::len).collect();
        let fours = groups[..groups.len() - 1].iter().all(|&g| g == 4)
            && (1..=4).contains(&groups[groups.len() - 1]);
        if !(fours || groups == [4, 6, 5] || groups == [4, 6, 4]) {
            return None;
        }
    }
    (card_brand(&d) && luhn(&d)).then_some(range)
}

/// Words that announce an undelimited SSN, lowercase.
const SSN_KEYWORDS: &[&str] = &["ssn", "social security", "soc. sec", "ss#", "ss no"];

/// A US social security number, dashed, spaced, or bare next to a keyword: never area 000,
/// 666 or 900-999, group 00 or serial 0000, and not a well-known sample number.
pub(super) fn ssn(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    if !separated(text, &range) {
        return None;
    }
    let seps: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_digit()).collect();
    let bare = seps.is_empty() && near_keyword(text, range.start, SSN_KEYWORDS, 32);
    if !bare && (seps.len() != 2 || seps[0] != seps[1]) {
        return None;
    }
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    let (area, group, serial) = (&d[0..3], &d[3..5], &d[5..9]);
    let area_n: u32 = area.parse().ok()?;
    let bad = area == "000"
        || area == "666"
        || area_n >= 900
        || group == "00"
        || serial == "0000"
        || d.bytes().all(|b| b == d.as_bytes()[0])
        || matches!(d.as_str(), "123456789" | "078051120" | "219099999");
    (!bad).then_some(range)
}

/// An IPv4 address that is not part of a longer dotted run (a version like 1.2.3.4.5).
pub(super) fn ipv4(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let dotted_before = range.start >= 2
        && bytes[range.start - 1] == b'.'
        && bytes[range.start - 2].is_ascii_digit();
    let dotted_after = bytes.get(range.end) == Some(&b'.')
        && bytes.get(range.end + 1).is_some_and(u8::is_ascii_digit);
    let version = range.start >= 1 && matches!(bytes[range.start - 1], b'v' | b'V');
    if dotted_before || dotted_after || version || !separated(text, &range) {
        return None;
    }
    text[range.clone()].parse::<Ipv4Addr>().ok().map(|_| range)
}

/// An IPv6 address in any textual form the standard library accepts.
pub(super) fn ipv6(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let glued = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b':');
    let bytes = text.as_bytes();
    if s.matches(':').count() < 2
        || glued(range.start.checked_sub(1).and_then(|i| bytes.get(i)))
        || glued(bytes.get(range.end))
    {
        return None;
    }
    s.parse::<Ipv6Addr>().ok().map(|_| range)
}

/// IBAN lengths by country (ISO 13616 registry, the countries in common use).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AE" => 23,
        "AT" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "CH" => 21,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "EE" => 20,
        "ES" => 24,
        "FI" => 18,
        "FR" => 27,
        "GB" => 22,
        "GR" => 27,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IS" => 26,
        "IT" => 27,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MT" => 31,
        "NL" => 18,
        "NO" => 15,
        "PL" => 28,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "SA" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "TR" => 26,
        "UA" => 29,
        _ => return None,
    })
}

/// An IBAN: a known country's length and a mod-97 remainder of 1.
pub(super) fn iban(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    if !separated(text, &range) {
        return None;
    }
    let compact: String = text[range.clone()]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if iban_length(compact.get(..2)?) != Some(compact.len()) {
        return None;
    }
    let rearranged = compact[4..].chars().chain(compact[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = c.to_digit(36)?;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some(range)
}

/// Credentials in a URL: narrows `scheme://user:password@` to `user:password`.
pub(super) fn url_credentials(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let start = range.start + s.find("://")? + 3;
    let end = range.start + s.rfind('@')?;
    (start < end).then_some(start..end)
}

/// The token of an `Authorization: Bearer` value, without the scheme word.
pub(super) fn bearer(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let skip = s.find(|c: char| c.is_whitespace())?;
    let token_start = skip + s[skip..].find(|c: char| !c.is_whitespace())?;
    Some(range.start + token_start..range.end)
}

/// Accepts the candidate as is (the pattern is specific enough).
pub(super) fn exact(_text: &str, range: Range<usize>) -> Option<Range<usize>> {
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: fn(&str, Range<usize>) -> Option<Range<usize>>, s: &str) -> bool {
        f(s, 0..s.len()).is_some()
    }

    #[test]
    fn luhn_and_brands() {
        for good in [
            "4111111111111111",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
            "6759649826438453",
            "4111111111111111110",
            "180000000000002",
            "213100000000001",
        ] {
            assert!(all(card, good), "{good}");
        }
        assert!(all(card, "4111 1111 1111 1111"));
        assert!(all(card, "4111-1111-1111-1111"));
        assert!(!all(card, "4111-1111 1111-1111"), "mixed separators");
        assert!(!all(card, "4111111111111112"), "bad Luhn");
        assert!(!all(card, "9111111111111111"), "no brand");
    }

    #[test]
    fn ssn_rules() {
        assert!(all(ssn, "536-22-1234"));
        assert!(all(ssn, "536 22 1234"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "536-00-1234",
            "536-22-0000",
            "111-11-1111",
            "078-05-1120",
            "536-22 1234",
        ] {
            assert!(!all(ssn, bad), "{bad}");
        }
    }

    #[test]
    fn iban_mod97() {
        assert!(all(iban, "DE89370400440532013000"));
        assert!(all(iban, "GB82 WEST 1234 5698 7654 32"));
        assert!(!all(iban, "DE89370400440532013001"));
        assert!(!all(iban, "XX89370400440532013000"));
    }

    #[test]
    fn ip_addresses() {
        assert!(all(ipv4, "192.168.1.20"));
        assert!(!all(ipv4, "256.1.1.1"));
        assert!(ipv4("version 1.2.3.4.5", 8..15).is_none());
        assert!(all(ipv6, "2001:db8::ff00:42:8329"));
        assert!(all(ipv6, "::ffff:192.0.2.128"));
        assert!(!all(ipv6, "12:30:45"));
    }

    #[test]
    fn sentence_punctuation_is_a_boundary() {
        let cases = [
            ("My card is 4111 1111 1111 1111.", "4111 1111 1111 1111"),
            ("ssn 512-34-6789.", "512-34-6789"),
            ("(4111111111111111)", "4111111111111111"),
            ("**4111111111111111**", "4111111111111111"),
            ("_4111111111111111_", "4111111111111111"),
            ("卡号4111111111111111。", "4111111111111111"),
            ("«4111111111111111»", "4111111111111111"),
        ];
        for (text, value) in cases {
            let start = text.find(value).unwrap();
            assert!(separated(text, &(start..start + value.len())), "{text}");
        }
        for (text, value) in [
            ("id-4111111111111111", "4111111111111111"),
            ("4111111111111111.5", "4111111111111111"),
            ("12:4111111111111111", "4111111111111111"),
        ] {
            let start = text.find(value).unwrap();
            assert!(!separated(text, &(start..start + value.len())), "{text}");
        }
    }

    #[test]
    fn bare_ssns_need_a_keyword() {
        assert!(ssn("SSN 512346789", 4..13).is_some());
        assert!(ssn("ref 512346789", 4..13).is_none());
        assert!(ssn("SSN 912346789", 4..13).is_none());
    }

    #[test]
    fn dates() {
        assert!(is_date(&["26", "11", "2026"], b".."));
        assert!(is_date(&["2026", "11", "26"], b"--"));
        assert!(is_date(&["11", "26", "2026"], b"//"));
        assert!(!is_date(&["415", "555", "0142"], b"--"));
    }
}
