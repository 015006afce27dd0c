//! Outbound requests (spec §4): a normalised Anthropic request as an OpenAI chat request
//! for a runtime profile, or — for backends that speak Anthropic themselves — as the
//! client's request with its drift removed.

use serde_json::{Map, Value, json};

use super::request::{Block, Message, Normalized, Result, Role, bad, texts_of};
use super::validate::is_pdf;
use super::{Flavor, Options, Profile};

/// Compact JSON with the key order as received. (`serde_json::to_string` writes into a
/// buffer; `Value`'s `Display` goes through a formatter, several times slower.)
pub fn compact(v: &Value) -> String {
    // Serialising a `Value` cannot fail: its keys are strings.
    serde_json::to_string(v).unwrap_or_default()
}

/// [`compact`] as the bytes of a body.
pub fn compact_bytes(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn image_part(source: &Value) -> Value {
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or(""),
            source["data"].as_str().unwrap_or("")
        ),
        _ => source["url"].as_str().unwrap_or("").to_owned(),
    };
    json!({"type": "image_url", "image_url": {"url": url}})
}

/// A `document` or `search_result` block rendered as text, if it has a text form.
fn document_text(block: &Value) -> Option<String> {
    match block["type"].as_str()? {
        "document" if block["source"]["type"] == "text" => {
            let parts: Vec<&str> = [&block["title"], &block["context"], &block["source"]["data"]]
                .into_iter()
                .filter_map(Value::as_str)
                .collect();
            Some(parts.join("\n\n"))
        }
        "search_result" => {
            let texts: Vec<String> = texts_of(&block["content"]);
            Some(format!(
                "{}\n{}\n\n{}",
                block["title"].as_str().unwrap_or(""),
                block["source"].as_str().unwrap_or(""),
                texts.join("\n")
            ))
        }
        _ => None,
    }
}

/// A `tool_result` content as tool-message text, queueing its images.
fn tool_result_text(block: &Value, images: &mut Vec<Value>) -> String {
    let text = match &block["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut texts = Vec::new();
            for part in parts {
                match part["type"].as_str() {
                    Some("text") => {
                        if let Some(t) = part["text"].as_str().filter(|t| !t.is_empty()) {
                            texts.push(t.to_owned());
                        }
                    }
                    Some("image") => images.push(image_part(&part["source"])),
                    _ => texts.extend(document_text(part)),
                }
            }
            texts.join("\n")
        }
        _ => String::new(),
    };
    if block["is_error"] == true {
        format!("Error: {text}")
    } else {
        text
    }
}

/// A JSON object of owned values, moved in. `json!` serialises each non-literal value
/// into a new tree (`to_value(&v)`): a deep copy of every message and schema it wraps.
fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn text_part(text: Value) -> Value {
    obj([("type", Value::from("text")), ("text", text)])
}

fn user_parts(block: &Block, profile: &Profile, parts: &mut Vec<Value>) -> Result<()> {
    let b = &block.value;
    match block.kind() {
        "text" => parts.push(text_part(b["text"].clone())),
        "image" => {
            if profile.flavor == Flavor::Ollama && b["source"]["type"] == "url" {
                return Err(bad(format!(
                    "messages.{}.content.{}.source: this backend cannot fetch image URLs; send the image as base64",
                    block.message, block.index
                )));
            }
            parts.push(image_part(&b["source"]));
        }
        "document" if b["source"]["type"] == "content" => {
            for inner in b["source"]["content"].as_array().into_iter().flatten() {
                match inner["type"].as_str() {
                    Some("text") => parts.push(text_part(inner["text"].clone())),
                    Some("image") => parts.push(image_part(&inner["source"])),
                    _ => {}
                }
            }
        }
        "document" if is_pdf(b) => {
            let name = b["title"].as_str().unwrap_or("document.pdf");
            let data = b["source"]["data"].as_str().unwrap_or("");
            parts.push(json!({"type": "file", "file": {"filename": name, "file_data": format!("data:application/pdf;base64,{data}")}}));
        }
        _ => {
            if let Some(text) = document_text(b) {
                parts.push(text_part(Value::from(text)));
            } else {
                log::debug!(target: "llmgate::anthropic", "dropping unsupported `{}` block", block.kind());
            }
        }
    }
    Ok(())
}

fn translate_user(m: &Message, profile: &Profile, out: &mut Vec<Value>) -> Result<()> {
    let mut images = Vec::new();
    for b in m.blocks.iter().filter(|b| b.kind() == "tool_result") {
        let content = tool_result_text(&b.value, &mut images);
        out.push(obj([
            ("role", Value::from("tool")),
            ("tool_call_id", b.value["tool_use_id"].clone()),
            ("content", Value::from(content)),
        ]));
    }
    let mut parts = images;
    for b in m.blocks.iter().filter(|b| b.kind() != "tool_result") {
        user_parts(b, profile, &mut parts)?;
    }
    let all_text = parts.iter().all(|p| p["type"] == "text");
    let content = match parts.len() {
        0 => return Ok(()),
        1 if all_text => parts[0]["text"].clone(),
        _ if all_text && profile.flavor == Flavor::Ollama => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            Value::String(texts.join("\n"))
        }
        _ => Value::Array(parts),
    };
    out.push(obj([("role", Value::from("user")), ("content", content)]));
    Ok(())
}

fn translate_assistant(m: &Message, profile: &Profile, opts: &Options) -> Value {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for b in &m.blocks {
        match b.kind() {
            "text" => text.push_str(b.value["text"].as_str().unwrap_or("")),
            "thinking" => thinking.push_str(b.value["thinking"].as_str().unwrap_or("")),
            "tool_use" => calls.push(obj([
                ("id", b.value["id"].clone()),
                ("type", Value::from("function")),
                (
                    "function",
                    obj([
                        ("name", b.value["name"].clone()),
                        ("arguments", Value::from(compact(&b.value["input"]))),
                    ]),
                ),
            ])),
            other => {
                log::debug!(target: "llmgate::anthropic", "dropping assistant `{other}` block")
            }
        }
    }
    let mut msg = obj([
        ("role", Value::from("assistant")),
        ("content", Value::from(text)),
    ]);
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    if opts.history_thinking && !thinking.is_empty() {
        msg[profile.reasoning_field()] = Value::String(thinking);
    }
    msg
}

fn effort_bucket(budget: u64) -> &'static str {
    if budget >= 4096 {
        "high"
    } else if budget >= 2048 {
        "medium"
    } else {
        "low"
    }
}

/// Translates a normalised request into the OpenAI chat request for `upstream_model`.
///
/// # Errors
/// 400 for content this backend cannot take (image URLs on Ollama).
pub fn to_openai(
    req: &Normalized,
    upstream_model: &str,
    profile: &Profile,
    opts: &Options,
) -> Result<Value> {
    let raw = &req.raw;
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(obj([
            ("role", Value::from("system")),
            ("content", Value::from(req.system.join("\n"))),
        ]));
    }
    for m in &req.messages {
        match m.role {
            Role::User => translate_user(m, profile, &mut messages)?,
            Role::Assistant => messages.push(translate_assistant(m, profile, opts)),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(upstream_model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = req.max_tokens {
        out.insert("max_tokens".into(), json!(max));
    }
    if !req.stop_sequences.is_empty() {
        out.insert("stop".into(), json!(req.stop_sequences));
    }
    for field in ["temperature", "top_p"] {
        if let Some(v) = raw.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    if profile.send_top_k
        && let Some(v) = raw.get("top_k").filter(|v| !v.is_null())
    {
        out.insert("top_k".into(), v.clone());
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
        let mut options = json!({"include_usage": true});
        if profile.flavor == Flavor::Vllm {
            options["continuous_usage_stats"] = json!(true);
        }
        out.insert("stream_options".into(), options);
    }
    if let Some(user) = raw
        .get("metadata")
        .and_then(|m| m["user_id"].as_str())
        .filter(|u| !u.is_empty())
    {
        out.insert("user".into(), json!(user));
    }
    add_tools(req, profile, &mut out);
    if let Some(effort) = reasoning_effort(raw, profile) {
        out.insert("reasoning_effort".into(), json!(effort));
    }
    let format = raw
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| raw.get("output_format"))
        .filter(|f| f["type"] == "json_schema");
    if let Some(f) = format {
        out.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": f["schema"]}}),
        );
    }
    let prefill = req.messages.last().is_some_and(|m| {
        m.role == Role::Assistant
            && m.blocks.iter().any(|b| b.kind() == "text")
            && !m.blocks.iter().any(|b| b.kind() == "tool_use")
    });
    if prefill && profile.flavor == Flavor::Vllm {
        out.insert("continue_final_message".into(), json!(true));
        out.insert("add_generation_prompt".into(), json!(false));
    }
    Ok(Value::Object(out))
}

/// The OpenAI form of the custom tools.
pub fn openai_tools<'a>(tools: impl IntoIterator<Item = &'a Value>) -> Vec<Value> {
    tools
        .into_iter()
        .map(|t| {
            let mut function = Map::new();
            function.insert("name".into(), t["name"].clone());
            if let Some(d) = t.get("description").filter(|d| !d.is_null()) {
                function.insert("description".into(), d.clone());
            }
            function.insert("parameters".into(), t["input_schema"].clone());
            if t["strict"] == true {
                function.insert("strict".into(), json!(true));
            }
            obj([
                ("type", Value::from("function")),
                ("function", Value::Object(function)),
            ])
        })
        .collect()
}

fn add_tools(req: &Normalized, profile: &Profile, out: &mut Map<String, Value>) {
    if !req.has_tools() {
        return;
    }
    let mut tools = openai_tools(req.tools());
    let choice = req.raw.get("tool_choice").filter(|c| !c.is_null());
    let mapped = choice.and_then(|c| match c["type"].as_str() {
        Some("auto") => Some(json!("auto")),
        Some("any") => Some(json!("required")),
        Some("none") => Some(json!("none")),
        Some("tool") if profile.flavor == Flavor::Llamacpp => {
            // llama.cpp silently treats a named choice as "auto": require a call and offer
            // only that tool instead.
            tools.retain(|t| t["function"]["name"] == c["name"]);
            Some(json!("required"))
        }
        Some("tool") => Some(json!({"type": "function", "function": {"name": c["name"]}})),
        _ => None,
    });
    out.insert("tools".into(), Value::Array(tools));
    if let Some(m) = mapped {
        out.insert("tool_choice".into(), m);
    }
    if choice.is_some_and(|c| c["disable_parallel_tool_use"] == true) {
        out.insert("parallel_tool_calls".into(), json!(false));
    }
}

fn reasoning_effort(raw: &Map<String, Value>, profile: &Profile) -> Option<String> {
    if profile.flavor == Flavor::Ollama {
        return None; // Ollama answers 400 when thinking is requested of a model without it
    }
    let effort = raw
        .get("output_config")
        .and_then(|c| c["effort"].as_str())
        .map(|e| match (profile.flavor, e) {
            (Flavor::Vllm, e) => e.to_owned(),
            (_, "xhigh" | "max") => "high".to_owned(),
            (_, e) => e.to_owned(),
        });
    let thinking = raw.get("thinking").filter(|t| !t.is_null());
    match thinking.and_then(|t| t["type"].as_str()) {
        Some("disabled") => effort,
        Some("enabled") => effort.or_else(|| {
            let budget = thinking
                .and_then(|t| t["budget_tokens"].as_u64())
                .unwrap_or(0);
            Some(effort_bucket(budget).to_owned())
        }),
        Some("adaptive") => effort.or_else(|| Some("medium".to_owned())),
        _ => effort,
    }
}

/// Removes `cache_control`, `citations` and `caller` (spec N7) from a block.
fn strip_block(block: &Value) -> Value {
    let mut b = block.clone();
    if let Some(obj) = b.as_object_mut() {
        for key in ["cache_control", "citations", "caller"] {
            obj.remove(key);
        }
        if let Some(Value::Array(parts)) = obj.get_mut("content") {
            for part in parts.iter_mut() {
                *part = strip_block(part);
            }
        }
    }
    b
}

/// The request for a backend that serves `/v1/messages` itself: the client's body with
/// the drift Claude Code introduces normalised (system messages hoisted, empty text
/// blocks and `cache_control` removed, consecutive roles merged, billing header dropped),
/// the model renamed, and everything else untouched.
pub fn to_native(req: &Normalized, upstream_model: &str) -> Value {
    let mut out = req.raw.clone();
    out.insert("model".into(), json!(upstream_model));
    out.remove("cache_control");
    if req.system.is_empty() {
        out.remove("system");
    } else {
        let blocks: Vec<Value> = req
            .system
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        out.insert("system".into(), Value::Array(blocks));
    }
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = if m.role == Role::User {
                "user"
            } else {
                "assistant"
            };
            let content: Vec<Value> = m.blocks.iter().map(|b| strip_block(&b.value)).collect();
            json!({"role": role, "content": content})
        })
        .collect();
    out.insert("messages".into(), Value::Array(messages));
    if let Some(tools) = req.sent_tools() {
        out.insert("tools".into(), tools.clone());
    }
    if let Some(Value::Array(tools)) = out.get_mut("tools") {
        for t in tools.iter_mut() {
            if let Some(obj) = t.as_object_mut() {
                obj.remove("cache_control");
            }
        }
    }
    Value::Object(out)
}
