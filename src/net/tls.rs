//! TLS on llmwatch's listeners (the receivers and the admin port), keyed as the
//! Collector's `configtls` server settings: `cert_file`, `key_file`, `client_ca_file` for
//! mutual TLS, `min_version`, and `reload_interval`. The files are reloaded when they
//! change: each handshake takes the configuration current at its accept, and at most once
//! per `reload_interval` the files' modification times are compared with the loaded ones.
//! A reload that fails (a half-written pair) keeps the previous configuration and is
//! retried at the next check.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::component::config::ConfigError;

/// `tls` of a listener.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain of the server.
    pub cert_file: PathBuf,
    /// PEM private key of `cert_file`.
    pub key_file: PathBuf,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<String>,
    /// How often the files are checked for changes.
    #[serde(
        default = "ServerTlsConfig::default_reload_interval",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub reload_interval: Duration,
}

impl ServerTlsConfig {
    fn default_reload_interval() -> Duration {
        Duration::from_secs(10)
    }

    /// Problems, reported under `path`: the files load and make a valid configuration.
    pub(crate) fn check(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if let Err(message) = self.build(&[]) {
            errors.push(ConfigError {
                path: path.to_owned(),
                message,
            });
        }
    }

    fn files(&self) -> Vec<&PathBuf> {
        let mut files = vec![&self.cert_file, &self.key_file];
        files.extend(&self.client_ca_file);
        files
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.files()
            .iter()
            .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
            .collect()
    }

    fn build(&self, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match self
            .min_version
            .as_deref()
            .unwrap_or("1.2")
        {
            "1.2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            "1.3" => &[&rustls::version::TLS13],
            other => {
                return Err(format!(
                    "min_version {other:?}: llmwatch speaks TLS 1.2 and 1.3; use \"1.2\" or \"1.3\""
                ));
            }
        };
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.client_ca_file {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("CA in {}: {e}", ca.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let chain = read_certs(&self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .map_err(|e| format!("reading {}: {e}", self.key_file.display()))?;
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("cert_file and key_file: {e}"))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

fn read_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

struct Loaded {
    config: Arc<rustls::ServerConfig>,
    stamps: Vec<Option<SystemTime>>,
    checked: Instant,
}

/// A listener's TLS configuration, reloaded when its files change.
pub struct TlsReloader {
    config: ServerTlsConfig,
    alpn: Vec<&'static [u8]>,
    loaded: Mutex<Loaded>,
}

impl TlsReloader {
    /// Loads `config`, offering the `alpn` protocols.
    pub fn new(config: &ServerTlsConfig, alpn: &[&'static [u8]]) -> Result<TlsReloader, String> {
        let stamps = config.stamps();
        let built = config.build(alpn)?;
        Ok(TlsReloader {
            config: config.clone(),
            alpn: alpn.to_vec(),
            loaded: Mutex::new(Loaded {
                config: Arc::new(built),
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The acceptor for a new connection, with the files reloaded if they changed.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.checked.elapsed() >= self.config.reload_interval {
            loaded.checked = Instant::now();
            let stamps = self.config.stamps();
            if stamps != loaded.stamps {
                match self.config.build(&self.alpn) {
                    Ok(config) => {
                        loaded.config = Arc::new(config);
                        loaded.stamps = stamps;
                        tracing::info!(cert_file = %self.config.cert_file.display(), "reloaded the TLS certificate");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the TLS files changed but do not load; keeping the previous ones");
                    }
                }
            }
        }
        tokio_rustls::TlsAcceptor::from(Arc::clone(&loaded.config))
    }
}
