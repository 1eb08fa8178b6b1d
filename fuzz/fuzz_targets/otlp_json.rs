//! OTLP/JSON decoding, as a pipeline worker runs it (see `otlp.rs`).

mod otlp;

fn main() {
    afl::fuzz!(|data: &[u8]| otlp::run(llmwatch::decode::Format::Json, data));
}
