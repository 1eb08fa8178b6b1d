//! Token usage of a call: as a convention reports it, and as disjoint billed categories.

/// Token counts of one call, as disjoint categories: their sum is every token billed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tokens {
    /// Input neither read from nor written to a cache.
    pub input: u64,
    /// Input read from a cache.
    pub cache_read: u64,
    /// Input written to a cache.
    pub cache_write: u64,
    /// Output that is not reasoning.
    pub output: u64,
    /// Output spent on reasoning.
    pub reasoning: u64,
}

impl Tokens {
    /// Every token of the call.
    pub fn total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.output + self.reasoning
    }

    /// The categories with their `type` label values.
    pub fn by_type(&self) -> [(&'static str, u64); 5] {
        [
            ("input", self.input),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("output", self.output),
            ("reasoning", self.reasoning),
        ]
    }
}

/// Usage as a convention reports it, before it is made disjoint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RawUsage {
    /// Input tokens, and whether cached tokens are included in them.
    pub input: Option<u64>,
    /// The convention counts input without cached tokens (Anthropic's API, Langfuse).
    pub input_excludes_cache: bool,
    /// Explicitly uncached input (Vercel AI SDK `noCacheTokens`).
    pub uncached_input: Option<u64>,
    /// Output tokens, reasoning included.
    pub output: Option<u64>,
    /// Cache reads.
    pub cache_read: Option<u64>,
    /// Cache writes.
    pub cache_write: Option<u64>,
    /// Reasoning tokens.
    pub reasoning: Option<u64>,
}

impl RawUsage {
    /// Whether any count was reported.
    pub fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.uncached_input.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
            && self.reasoning.is_none()
    }

    /// The disjoint token categories.
    ///
    /// OTel, OpenAI, OpenInference and Traceloop count cached tokens inside input;
    /// Anthropic's API and Langfuse do not. A convention's declared semantics decide,
    /// and input smaller than its own cache counts proves the second whatever was
    /// declared: such input cannot include them. Reasoning is inside output everywhere.
    pub fn tokens(&self) -> Tokens {
        let cache_read = self.cache_read.unwrap_or(0);
        let cache_write = self.cache_write.unwrap_or(0);
        let cached = cache_read + cache_write;
        let input = match (self.uncached_input, self.input) {
            (Some(uncached), _) => uncached,
            (None, Some(input)) if self.input_excludes_cache || input < cached => input,
            (None, Some(input)) => input - cached,
            (None, None) => 0,
        };
        let output = self.output.unwrap_or(0);
        let reasoning = self.reasoning.unwrap_or(0);
        Tokens {
            input,
            cache_read,
            cache_write,
            // Output includes reasoning in every convention, but some emitters pass on
            // Gemini's output count, which excludes thinking: reasoning above output
            // proves that, and then output is all non-reasoning.
            output: if reasoning > output {
                output
            } else {
                output - reasoning
            },
            reasoning,
        }
    }
}
