//! Every request-validation rule of the translation spec (§2, V1-V26) with its exact
//! message, and the normalisations (§3) that decide what reaches the backend. The shared
//! vectors cover some of these; this table covers all of them.

use llmgate::api::anthropic::Options;
use llmgate::api::anthropic::request::{self, Endpoint};
use serde_json::{Value, json};

fn check(body: Value) -> Result<request::Normalized, String> {
    let Value::Object(map) = body else {
        panic!("test bodies are objects")
    };
    request::normalize(map, Endpoint::Messages, &Options::default()).map_err(|e| {
        assert_eq!((e.status, e.kind), (400, "invalid_request_error"));
        assert!(
            !e.should_retry(),
            "validation errors carry x-should-retry: false"
        );
        e.message
    })
}

/// A valid request with `patch` merged over it (`null` removes a field).
fn with(patch: Value) -> Value {
    let mut base = json!({
        "model": "m",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    });
    for (k, v) in patch.as_object().expect("object") {
        if v.is_null() {
            base.as_object_mut().expect("object").remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

fn assistant(content: Value) -> Value {
    json!({"role": "assistant", "content": content})
}

const WEATHER: &str = r#"{"name": "get_weather", "input_schema": {"type": "object"}}"#;

#[test]
fn every_validation_rule_answers_with_the_spec_message() {
    let weather: Value = serde_json::from_str(WEATHER).expect("tool");
    let png = json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("V1", with(json!({"model": null})), "model: Field required"),
        ("V1", with(json!({"model": ""})), "model: Field required"),
        (
            "V2",
            with(json!({"max_tokens": null})),
            "max_tokens: Field required",
        ),
        (
            "V3",
            with(json!({"max_tokens": 1.5})),
            "max_tokens: Input should be a valid integer",
        ),
        (
            "V3",
            with(json!({"max_tokens": "16"})),
            "max_tokens: Input should be a valid integer",
        ),
        (
            "V3",
            with(json!({"max_tokens": true})),
            "max_tokens: Input should be a valid integer",
        ),
        (
            "V4",
            with(json!({"max_tokens": -1})),
            "max_tokens: Input should be greater than or equal to 0",
        ),
        (
            "V5",
            with(json!({"messages": null})),
            "messages: Field required",
        ),
        (
            "V6",
            with(json!({"messages": {"role": "user"}})),
            "messages: Input should be a valid list",
        ),
        (
            "V7",
            with(json!({"messages": []})),
            "messages: at least one message is required",
        ),
        (
            "V7 after normalisation",
            with(json!({"messages": [user(json!("")), {"role": "system", "content": "s"}]})),
            "messages: at least one message is required",
        ),
        (
            "V8",
            with(json!({"messages": [user(json!("a")), {"role": "tool", "content": "x"}]})),
            "messages.1.role: Input should be 'user', 'assistant' or 'system'",
        ),
        (
            "V9",
            with(json!({"messages": [{"role": "user"}]})),
            "messages.0.content: Input should be a valid string or a valid list",
        ),
        (
            "V9",
            with(json!({"messages": [user(json!(5))]})),
            "messages.0.content: Input should be a valid string or a valid list",
        ),
        (
            "V10",
            with(
                json!({"messages": [user(json!([{"type": "text", "text": "a"}, {"text": "b"}]))]}),
            ),
            "messages.0.content.1.type: Field required",
        ),
        (
            "V10",
            with(json!({"messages": [user(json!(["a"]))]})),
            "messages.0.content.0.type: Field required",
        ),
        (
            "V11",
            with(
                json!({"messages": [user(json!("a")), assistant(json!([{"type": "tool_result", "tool_use_id": "t", "content": "x"}]))]}),
            ),
            "messages.1.content.0: 'tool_result' blocks are not allowed in 'assistant' messages",
        ),
        (
            "V11",
            with(
                json!({"messages": [user(json!([{"type": "thinking", "thinking": "hm", "signature": "s"}]))]}),
            ),
            "messages.0.content.0: 'thinking' blocks are not allowed in 'user' messages",
        ),
        (
            "V12",
            with(json!({"messages": [
                user(json!("a")),
                assistant(json!([{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}},
                                 {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {}}])),
                user(json!([{"type": "tool_result", "tool_use_id": "t1", "content": "x"}])),
            ]})),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: t2. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        ),
        (
            "V12 last message",
            with(json!({"messages": [
                user(json!("a")),
                assistant(json!([{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}])),
            ]})),
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: t1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        ),
        (
            "V13",
            with(json!({"messages": [
                user(json!("a")),
                assistant(json!([{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}])),
                user(json!([{"type": "tool_result", "tool_use_id": "t1", "content": "x"},
                            {"type": "tool_result", "tool_use_id": "zz", "content": "y"}])),
            ]})),
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: zz. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
        ),
        (
            "V14 source type",
            with(
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "file", "file_id": "f"}}]))]}),
            ),
            "messages.0.content.0.source: invalid image source",
        ),
        (
            "V14 media type",
            with(
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "x"}}]))]}),
            ),
            "messages.0.content.0.source: invalid image source",
        ),
        (
            "V14 missing url",
            with(
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "url"}}]))]}),
            ),
            "messages.0.content.0.source: invalid image source",
        ),
        (
            "V15",
            with(
                json!({"messages": [user(json!([{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]))]}),
            ),
            "messages.0.content.0: PDF documents are not supported by this gateway",
        ),
        (
            "V16",
            with(json!({"system": [{"type": "image", "source": png}]})),
            "system: Input should be a valid string or a list of text blocks",
        ),
        (
            "V16",
            with(json!({"system": 3})),
            "system: Input should be a valid string or a list of text blocks",
        ),
        (
            "V17",
            with(json!({"tools": {"name": "x"}})),
            "tools: Input should be a valid list",
        ),
        (
            "V17",
            with(json!({"tools": [weather, {"input_schema": {}}]})),
            "tools.1.name: Field required",
        ),
        (
            "V18",
            with(json!({"tools": [{"name": "x"}]})),
            "tools.0.input_schema: Field required",
        ),
        (
            "V18 custom",
            with(json!({"tools": [{"type": "custom", "name": "x", "input_schema": "no"}]})),
            "tools.0.input_schema: Field required",
        ),
        (
            "V19",
            with(
                json!({"tools": [{"type": "computer_20250124", "name": "computer", "display_width_px": 1, "display_height_px": 1}]}),
            ),
            "tools.0: tool type 'computer_20250124' is not supported by this gateway",
        ),
        (
            "V20",
            with(json!({"tools": [weather], "tool_choice": {"type": "required"}})),
            "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
        ),
        (
            "V21",
            with(json!({"tools": [weather], "tool_choice": {"type": "tool", "name": "nope"}})),
            "tool_choice.name: tool 'nope' not found in tools",
        ),
        (
            "V22 type",
            with(json!({"thinking": {"type": "on"}})),
            "thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'",
        ),
        (
            "V22 budget missing",
            with(json!({"thinking": {"type": "enabled"}})),
            "thinking.budget_tokens: Field required",
        ),
        (
            "V22 budget small",
            with(json!({"thinking": {"type": "enabled", "budget_tokens": 1000}})),
            "thinking.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            "V23",
            with(json!({"stop_sequences": "END"})),
            "stop_sequences: Input should be a valid list of strings",
        ),
        (
            "V23",
            with(json!({"stop_sequences": ["a", 1]})),
            "stop_sequences: Input should be a valid list of strings",
        ),
        (
            "V24",
            with(json!({"temperature": "hot"})),
            "temperature: Input should be a valid number",
        ),
        (
            "V24",
            with(json!({"temperature": -0.1})),
            "temperature: Input should be greater than or equal to 0",
        ),
        (
            "V24",
            with(json!({"top_p": 1.5})),
            "top_p: Input should be less than or equal to 1",
        ),
        (
            "V24",
            with(json!({"top_k": -1})),
            "top_k: Input should be greater than or equal to 0",
        ),
        (
            "V25",
            with(json!({"stream": "yes"})),
            "stream: Input should be a valid boolean",
        ),
        (
            "V26",
            with(json!({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]})),
            "mcp_servers: MCP connector is not supported by this gateway",
        ),
    ];
    let mut failures = Vec::new();
    for (rule, body, expected) in cases {
        match check(body) {
            Err(message) if message == expected => {}
            Err(message) => failures.push(format!("{rule}: got `{message}`, want `{expected}`")),
            Ok(_) => failures.push(format!("{rule}: accepted, want `{expected}`")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn lenient_cases_are_accepted() {
    let weather: Value = serde_json::from_str(WEATHER).expect("tool");
    for (what, body) in [
        (
            "assistant first",
            with(json!({"messages": [assistant(json!("a")), user(json!("b"))]})),
        ),
        (
            "unknown top-level fields",
            with(json!({"context_management": {"edits": []}, "speed": "fast", "diagnostics": {}})),
        ),
        (
            "budget above max_tokens",
            with(json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})),
        ),
        ("empty mcp_servers", with(json!({"mcp_servers": []}))),
        ("max_tokens 0", with(json!({"max_tokens": 0}))),
        (
            "temperature 1, top_p 0",
            with(json!({"temperature": 1, "top_p": 0})),
        ),
        (
            "tool search tools are dropped",
            with(
                json!({"tools": [weather, {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"}]}),
            ),
        ),
        (
            "url image",
            with(
                json!({"messages": [user(json!([{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]))]}),
            ),
        ),
    ] {
        if let Err(message) = check(body) {
            panic!("{what}: rejected with `{message}`");
        }
    }
}
