//! TLS on the listener: rustls on the aws-lc-rs provider (already in the tree for key
//! generation and PostgreSQL), HTTP/2 and HTTP/1.1 offered by ALPN. The certificate chain and
//! key are read from PEM files at start and again on SIGHUP; each new connection takes the pair
//! in use when it arrives, so a reload drops no connection. A pair that does not load
//! (unreadable, not PEM, no certificate, a key that does not match the certificate) is refused
//! with a log line and the pair in use stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The PEM files a TLS listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The acceptor in use, replaced whole by a successful reload.
pub struct ReloadableTls {
    files: TlsFiles,
    current: RwLock<TlsAcceptor>,
}

impl ReloadableTls {
    pub fn load(files: TlsFiles) -> anyhow::Result<Self> {
        let acceptor = acceptor_for(&files)?;
        Ok(ReloadableTls {
            files,
            current: RwLock::new(acceptor),
        })
    }

    /// The acceptor for a connection arriving now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the files again; on any error the pair in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let acceptor = acceptor_for(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = acceptor;
        Ok(())
    }

    /// Reloads on every SIGHUP, logging the outcome.
    pub fn spawn_reload_on_hangup(self: Arc<Self>) -> anyhow::Result<()> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match self.reload() {
                    Ok(()) => tracing::info!(
                        cert = %self.files.cert.display(),
                        key = %self.files.key.display(),
                        "TLS certificate and key reloaded"
                    ),
                    Err(err) => tracing::error!(
                        error = format!("{err:#}"),
                        "TLS reload refused; the certificate in use stays"
                    ),
                }
            }
        });
        Ok(())
    }
}

/// A checked server configuration for the pair, with ALPN `h2` then `http/1.1`.
fn acceptor_for(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let chain = read_chain(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("no PEM private key in {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("the private key in {} is not usable", files.key.display()))?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
    certified.keys_match().with_context(|| {
        format!(
            "the private key in {} does not match the certificate in {}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read the certificate file {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the certificate file {} is not valid PEM", path.display()))?;
    if chain.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(chain)
}
