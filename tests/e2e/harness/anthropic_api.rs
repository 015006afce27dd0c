//! The mock backend's Anthropic API (`Kind::Anthropic`), as api.anthropic.com behaves:
//! every route wants `x-api-key` and `anthropic-version` (401 / 400 otherwise), Messages
//! refuses fields it does not know ("Extra inputs are not permitted") and requires
//! `max_tokens`, errors come as `{"type":"error","error":{"type","message"}}`, and streams
//! are `event:`/`data:` pairs with a `ping` after the first block starts.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{Recorded, Reply};

/// The fields Messages accepts at the top level of a request.
const MESSAGES_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
];

pub fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// One Anthropic SSE event.
pub fn event(v: &Value) -> Bytes {
    let kind = v["type"].as_str().unwrap_or("unknown");
    Bytes::from(format!("event: {kind}\ndata: {v}\n\n"))
}

/// The default answer of `Kind::Anthropic` for `req`.
pub fn reply(model: &str, path: &str, req: &Recorded) -> Reply {
    if req.header("x-api-key").is_none() {
        return error(401, "authentication_error", "x-api-key header is required");
    }
    if req.header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    match (req.method.as_str(), path) {
        ("GET", "/v1/models") => Reply::json(
            200,
            json!({"data": [{"type": "model", "id": model, "display_name": model,
                "created_at": "2025-09-29T00:00:00Z"}], "has_more": false,
                "first_id": model, "last_id": model}),
        ),
        ("POST", "/v1/messages/count_tokens") => {
            let n = req.json()["messages"].to_string().len() / 4;
            Reply::json(200, json!({"input_tokens": n}))
        }
        ("POST", "/v1/messages") => messages(req),
        _ => error(404, "not_found_error", "Not found"),
    }
}

fn messages(req: &Recorded) -> Reply {
    let body = req.json();
    let Some(fields) = body.as_object() else {
        return error(400, "invalid_request_error", "body must be a JSON object");
    };
    if let Some(extra) = fields
        .keys()
        .find(|k| !MESSAGES_FIELDS.contains(&k.as_str()))
    {
        return error(
            400,
            "invalid_request_error",
            &format!("{extra}: Extra inputs are not permitted"),
        );
    }
    if body["max_tokens"].as_u64().is_none() {
        return error(400, "invalid_request_error", "max_tokens: Field required");
    }
    let model = body["model"].as_str().unwrap_or("claude").to_owned();
    let wants_tool = body["tools"].as_array().is_some_and(|t| !t.is_empty())
        && !last_user_turn_has_tool_result(&body);
    let input_tokens = body["messages"].to_string().len() as u64 / 4;
    if body["stream"] == json!(true) {
        return Reply::sse(stream(&model, &body, wants_tool, input_tokens));
    }
    let (content, stop) = if wants_tool {
        let tool = body["tools"][0]["name"].clone();
        (
            json!([{"type": "text", "text": "Let me check."},
                   {"type": "tool_use", "id": "toolu_01A", "name": tool, "input": {"city": "Paris"}}]),
            "tool_use",
        )
    } else {
        (
            json!([{"type": "text", "text": "Hello from Anthropic"}]),
            "end_turn",
        )
    };
    Reply::json(
        200,
        json!({"id": "msg_01XYZ", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 2, "output_tokens": 5}}),
    )
}

fn last_user_turn_has_tool_result(body: &Value) -> bool {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_array())
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
}

/// The event sequence Anthropic streams for a text or a tool-use answer.
pub fn stream(model: &str, body: &Value, wants_tool: bool, input_tokens: u64) -> Vec<Bytes> {
    let mut out = vec![event(&json!({"type": "message_start", "message": {
        "id": "msg_01XYZ", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 2, "output_tokens": 1}}}))];
    out.push(event(&json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}})));
    out.push(event(&json!({"type": "ping"})));
    let pieces: &[&str] = if wants_tool {
        &["Let me", " check."]
    } else {
        &["Hello", " from", " Anthropic"]
    };
    for p in pieces {
        out.push(event(&json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": p}})));
    }
    out.push(event(&json!({"type": "content_block_stop", "index": 0})));
    if wants_tool {
        let tool = body["tools"][0]["name"].clone();
        out.push(event(&json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_01A", "name": tool, "input": {}}})));
        for p in ["", "{\"city\": ", "\"Paris\"}"] {
            out.push(event(&json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": p}})));
        }
        out.push(event(&json!({"type": "content_block_stop", "index": 1})));
    }
    let stop = if wants_tool { "tool_use" } else { "end_turn" };
    out.push(event(&json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}})));
    out.push(event(&json!({"type": "message_stop"})));
    out
}
