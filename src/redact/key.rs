//! The hashing key behind every pseudonym, from the first start on.
//!
//! In order: the environment variable `hash_key_env`; the file `hash_key_file` (a fleet
//! shares one key this way); the public development key, only with `insecure_dev_key:
//! true`; otherwise a key generated at first start: 32 random bytes, written hex-encoded
//! with mode 0600 to `redaction.key` in the state directory (`$LLMWATCH_STATE_DIR`, else
//! `/var/lib/llmwatch`, else, for a user who cannot write there, `$XDG_STATE_HOME/llmwatch`
//! or `~/.local/state/llmwatch`), and read back on every later start so pseudonyms stay
//! stable.

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
    match env(STATE_DIR_ENV) {
        Some(dir) => generated(&Path::new(&dir).join(KEY_FILE)),
        None => in_default_dir(Path::new(DEFAULT_STATE_DIR), env),
    }
}

/// The generated key in `system`, or, when that cannot be used (a user without the
/// rights to `/var/lib`), in the user's state directory, with a warning that says so.
fn in_default_dir(system: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<u8>, String> {
    let system_error = match generated(&system.join(KEY_FILE)) {
        Ok(key) => return Ok(key),
        Err(e) => e,
    };
    let Some(user) = user_state_dir(env) else {
        return Err(system_error);
    };
    tracing::warn!(
        error = %system_error,
        dir = %user.display(),
        "the system state directory cannot hold the redaction key; using the user's"
    );
    generated(&user.join(KEY_FILE)).map_err(|e| format!("{system_error}; and {e}"))
}

/// `$XDG_STATE_HOME/llmwatch`, else `$HOME/.local/state/llmwatch`.
fn user_state_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty("XDG_STATE_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".local").join("state")))
        .map(|d| d.join("llmwatch"))
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
            .map_err(|e| format!("creating the state directory {} for the redaction key: {e}; set {STATE_DIR_ENV}, hash_key_file or hash_key_env", dir.display()))?;
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

    #[test]
    fn a_system_dir_that_cannot_be_used_falls_back_to_the_users_state_dir() {
        let dir =
            std::env::temp_dir().join(format!("llmwatch-key-fallback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A directory under a regular file cannot be created, not even by root.
        let blocked = dir.join("file");
        std::fs::write(&blocked, "").unwrap();
        let system = blocked.join("llmwatch");
        let home = dir.join("home");
        let home_s = home.to_string_lossy().into_owned();
        let env = |k: &str| (k == "HOME").then(|| home_s.clone());
        let key = in_default_dir(&system, &env).unwrap();
        let path = home.join(".local/state/llmwatch").join(KEY_FILE);
        assert_eq!(std::fs::read(&path).unwrap(), key);
        assert_eq!(in_default_dir(&system, &env).unwrap(), key, "reused");
        let xdg = dir.join("xdg").to_string_lossy().into_owned();
        let env_xdg = |k: &str| (k == "XDG_STATE_HOME").then(|| xdg.clone());
        assert_ne!(in_default_dir(&system, &env_xdg).unwrap(), key);
        assert!(dir.join("xdg/llmwatch").join(KEY_FILE).exists());
        let err = in_default_dir(&system, &|_| None).unwrap_err();
        assert!(err.contains("LLMWATCH_STATE_DIR"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
