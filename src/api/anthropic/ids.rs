//! Generated identifiers: `msg_`, `toolu_`, `req_`, `sig_` + 24 alphanumerics, as the
//! Anthropic API formats them.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `prefix` + 24 random characters from `[A-Za-z0-9]`.
pub fn generate(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    // 128 random bits (24 base-62 digits could hold ~143); from the per-thread generator,
    // so no system call per id.
    let mut bits = crate::random::u128();
    for _ in 0..24 {
        out.push(char::from(ALPHABET[(bits % 62) as usize]));
        bits /= 62;
    }
    out
}

/// Produces generated ids: called with `"msg_"`, `"toolu_"` or `"sig_"`. Injectable so
/// tests can compare translator output byte for byte.
pub type IdSource = Box<dyn FnMut(&'static str) -> String + Send + Sync>;

/// Random ids, as in production.
pub fn random_ids() -> IdSource {
    Box::new(generate)
}

pub fn message_id() -> String {
    generate("msg_")
}

pub fn tool_use_id() -> String {
    generate("toolu_")
}

pub fn request_id() -> String {
    generate("req_")
}

/// The opaque signature the gateway puts on thinking blocks (the real API always signs).
pub fn signature() -> String {
    generate("sig_")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_anthropic_shape() {
        let id = super::message_id();
        assert_eq!(id.len(), 28);
        assert!(id.starts_with("msg_") && id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(super::tool_use_id(), super::tool_use_id());
    }
}
