//! OpenAI chat completion request → Anthropic Messages request.
//!
//! - `system` and `developer` messages, wherever they stand, become the top-level
//!   `system` blocks, in order (Messages has no system role inside `messages`).
//! - `tool` messages become `tool_result` blocks of a user turn; assistant `tool_calls`
//!   become `tool_use` blocks with their arguments parsed. Consecutive turns of one role
//!   are merged, since Messages requires user and assistant to alternate.
//! - Image parts: `data:` URLs become base64 sources, other URLs URL sources.
//! - `max_completion_tokens` (or `max_tokens`) becomes the required `max_tokens`, else
//!   [`DEFAULT_MAX_TOKENS`]; `stop` becomes `stop_sequences`; `temperature` is capped at 1
//!   (Anthropic's maximum); `user` becomes `metadata.user_id`.
//! - `tool_choice`: `auto`/`none`/`required`/a named function become `auto`/`none`/`any`/
//!   `tool`; `parallel_tool_calls: false` sets `disable_parallel_tool_use`.
//! - What Messages cannot express is refused with a 400 naming the parameter: `n` > 1,
//!   a `response_format` other than text, audio and file parts. Sampling knobs it lacks
//!   (`frequency_penalty`, `presence_penalty`, `logit_bias`, `seed`, `logprobs`) are
//!   dropped.

use serde_json::{Map, Value, json};

use crate::api::error::ApiError;

/// `max_tokens` when the client set none (Messages requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

/// Translates `body` (an OpenAI chat completion request) for `model` on an Anthropic
/// upstream.
///
/// # Errors
/// A 400 in OpenAI's envelope for what Messages cannot express or a malformed request.
pub fn to_messages(body: &Value, model: &str) -> Result<Value, ApiError> {
    let req = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("request body must be a JSON object"))?;
    if req.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(invalid(
            "n",
            "n > 1 is not supported by an Anthropic upstream",
        ));
    }
    if let Some(format) = req.get("response_format")
        && format.get("type").and_then(Value::as_str) != Some("text")
    {
        return Err(invalid(
            "response_format",
            "response_format other than text is not supported by an Anthropic upstream",
        ));
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages", "`messages` must be an array"))?;
    let (system, turns) = turns(messages)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::from(model));
    out.insert("messages".into(), Value::Array(turns));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    let max_tokens = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    out.insert("max_tokens".into(), Value::from(max_tokens));
    if let Some(t) = req.get("temperature").and_then(Value::as_f64) {
        out.insert("temperature".into(), Value::from(t.min(1.0)));
    }
    if let Some(p) = req.get("top_p").filter(|v| v.is_number()) {
        out.insert("top_p".into(), p.clone());
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            out.insert("stop_sequences".into(), Value::Array(list.clone()));
        }
        _ => {}
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    if let Some(user) = req.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(tools) = req.get("tools").and_then(Value::as_array)
        && !tools.is_empty()
    {
        out.insert("tools".into(), Value::Array(translate_tools(tools)?));
    }
    if let Some(choice) = tool_choice(req)? {
        out.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(out))
}

/// The system blocks and the alternating turns.
fn turns(messages: &[Value]) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut system = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(text_blocks(m.get("content"))?);
                continue;
            }
            "user" => ("user", content_blocks(m.get("content"))?),
            "assistant" => ("assistant", assistant_blocks(m)?),
            "tool" => ("user", vec![tool_result(m)?]),
            other => {
                return Err(invalid(
                    "messages",
                    format!("unsupported message role `{other}`"),
                ));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => turns.push(json!({"role": role, "content": blocks})),
        }
    }
    Ok((system, turns))
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Text content only (system messages, tool results).
fn text_blocks(content: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    Ok(content_blocks(content)?
        .into_iter()
        .filter(|b| b["type"] == "text")
        .collect())
}

/// A user message's content: a string, or text and image parts.
fn content_blocks(content: Option<&Value>) -> Result<Vec<Value>, ApiError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![text_block(s)]),
        Some(Value::Array(parts)) => parts.iter().map(part).collect(),
        Some(_) => Err(invalid(
            "messages",
            "`content` must be a string or an array",
        )),
    }
}

fn part(p: &Value) -> Result<Value, ApiError> {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => Ok(text_block(
            p.get("text").and_then(Value::as_str).unwrap_or(""),
        )),
        Some("image_url") => {
            let url = p
                .pointer("/image_url/url")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("messages", "an image_url part needs `image_url.url`"))?;
            Ok(image(url))
        }
        Some(other) => Err(invalid(
            "messages",
            format!("content parts of type `{other}` are not supported by an Anthropic upstream"),
        )),
        None => Err(invalid("messages", "a content part needs a `type`")),
    }
}

fn image(url: &str) -> Value {
    // data:<media type>;base64,<data>
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}});
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

fn assistant_blocks(m: &Value) -> Result<Vec<Value>, ApiError> {
    let mut blocks = text_blocks(m.get("content"))?;
    for (i, call) in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("messages", format!("tool_calls[{i}] has no function name")))?;
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let input: Value = if arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(arguments).map_err(|_| {
                invalid(
                    "messages",
                    format!("tool_calls[{i}].function.arguments is not valid JSON"),
                )
            })?
        };
        let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}

fn tool_result(m: &Value) -> Result<Value, ApiError> {
    let id = m
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("messages", "a tool message needs `tool_call_id`"))?;
    let content = match m.get("content") {
        Some(Value::String(s)) => Value::from(s.as_str()),
        other => Value::Array(text_blocks(other)?),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}

fn translate_tools(tools: &[Value]) -> Result<Vec<Value>, ApiError> {
    tools
        .iter()
        .map(|t| {
            let f = t
                .get("function")
                .ok_or_else(|| invalid("tools", "only function tools are supported"))?;
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tools", "a tool needs `function.name`"))?;
            let mut tool = json!({
                "name": name,
                "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"})),
            });
            if let Some(d) = f.get("description").and_then(Value::as_str) {
                tool["description"] = Value::from(d);
            }
            Ok(tool)
        })
        .collect()
}

fn tool_choice(req: &Map<String, Value>) -> Result<Option<Value>, ApiError> {
    let mut choice = match req.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => json!({"type": "none"}),
            "required" => json!({"type": "any"}),
            other => {
                return Err(invalid(
                    "tool_choice",
                    format!("unknown tool_choice `{other}`"),
                ));
            }
        }),
        Some(v) => {
            let name = v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice", "tool_choice needs `function.name`"))?;
            Some(json!({"type": "tool", "name": name}))
        }
    };
    if req.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_conversation_becomes_alternating_turns() {
        let body = json!({
            "model": "claude", "max_completion_tokens": 300, "temperature": 1.5, "stop": "END",
            "user": "u-1", "stream": true, "parallel_tool_calls": false, "tool_choice": "required",
            "frequency_penalty": 0.5,
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "user", "content": "Thanks"},
                {"role": "developer", "content": "Answer in French."}
            ]
        });
        let out = to_messages(&body, "claude-sonnet-4-5").expect("translates");
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4-5",
                "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}],
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "Weather in Paris?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                        {"type": "text", "text": "Thanks"}]}
                ],
                "max_tokens": 300,
                "temperature": 1.0,
                "stop_sequences": ["END"],
                "stream": true,
                "metadata": {"user_id": "u-1"},
                "tools": [{"name": "get_weather", "description": "Weather",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
            })
        );
    }

    #[test]
    fn defaults_and_refusals() {
        let out = to_messages(
            &json!({"messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "function", "function": {"name": "f"}},
                "max_tokens": 9, "stop": ["a", "b"]}),
            "m",
        )
        .expect("ok");
        assert_eq!(out["max_tokens"], 9);
        assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "f"}));
        assert_eq!(out["stop_sequences"], json!(["a", "b"]));
        assert_eq!(out["messages"][0]["content"][0]["text"], "hi");
        let plain = to_messages(&json!({"messages": []}), "m").expect("ok");
        assert_eq!(plain["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(plain.get("system").is_none() && plain.get("tool_choice").is_none());
        let url = to_messages(
            &json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
            "m",
        )
        .expect("ok");
        assert_eq!(
            url["messages"][0]["content"][0]["source"],
            json!({"type": "url", "url": "https://x/y.png"})
        );
        for (body, param) in [
            (json!({"n": 2, "messages": []}), "n"),
            (
                json!({"response_format": {"type": "json_object"}, "messages": []}),
                "response_format",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
                "messages",
            ),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{bad"}}]}]}),
                "messages",
            ),
            (
                json!({"messages": [{"role": "tool", "content": "x"}]}),
                "messages",
            ),
        ] {
            match to_messages(&body, "m") {
                Err(ApiError::InvalidRequest { param: Some(p), .. }) => {
                    assert_eq!(p, param, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
