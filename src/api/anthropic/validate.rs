//! Request validation (spec §2): every check produces Anthropic's field-path message for
//! the first problem found, before anything is sent upstream.

use serde_json::{Map, Value};

use super::request::{Endpoint, Message, Result, Role, bad};
use super::{Options, Unsupported};

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

pub(super) fn is_pdf(block: &Value) -> bool {
    let source = &block["source"];
    match source["type"].as_str() {
        Some("base64") => source["media_type"] == "application/pdf",
        Some("url" | "file") => true,
        _ => false,
    }
}

/// Checks one content block of message `i` (V10, V11, V14, V15).
pub(super) fn check_block(
    role: &str,
    i: usize,
    j: usize,
    block: &Value,
    opts: &Options,
) -> Result<()> {
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
pub(super) fn check_top_level(raw: &Map<String, Value>, endpoint: Endpoint) -> Result<()> {
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
/// Returns the indices of the custom tools in `tools` (the request's `tools` value).
pub(super) fn check_tools(
    tools: Option<&Value>,
    raw: &Map<String, Value>,
    opts: &Options,
) -> Result<Vec<usize>> {
    let tools: &[Value] = match tools {
        None | Some(Value::Null) => &[],
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(bad("tools: Input should be a valid list")),
    };
    let mut kept = Vec::new();
    for (k, tool) in tools.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            None | Some("custom") => {
                if !tool["name"].is_string() {
                    return Err(bad(format!("tools.{k}.name: Field required")));
                }
                if !tool["input_schema"].is_object() {
                    return Err(bad(format!("tools.{k}.input_schema: Field required")));
                }
                kept.push(k);
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
                if !kept.iter().any(|&i| tools[i]["name"] == name) {
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

/// V12 and V13: every `tool_use` is answered in the very next message, and every
/// `tool_result` answers the message before it.
pub(super) fn check_tool_pairing(messages: &[Message]) -> Result<()> {
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
