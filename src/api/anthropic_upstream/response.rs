//! Anthropic Messages response → OpenAI chat completion (non-streaming).
//!
//! - Text blocks join into `message.content` (`null` when there is none); `thinking`
//!   blocks join into `message.reasoning_content`, the field vLLM and DeepSeek use.
//! - `tool_use` blocks become `tool_calls` with their input as a JSON string.
//! - `stop_reason`: `end_turn`/`stop_sequence`/`pause_turn` → `stop`, `max_tokens` →
//!   `length`, `tool_use` → `tool_calls`, `refusal` → `content_filter`.
//! - Usage: input (plus cache reads and writes, which Anthropic counts apart) →
//!   `prompt_tokens`, with cache reads as `prompt_tokens_details.cached_tokens`; output →
//!   `completion_tokens`.

use serde_json::{Value, json};

/// OpenAI's `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's `usage` for an Anthropic `usage` object.
pub fn usage(u: &Value) -> Value {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("cache_read_input_tokens");
    let prompt = n("input_tokens") + cached + n("cache_creation_input_tokens");
    let completion = n("output_tokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// The chat completion for `message`, named `model` (the client's alias) and stamped
/// `created` (Unix seconds).
pub fn to_chat_completion(message: &Value, model: &str, created: u64) -> Value {
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let joined = |kind: &str, field: &str| {
        let parts: Vec<&str> = blocks
            .iter()
            .filter(|b| b["type"] == kind)
            .filter_map(|b| b.get(field).and_then(Value::as_str))
            .collect();
        (!parts.is_empty()).then(|| parts.concat())
    };
    let tool_calls: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| {
            json!({
                "id": b["id"],
                "type": "function",
                "function": {"name": b["name"], "arguments": b.get("input").unwrap_or(&json!({})).to_string()},
            })
        })
        .collect();
    let mut msg = json!({"role": "assistant", "content": joined("text", "text")});
    if let Some(reasoning) = joined("thinking", "thinking") {
        msg["reasoning_content"] = Value::from(reasoning);
    }
    if !tool_calls.is_empty() {
        msg["tool_calls"] = Value::Array(tool_calls);
    }
    let id = message.get("id").and_then(Value::as_str).unwrap_or("msg");
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": msg,
            "finish_reason": finish_reason(message.get("stop_reason").and_then(Value::as_str)),
            "logprobs": null,
        }],
        "usage": usage(message.get("usage").unwrap_or(&Value::Null)),
    })
}

/// An Anthropic error answer (`{"type":"error","error":{"type","message"}}`) for an OpenAI
/// client: the status it gets and OpenAI's envelope, `code` keeping Anthropic's error type.
/// A 401/403 is about the gateway's key, so the client gets a 502 (as on every OpenAI
/// route); Anthropic's 529 "overloaded" becomes 503, which clients know.
pub fn error_to_openai(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let message = crate::api::upstream_error::message(status, body);
    let kind = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/type")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let openai_status = match crate::api::upstream_error::openai_status(status) {
        529 => 503,
        s => s,
    };
    let (message, openai_type) = match (status, kind.as_deref()) {
        (401 | 403, _) => (
            format!("upstream authentication failed (HTTP {status}): {message}"),
            "server_error",
        ),
        (_, Some("invalid_request_error" | "not_found_error" | "request_too_large")) => {
            (message, "invalid_request_error")
        }
        (_, Some("rate_limit_error")) => (message, "rate_limit_error"),
        (s, _) if s < 500 => (message, "invalid_request_error"),
        _ => (message, "server_error"),
    };
    // OpenAI's own code for an input over the context window, which clients act on.
    let code = if status == 400 && message.starts_with("prompt is too long") {
        "context_length_exceeded".to_owned()
    } else {
        kind.unwrap_or_else(|| "upstream_error".into())
    };
    let envelope = json!({"error": {
        "message": message, "type": openai_type, "param": null, "code": code,
    }});
    (openai_status, envelope.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_errors_reach_openai_clients_in_their_envelope() {
        let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}}"#;
        let (status, out) = error_to_openai(400, body);
        let v: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(status, 400);
        assert_eq!(
            v,
            json!({"error": {"message": "max_tokens: too large", "type": "invalid_request_error",
                "param": null, "code": "invalid_request_error"}})
        );
        let overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (status, out) = error_to_openai(529, overloaded);
        assert_eq!(status, 503);
        assert!(String::from_utf8_lossy(&out).contains(r#""type":"server_error""#));
        let (status, out) = error_to_openai(401, br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#);
        assert_eq!(status, 502);
        assert!(
            String::from_utf8_lossy(&out).contains("upstream authentication failed (HTTP 401)")
        );
        let (status, out) = error_to_openai(500, b"<html>oops</html>");
        assert_eq!(status, 500);
        assert!(String::from_utf8_lossy(&out).contains(r#""code":"upstream_error""#));
    }

    #[test]
    fn text_thinking_and_tool_use_become_one_choice() {
        let message = json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "Paris is in France.", "signature": "s"},
                {"type": "text", "text": "Let me check. "},
                {"type": "text", "text": "One moment."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 0, "output_tokens": 7}
        });
        assert_eq!(
            to_chat_completion(&message, "smart", 1_700_000_000),
            json!({
                "id": "chatcmpl-msg_01", "object": "chat.completion", "created": 1_700_000_000u64, "model": "smart",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                    "role": "assistant", "content": "Let me check. One moment.",
                    "reasoning_content": "Paris is in France.",
                    "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
                    "prompt_tokens_details": {"cached_tokens": 90}}
            })
        );
    }

    #[test]
    fn stop_reasons_map_onto_finish_reasons() {
        for (stop, finish) in [
            (Some("end_turn"), "stop"),
            (Some("stop_sequence"), "stop"),
            (Some("pause_turn"), "stop"),
            (Some("max_tokens"), "length"),
            (Some("tool_use"), "tool_calls"),
            (Some("refusal"), "content_filter"),
            (None, "stop"),
        ] {
            assert_eq!(finish_reason(stop), finish, "{stop:?}");
        }
        let empty =
            to_chat_completion(&json!({"content": [], "stop_reason": "max_tokens"}), "m", 0);
        assert_eq!(empty["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(empty["usage"]["total_tokens"], 0);
    }
}
