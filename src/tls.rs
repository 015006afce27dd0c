//! The HTTPS listener's certificate, re-read on SIGHUP: new handshakes get the new
//! certificate and key, connections already open keep theirs. rustls asks a resolver for
//! the certificate at every handshake; this one hands out whatever was loaded last.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};

use crate::config::TlsFiles;

pub struct ReloadableCert {
    files: TlsFiles,
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReloadableCert({})", self.files.cert.display())
    }
}

/// Reads the chain and key and checks that they belong together.
fn load(files: &TlsFiles) -> Result<CertifiedKey, String> {
    pingora::tls::install_default_crypto_provider();
    let provider = CryptoProvider::get_default()
        .ok_or_else(|| "no TLS crypto provider installed".to_owned())?;
    let (cert, key) = (files.cert.to_string_lossy(), files.key.to_string_lossy());
    let (chain, key) = pingora::tls::load_certs_and_key_files(&cert, &key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{cert} or {key} holds no certificate or no private key"))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| e.to_string())?;
    certified
        .keys_match()
        .map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok(certified)
}

impl ReloadableCert {
    /// # Errors
    /// The files cannot be read, or the key does not match the certificate.
    pub fn new(files: TlsFiles) -> Result<ReloadableCert, String> {
        let current = ArcSwap::from_pointee(load(&files)?);
        Ok(ReloadableCert { files, current })
    }

    /// Reads the files again; on any problem the current certificate stays.
    ///
    /// # Errors
    /// Why the files were not taken.
    pub fn reload(&self) -> Result<(), String> {
        let next = load(&self.files)?;
        self.current.store(Arc::new(next));
        Ok(())
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}
