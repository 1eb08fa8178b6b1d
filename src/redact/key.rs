//! The hashing key behind every pseudonym, from the first start on.
//!
//! In order: the environment variable `hash_key_env`; the file `hash_key_file` (a fleet
//! shares one key this way); the public development key, only with `insecure_dev_key:
//! true`; otherwise a key generated at first start: 32 random bytes, written hex-encoded
//! with mode 0600 to `redaction.key` in the state directory (`$LLMWATCH_STATE_DIR`, else
//! `/var/lib/llmwatch`), and read back on every later start so pseudonyms stay stable.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::config::RedactionConfig;

/// The state directory's environment variable.
pub(crate) const STATE_DIR_ENV: &str = "LLMWATCH_STATE_DIR";
/// The state directory when the variable is unset.
pub(crate) const DEFAULT_STATE_DIR: &str = "/var/lib/llmwatch";
/// The generated key's file name in the state directory.
const KEY_FILE: &str = "redaction.key";

/// The key material for `cfg`.
pub(super) fn material(
    cfg: &RedactionConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, String> {
    if let Some(k) = env(&cfg.hash_key_env) {
        return Ok(k.into_bytes());
    }
    if let Some(path) = &cfg.hash_key_file {
        let key = read(path)?;
        tracing::info!(path = %path.display(), "redaction key read from hash_key_file");
        return Ok(key);
    }
    if cfg.insecure_dev_key {
        tracing::warn!(
            "redaction is hashing with the public development key (insecure_dev_key); pseudonyms are reversible"
        );
        return Ok(b"llmwatch insecure development key".to_vec());
    }
    let dir = env(STATE_DIR_ENV).map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from);
    generated(&dir.join(KEY_FILE))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the redaction key {}: {e}", path.display()))?;
    let key = text.trim();
    if key.len() < 16 {
        return Err(format!(
            "the redaction key in {} is shorter than 16 bytes",
            path.display()
        ));
    }
    Ok(key.as_bytes().to_vec())
}

/// The key in `path`, generated there first when the file does not exist.
fn generated(path: &Path) -> Result<Vec<u8>, String> {
    if path.exists() {
        let key = read(path)?;
        tracing::info!(path = %path.display(), "redaction key loaded");
        return Ok(key);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating the state directory {} for the redaction key: {e}; set {STATE_DIR_ENV}, hash_key_file or {}", dir.display(), "hash_key_env"))?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for the redaction key: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating the redaction key {}: {e}", path.display()))?;
    file.write_all(hex.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("writing the redaction key {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "redaction key generated (32 random bytes, mode 0600); keep it to keep pseudonyms stable");
    Ok(hex.into_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_key_is_generated_once_with_mode_0600_and_reused() {
        let dir = std::env::temp_dir().join(format!("llmwatch-key-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("nested").join(KEY_FILE);
        let first = generated(&path).unwrap();
        assert_eq!(first.len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(generated(&path).unwrap(), first, "reused on restart");
        let other = generated(&dir.join("other").join(KEY_FILE)).unwrap();
        assert_ne!(other, first, "random");
        std::fs::write(&path, "short").unwrap();
        assert!(
            generated(&path).is_err(),
            "a truncated key refuses to start"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
