use proptest::prelude::*;

use super::*;
use crate::derive::llm::RawUsage;

fn table() -> PriceTable {
    let mut t = PriceTable::embedded();
    t.set(
        "test-reasoner",
        i64::MIN,
        Price {
            input: 1.0,
            output: 2.0,
            cache_read: None,
            cache_write: None,
            reasoning: Some(5.0),
        },
    );
    t
}

#[test]
fn the_embedded_table_parses_and_covers_every_provider_of_the_issue() {
    let t = PriceTable::parse(EMBEDDED).unwrap();
    assert!(t.len() > 500, "{} models", t.len());
    for (model, provider) in [
        ("gpt-4o", "openai"),
        ("claude-sonnet-4-5", "anthropic"),
        ("gemini-2.5-pro", "gcp.gemini"),
        ("gemini-2.5-flash", "gcp.vertex_ai"),
        ("mistral-large-latest", "mistral_ai"),
        ("deepseek-chat", "deepseek"),
        ("grok-4.3", "x_ai"),
        ("meta.llama3-3-70b-instruct-v1:0", "aws.bedrock"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "together_ai"),
        ("gpt-35-turbo", "azure.ai.openai"),
        ("amazon.nova-pro-v1:0", "aws.bedrock"),
    ] {
        assert!(
            t.find(model, provider, 0).is_some(),
            "{model} ({provider}) unpriced"
        );
    }
}

/// One cost case: usage as the emitter reported it, and the USD it must cost.
struct Case {
    name: &'static str,
    model: &'static str,
    provider: &'static str,
    usage: RawUsage,
    usd: Option<f64>,
}

/// No count reported: the base of the cases' usage.
const NO_USAGE: RawUsage = RawUsage {
    input: None,
    input_excludes_cache: false,
    uncached_input: None,
    output: None,
    cache_read: None,
    cache_write: None,
    reasoning: None,
};

const fn usage(input: u64, output: u64) -> RawUsage {
    RawUsage {
        input: Some(input),
        output: Some(output),
        ..NO_USAGE
    }
}

/// Cost cases, each with the sum it comes to.
const COST_CASES: &[Case] = &[
    Case {
        name: "plain chat",
        model: "gpt-4o-mini",
        provider: "openai",
        usage: usage(1000, 500),
        // 1000 × 0.15 + 500 × 0.60 per 1M
        usd: Some(0.00045),
    },
    Case {
        name: "cached input, OpenAI semantics (cache inside input)",
        model: "gpt-4o",
        provider: "openai",
        usage: RawUsage {
            cache_read: Some(400),
            ..usage(1000, 500)
        },
        // 600 × 2.50 + 400 × 1.25 + 500 × 10
        usd: Some(0.007),
    },
    Case {
        name: "cached input, Anthropic semantics declared (Langfuse usage details)",
        model: "claude-sonnet-4-5",
        provider: "anthropic",
        usage: RawUsage {
            input_excludes_cache: true,
            cache_read: Some(2000),
            cache_write: Some(500),
            ..usage(100, 300)
        },
        // 100 × 3 + 2000 × 0.30 + 500 × 3.75 + 300 × 15
        usd: Some(0.007275),
    },
    Case {
        name: "cached input, Anthropic semantics recognised (input below its cache)",
        model: "claude-sonnet-4-5",
        provider: "anthropic",
        usage: RawUsage {
            cache_read: Some(2000),
            cache_write: Some(500),
            ..usage(100, 300)
        },
        usd: Some(0.007275),
    },
    Case {
        name: "cache writes inside input (OTel semantics)",
        model: "claude-sonnet-4-5",
        provider: "anthropic",
        usage: RawUsage {
            cache_read: Some(1500),
            cache_write: Some(1000),
            ..usage(3000, 200)
        },
        // 500 × 3 + 1500 × 0.30 + 1000 × 3.75 + 200 × 15
        usd: Some(0.0087),
    },
    Case {
        name: "reasoning billed at the output price",
        model: "o3",
        provider: "openai",
        usage: RawUsage {
            reasoning: Some(1500),
            ..usage(1000, 2000)
        },
        // 1000 × 2 + 500 × 8 + 1500 × 8
        usd: Some(0.018),
    },
    Case {
        name: "thinking reported outside output (Gemini's count)",
        model: "gemini-2.5-flash",
        provider: "gcp.gemini",
        usage: RawUsage {
            reasoning: Some(300),
            ..usage(0, 100)
        },
        // 100 × 2.50 + 300 × 2.50
        usd: Some(0.001),
    },
    Case {
        name: "reasoning with its own price",
        model: "test-reasoner",
        provider: "openai",
        usage: RawUsage {
            reasoning: Some(600),
            ..usage(100, 1000)
        },
        // 100 × 1 + 400 × 2 + 600 × 5
        usd: Some(0.0039),
    },
    Case {
        name: "explicitly uncached input (Vercel AI SDK noCacheTokens)",
        model: "gpt-4o",
        provider: "openai",
        usage: RawUsage {
            uncached_input: Some(600),
            cache_read: Some(400),
            ..usage(1000, 0)
        },
        usd: Some(0.002),
    },
    Case {
        name: "dated snapshot",
        model: "gpt-4o-mini-2024-07-18",
        provider: "openai",
        usage: usage(1000, 500),
        usd: Some(0.00045),
    },
    Case {
        name: "provider prefix and case",
        model: "OpenAI/GPT-4o-Mini",
        provider: "openai",
        usage: usage(1000, 500),
        usd: Some(0.00045),
    },
    Case {
        name: "Anthropic date suffix on a model listed without it",
        model: "claude-haiku-4-5-20991231",
        provider: "anthropic",
        usage: usage(1000, 1000),
        // 1000 × 1 + 1000 × 5
        usd: Some(0.006),
    },
    Case {
        name: "Vertex version suffix",
        model: "claude-sonnet-4-5@20250929",
        provider: "gcp.vertex_ai",
        usage: usage(1000, 1000),
        usd: Some(0.018),
    },
    Case {
        name: "Bedrock cross-region id listed with its own price",
        model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        provider: "aws.bedrock",
        usage: usage(1000, 1000),
        // Regional inference profiles cost 10% more: 1000 × 3.30 + 1000 × 16.50
        usd: Some(0.0198),
    },
    Case {
        name: "Bedrock region and version stripped",
        model: "ca.anthropic.claude-sonnet-4-5-20250929-v2:0",
        provider: "aws.bedrock",
        usage: usage(1000, 1000),
        usd: Some(0.018),
    },
    Case {
        name: "fine-tune priced as its base",
        model: "ft:gpt-4o-mini-2024-07-18:acme::9xYz",
        provider: "openai",
        usage: usage(1000, 500),
        usd: Some(0.00045),
    },
    Case {
        name: "xAI under its provider prefix",
        model: "grok-4.3",
        provider: "x_ai",
        usage: usage(1000, 1000),
        // 1000 × 1.25 + 1000 × 2.5
        usd: Some(0.00375),
    },
    Case {
        name: "Gemini under the models/ prefix",
        model: "models/gemini-2.5-pro",
        provider: "gcp.gemini",
        usage: usage(1000, 1000),
        usd: Some(0.01125),
    },
    Case {
        name: "embeddings",
        model: "text-embedding-3-small",
        provider: "openai",
        usage: RawUsage {
            input: Some(1_000_000),
            ..NO_USAGE
        },
        usd: Some(0.02),
    },
    Case {
        name: "unknown model is unpriced, never $0",
        model: "acme-llm-7b",
        provider: "openai",
        usage: usage(1000, 1000),
        usd: None,
    },
];

#[test]
fn cost_cases_to_a_billionth_of_a_dollar() {
    let t = table();
    let mut failures = Vec::new();
    for c in COST_CASES {
        let got = t
            .find(c.model, c.provider, 0)
            .map(|m| m.price.cost(&c.usage.tokens()));
        let ok = match (got, c.usd) {
            (Some(g), Some(w)) => (g - w).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: {:?} != {:?}", c.name, got, c.usd));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_newest_price_in_effect_when_the_call_ended_applies() {
    let mut t = PriceTable::default();
    let p = |input| Price {
        input,
        output: 0.0,
        cache_read: None,
        cache_write: None,
        reasoning: None,
    };
    t.set("m", parse_day("2025-01-01").unwrap(), p(1.0));
    t.set("m", parse_day("2025-06-01").unwrap(), p(2.0));
    let at = |date: &str| parse_day(date).unwrap() as u64 * 86_400_000_000_000 + 1;
    assert_eq!(t.find("m", "", at("2025-03-01")).unwrap().price.input, 1.0);
    assert_eq!(t.find("m", "", at("2025-06-01")).unwrap().price.input, 2.0);
    assert_eq!(t.find("m", "", at("2024-01-01")).unwrap().price.input, 1.0);
    assert_eq!(t.find("m", "", 0).unwrap().effective, "2025-06-01");
}

#[test]
fn dates_round_trip() {
    for d in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-11-26"] {
        assert_eq!(format_day(parse_day(d).unwrap()), d);
    }
    assert_eq!(parse_day("1970-01-02"), Some(1));
    assert_eq!(parse_day("2024-13-01"), None);
}

#[test]
fn bad_rows_are_refused_with_their_line() {
    let err = PriceTable::parse(
        "model,input,output,cache_read,cache_write,reasoning,effective\nm,1,-2,,,,2025-01-01\n",
    )
    .unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    assert!(PriceTable::parse("m,1,2,,,\n").is_err());
}

proptest! {
    #[test]
    fn cost_is_never_negative_and_adds_up_over_calls(
        a in (0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000),
        b in (0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000, 0u64..10_000_000),
        model in prop::sample::select(vec!["gpt-4o", "claude-sonnet-4-5", "o3", "gemini-2.5-flash", "test-reasoner"]),
    ) {
        let t = table();
        let price = t.find(model, "", 0).unwrap().price;
        let raw = |(i, o, cr, cw, r): (u64, u64, u64, u64, u64)| RawUsage {
            input: Some(i), output: Some(o), cache_read: Some(cr), cache_write: Some(cw), reasoning: Some(r),
            ..RawUsage::default()
        };
        let (ta, tb) = (raw(a).tokens(), raw(b).tokens());
        let sum = Tokens {
            input: ta.input + tb.input,
            cache_read: ta.cache_read + tb.cache_read,
            cache_write: ta.cache_write + tb.cache_write,
            output: ta.output + tb.output,
            reasoning: ta.reasoning + tb.reasoning,
        };
        let (ca, cb) = (price.cost(&ta), price.cost(&tb));
        prop_assert!(ca >= 0.0 && cb >= 0.0);
        let together = price.cost(&sum);
        prop_assert!((together - (ca + cb)).abs() <= 1e-9 * together.max(1.0), "{together} vs {ca} + {cb}");
        // The disjoint categories never lose or invent tokens.
        prop_assert!(ta.total() >= a.1.max(a.4));
    }
}

#[test]
fn models_listed_only_in_bedrock_form_are_priced_under_their_bare_name() {
    let t = PriceTable::parse(
        "model,input,output,cache_read,cache_write,reasoning,effective\n\
         anthropic.claude-opus-4-1-20250805-v1:0,15,75,1.5,18.75,,2026-01-01\n\
         anthropic.claude-sonnet-4-5-20250929-v1:0,9,9,,,,2026-01-01\n\
         claude-sonnet-4-5-20250929,3,15,0.3,3.75,,2026-01-01\n\
         apac.anthropic.claude-haiku-9-v1:0,1,1,,,,2026-01-01\n",
    )
    .unwrap();
    let opus = t.find("claude-opus-4-1-20250805", "anthropic", 0).unwrap();
    assert_eq!((opus.price.input, opus.price.output), (15.0, 75.0));
    // A bare listing keeps its own price.
    let sonnet = t
        .find("claude-sonnet-4-5-20250929", "anthropic", 0)
        .unwrap();
    assert_eq!(sonnet.price.input, 3.0);
    // Regional prices are not generalised.
    assert!(t.find("claude-haiku-9", "anthropic", 0).is_none());
}

#[test]
fn names_over_the_length_cap_are_never_priced() {
    let t = table();
    let within = format!("{}/gpt-4o", "x".repeat(MAX_MODEL_BYTES - 7));
    assert_eq!(within.len(), MAX_MODEL_BYTES);
    assert_eq!(t.resolve(&within, "openai").as_deref(), Some("gpt-4o"));
    let over = format!("x{within}");
    assert_eq!(t.resolve(&over, "openai"), None);
    assert!(t.find(&"m:1".repeat(1 << 20), "openai", 0).is_none());
}
