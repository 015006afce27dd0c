//! `POST /v1/messages` bodies: validation (spec §2), normalisation (§3) and translation to
//! an OpenAI chat request (§4). Errors use Anthropic's field-path style
//! (`messages.3.content.0: ...`) with the indices of the request as sent.

use serde_json::{Map, Value, json};

use super::{AnthropicError, Flavor, Options, Profile, Unsupported};

type Result<T> = std::result::Result<T, AnthropicError>;

fn bad(message: impl Into<String>) -> AnthropicError {
    AnthropicError::invalid(message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// A content block and where it stood in the request as sent.
#[derive(Debug, Clone)]
pub struct Block {
    pub value: Value,
    pub message: usize,
    pub index: usize,
}

impl Block {
    pub fn kind(&self) -> &str {
        self.value["type"].as_str().unwrap_or("")
    }
}

/// A message after normalisation (N1–N5).
#[derive(Debug, Clone)]
pub struct Message {
    pub role: Role,
    /// Index in the request of the first message merged into this one.
    pub index: usize,
    pub blocks: Vec<Block>,
}

/// A validated, normalised Anthropic request.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The client's model string (echoed in responses).
    pub model: String,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// System text blocks after hoisting and dropping the billing header.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    /// Custom tools that survive §4.5, as sent.
    pub tools: Vec<Value>,
    pub stop_sequences: Vec<String>,
    /// The request as received (for the fields translated verbatim).
    pub raw: Map<String, Value>,
}

/// What the endpoint requires: count_tokens has no `max_tokens` and no `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Messages,
    CountTokens,
}

/// Parses a request body into a JSON object.
///
/// # Errors
/// 400 with Anthropic's messages for non-JSON and non-object bodies.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("Request body must be a JSON object")),
        Err(e) => Err(bad(format!("Invalid JSON in request body: {e}"))),
    }
}

fn is_int(v: &Value) -> bool {
    v.is_u64() || v.is_i64()
}

const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

fn valid_image_source(source: &Value) -> bool {
    match source["type"].as_str() {
        Some("base64") => {
            source["media_type"]
                .as_str()
                .is_some_and(|m| IMAGE_TYPES.contains(&m))
                && source["data"].is_string()
        }
        Some("url") => source["url"].is_string(),
        _ => false,
    }
}

fn is_pdf(block: &Value) -> bool {
    let source = &block["source"];
    match source["type"].as_str() {
        Some("base64") => source["media_type"] == "application/pdf",
        Some("url" | "file") => true,
        _ => false,
    }
}

/// Checks one content block of message `i` (V10, V11, V14, V15).
fn check_block(role: &str, i: usize, j: usize, block: &Value, opts: &Options) -> Result<()> {
    let Some(kind) = block
        .get("type")
        .and_then(Value::as_str)
        .filter(|_| block.is_object())
    else {
        return Err(bad(format!(
            "messages.{i}.content.{j}.type: Field required"
        )));
    };
    let misplaced = match role {
        "assistant" => kind == "tool_result",
        "user" => matches!(kind, "tool_use" | "thinking" | "redacted_thinking"),
        _ => false,
    };
    if misplaced {
        return Err(bad(format!(
            "messages.{i}.content.{j}: '{kind}' blocks are not allowed in '{role}' messages"
        )));
    }
    match kind {
        "image" if !valid_image_source(&block["source"]) => Err(bad(format!(
            "messages.{i}.content.{j}.source: invalid image source"
        ))),
        "document" if is_pdf(block) && !opts.pdf_as_file_part => Err(bad(format!(
            "messages.{i}.content.{j}: PDF documents are not supported by this gateway"
        ))),
        "tool_result" => match &block["content"] {
            Value::Array(parts) => {
                for (k, part) in parts.iter().enumerate() {
                    if part["type"] == "image" && !valid_image_source(&part["source"]) {
                        return Err(bad(format!(
                            "messages.{i}.content.{j}.content.{k}.source: invalid image source"
                        )));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn check_number(raw: &Map<String, Value>, field: &str) -> Result<()> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_f64() {
            None => Err(bad(format!("{field}: Input should be a valid number"))),
            Some(x) if x < 0.0 => Err(bad(format!(
                "{field}: Input should be greater than or equal to 0"
            ))),
            Some(x) if x > 1.0 => Err(bad(format!(
                "{field}: Input should be less than or equal to 1"
            ))),
            Some(_) => Ok(()),
        },
    }
}

/// V1–V6, V16, V22–V26: everything but messages, tools and tool_choice.
fn check_top_level(raw: &Map<String, Value>, endpoint: Endpoint) -> Result<()> {
    if raw
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(bad("model: Field required"));
    }
    if endpoint == Endpoint::Messages {
        match raw.get("max_tokens") {
            None | Some(Value::Null) => return Err(bad("max_tokens: Field required")),
            Some(v) if !is_int(v) => {
                return Err(bad("max_tokens: Input should be a valid integer"));
            }
            Some(v) if v.as_i64().is_some_and(|n| n < 0) => {
                return Err(bad(
                    "max_tokens: Input should be greater than or equal to 0",
                ));
            }
            Some(_) => {}
        }
    }
    match raw.get("messages") {
        None | Some(Value::Null) => return Err(bad("messages: Field required")),
        Some(Value::Array(_)) => {}
        Some(_) => return Err(bad("messages: Input should be a valid list")),
    }
    let system_ok = match raw.get("system") {
        None | Some(Value::Null) | Some(Value::String(_)) => true,
        Some(Value::Array(blocks)) => blocks
            .iter()
            .all(|b| b["type"] == "text" && b["text"].is_string()),
        Some(_) => false,
    };
    if !system_ok {
        return Err(bad(
            "system: Input should be a valid string or a list of text blocks",
        ));
    }
    if let Some(thinking) = raw.get("thinking").filter(|t| !t.is_null()) {
        match thinking["type"].as_str() {
            Some("enabled") => match thinking.get("budget_tokens") {
                Some(b) if is_int(b) => {
                    if b.as_i64().is_some_and(|n| n < 1024) {
                        return Err(bad(
                            "thinking.budget_tokens: Input should be greater than or equal to 1024",
                        ));
                    }
                }
                _ => return Err(bad("thinking.budget_tokens: Field required")),
            },
            Some("disabled" | "adaptive") => {}
            _ => {
                return Err(bad(
                    "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'",
                ));
            }
        }
    }
    match raw.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(bad(
                "stop_sequences: Input should be a valid list of strings",
            ));
        }
    }
    check_number(raw, "temperature")?;
    check_number(raw, "top_p")?;
    match raw.get("top_k") {
        None | Some(Value::Null) => {}
        Some(v) if !is_int(v) => return Err(bad("top_k: Input should be a valid integer")),
        Some(v) if v.as_i64().is_some_and(|n| n < 0) => {
            return Err(bad("top_k: Input should be greater than or equal to 0"));
        }
        Some(_) => {}
    }
    if endpoint == Endpoint::Messages
        && raw
            .get("stream")
            .is_some_and(|s| !s.is_boolean() && !s.is_null())
    {
        return Err(bad("stream: Input should be a valid boolean"));
    }
    if raw
        .get("mcp_servers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(bad(
            "mcp_servers: MCP connector is not supported by this gateway",
        ));
    }
    Ok(())
}

/// V17–V21 and §4.5: the custom tools to send upstream.
fn check_tools(raw: &Map<String, Value>, opts: &Options) -> Result<Vec<Value>> {
    let tools = match raw.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(_) => return Err(bad("tools: Input should be a valid list")),
    };
    let mut kept = Vec::new();
    for (k, tool) in tools.into_iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => {
                if !tool["name"].is_string() {
                    return Err(bad(format!("tools.{k}.name: Field required")));
                }
                if !tool["input_schema"].is_object() {
                    return Err(bad(format!("tools.{k}.input_schema: Field required")));
                }
                kept.push(tool);
            }
            Some(t) if t.starts_with("tool_search_tool_") => {}
            Some(t) => {
                if opts.unsupported_tools == Unsupported::Reject {
                    return Err(bad(format!(
                        "tools.{k}: tool type '{t}' is not supported by this gateway"
                    )));
                }
            }
        }
    }
    if let Some(choice) = raw.get("tool_choice").filter(|c| !c.is_null()) {
        match choice["type"].as_str() {
            Some("auto" | "any" | "none") => {}
            Some("tool") => {
                let name = choice["name"].as_str().unwrap_or("");
                if !kept.iter().any(|t| t["name"] == name) {
                    return Err(bad(format!(
                        "tool_choice.name: tool '{name}' not found in tools"
                    )));
                }
            }
            _ => {
                return Err(bad(
                    "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
                ));
            }
        }
    }
    Ok(kept)
}

/// Text blocks of a system-like content (string or blocks).
fn texts_of(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) => vec![s.clone()],
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Validates and normalises a request (§2, §3).
///
/// # Errors
/// The first problem, as a 400 `invalid_request_error`.
pub fn normalize(
    raw: Map<String, Value>,
    endpoint: Endpoint,
    opts: &Options,
) -> Result<Normalized> {
    check_top_level(&raw, endpoint)?;
    let mut system = texts_of(raw.get("system").unwrap_or(&Value::Null));
    let mut messages: Vec<Message> = Vec::new();
    let empty = Vec::new();
    let list = raw
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for (i, m) in list.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if !matches!(role, "user" | "assistant" | "system") {
            return Err(bad(format!(
                "messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
            )));
        }
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(blocks) => blocks.clone(),
            _ => {
                return Err(bad(format!(
                    "messages.{i}.content: Input should be a valid string or a valid list"
                )));
            }
        };
        for (j, b) in blocks.iter().enumerate() {
            check_block(role, i, j, b, opts)?;
        }
        if role == "system" {
            system.extend(texts_of(&Value::Array(blocks)));
            continue;
        }
        let role = if role == "user" {
            Role::User
        } else {
            Role::Assistant
        };
        let mut kept = Vec::new();
        for (j, b) in blocks.into_iter().enumerate() {
            match b["type"].as_str() {
                Some("text") if b["text"] == "" => {}
                Some("mid_conv_system") => system.extend(texts_of(&b["content"])),
                _ => kept.push(Block {
                    value: b,
                    message: i,
                    index: j,
                }),
            }
        }
        if kept.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some(last) if last.role == role => last.blocks.extend(kept),
            _ => messages.push(Message {
                role,
                index: i,
                blocks: kept,
            }),
        }
    }
    let billing =
        |t: &str| opts.strip_billing_header && t.starts_with("x-anthropic-billing-header:");
    system.retain(|t| !t.is_empty() && !billing(t));
    if messages.is_empty() {
        return Err(bad("messages: at least one message is required"));
    }
    check_tool_pairing(&messages)?;
    let tools = check_tools(&raw, opts)?;
    let stop_sequences = raw
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(Normalized {
        model: raw["model"].as_str().unwrap_or_default().to_owned(),
        max_tokens: raw.get("max_tokens").and_then(Value::as_u64),
        stream: raw.get("stream").and_then(Value::as_bool).unwrap_or(false),
        system,
        messages,
        tools,
        stop_sequences,
        raw,
    })
}

/// V12 and V13: every `tool_use` is answered in the very next message, and every
/// `tool_result` answers the message before it.
fn check_tool_pairing(messages: &[Message]) -> Result<()> {
    for (n, m) in messages.iter().enumerate() {
        match m.role {
            Role::Assistant => {
                let ids: Vec<&str> = m
                    .blocks
                    .iter()
                    .filter(|b| b.kind() == "tool_use")
                    .map(|b| b.value["id"].as_str().unwrap_or(""))
                    .collect();
                let answered: Vec<&str> = messages
                    .get(n + 1)
                    .filter(|next| next.role == Role::User)
                    .map(|next| {
                        next.blocks
                            .iter()
                            .filter(|b| b.kind() == "tool_result")
                            .map(|b| b.value["tool_use_id"].as_str().unwrap_or(""))
                            .collect()
                    })
                    .unwrap_or_default();
                let missing: Vec<&str> = ids
                    .iter()
                    .copied()
                    .filter(|id| !answered.contains(id))
                    .collect();
                if !missing.is_empty() {
                    return Err(bad(format!(
                        "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                        m.index,
                        missing.join(", ")
                    )));
                }
            }
            Role::User => {
                let asked: Vec<&str> = n
                    .checked_sub(1)
                    .map(|p| &messages[p])
                    .filter(|prev| prev.role == Role::Assistant)
                    .map(|prev| {
                        prev.blocks
                            .iter()
                            .filter(|b| b.kind() == "tool_use")
                            .map(|b| b.value["id"].as_str().unwrap_or(""))
                            .collect()
                    })
                    .unwrap_or_default();
                for b in m.blocks.iter().filter(|b| b.kind() == "tool_result") {
                    let id = b.value["tool_use_id"].as_str().unwrap_or("");
                    if !asked.contains(&id) {
                        return Err(bad(format!(
                            "messages.{}.content.{}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                            b.message, b.index
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Compact JSON with the key order as received.
pub fn compact(v: &Value) -> String {
    v.to_string()
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

fn user_parts(block: &Block, profile: &Profile, parts: &mut Vec<Value>) -> Result<()> {
    let b = &block.value;
    match block.kind() {
        "text" => parts.push(json!({"type": "text", "text": b["text"]})),
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
                    Some("text") => parts.push(json!({"type": "text", "text": inner["text"]})),
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
                parts.push(json!({"type": "text", "text": text}));
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
        out.push(
            json!({"role": "tool", "tool_call_id": b.value["tool_use_id"], "content": content}),
        );
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
    out.push(json!({"role": "user", "content": content}));
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
            "tool_use" => calls.push(json!({
                "id": b.value["id"],
                "type": "function",
                "function": {"name": b.value["name"], "arguments": compact(&b.value["input"])},
            })),
            other => {
                log::debug!(target: "llmgate::anthropic", "dropping assistant `{other}` block")
            }
        }
    }
    let mut msg = json!({"role": "assistant", "content": text});
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
        messages.push(json!({"role": "system", "content": req.system.join("\n")}));
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
pub fn openai_tools(tools: &[Value]) -> Vec<Value> {
    tools
        .iter()
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
            json!({"type": "function", "function": function})
        })
        .collect()
}

fn add_tools(req: &Normalized, profile: &Profile, out: &mut Map<String, Value>) {
    if req.tools.is_empty() {
        return;
    }
    let mut tools = openai_tools(&req.tools);
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
    if let Some(Value::Array(tools)) = out.get_mut("tools") {
        for t in tools.iter_mut() {
            if let Some(obj) = t.as_object_mut() {
                obj.remove("cache_control");
            }
        }
    }
    Value::Object(out)
}
