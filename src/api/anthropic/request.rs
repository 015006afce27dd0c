//! `POST /v1/messages` bodies: parsing and normalisation (spec §3) into a [`Normalized`]
//! request, after validation (`validate.rs`, §2). Translation to the backend's dialect is
//! in `translate.rs`. Errors use Anthropic's field-path style (`messages.3.content.0: ...`)
//! with the indices of the request as sent.

use serde_json::{Map, Value, json};

use super::validate::{check_block, check_tool_pairing, check_tools, check_top_level};
use super::{AnthropicError, Options};

pub use super::translate::{compact, compact_bytes, openai_tools, to_native, to_openai};

pub(super) type Result<T> = std::result::Result<T, AnthropicError>;

pub(super) fn bad(message: impl Into<String>) -> AnthropicError {
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
    /// The `tools` array as sent (moved out of `raw`, not copied).
    sent_tools: Option<Value>,
    /// Which of `sent_tools` are custom tools that survive §4.5.
    custom_tools: Vec<usize>,
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

/// Text blocks of a system-like content (string or blocks).
pub(super) fn texts_of(content: &Value) -> Vec<String> {
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
    mut raw: Map<String, Value>,
    endpoint: Endpoint,
    opts: &Options,
) -> Result<Normalized> {
    check_top_level(&raw, endpoint)?;
    // Moved out like the messages; `tools()` and `to_native` read it from here.
    let sent_tools = raw.remove("tools");
    let mut system = texts_of(raw.get("system").unwrap_or(&Value::Null));
    let mut messages: Vec<Message> = Vec::new();
    // The messages are moved out of `raw`, not copied: everything after this reads the
    // normalised `messages` (a 4 KiB agent request spent a tenth of its CPU on copies).
    let list = match raw.remove("messages") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    for (i, mut m) in list.into_iter().enumerate() {
        let content = m.get_mut("content").map_or(Value::Null, Value::take);
        let role = m["role"].as_str().unwrap_or("");
        if !matches!(role, "user" | "assistant" | "system") {
            return Err(bad(format!(
                "messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
            )));
        }
        let blocks: Vec<Value> = match content {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(blocks) => blocks,
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
    let custom_tools = check_tools(sent_tools.as_ref(), &raw, opts)?;
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
        sent_tools,
        custom_tools,
        stop_sequences,
        raw,
    })
}

impl Normalized {
    /// The custom tools that survive §4.5, as sent.
    pub fn tools(&self) -> impl Iterator<Item = &Value> {
        let sent = self.sent_tools.as_ref().and_then(Value::as_array);
        self.custom_tools
            .iter()
            .filter_map(move |&i| sent.and_then(|tools| tools.get(i)))
    }

    /// Whether any custom tool survives §4.5.
    pub fn has_tools(&self) -> bool {
        !self.custom_tools.is_empty()
    }

    /// The `tools` value exactly as the client sent it, if it sent one.
    pub fn sent_tools(&self) -> Option<&Value> {
        self.sent_tools.as_ref()
    }
}
