//! Reading what routing needs out of an OpenAI request body without re-serialising it.
//!
//! The body is forwarded byte-for-byte. The only edit the gateway ever makes is replacing
//! the value of the top-level `model` field when an alias maps to a different upstream
//! name, and that is a splice of the original bytes, so key order, whitespace, number
//! formatting and unknown fields all survive.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::error::ApiError;

/// The routing-relevant facts of an OpenAI request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestSummary {
    /// The client-facing model name, if the body has a string `model`.
    pub model: Option<String>,
    /// Byte range of the `model` value (including its quotes) in the body.
    model_span: Option<Range<usize>>,
    /// `"stream": true`.
    pub stream: bool,
    /// A non-empty `tools` array.
    pub has_tools: bool,
    /// The output bound the client set (`max_completion_tokens`, `max_tokens`, or the
    /// Responses API's `max_output_tokens`).
    pub max_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(default)]
    tools: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    max_tokens: Option<serde_json::Value>,
    #[serde(default)]
    max_completion_tokens: Option<serde_json::Value>,
    #[serde(default)]
    max_output_tokens: Option<serde_json::Value>,
}

/// Reads `model`, `stream` and `tools` from a JSON request body.
///
/// # Errors
/// `ApiError::InvalidRequest` when the body is not a JSON object or `model` is not a string.
pub fn inspect(body: &[u8]) -> Result<RequestSummary, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("request body must be a JSON object"));
    }
    // The same policy as `/v1/messages` (and what vLLM would answer anyway): JSON is
    // UTF-8, and nesting deeper than serde_json's own limit is refused here rather than
    // forwarded to a backend whose parser may not bound it.
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::invalid("request body is not valid UTF-8"));
    }
    if nesting_exceeds(body, MAX_NESTING) {
        return Err(ApiError::invalid(format!(
            "request body nests JSON deeper than {MAX_NESTING} levels"
        )));
    }
    let peek: Peek<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("request body is not valid JSON: {e}")))?;

    let mut summary = RequestSummary {
        stream: peek.stream.is_some_and(|raw| raw.get() == "true"),
        has_tools: peek.tools.is_some_and(|tools| !tools.is_empty()),
        max_tokens: [
            &peek.max_completion_tokens,
            &peek.max_tokens,
            &peek.max_output_tokens,
        ]
        .into_iter()
        .find_map(|v| v.as_ref().and_then(serde_json::Value::as_u64)),
        ..RequestSummary::default()
    };
    if let Some(raw) = peek.model {
        let text = raw.get();
        if text != "null" {
            let name: String =
                serde_json::from_str(text).map_err(|_| ApiError::InvalidRequest {
                    message: "`model` must be a string".into(),
                    param: Some("model"),
                })?;
            // `raw` borrows from `body`, so its offset locates the value for the splice.
            let start = text.as_ptr() as usize - body.as_ptr() as usize;
            summary.model_span = Some(start..start + text.len());
            summary.model = Some(name);
        }
    }
    Ok(summary)
}

/// serde_json's recursion limit, which `/v1/messages` bodies meet when parsed.
pub const MAX_NESTING: usize = 128;

/// Whether arrays and objects nest deeper than `limit` (brackets inside strings do not
/// count). One pass, no allocation; string contents, most of a chat body, are skipped
/// with `memchr` rather than walked byte by byte.
fn nesting_exceeds(body: &[u8], limit: usize) -> bool {
    // Deeper than `limit` takes more than `limit` opening brackets; most bodies have far
    // fewer, and counting them is one vectorised scan.
    if memchr::memchr2_iter(b'{', b'[', body).nth(limit).is_none() {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'"' => {
                // Jump to the closing quote, stepping over escapes.
                let mut j = i + 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &body[j..]) {
                        None => return false,
                        Some(k) if body[j + k] == b'\\' => j += k + 2,
                        Some(k) => {
                            j += k;
                            break;
                        }
                    }
                    if j >= body.len() {
                        return false;
                    }
                }
                i = j;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// Returns `body` with the `model` value replaced by `upstream_model`, or the same `Bytes`
/// (no copy) when the name is unchanged or the body has no model.
pub fn with_model(body: &Bytes, summary: &RequestSummary, upstream_model: &str) -> Bytes {
    let (Some(span), Some(current)) = (&summary.model_span, &summary.model) else {
        return body.clone();
    };
    if current == upstream_model {
        return body.clone();
    }
    let quoted = serde_json::Value::String(upstream_model.to_owned()).to_string();
    let mut out = BytesMut::with_capacity(body.len() - span.len() + quoted.len());
    out.extend_from_slice(&body[..span.start]);
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(&body[span.end..]);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_and_deep_nesting_are_refused_like_on_messages() {
        let bad = b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}";
        assert_eq!(inspect(bad).expect_err("utf-8").status(), 400);
        let deep = format!(
            "{{\"model\":\"m\",\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = inspect(deep.as_bytes()).expect_err("deep");
        assert!(err.to_string().contains("deeper than 128"), "{err}");
        // Brackets inside strings are text, and 128 levels are fine.
        let ok = format!(
            "{{\"model\":\"m\",\"s\":\"[[[[\\\"[[\",\"x\":{}{}}}",
            "[".repeat(127),
            "]".repeat(127)
        );
        assert_eq!(
            inspect(ok.as_bytes()).expect("fine").model.as_deref(),
            Some("m")
        );
    }

    #[test]
    fn inspect_reads_model_stream_and_tools() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"small","stream":true,"tools":[{"type":"function"}]}"#;
        let s = inspect(body).expect("valid");
        assert_eq!(s.model.as_deref(), Some("small"));
        assert!(s.stream);
        assert!(s.has_tools);
    }

    #[test]
    fn empty_tools_and_stream_false_are_not_flags() {
        let s = inspect(br#"{"model":"m","stream":false,"tools":[]}"#).expect("valid");
        assert!(!s.stream);
        assert!(!s.has_tools);
    }

    #[test]
    fn rewrite_splices_only_the_model_value() {
        let raw =
            "{ \"z\": 1.50,\n  \"model\" : \"alias\", \"x\":[1, 2] ,\"unknown\":{\"a\":null}}";
        let body = Bytes::from(raw);
        let s = inspect(&body).expect("valid");
        let out = with_model(&body, &s, "org/Real-Model:Q4 \"v2\"");
        assert_eq!(
            std::str::from_utf8(&out).expect("utf8"),
            "{ \"z\": 1.50,\n  \"model\" : \"org/Real-Model:Q4 \\\"v2\\\"\", \"x\":[1, 2] ,\"unknown\":{\"a\":null}}"
        );
    }

    #[test]
    fn unchanged_model_returns_the_same_bytes() {
        let body = Bytes::from_static(br#"{"model":"same"}"#);
        let s = inspect(&body).expect("valid");
        let out = with_model(&body, &s, "same");
        assert_eq!(out.as_ptr(), body.as_ptr(), "no copy when nothing changes");
    }

    #[test]
    fn escaped_model_names_are_decoded() {
        let s = inspect(br#"{"model":"a\u002fb"}"#).expect("valid");
        assert_eq!(s.model.as_deref(), Some("a/b"));
    }

    #[test]
    fn bad_bodies_are_invalid_requests() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"model\":5}",
            b"{\"model\":\"a\"",
            b"",
        ] {
            let err = inspect(body).expect_err("must fail");
            assert_eq!(err.status(), 400, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn null_or_missing_model_is_none() {
        assert_eq!(inspect(b"{\"model\":null}").expect("ok").model, None);
        assert_eq!(inspect(b"{}").expect("ok").model, None);
    }
}
