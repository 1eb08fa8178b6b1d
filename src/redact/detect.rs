//! The detectors, and the scanner that runs them over free text.
//!
//! One multi-pattern regex of every enabled detector answers "is anything here?" in a
//! single pass that allocates nothing, which is all clean text costs. Only when it
//! matches does the scanner ask which detectors fired, then run those detectors' own
//! searches and validators, and resolve overlaps (the earlier start wins, then the
//! detector listed first in [`Detector::ALL`]).
//!
//! That automaton runs at ~450 MB/s here, whatever the patterns. Most prose never needs
//! it: every match of a built-in detector either starts with a literal (`sk-`, `AKIA`,
//! `eyJ`, …), which a literal search finds at GB/s, or contains a trigger: a digit, `@`,
//! `:` or the word `bearer`. Text with no trigger is asked only the literal search.

use std::ops::Range;

mod covering;

use regex_automata::meta::Regex;
use regex_automata::{Input, MatchKind, PatternSet};

use self::covering::Covering;
use super::validate;

/// A kind of personal data or secret that the redactor detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    /// `-----BEGIN … PRIVATE KEY-----` blocks, with or without their end line.
    PrivateKey,
    /// JSON Web Tokens.
    Jwt,
    /// Anthropic API keys (`sk-ant-…`).
    AnthropicKey,
    /// OpenAI API keys (`sk-…`, `sk-proj-…`).
    OpenAiKey,
    /// AWS access key ids (`AKIA…`, `ASIA…`).
    AwsKey,
    /// GitHub tokens (`ghp_…`, `github_pat_…`).
    GithubToken,
    /// Slack tokens (`xoxb-…`) and webhook URLs.
    SlackToken,
    /// Stripe secret and restricted keys.
    StripeKey,
    /// Google API keys (`AIza…`).
    GoogleApiKey,
    /// The token of a `Bearer` authorization value.
    BearerToken,
    /// `user:password@` in a URL.
    UrlCredentials,
    /// E-mail addresses.
    Email,
    /// IBANs that pass the mod-97 check.
    Iban,
    /// Payment card numbers of an issued brand that pass Luhn.
    Card,
    /// US social security numbers: dashed, spaced, or bare after a keyword.
    Ssn,
    /// IPv6 addresses.
    Ipv6,
    /// IPv4 addresses.
    Ipv4,
    /// Phone numbers, international or national, valid by libphonenumber's metadata.
    Phone,
    /// A user-defined pattern from the config, by its position there. Its name and
    /// placeholder come from [`Scanner::name`] and [`Scanner::placeholder`].
    Custom(u16),
}

type Validator = fn(&str, Range<usize>) -> Option<Range<usize>>;

impl Detector {
    /// Every detector, in overlap priority order.
    pub const ALL: [Detector; 18] = [
        Detector::PrivateKey,
        Detector::Jwt,
        Detector::AnthropicKey,
        Detector::OpenAiKey,
        Detector::AwsKey,
        Detector::GithubToken,
        Detector::SlackToken,
        Detector::StripeKey,
        Detector::GoogleApiKey,
        Detector::BearerToken,
        Detector::UrlCredentials,
        Detector::Email,
        Detector::Iban,
        Detector::Card,
        Detector::Ssn,
        Detector::Ipv6,
        Detector::Ipv4,
        Detector::Phone,
    ];

    /// The position of a built-in detector in [`Detector::ALL`].
    pub fn index(self) -> Option<usize> {
        Detector::ALL.iter().position(|d| *d == self)
    }

    /// The name used in config, metric labels and placeholders (`custom` for user patterns:
    /// ask the scanner for theirs).
    pub const fn name(self) -> &'static str {
        match self {
            Detector::PrivateKey => "private_key",
            Detector::Jwt => "jwt",
            Detector::AnthropicKey => "anthropic_key",
            Detector::OpenAiKey => "openai_key",
            Detector::AwsKey => "aws_key",
            Detector::GithubToken => "github_token",
            Detector::SlackToken => "slack_token",
            Detector::StripeKey => "stripe_key",
            Detector::GoogleApiKey => "google_api_key",
            Detector::BearerToken => "bearer_token",
            Detector::UrlCredentials => "url_credentials",
            Detector::Email => "email",
            Detector::Iban => "iban",
            Detector::Card => "card",
            Detector::Ssn => "ssn",
            Detector::Ipv6 => "ipv6",
            Detector::Ipv4 => "ipv4",
            Detector::Phone => "phone",
            Detector::Custom(_) => "custom",
        }
    }

    /// The typed placeholder that replaces a finding, e.g. `[EMAIL]`.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Detector::PrivateKey => "[PRIVATE_KEY]",
            Detector::Jwt => "[JWT]",
            Detector::AnthropicKey => "[ANTHROPIC_KEY]",
            Detector::OpenAiKey => "[OPENAI_KEY]",
            Detector::AwsKey => "[AWS_KEY]",
            Detector::GithubToken => "[GITHUB_TOKEN]",
            Detector::SlackToken => "[SLACK_TOKEN]",
            Detector::StripeKey => "[STRIPE_KEY]",
            Detector::GoogleApiKey => "[GOOGLE_API_KEY]",
            Detector::BearerToken => "[BEARER_TOKEN]",
            Detector::UrlCredentials => "[CREDENTIALS]",
            Detector::Email => "[EMAIL]",
            Detector::Iban => "[IBAN]",
            Detector::Card => "[CARD]",
            Detector::Ssn => "[SSN]",
            Detector::Ipv6 => "[IPV6]",
            Detector::Ipv4 => "[IPV4]",
            Detector::Phone => "[PHONE]",
            Detector::Custom(_) => "[REDACTED]",
        }
    }

    /// Whether every match of this detector starts with a literal. The others all need a
    /// trigger (see [`has_trigger`]) somewhere in the match.
    const fn starts_with_literal(self) -> bool {
        matches!(
            self,
            Detector::PrivateKey
                | Detector::Jwt
                | Detector::AnthropicKey
                | Detector::OpenAiKey
                | Detector::AwsKey
                | Detector::GithubToken
                | Detector::SlackToken
                | Detector::StripeKey
                | Detector::GoogleApiKey
        )
    }

    /// The candidate pattern (ASCII classes: measurably cheaper to build, and PII formats
    /// are ASCII) and the validator that confirms it.
    fn rule(self) -> (&'static str, Validator) {
        match self {
            // Never built from here: user patterns come with their own regex.
            Detector::Custom(_) => (r"[^\s\S]", validate::exact),
            Detector::PrivateKey => (
                r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----[A-Za-z0-9+/=\s]*(?:-----END [A-Z ]{0,20}PRIVATE KEY-----)?",
                validate::exact,
            ),
            Detector::Jwt => (
                r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                validate::exact,
            ),
            Detector::AnthropicKey => (
                r"sk-ant-[a-z]{3,6}[0-9]{2}-[A-Za-z0-9_-]{20,}",
                validate::exact,
            ),
            Detector::OpenAiKey => (
                r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
                validate::exact,
            ),
            Detector::AwsKey => (
                r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
                validate::exact,
            ),
            Detector::GithubToken => (
                r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
                validate::exact,
            ),
            Detector::SlackToken => (
                r"(?:xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,})",
                validate::exact,
            ),
            Detector::StripeKey => (r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", validate::exact),
            Detector::GoogleApiKey => (r"AIza[0-9A-Za-z_-]{35}", validate::exact),
            Detector::BearerToken => (
                r"(?i:bearer)[ \t]+[A-Za-z0-9._~+/-]{16,}=*",
                validate::bearer,
            ),
            Detector::UrlCredentials => (
                r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s:/@]{1,128}:[^\s/@]{1,256}@",
                validate::url_credentials,
            ),
            Detector::Email => (
                r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}",
                validate::exact,
            ),
            Detector::Iban => (
                r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?",
                validate::iban,
            ),
            Detector::Card => (r"[0-9](?:[ -]?[0-9]){11,18}", validate::card),
            Detector::Ssn => (r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}|[0-9]{9}", validate::ssn),
            Detector::Ipv6 => (
                r"(?i:[0-9a-f]{0,4}:){2,7}(?i:[0-9a-f]{0,4}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})",
                validate::ipv6,
            ),
            Detector::Ipv4 => (r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", validate::ipv4),
            // Validated by the scanner with its regions (`phone::validate`).
            Detector::Phone => (
                r"\+?\(?[0-9](?:\)?[ .\-/]{0,2}\(?[0-9]){6,20}\)?",
                validate::exact,
            ),
        }
    }
}

/// One detector found in a text, by byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub detector: Detector,
    /// Where, in bytes.
    pub range: Range<usize>,
}

/// A user-defined pattern: a name and a regex.
#[derive(Clone, Debug)]
pub struct CustomPattern {
    /// Lowercase name, used in metric labels; the placeholder is its uppercase.
    pub name: String,
    /// The regex (Rust `regex` syntax).
    pub regex: String,
}

/// Scans text for the enabled detectors.
pub struct Scanner {
    detectors: Vec<Detector>,
    any: Regex,
    /// The detectors that start with a literal, for text without a trigger; `None` when
    /// no trigger-free text can match (none enabled), or when user patterns, whose
    /// shape is unknown, mean every text needs `any`.
    literal: Option<Regex>,
    gated: bool,
    each: Vec<(Regex, Validator)>,
    /// Names and placeholders of the user patterns, by `Custom` index. Leaked once at
    /// startup: label values must be `'static`, and their number is bounded by the config.
    custom: Vec<(&'static str, &'static str)>,
    /// The regions national phone numbers are validated in.
    regions: Vec<phonenumber::country::Id>,
}

/// Why a scanner could not be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid detector pattern: {0}")]
pub struct ScannerBuildError(#[from] Box<regex_automata::meta::BuildError>);

impl Scanner {
    /// Builds a scanner for `detectors`.
    pub fn new(detectors: &[Detector]) -> Result<Scanner, ScannerBuildError> {
        Scanner::with_patterns(detectors, &[])
    }

    /// Builds a scanner for `detectors` and user-defined `patterns`, which rank after every
    /// built-in detector when findings overlap.
    pub fn with_patterns(
        detectors: &[Detector],
        patterns: &[CustomPattern],
    ) -> Result<Scanner, ScannerBuildError> {
        let mut detectors: Vec<Detector> = Detector::ALL
            .into_iter()
            .filter(|d| detectors.contains(d))
            .collect();
        let mut rules: Vec<(&str, Validator)> = detectors.iter().map(|d| d.rule()).collect();
        let mut custom = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            detectors.push(Detector::Custom(u16::try_from(i).unwrap_or(u16::MAX)));
            rules.push((p.regex.as_str(), validate::exact));
            let name: &'static str = Box::leak(p.name.clone().into_boxed_str());
            let placeholder: &'static str =
                Box::leak(format!("[{}]", p.name.to_ascii_uppercase()).into_boxed_str());
            custom.push((name, placeholder));
        }
        let patterns: Vec<&str> = rules.iter().map(|(p, _)| *p).collect();
        // `All`, so that `which_overlapping_matches` reports every detector that matches,
        // not only the leftmost-first one.
        let any = Regex::builder()
            .configure(Regex::config().match_kind(MatchKind::All))
            .build_many(&patterns)
            .map_err(Box::new)?;
        let literal: Vec<&str> = detectors
            .iter()
            .filter(|d| d.starts_with_literal())
            .map(|d| d.rule().0)
            .collect();
        let literal = if literal.is_empty() {
            None
        } else {
            Some(Regex::new_many(&literal).map_err(Box::new)?)
        };
        let each = rules
            .iter()
            .map(|(p, v)| Regex::new(p).map(|r| (r, *v)).map_err(Box::new))
            .collect::<Result<_, _>>()?;
        // libphonenumber's metadata (5.7 MiB, and the patterns of the regions seen) is loaded
        // only for a scanner that validates phone numbers.
        if detectors.contains(&Detector::Phone) {
            super::phone::warm_up();
        }
        Ok(Scanner {
            regions: super::phone::default_regions(),
            gated: custom.is_empty(),
            detectors,
            any,
            literal,
            each,
            custom,
        })
    }

    /// The name of a detector, user patterns included.
    pub fn name(&self, d: Detector) -> &'static str {
        match d {
            Detector::Custom(i) => self.custom.get(usize::from(i)).map_or("custom", |c| c.0),
            other => other.name(),
        }
    }

    /// The placeholder of a detector, user patterns included.
    pub fn placeholder(&self, d: Detector) -> &'static str {
        match d {
            Detector::Custom(i) => self
                .custom
                .get(usize::from(i))
                .map_or("[REDACTED]", |c| c.1),
            other => other.placeholder(),
        }
    }

    /// The same scanner validating national phone numbers in `regions`.
    pub fn with_phone_regions(mut self, regions: Vec<phonenumber::country::Id>) -> Scanner {
        self.regions = regions;
        self
    }

    /// A scanner with every detector enabled.
    pub fn all() -> Result<Scanner, ScannerBuildError> {
        Scanner::new(&Detector::ALL)
    }

    /// Appends the findings in `text` to `out`, in order and without overlaps, as byte
    /// ranges of `text`. Text with JSON escapes or percent-encoding is scanned decoded
    /// (`jane\u0040example.com`, `jane%40example.com`), and each finding covers the
    /// escaped source. Allocates nothing when the text is clean.
    pub fn scan(&self, text: &str, out: &mut Vec<Finding>) {
        if self.gated && !has_trigger(text.as_bytes()) {
            if self.literal.as_ref().is_some_and(|r| r.is_match(text)) {
                self.scan_plain(text, out);
            }
            return;
        }
        if memchr::memchr2(b'\\', b'%', text.as_bytes()).is_some()
            && let Some(decoded) = super::unescape::Decoded::new(text)
        {
            let first = out.len();
            if self.any.is_match(&decoded.text) {
                self.scan_plain(&decoded.text, out);
            }
            for f in &mut out[first..] {
                f.range = decoded.source(f.range.clone());
            }
            return;
        }
        if self.any.is_match(text) {
            self.scan_plain(text, out);
        }
    }

    /// [`Scanner::scan`] on text already known to match, without decoding.
    fn scan_plain(&self, text: &str, out: &mut Vec<Finding>) {
        let mut fired = PatternSet::new(self.detectors.len());
        self.any
            .which_overlapping_matches(&Input::new(text), &mut fired);
        let first = out.len();
        for pid in fired.iter() {
            let (regex, validate) = &self.each[pid.as_usize()];
            let detector = self.detectors[pid.as_usize()];
            // A phone candidate that a finding starting no later overlaps would lose to it
            // (`resolve_overlaps`): card and IBAN digits skip the costly metadata. The
            // phone detector's own findings never cover a later candidate, which starts
            // past them.
            let mut covering = (detector == Detector::Phone).then(|| Covering::new(&out[first..]));
            let mut at = 0;
            while at < text.len() {
                let Some(m) = regex.find(Input::new(text).range(at..)) else {
                    break;
                };
                let confirmed = if let Some(covering) = &mut covering {
                    if covering.covers(m.start()) {
                        None
                    } else {
                        super::phone::validate(&self.regions, text, m.range())
                    }
                } else {
                    validate(text, m.range())
                };
                at = match confirmed {
                    Some(range) => {
                        out.push(Finding { detector, range });
                        m.end().max(m.start() + 1)
                    }
                    // A rejected candidate may hide a real one that starts inside it (a
                    // phone pattern swallowing a date before a number): resume one byte on.
                    None => m.start() + 1,
                };
                while at < text.len() && !text.is_char_boundary(at) {
                    at += 1;
                }
            }
        }
        resolve_overlaps(out, first);
    }
}

impl Scanner {
    /// The scanner without its trigger gate, as the reference the gate is tested against.
    #[cfg(test)]
    fn ungated(mut self) -> Scanner {
        self.gated = false;
        self
    }
}

/// Whether `text` holds a byte or word that some match of every detector not starting
/// with a literal contains: a digit (cards, SSNs, IBANs, IPv4, phones), `@` (e-mail),
/// `:` (IPv6, URL credentials) or `bearer` in any case.
fn has_trigger(text: &[u8]) -> bool {
    fn trigger(b: u8) -> u8 {
        u8::from(b.is_ascii_digit() || b == b'@' || b == b':')
    }
    let mut chunks = text.chunks_exact(32);
    // No early exit inside a chunk, so that the compiler vectorises the fold.
    let found = chunks
        .by_ref()
        .any(|c| c.iter().fold(0, |acc, &b| acc | trigger(b)) != 0)
        || chunks.remainder().iter().any(|&b| trigger(b) != 0);
    found
        || memchr::memchr2_iter(b'b', b'B', text).any(|i| {
            text.get(i..i + 6)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
        })
}

/// Keeps, among overlapping findings from `first` on, the one that starts first (then the
/// higher-priority detector, then the longer), and drops the rest.
fn resolve_overlaps(out: &mut Vec<Finding>, first: usize) {
    let mut found = out.split_off(first);
    found.sort_by(|a, b| {
        a.range
            .start
            .cmp(&b.range.start)
            .then(a.detector.cmp(&b.detector))
            .then(b.range.end.cmp(&a.range.end))
    });
    let mut end = 0;
    for f in found {
        if f.range.start >= end {
            end = f.range.end;
            out.push(f);
        }
    }
}

#[cfg(test)]
mod tests;
