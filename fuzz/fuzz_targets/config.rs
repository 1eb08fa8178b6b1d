//! Config parsing: YAML, `${env:…}` expansion, every component's decoding and checks.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let env = |name: &str| (name.len() % 2 == 0).then(|| "0123456789abcdef0123".to_owned());
        let _ = llmwatch::config::Config::from_yaml(text, &env);
    });
}
