//! What the OTLP targets share: decompression (bounded), decoding of the signal's request
//! and the item checks, as a pipeline worker runs them. The first byte picks the signal
//! and the compression; the rest is the body.

use llmwatch::decode::{self, Encoding, Format};
use llmwatch::model::Signal;

pub fn run(format: Format, data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let signal = [Signal::Traces, Signal::Logs, Signal::Metrics][usize::from(selector % 3)];
    let encoding = match selector / 3 % 3 {
        0 => Encoding::Identity,
        1 => Encoding::Gzip,
        _ => Encoding::Zstd,
    };
    let Ok(plain) = decode::decompress(body, encoding, 1 << 20) else {
        return;
    };
    if let Ok(mut payload) = decode::decode(signal, format, &plain) {
        let _ = decode::drop_invalid_items(&mut payload);
    }
}
