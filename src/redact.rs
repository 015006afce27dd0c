//! Keeping secrets out of everything the gateway writes: client error messages, log lines
//! (ours and Pingora's debug dumps) and the query strings it logs or forwards.
//!
//! Pure text functions; the configured secrets are installed once per configuration
//! generation ([`set_secrets`]) because the logger is process-wide.

use std::borrow::Cow;
use std::sync::LazyLock;

use arc_swap::ArcSwap;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for: masking every `a` in a log line would
/// hide more than it protects, and such a key is no secret anyway.
const MIN_SECRET_LEN: usize = 6;

/// Header names whose values are credentials, as clients and backends send them.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "anthropic-api-key",
    "openai-api-key",
    "x-goog-api-key",
];

/// Query parameters that carry credentials (`?key=` is Google's, `?api_key=` many others').
const CREDENTIAL_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "token",
    "x-api-key",
];

static SECRETS: LazyLock<ArcSwap<Vec<String>>> =
    LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));

/// Adds the configured secrets (backend keys, plain client keys) to those [`scrub`]
/// masks. Secrets are only ever added: a key a reload removed stays masked, and gateways
/// sharing a process (tests) never unmask each other's.
pub fn register_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) {
    let current = SECRETS.load();
    let new: Vec<&str> = secrets
        .into_iter()
        .filter(|s| s.len() >= MIN_SECRET_LEN && !current.iter().any(|c| c == s))
        .collect();
    if new.is_empty() {
        return;
    }
    SECRETS.rcu(|old| {
        let mut all: Vec<String> = old.iter().cloned().collect();
        all.extend(new.iter().map(|s| (*s).to_owned()));
        // Longest first, so a key that contains another is masked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        all
    });
}

/// `text` with every configured secret, every `Bearer <token>` and every credential
/// header value (as Pingora's and http's `Debug` print them) masked.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.load();
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    if let Some(masked) = mask_bearer_tokens(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = mask_debug_headers(&out) {
        out = Cow::Owned(masked);
    }
    out
}

/// [`scrub`] for a body: the same bytes when nothing is secret.
pub fn scrub_bytes(body: bytes::Bytes) -> bytes::Bytes {
    let text = String::from_utf8_lossy(&body);
    match scrub(&text) {
        Cow::Borrowed(_) => body,
        Cow::Owned(clean) => bytes::Bytes::from(clean),
    }
}

/// Masks the token after every `Bearer ` (any case). `None` when there is none.
fn mask_bearer_tokens(text: &str) -> Option<String> {
    const WORD: &str = "bearer ";
    // Most lines have no token: find that out without allocating.
    if !text
        .as_bytes()
        .windows(WORD.len())
        .any(|w| w.eq_ignore_ascii_case(WORD.as_bytes()))
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut changed = false;
    while let Some(found) = lower[rest..].find(WORD) {
        let token_start = rest + found + WORD.len();
        let token_end = text[token_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ')'))
            .map_or(text.len(), |n| token_start + n);
        out.push_str(&text[rest..token_start]);
        if token_end > token_start {
            out.push_str(MASK);
            changed = true;
        }
        rest = token_end;
    }
    out.push_str(&text[rest..]);
    changed.then_some(out)
}

/// Masks `"name": "value"` pairs for credential headers, the form `Debug` gives a
/// `HeaderMap` (Pingora prints whole request headers at debug and trace level).
fn mask_debug_headers(text: &str) -> Option<String> {
    // Only a `Debug` map has `"name": "value"` pairs; most lines have none.
    if !text.contains("\": \"") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for name in CREDENTIAL_HEADERS {
        let needle = format!("\"{name}\": \"");
        let mut from = 0;
        while let Some(found) = lower[from..].find(&needle) {
            let start = from + found + needle.len();
            let end = closing_quote(text, start);
            spans.push((start, end));
            from = end;
        }
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (start, end) in spans {
        if start < rest {
            continue;
        }
        out.push_str(&text[rest..start]);
        out.push_str(MASK);
        rest = end;
    }
    out.push_str(&text[rest..]);
    Some(out)
}

/// The index of the `"` that ends a Debug-quoted string starting at `start`.
fn closing_quote(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    text.len()
}

fn is_credential_param(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
    CREDENTIAL_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// A request target for the log: the values of credential parameters masked.
pub fn target_for_log(target: &str) -> Cow<'_, str> {
    let Some((path, query)) = target.split_once('?') else {
        return Cow::Borrowed(target);
    };
    if !query.split('&').any(is_credential_param) {
        return Cow::Borrowed(target);
    }
    let masked: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_credential_param(pair) => Cow::Owned(format!("{name}={MASK}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(format!("{path}?{}", masked.join("&")))
}

/// The client's query without credential parameters, as it may go upstream; `None` when
/// nothing is left.
pub fn query_for_upstream(query: &str) -> Option<Cow<'_, str>> {
    if !query.split('&').any(is_credential_param) {
        return (!query.is_empty()).then_some(Cow::Borrowed(query));
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_credential_param(pair))
        .collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_secrets_and_bearer_tokens_are_masked() {
        register_secrets(["sk-backend-secret-123", "abc"]);
        let text = "Incorrect API key provided: Bearer sk-backend-secret-123. Also sk-backend-secret-123 alone; abc stays";
        let out = scrub(text);
        assert!(!out.contains("sk-backend-secret-123"), "{out}");
        assert!(
            out.contains("abc stays"),
            "short keys are not searched: {out}"
        );
        assert_eq!(
            scrub("auth: bearer xyz123, next"),
            "auth: bearer [REDACTED], next"
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn debug_header_dumps_are_masked() {
        let dump = r#"RequestHeader { headers: {"host": "a", "Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "sk-ant-1\"2", "api-key": "az"} }"#;
        let out = scrub(dump);
        for leaked in ["dXNlcjpwYXNz", "sk-ant-1", "\"az\""] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
        assert!(out.contains(r#""host": "a""#));
    }

    #[test]
    fn query_credentials_are_masked_in_logs_and_dropped_upstream() {
        assert_eq!(
            target_for_log("/v1/chat/completions?api_key=sk-1&beta=true&KEY=x"),
            "/v1/chat/completions?api_key=[REDACTED]&beta=true&KEY=[REDACTED]"
        );
        assert!(matches!(
            target_for_log("/v1/messages?beta=true"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            query_for_upstream("beta=true").as_deref(),
            Some("beta=true")
        );
        assert_eq!(
            query_for_upstream("key=1&beta=true&api_key=2").as_deref(),
            Some("beta=true")
        );
        assert_eq!(query_for_upstream("key=1"), None);
    }
}
