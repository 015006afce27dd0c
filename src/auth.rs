//! API keys: which presented key belongs to which `key_id`, compared in constant time.
//!
//! Only SHA-256 digests of keys are kept. The presented key is hashed once and compared
//! against every configured digest with `subtle`, without stopping at a match, so neither
//! the key's content nor its position in the list shows in the timing.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::config::KeySpec;

#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Vec<KeySpec>,
}

impl KeyRing {
    pub fn new(keys: Vec<KeySpec>) -> KeyRing {
        KeyRing { keys }
    }

    /// Auth is off when no key is configured.
    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The `key_id` of a presented key, if it is one of ours.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<str>> {
        let digest = crate::config::key_digest(presented.as_bytes());
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(Arc::clone(&key.id));
            }
        }
        found
    }
}

/// The key a client presented: `Authorization: Bearer <key>` first, then `x-api-key`.
pub fn presented_key<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.and_then(|v| {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    bearer
        .or_else(|| x_api_key.map(str::trim))
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            KeySpec {
                id: Arc::from("alice"),
                digest: crate::config::key_digest(b"k-alice"),
            },
            KeySpec {
                id: Arc::from("bob"),
                digest: crate::config::key_digest(b"k-bob"),
            },
        ])
    }

    #[test]
    fn authenticates_each_key_to_its_id() {
        let r = ring();
        assert_eq!(r.authenticate("k-bob").as_deref(), Some("bob"));
        assert_eq!(r.authenticate("k-alice").as_deref(), Some("alice"));
        assert_eq!(r.authenticate("k-alic"), None);
        assert_eq!(r.authenticate(""), None);
        assert!(!KeyRing::default().is_enabled());
    }

    #[test]
    fn bearer_wins_over_x_api_key_and_scheme_is_case_insensitive() {
        assert_eq!(presented_key(Some("Bearer abc"), Some("xyz")), Some("abc"));
        assert_eq!(presented_key(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(presented_key(None, Some("xyz")), Some("xyz"));
        assert_eq!(presented_key(Some("Basic Zm9v"), None), None);
        assert_eq!(presented_key(Some("Bearer "), None), None);
        assert_eq!(presented_key(None, None), None);
    }
}
