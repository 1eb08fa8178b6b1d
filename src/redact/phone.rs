//! Phone numbers, validated against libphonenumber's metadata (the `phonenumber` crate).
//!
//! A candidate is a run of digits with the separators people type (space, `.`, `-`, `/`,
//! parentheses), or a bare run of digits after a phone keyword. Shapes that are something
//! else (dates, SSNs, IPv4 addresses, thousands) are rejected before the metadata is asked.
//! An international candidate (`+CC …`) must be a valid number of its country; a national
//! one must be valid in one of the configured regions (`phone_regions`). When the whole
//! candidate is not a number, its leading groups are tried, so that a phone number
//! followed by other digits is still found.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::Range;

use foldhash::fast::FixedState;

use phonenumber::country::Id;

use super::phone_patterns;
use super::validate::{digit_groups, is_date, near_keyword, separated};

/// The default `phone_regions`: the 20 largest markets.
pub(crate) const DEFAULT_REGIONS: [&str; 20] = [
    "US", "CN", "JP", "DE", "IN", "GB", "FR", "IT", "BR", "CA", "RU", "MX", "KR", "AU", "ES", "ID",
    "NL", "TR", "SA", "CH",
];

/// Words that announce a phone number, lowercase, in the languages of the default regions.
const KEYWORDS: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "cell",
    "call me",
    "whatsapp",
    "sms",
    "fax",
    "telefon",
    "handy",
    "rufnummer",
    "téléphone",
    "portable",
    "telefono",
    "teléfono",
    "telefone",
    "celular",
    "móvil",
    "movil",
    "cellulare",
    "电话",
    "手机",
    "電話",
    "携帯",
    "전화",
    "телефон",
    "هاتف",
    "جوال",
    "फोन",
    "मोबाइल",
    "telepon",
];

/// Words that announce a reference number rather than a phone number.
const NOT_PHONE: &[&str] = &[
    "inv",
    "invoice",
    "order",
    "ref",
    "ticket",
    "tracking",
    "case #",
    "rechnung",
    "facture",
    "factura",
    "pedido",
    "commande",
    "bestellung",
];

/// Parses region codes (`US`, `de`) for `phone_regions`.
pub(crate) fn parse_regions(names: &[String]) -> Result<Vec<Id>, String> {
    names
        .iter()
        .map(|n| {
            n.to_ascii_uppercase()
                .parse::<Id>()
                .map_err(|_| format!("unknown region {n:?}: use ISO 3166-1 alpha-2 codes"))
        })
        .collect()
}

/// The default regions, parsed.
pub(crate) fn default_regions() -> Vec<Id> {
    DEFAULT_REGIONS
        .iter()
        .filter_map(|r| r.parse::<Id>().ok())
        .collect()
}

/// Sizes the metadata's pattern cache and loads the metadata, so that the first request
/// does not pay for it.
pub(crate) fn warm_up() {
    phone_patterns::size_cache();
    let _ = phonenumber::parse(Some(Id::US), "415 555 0100");
}

/// Confirms a phone candidate, possibly narrowed to its leading groups.
pub(super) fn validate(regions: &[Id], text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let cuts = group_ends(s);
    // The whole candidate first, then shorter ones ending at a group boundary.
    for &end in cuts.iter().rev() {
        let sub = range.start..range.start + end;
        if accept(regions, text, sub.clone()) {
            return Some(sub);
        }
    }
    None
}

/// The byte offsets in `s` where a group of digits ends, each leaving 7 digits or more.
fn group_ends(s: &str) -> Vec<usize> {
    let bytes = s.as_bytes();
    let mut ends = Vec::new();
    let mut digits = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            digits += 1;
            let last = bytes.get(i + 1).is_none_or(|n| !n.is_ascii_digit());
            if last && digits >= 7 {
                // A closing parenthesis right after belongs to the number if it opened one.
                let closes = bytes.get(i + 1) == Some(&b')') && bytes[..i].contains(&b'(');
                ends.push(if closes { i + 2 } else { i + 1 });
            }
        }
    }
    ends
}

fn accept(regions: &[Id], text: &str, range: Range<usize>) -> bool {
    let s = &text[range.clone()];
    let international = s.starts_with('+');
    let groups = digit_groups(s);
    let n: usize = groups.iter().map(|g| g.len()).sum();
    if !(7..=15).contains(&n) || !separated(text, &range) || !balanced(s) {
        return false;
    }
    if !international
        && (rejected_shape(s, &groups) || near_keyword(text, range.start, NOT_PHONE, 12))
    {
        return false;
    }
    if groups.len() == 1 && !international && !near_keyword(text, range.start, KEYWORDS, 32) {
        // A bare run of digits is an order number as often as a phone number.
        return false;
    }
    remembered(regions, s)
}

/// Answers of the metadata kept per thread, at most this many: chat apps send the whole
/// conversation again with every turn, so the same candidates come back, and a candidate
/// that is no phone number costs a parse in each of the regions (about 3 µs each).
const REMEMBERED: usize = 2048;

/// Longer candidates are not kept (a candidate has at most 15 digits and their separators).
const REMEMBERED_BYTES: usize = 48;

thread_local! {
    /// Candidate to (its regions' fingerprint, the answer); cleared when full.
    static ANSWERS: RefCell<HashMap<Box<str>, (u64, bool), FixedState>> =
        RefCell::new(HashMap::default());
}

/// What the metadata says of `s`, asked once per thread and set of regions.
fn remembered(regions: &[Id], s: &str) -> bool {
    if s.len() > REMEMBERED_BYTES {
        return ask_metadata(regions, s);
    }
    let fingerprint = FixedState::default().hash_one(regions);
    let known = ANSWERS.with_borrow(|a| a.get(s).copied());
    if let Some((f, answer)) = known
        && f == fingerprint
    {
        return answer;
    }
    let answer = ask_metadata(regions, s);
    ANSWERS.with_borrow_mut(|a| {
        if a.len() >= REMEMBERED {
            a.clear();
        }
        a.insert(s.into(), (fingerprint, answer));
    });
    answer
}

/// Whether `s` is a valid number: of its country when international, else of a region.
fn ask_metadata(regions: &[Id], s: &str) -> bool {
    if s.starts_with('+') {
        phone_patterns::prepare_international(s);
        return valid(phonenumber::parse(None, s));
    }
    regions.iter().any(|r| {
        phone_patterns::prepare_region(*r);
        valid(phonenumber::parse(Some(*r), s))
    })
}

/// A parsed number is valid for its country; that country's patterns are prepared first
/// (a national candidate may start with an international prefix: `00 49 …`).
fn valid(parsed: Result<phonenumber::PhoneNumber, phonenumber::ParseError>) -> bool {
    parsed.is_ok_and(|p| {
        phone_patterns::prepare_code(p.code().value());
        phonenumber::is_valid(&p)
    })
}

/// Parentheses open before they close, at most one pair.
fn balanced(s: &str) -> bool {
    let open = s.bytes().filter(|&b| b == b'(').count();
    let close = s.bytes().filter(|&b| b == b')').count();
    open == close && open <= 1 && s.find('(') <= s.find(')')
}

/// Shapes of national candidates that are something else: dates, US SSNs (valid or not),
/// dotted quads, and thousands groupings (`1.234.567`).
fn rejected_shape(s: &str, groups: &[&str]) -> bool {
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let seps: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_digit() && *b != b'(' && *b != b')')
        .collect();
    let one_sep = seps.windows(2).all(|w| w[0] == w[1]);
    let ssn_shape = lens == [3, 2, 4] && one_sep && matches!(seps.first(), Some(b'-' | b' '));
    let dotted_quad =
        lens.len() == 4 && lens.iter().all(|&l| l <= 3) && seps.first() == Some(&b'.');
    let version = seps.first() == Some(&b'.') && lens.len() >= 3 && lens[0] == 1 && lens[1] <= 2;
    let thousands = lens.len() >= 3
        && lens[0] <= 3
        && lens[1..].iter().all(|&l| l == 3)
        && one_sep
        && matches!(seps.first(), Some(b'.' | b','));
    ssn_shape || dotted_quad || version || thousands || is_date(groups, &seps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &str) -> Option<&str> {
        validate(&default_regions(), s, 0..s.len()).map(|r| &s[r])
    }

    #[test]
    fn remembered_answers_are_the_metadata_answers_of_the_same_regions() {
        let all = default_regions();
        for s in [
            "030 12345678",
            "+49 30 12345678",
            "5011 1111 1111",
            "415-555-0142",
        ] {
            let asked = ask_metadata(&all, s);
            assert_eq!(remembered(&all, s), asked, "{s}");
            assert_eq!(remembered(&all, s), asked, "{s} again");
        }
        // A Berlin number is valid in Germany, not in the US alone: the answer kept for
        // the default regions is not given for another set.
        assert!(remembered(&all, "030 12345678"));
        assert!(!remembered(&[Id::US], "030 12345678"));
        assert!(remembered(&all, "030 12345678"));
    }

    #[test]
    fn national_and_international_formats() {
        for s in [
            "+55 51 99986 7625",
            "+14155550142",
            "+1 415-555-0142",
            "(415) 555-0142",
            "415-555-0142",
            "415.555.0142",
            "02.14.72.05.80",
            "01 42 68 53 00",
            "0170/8434260",
            "030 12345678",
            "+49 30 12345678",
            "020 7946 0958",
            "03-1234-5678",
        ] {
            assert_eq!(found(s), Some(s), "{s}");
        }
    }

    #[test]
    fn dates_ssns_and_order_numbers_are_not_phones() {
        for s in [
            "26.11.2026",
            "2026-11-26",
            "11/26/2026",
            "512-34-6789",
            "000-12-3456",
            "666 12 3456",
            "1.234.567",
            "4155550142",
            "192.168.100.200",
        ] {
            assert_eq!(found(s), None, "{s}");
        }
    }

    #[test]
    fn a_bare_number_after_a_keyword_is_a_phone() {
        let s = "Phone: 4155550142";
        assert_eq!(
            validate(&default_regions(), s, 7..s.len()),
            Some(7..s.len())
        );
    }

    #[test]
    fn a_number_in_parentheses_keeps_them_out() {
        let s = "write it down (+33123478927) please";
        assert_eq!(validate(&default_regions(), s, 15..28), Some(15..27));
    }

    #[test]
    fn trailing_digits_are_cut_off() {
        let s = "+1 415 555 0142 2026";
        assert_eq!(found(s), Some("+1 415 555 0142"));
    }
}
