//! Non-streaming responses: an OpenAI `ChatCompletion` becomes an Anthropic `Message`
//! (spec §5), plus the `max_tokens: 0` shortcut (§2).

use serde_json::{Map, Value, json};

use super::request::Normalized;
use super::{AnthropicError, count, ids};

/// `parse_args` (§5.3): tool arguments as an object, whatever the backend sent.
pub fn parse_args(arguments: &Value) -> Value {
    match arguments {
        Value::Null => json!({}),
        Value::Object(_) => arguments.clone(),
        Value::String(s) if s.trim().is_empty() => json!({}),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
                Ok(v @ Value::Object(_)) => v,
                _ => json!({"INVALID_JSON": s}),
            },
            _ => json!({"INVALID_JSON": s}),
        },
        other => json!({"INVALID_JSON": other.to_string()}),
    }
}

fn has_visible(s: &str) -> bool {
    s.chars().any(|c| !c.is_whitespace())
}

/// The usage object from an OpenAI `usage` (§5.5); all four fields are always present.
pub fn usage(u: &Value) -> Value {
    let prompt = u["prompt_tokens"].as_u64().unwrap_or(0);
    let details = &u["prompt_tokens_details"];
    let cache_read = details["cached_tokens"].as_u64().unwrap_or(0);
    let cache_write = details["cache_write_tokens"].as_u64().unwrap_or(0);
    json!({
        "input_tokens": prompt.saturating_sub(cache_read + cache_write),
        "output_tokens": u["completion_tokens"].as_u64().unwrap_or(0),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    })
}

/// Estimated usage when the backend sent none: the §8.3 input estimate, and a quarter of
/// the characters generated.
pub fn estimated_usage(req: &Normalized, output_chars: usize) -> Value {
    json!({
        "input_tokens": count::heuristic(req),
        "output_tokens": output_chars.div_ceil(4),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// `stop_reason` and `stop_sequence` (§5.4).
pub fn stop_reason(
    finish: Option<&str>,
    matched: Option<&Value>,
    has_tools: bool,
    refusal: bool,
    stops: &[String],
) -> (&'static str, Value) {
    let matched = matched
        .and_then(Value::as_str)
        .filter(|m| stops.iter().any(|s| s == m));
    match finish {
        Some("length") => ("max_tokens", Value::Null),
        Some("content_filter") => ("refusal", Value::Null),
        _ if refusal => ("refusal", Value::Null),
        _ if has_tools => ("tool_use", Value::Null),
        Some("stop") if matched.is_some() => ("stop_sequence", json!(matched)),
        _ => ("end_turn", Value::Null),
    }
}

/// Translates a 2xx upstream body.
///
/// # Errors
/// 500 `api_error` for a body that is not a usable completion.
pub fn to_anthropic(req: &Normalized, body: &[u8]) -> Result<Value, AnthropicError> {
    let invalid = || AnthropicError::api("upstream returned an invalid response");
    let v: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
    let choice = v["choices"]
        .as_array()
        .and_then(|c| c.first())
        .ok_or_else(invalid)?;
    if matches!(choice["finish_reason"].as_str(), Some("abort" | "error")) {
        return Err(AnthropicError::api(format!(
            "upstream generation failed (finish_reason={})",
            choice["finish_reason"].as_str().unwrap_or("")
        )));
    }
    let msg = &choice["message"];
    let mut content = Vec::new();
    let mut out_chars = 0usize;

    let reasoning = [&msg["reasoning_content"], &msg["reasoning"]]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|s| !s.is_empty());
    if let Some(r) = reasoning.filter(|r| has_visible(r)) {
        out_chars += r.chars().count();
        content.push(json!({"type": "thinking", "thinking": r, "signature": ids::signature()}));
    }
    let text = match &msg["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    let mut refusal = false;
    if has_visible(&text) {
        out_chars += text.chars().count();
        content.push(json!({"type": "text", "text": text}));
    } else if let Some(r) = msg["refusal"].as_str().filter(|r| !r.is_empty()) {
        refusal = true;
        content.push(json!({"type": "text", "text": r}));
    }
    let mut calls: Vec<&Value> = msg["tool_calls"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let legacy = json!({"function": msg["function_call"]});
    if msg["function_call"].is_object() {
        calls.push(&legacy);
    }
    let has_tools = !calls.is_empty();
    for call in calls {
        let name = call["function"]["name"].as_str().filter(|n| !n.is_empty());
        let Some(name) = name else {
            return Err(AnthropicError::api(
                "upstream returned a tool call without a function name",
            ));
        };
        let id = call["id"]
            .as_str()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map_or_else(ids::tool_use_id, str::to_owned);
        let arguments = &call["function"]["arguments"];
        out_chars += arguments.as_str().map_or(0, |s| s.chars().count());
        content.push(
            json!({"type": "tool_use", "id": id, "name": name, "input": parse_args(arguments)}),
        );
    }
    let (stop, sequence) = stop_reason(
        choice["finish_reason"].as_str(),
        choice.get("stop_reason"),
        has_tools,
        refusal,
        &req.stop_sequences,
    );
    let usage = if v["usage"].is_object() {
        usage(&v["usage"])
    } else {
        estimated_usage(req, out_chars)
    };
    Ok(message(req, Value::Array(content), stop, sequence, usage))
}

fn message(req: &Normalized, content: Value, stop: &str, sequence: Value, usage: Value) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(ids::message_id()));
    m.insert("type".into(), json!("message"));
    m.insert("role".into(), json!("assistant"));
    m.insert("model".into(), json!(req.model));
    m.insert("content".into(), content);
    m.insert("stop_reason".into(), json!(stop));
    m.insert("stop_sequence".into(), sequence);
    m.insert("usage".into(), usage);
    Value::Object(m)
}

/// `max_tokens: 0`: answered without calling the backend, as if the model stopped at once.
pub fn zero_max_tokens(req: &Normalized) -> Value {
    message(
        req,
        json!([]),
        "max_tokens",
        Value::Null,
        estimated_usage(req, 0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_arguments_are_always_objects() {
        assert_eq!(parse_args(&json!(null)), json!({}));
        assert_eq!(parse_args(&json!("  ")), json!({}));
        assert_eq!(parse_args(&json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(parse_args(&json!({"a": 1})), json!({"a": 1}));
        assert_eq!(
            parse_args(&json!("\"{\\\"a\\\":1}\"")),
            json!({"a": 1}),
            "double-encoded"
        );
        assert_eq!(
            parse_args(&json!("{\"a\":")),
            json!({"INVALID_JSON": "{\"a\":"})
        );
        assert_eq!(parse_args(&json!("[1]")), json!({"INVALID_JSON": "[1]"}));
    }
}
