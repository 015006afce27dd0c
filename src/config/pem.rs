//! PEM files the config names (the HTTPS listener's chain and key, backend CA bundles),
//! read and checked when the config loads so a bad file is an error under its key.

use std::path::Path;

/// The DER certificates in a PEM file; at least one.
pub(super) fn certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .map(|c| c.map(|der| der.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(missing(path, "CERTIFICATE"));
    }
    Ok(certs)
}

/// Checks that a PEM file holds a private key (PKCS#8, PKCS#1 or SEC1).
pub(super) fn check_private_key(path: &Path) -> Result<(), String> {
    let pem = read(path)?;
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(missing(path, "PRIVATE KEY-----")),
        Err(e) => Err(format!("`{}`: {e}", path.display())),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn missing(path: &Path, block: &str) -> String {
    format!("`{}` holds no `{block}` PEM block", path.display())
}
