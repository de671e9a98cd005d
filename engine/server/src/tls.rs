//! Native TLS for a listener: a certificate chain and its private key, both
//! PEM files, loaded once at start into a rustls server configuration (the
//! `ring` provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN). [`edge::serve_with`]
//! does the handshake on each connection's own task.
//!
//! Loading never panics and its errors never hold key material: they name
//! the file and what was wrong with it. The files are read once: a renewed
//! certificate takes a restart.
//!
//! [`edge::serve_with`]: crate::edge::serve_with

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A listener's TLS settings, ready to accept connections with.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig { .. }")
    }
}

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {kind} file {}: {error}", path.display())]
    Read {
        /// "certificate" or "private key".
        kind: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (in the message, so not a `source`).
        error: std::io::Error,
    },
    /// The file is not what it should be (no PEM block of the right type, bad PEM).
    #[error("invalid {kind} file {}: {reason}", path.display())]
    Invalid {
        /// "certificate" or "private key".
        kind: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong, without the file's contents.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("cannot use the certificate {} with the key {}: {reason}", cert.display(), key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

const CERT: &str = "certificate";
const KEY: &str = "private key";

impl TlsConfig {
    /// Loads a certificate chain (`cert`: PEM, leaf first, then
    /// intermediates) and its private key (`key`: PEM, PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let cert_pem = read(CERT, cert)?;
        let key_pem = read(KEY, key)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(CERT, cert, &e))?;
        if chain.is_empty() {
            return Err(invalid(CERT, cert, &pem::Error::NoItemsFound));
        }
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| invalid(KEY, key, &e))?;
        let rejected =
            |e: rustls::Error| TlsError::Rejected { cert: cert.to_owned(), key: key.to_owned(), reason: e.to_string() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(rejected)?;
        // The edge serves HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        warn_if_shared(key);
        Ok(TlsConfig { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }

    /// Wraps a rustls configuration built elsewhere (an embedder's).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { acceptor: tokio_rustls::TlsAcceptor::from(config) }
    }
}

fn read(kind: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { kind, path: path.to_owned(), error })
}

/// What was wrong with a PEM file, in words that quote none of it.
fn invalid(kind: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    let expected = if kind == CERT {
        "`-----BEGIN CERTIFICATE-----`"
    } else {
        "`-----BEGIN PRIVATE KEY-----`, `-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN EC PRIVATE KEY-----`"
    };
    let reason = match e {
        pem::Error::NoItemsFound => format!("no {kind} found (expected a PEM block {expected})"),
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64".to_owned(),
        pem::Error::SectionTooLarge => "a PEM block is too large".to_owned(),
        pem::Error::Io(e) => e.to_string(),
        _ => "not valid PEM".to_owned(),
    };
    TlsError::Invalid { kind, path: path.to_owned(), reason }
}

/// A private key other users can read is worth a warning (not an error:
/// containers often mount secrets with broad modes).
fn warn_if_shared(key: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(key)
            && m.permissions().mode() & 0o004 != 0
        {
            tracing::warn!(file = %key.display(), "the TLS private key file is readable by every user; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = key;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("reqflow-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join(name);
        std::fs::write(&p, contents).expect("write");
        p
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = TlsConfig::from_pem_files(Path::new("/nonexistent/cert.pem"), Path::new("/nonexistent/key.pem"))
            .expect_err("missing");
        let msg = e.to_string();
        assert!(msg.contains("cannot read certificate file /nonexistent/cert.pem"), "{msg}");
    }

    #[test]
    fn garbage_is_named_and_not_quoted() {
        let cert = temp("garbage-cert.pem", b"this is not a certificate SECRETSTUFF");
        let key = temp("garbage-key.pem", b"nor a key");
        let msg = TlsConfig::from_pem_files(&cert, &key).expect_err("garbage").to_string();
        assert!(msg.contains("invalid certificate file") && msg.contains("garbage-cert.pem"), "{msg}");
        assert!(msg.contains("no certificate found"), "{msg}");
        assert!(!msg.contains("SECRETSTUFF"), "{msg}");
    }

    #[test]
    fn a_broken_key_block_says_so_without_its_contents() {
        let cert = temp("c.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let key = temp("k.pem", b"-----BEGIN PRIVATE KEY-----\nS3CR3T!!notbase64\n-----END PRIVATE KEY-----\n");
        let msg = TlsConfig::from_pem_files(&cert, &key).expect_err("broken key").to_string();
        assert!(msg.contains("invalid private key file") && msg.contains("k.pem"), "{msg}");
        assert!(!msg.contains("S3CR3T"), "{msg}");
    }
}
