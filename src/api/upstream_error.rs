//! Error answers from backends, in whatever shape each runtime uses (backends.md §8.4):
//! finding the message in any of them, and putting it into OpenAI's envelope for clients of
//! the OpenAI routes.
//!
//! vLLM, llama.cpp, Ollama, LocalAI and OpenAI itself answer `{"error":{"message",...}}`,
//! which the OpenAI SDKs understand; those bodies pass untouched. SGLang's flat
//! `{"object":"error","message"}`, TGI's `{"error":"<str>","error_type"}`, the bare
//! `{"error":"Unauthorized"}` of vLLM/SGLang, FastAPI's `{"detail"}` and plain-text bodies
//! are rewritten, keeping the backend's message and status.

use serde_json::{Value, json};

/// The human-readable message in an upstream error body of any known shape (translation
/// spec §7.3).
pub fn message(status: u16, body: &[u8]) -> String {
    message_in(status, serde_json::from_slice(body).ok().as_ref(), body)
}

/// [`message`] for a body the caller has already parsed (`parsed`: `None` if not JSON).
fn message_in(status: u16, parsed: Option<&Value>, body: &[u8]) -> String {
    if let Some(v) = parsed {
        let candidates = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ];
        if let Some(s) = candidates.into_iter().flatten().find_map(Value::as_str) {
            return s.to_owned();
        }
        if let Some(detail) = v.get("detail").filter(|d| !d.is_null()) {
            // FastAPI's validation errors: a list of objects; their JSON says it best.
            return detail.to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        text.chars().take(1000).collect()
    }
}

/// Whether a backend status must change on the way to an OpenAI client: a 401/403 means
/// the backend refused *the gateway's* credentials (the client's key was already accepted
/// here), so the client gets a 502 rather than a reason to doubt its own key.
pub fn openai_status(upstream_status: u16) -> u16 {
    match upstream_status {
        401 | 403 => 502,
        s => s,
    }
}

/// The body an OpenAI client gets for a backend's error answer: `None` keeps the backend's
/// bytes (already OpenAI's envelope, and the status is unchanged), `Some` is the rewrite.
pub fn to_openai(upstream_status: u16, body: &[u8]) -> Option<Vec<u8>> {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let is_envelope = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .is_some_and(Value::is_string);
    let status = openai_status(upstream_status);
    if is_envelope && status == upstream_status {
        return None;
    }
    let mut text = message_in(upstream_status, parsed.as_ref(), body);
    if status != upstream_status {
        text = format!("upstream authentication failed (HTTP {upstream_status}): {text}");
    }
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name));
    // The backend's own label, when it has one, is the most useful `code`.
    let code = field("error_type")
        .or_else(|| field("code"))
        .or_else(|| field("error").and_then(|e| e.get("code")))
        .filter(|c| c.is_string())
        .cloned();
    let param = field("param").filter(|p| p.is_string()).cloned();
    let envelope = json!({
        "error": {
            "message": text,
            "type": openai_type(status),
            "param": param,
            "code": code.unwrap_or(Value::Null),
        }
    });
    Some(envelope.to_string().into_bytes())
}

fn openai_type(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(status: u16, body: &[u8]) -> Value {
        let out = to_openai(status, body).expect("rewritten");
        serde_json::from_slice(&out).expect("JSON")
    }

    #[test]
    fn messages_are_found_in_every_shape() {
        assert_eq!(message(400, br#"{"error":{"message":"a"}}"#), "a");
        assert_eq!(
            message(400, br#"{"error":"b","error_type":"validation"}"#),
            "b"
        );
        assert_eq!(message(400, br#"{"object":"error","message":"c"}"#), "c");
        assert_eq!(message(404, br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            message(
                422,
                br#"{"detail":[{"loc":["body","messages"],"msg":"Field required"}]}"#
            ),
            r#"[{"loc":["body","messages"],"msg":"Field required"}]"#
        );
        assert_eq!(
            message(502, b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(message(500, b""), "upstream returned HTTP 500");
    }

    #[test]
    fn openai_envelopes_pass_untouched() {
        let vllm = br#"{"error":{"message":"This model's maximum context length is 2048 tokens.","type":"BadRequestError","param":null,"code":400}}"#;
        assert_eq!(to_openai(400, vllm), None);
        let llamacpp =
            br#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
        assert_eq!(to_openai(503, llamacpp), None);
    }

    #[test]
    fn tgi_and_sglang_shapes_become_openai_envelopes() {
        let tgi = rewritten(
            422,
            br#"{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096","error_type":"validation"}"#,
        );
        assert_eq!(
            tgi["error"]["message"],
            "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"
        );
        assert_eq!(tgi["error"]["type"], "invalid_request_error");
        assert_eq!(tgi["error"]["code"], "validation");
        assert_eq!(tgi["error"]["param"], Value::Null);

        let sglang = rewritten(
            400,
            br#"{"object":"error","message":"Bad request","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!(sglang["error"]["message"], "Bad request");
        assert_eq!(
            sglang["error"]["code"],
            Value::Null,
            "OpenAI codes are strings"
        );

        let overloaded = rewritten(
            429,
            br#"{"error":"Model is overloaded","error_type":"overloaded"}"#,
        );
        assert_eq!(overloaded["error"]["type"], "rate_limit_error");
        let text = rewritten(500, b"Internal Server Error");
        assert_eq!(text["error"]["message"], "Internal Server Error");
        assert_eq!(text["error"]["type"], "server_error");
    }

    #[test]
    fn a_backend_refusing_our_credentials_is_a_502() {
        assert_eq!(openai_status(401), 502);
        assert_eq!(openai_status(404), 404);
        let v = rewritten(401, br#"{"error":"Unauthorized"}"#);
        assert_eq!(
            v["error"]["message"],
            "upstream authentication failed (HTTP 401): Unauthorized"
        );
        assert_eq!(v["error"]["type"], "server_error");
        // Even an OpenAI-shaped 401 (a hosted provider) is rewritten: the status changes.
        let hosted = rewritten(
            401,
            br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        assert_eq!(hosted["error"]["code"], "invalid_api_key");
    }
}
