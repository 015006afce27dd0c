//! Anthropic's error envelope, and the mapping of upstream (OpenAI-style) errors into it
//! (spec §7), including the context-length rewrites Claude Code acts on (§7.4).

use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::upstream_error;

/// An error answered on `/v1/messages` in Anthropic's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicError {
    pub status: u16,
    /// `error.type`: `invalid_request_error`, `api_error`, `overloaded_error`, ...
    pub kind: &'static str,
    pub message: String,
}

impl AnthropicError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> AnthropicError {
        AnthropicError {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> AnthropicError {
        Self::new(400, "invalid_request_error", message)
    }

    pub fn api(message: impl Into<String>) -> AnthropicError {
        Self::new(500, "api_error", message)
    }

    /// A gateway error in Anthropic's terms (spec §7.1).
    pub fn from_gateway(e: &ApiError) -> AnthropicError {
        match e {
            ApiError::Unauthorized => Self::new(401, "authentication_error", "invalid x-api-key"),
            ApiError::PayloadTooLarge { .. } => Self::new(
                413,
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            ApiError::NotFound { .. } | ApiError::ModelNotFound { .. } => {
                Self::new(404, "not_found_error", e.to_string())
            }
            ApiError::RateLimited { .. }
            | ApiError::TooManyInflight { .. }
            | ApiError::TokensExhausted { .. }
            | ApiError::TooManyStreams { .. } => Self::new(429, "rate_limit_error", e.to_string()),
            ApiError::Saturated { .. } => Self::new(529, "overloaded_error", e.to_string()),
            ApiError::BadGateway { message } | ApiError::Unavailable { message } => Self::new(
                529,
                "overloaded_error",
                format!("upstream unavailable: {message}"),
            ),
            ApiError::GatewayTimeout { message } => {
                Self::new(504, "timeout_error", message.clone())
            }
            ApiError::Internal { message } => Self::api(message.clone()),
            ApiError::InvalidRequest { .. }
            | ApiError::MalformedRequest { .. }
            | ApiError::RequestTimeout { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::NotImplemented { .. } => {
                Self::new(e.status(), "invalid_request_error", e.to_string())
            }
        }
    }

    /// The error type that goes with an HTTP status the gateway answers.
    pub fn kind_for_status(status: u16) -> &'static str {
        match status {
            400 | 405 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// `{"type":"error","error":{"type","message"},"request_id"}`.
    pub fn to_value(&self, request_id: &str) -> Value {
        json!({
            "type": "error",
            "error": {"type": self.kind, "message": self.message},
            "request_id": request_id,
        })
    }

    pub fn to_body(&self, request_id: &str) -> Vec<u8> {
        self.to_value(request_id).to_string().into_bytes()
    }

    /// The SSE form that ends a stream that already started (§6.6).
    pub fn to_event(&self, request_id: &str) -> Vec<u8> {
        format!("event: error\ndata: {}\n\n", self.to_value(request_id)).into_bytes()
    }

    /// Deterministic client errors must not be retried by the SDKs (`x-should-retry`).
    pub fn should_retry(&self) -> bool {
        matches!(self.status, 408 | 409 | 429) || self.status >= 500
    }
}

/// Maps an upstream non-2xx answer that arrived before anything was streamed (§7.2).
pub fn from_upstream(status: u16, body: &[u8]) -> AnthropicError {
    from_upstream_for(status, body, None)
}

/// [`from_upstream`], knowing roughly how many tokens the request's input has: some
/// context-length errors (vLLM's `max_tokens=M cannot be greater than max_model_len=L`)
/// do not say, and Claude Code needs the number to shrink `max_tokens`.
pub fn from_upstream_for(status: u16, body: &[u8], input_estimate: Option<u64>) -> AnthropicError {
    let message = upstream_error::message(status, body);
    match status {
        401 | 403 => AnthropicError::api(format!("upstream authentication failed: {message}")),
        404 => AnthropicError::new(404, "not_found_error", message),
        408 | 504 => AnthropicError::new(504, "timeout_error", message),
        413 => AnthropicError::new(413, "request_too_large", message),
        429 => AnthropicError::new(429, "rate_limit_error", message),
        503 => AnthropicError::new(529, "overloaded_error", message),
        400..=499 | 501 => {
            AnthropicError::invalid(rewrite_context_error(&message, body, input_estimate))
        }
        _ => AnthropicError::api(message),
    }
}

/// An error object that arrived inside a 200 stream (§6.6): its numeric code, if any,
/// picks the type.
pub fn from_stream_error(error: &Value, input_estimate: Option<u64>) -> AnthropicError {
    let code = error
        .get("code")
        .or_else(|| error.get("status"))
        .or_else(|| error.get("http_status_code"))
        .and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|c| u16::try_from(c).ok());
    let body = json!({ "error": error }).to_string();
    let message = match error {
        Value::String(s) => s.clone(),
        _ => upstream_error::message(code.unwrap_or(500), body.as_bytes()),
    };
    match code {
        Some(c) if c != 200 => {
            let mut e = from_upstream_for(c, body.as_bytes(), input_estimate);
            if e.kind != "invalid_request_error" {
                e.message = message;
            }
            e
        }
        _ => AnthropicError::api(message),
    }
}

fn numbers_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    lower
        .find(&marker.to_ascii_lowercase())
        .map(|i| &text[i + marker.len()..])
}

/// Reads the next unsigned integer in `s`, returning it and the rest.
fn next_number(s: &str) -> Option<(u64, &str)> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some((rest[..end].parse().ok()?, &rest[end..]))
}

fn too_long(input: u64, ctx: u64) -> String {
    format!("prompt is too long: {input} tokens > {ctx} maximum")
}

fn exceeds(input: u64, output: u64, ctx: u64) -> String {
    if input >= ctx {
        too_long(input, ctx)
    } else {
        format!(
            "input length and `max_tokens` exceed context limit: {input} + {output} > {ctx}, decrease input length or `max_tokens` and try again"
        )
    }
}

/// Rewrites the context-length errors of vLLM, SGLang and llama.cpp into the two messages
/// Claude Code recognises (it shrinks `max_tokens` on the second). Others pass unchanged.
pub fn rewrite_context_error(message: &str, body: &[u8], input_estimate: Option<u64>) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let e = &v["error"];
        if e["type"] == "exceed_context_size_error"
            && let (Some(n), Some(ctx)) = (e["n_prompt_tokens"].as_u64(), e["n_ctx"].as_u64())
        {
            return too_long(n, ctx);
        }
    }
    // vLLM / SGLang: "The input (N tokens) is longer than the model's context length (M tokens)"
    if let Some(rest) = numbers_after(message, "The input (")
        && message
            .to_ascii_lowercase()
            .contains("is longer than the model's context length")
        && let Some((input, rest)) = next_number(rest)
        && let Some((ctx, _)) = next_number(rest)
    {
        return too_long(input, ctx);
    }
    // vLLM: "'max_tokens' or 'max_completion_tokens' is too large: O. This model's maximum
    // context length is C tokens and your request has I input tokens"
    if let Some(rest) = numbers_after(message, "is too large: ")
        && let Some((output, rest)) = next_number(rest)
        && let Some(rest) = numbers_after(rest, "maximum context length is ")
        && let Some((ctx, rest)) = next_number(rest)
        && let Some(rest) = numbers_after(rest, "your request has ")
        && let Some((input, _)) = next_number(rest)
    {
        return exceeds(input, output, ctx);
    }
    if let Some(rest) = numbers_after(message, "maximum context length is ")
        && let Some((ctx, rest)) = next_number(rest)
    {
        // "However, you requested O output tokens and your prompt contains at least I input tokens"
        if let Some(r) = numbers_after(rest, "you requested ")
            && let Some((output, r)) = next_number(r)
            && r.trim_start().starts_with("output tokens")
            && let Some(r) = numbers_after(r, "contains at least ")
            && let Some((input, _)) = next_number(r)
        {
            return exceeds(input, output, ctx);
        }
        // "However, you requested T tokens (I in the messages, O in the completion)"
        if let Some(r) = numbers_after(rest, "you requested ")
            && let Some((_, r)) = next_number(r)
            && let Some((input, r)) = next_number(r)
            && let Some((output, _)) = next_number(r)
        {
            return exceeds(input, output, ctx);
        }
        // vLLM 0.32: "However, your prompt contains at least I input tokens, which exceeds
        // this limit even without any output tokens"
        if let Some(r) = numbers_after(rest, "your prompt contains ")
            && let Some((input, _)) = next_number(r)
        {
            return too_long(input, ctx);
        }
    }
    // vLLM 0.32: "max_tokens=M cannot be greater than max_model_len=L"; the input size
    // is not given, so the request's own estimate stands in (Claude Code retries with
    // `max_tokens = L - input - 1000`).
    if let Some(r) = numbers_after(message, "cannot be greater than max_model_len=")
        && let Some((ctx, _)) = next_number(r)
        && let Some(r) = numbers_after(message, "max_tokens=")
            .or_else(|| numbers_after(message, "max_completion_tokens="))
        && let Some((output, _)) = next_number(r)
    {
        return exceeds(input_estimate.unwrap_or(0), output, ctx);
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_032_context_errors_take_claude_codes_exact_wording() {
        // captures/vllm/19-err-ctx-overflow.resp.body, byte for byte.
        let body = br#"{"error":{"message":"This model's maximum context length is 4096 tokens. However, your prompt contains at least 4097 input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=4097)","type":"BadRequestError","param":"input_tokens","code":400}}"#;
        let e = from_upstream(400, body);
        assert_eq!(e.kind, "invalid_request_error");
        assert_eq!(e.message, "prompt is too long: 4097 tokens > 4096 maximum");
        // What vLLM 0.32 says to Claude Code's default max_tokens: no input count given,
        // so the request's estimate fills in.
        let body = br#"{"error":{"message":"max_tokens=32000 cannot be greater than max_model_len=4096. Please request fewer output tokens.","type":"BadRequestError","param":"max_tokens","code":400}}"#;
        assert_eq!(
            from_upstream_for(400, body, Some(1200)).message,
            "input length and `max_tokens` exceed context limit: 1200 + 32000 > 4096, decrease input length or `max_tokens` and try again"
        );
        assert_eq!(
            from_upstream_for(400, body, Some(5000)).message,
            "prompt is too long: 5000 tokens > 4096 maximum"
        );
        // The same errors inside a 200 stream.
        let in_stream = json!({"message": "max_completion_tokens=32000 cannot be greater than max_model_len=4096", "type": "BadRequestError", "code": 400});
        assert_eq!(
            from_stream_error(&in_stream, Some(10)).message,
            "input length and `max_tokens` exceed context limit: 10 + 32000 > 4096, decrease input length or `max_tokens` and try again"
        );
    }

    #[test]
    fn context_errors_take_claude_codes_exact_wording() {
        let m = "This model's maximum context length is 32768 tokens. However, you requested 128000 output tokens and your prompt contains at least 5000 input tokens, for a total of at least 133000 tokens.";
        assert_eq!(
            rewrite_context_error(m, b"", None),
            "input length and `max_tokens` exceed context limit: 5000 + 128000 > 32768, decrease input length or `max_tokens` and try again"
        );
        let m = "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens (8500 in the messages, 500 in the completion).";
        assert_eq!(
            rewrite_context_error(m, b"", None),
            "prompt is too long: 8500 tokens > 8192 maximum"
        );
        let m = "'max_tokens' or 'max_completion_tokens' is too large: 32000. This model's maximum context length is 8192 tokens and your request has 120 input tokens (32000 > 8192 - 120).";
        assert!(
            rewrite_context_error(m, b"", None).starts_with(
                "input length and `max_tokens` exceed context limit: 120 + 32000 > 8192"
            )
        );
        let body = br#"{"error":{"code":400,"message":"request (9000 tokens) exceeds the available context size (8192 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":8192}}"#;
        assert_eq!(
            rewrite_context_error("x", body, None),
            "prompt is too long: 9000 tokens > 8192 maximum"
        );
        assert_eq!(
            rewrite_context_error("something else", b"", None),
            "something else"
        );
    }

    #[test]
    fn statuses_map_to_anthropic_types() {
        assert_eq!(from_upstream(503, b"{}").status, 529);
        assert_eq!(from_upstream(503, b"{}").kind, "overloaded_error");
        assert_eq!(from_upstream(422, b"{}").kind, "invalid_request_error");
        assert_eq!(from_upstream(401, b"{}").status, 500);
        assert_eq!(from_upstream(504, b"{}").kind, "timeout_error");
        assert_eq!(
            from_stream_error(&json!({"message": "q full", "code": 503}), None).kind,
            "overloaded_error"
        );
        assert_eq!(
            from_stream_error(
                &json!({"message": "Input validation error", "http_status_code": 422}),
                None
            )
            .status,
            400
        );
    }
}
