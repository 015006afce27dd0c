//! Non-streaming response translation (translation spec §5) case by case: block order and
//! content, tool calls, the stop_reason table (§5.4) and usage (§5.5).

use llmgate::api::anthropic::request::{self, Endpoint};
use llmgate::api::anthropic::{Options, response};
use serde_json::{Value, json};

fn request_with_stops() -> request::Normalized {
    let raw = json!({"model": "client-alias", "max_tokens": 64, "stop_sequences": ["END", "STOP"],
                     "messages": [{"role": "user", "content": "hi"}]});
    let Value::Object(map) = raw else {
        unreachable!()
    };
    request::normalize(map, Endpoint::Messages, &Options::default()).expect("valid")
}

fn translate(message: Value, finish: Value, extra: Value) -> Result<Value, String> {
    let mut choice = json!({"index": 0, "message": message, "finish_reason": finish});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            choice[k] = v;
        }
    }
    let body = json!({"id": "x", "object": "chat.completion", "choices": [choice],
                      "usage": {"prompt_tokens": 100, "completion_tokens": 7,
                                "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10}}});
    response::to_anthropic(&request_with_stops(), body.to_string().as_bytes()).map_err(|e| {
        assert_eq!((e.status, e.kind), (500, "api_error"));
        e.message
    })
}

fn kinds(m: &Value) -> Vec<&str> {
    m["content"]
        .as_array()
        .expect("content")
        .iter()
        .map(|b| b["type"].as_str().expect("type"))
        .collect()
}

#[test]
fn blocks_come_in_spec_order_with_the_clients_model_and_full_usage() {
    let m = translate(
        json!({"role": "assistant", "content": "Answer",
               "reasoning_content": "why", "reasoning": "why",
               "tool_calls": [{"id": "  ", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}),
        json!("tool_calls"),
        json!(null),
    )
    .expect("translated");
    assert_eq!(kinds(&m), ["thinking", "text", "tool_use"]);
    assert_eq!(
        m["content"][0]["thinking"], "why",
        "never both reasoning fields"
    );
    assert!(
        !m["content"][0]["signature"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    assert!(
        m["content"][2]["id"]
            .as_str()
            .unwrap_or("")
            .starts_with("toolu_")
    );
    assert_eq!(m["content"][2]["input"], json!({"a": 1}));
    assert_eq!(m["model"], "client-alias");
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 30, "output_tokens": 7,
               "cache_read_input_tokens": 60, "cache_creation_input_tokens": 10})
    );
}

#[test]
fn text_parts_refusals_and_legacy_function_calls() {
    let m = translate(
        json!({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
        json!("stop"),
        json!(null),
    )
    .expect("parts");
    assert_eq!(m["content"], json!([{"type": "text", "text": "ab"}]));

    let m = translate(
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
        json!("stop"),
        json!(null),
    )
    .expect("refusal");
    assert_eq!(m["content"][0]["text"], "I can't help with that.");
    assert_eq!(m["stop_reason"], "refusal");

    let m = translate(
        json!({"role": "assistant", "content": "  \n", "function_call": {"name": "legacy", "arguments": "not json"}}),
        json!("function_call"),
        json!(null),
    )
    .expect("legacy call");
    assert_eq!(
        kinds(&m),
        ["tool_use"],
        "whitespace-only text makes no block"
    );
    assert_eq!(
        m["content"][0]["input"],
        json!({"INVALID_JSON": "not json"})
    );
    assert_eq!(m["stop_reason"], "tool_use");
}

#[test]
fn stop_reason_table_first_match_wins() {
    let call =
        json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]);
    let with_call = json!({"role": "assistant", "content": "x", "tool_calls": call});
    let text = json!({"role": "assistant", "content": "x"});
    for (what, message, finish, extra, stop, sequence) in [
        (
            "length beats tools",
            with_call.clone(),
            json!("length"),
            json!(null),
            "max_tokens",
            Value::Null,
        ),
        (
            "content_filter",
            text.clone(),
            json!("content_filter"),
            json!(null),
            "refusal",
            Value::Null,
        ),
        (
            "tools reported as stop",
            with_call.clone(),
            json!("stop"),
            json!(null),
            "tool_use",
            Value::Null,
        ),
        (
            "vLLM matched stop string",
            text.clone(),
            json!("stop"),
            json!({"stop_reason": "STOP"}),
            "stop_sequence",
            json!("STOP"),
        ),
        (
            "stop string not requested",
            text.clone(),
            json!("stop"),
            json!({"stop_reason": "OTHER"}),
            "end_turn",
            Value::Null,
        ),
        (
            "stop token id",
            text.clone(),
            json!("stop"),
            json!({"stop_reason": 2}),
            "end_turn",
            Value::Null,
        ),
        (
            "tool_calls without calls",
            text.clone(),
            json!("tool_calls"),
            json!(null),
            "end_turn",
            Value::Null,
        ),
        (
            "null finish",
            text.clone(),
            json!(null),
            json!(null),
            "end_turn",
            Value::Null,
        ),
    ] {
        let m = translate(message, finish, extra).expect(what);
        assert_eq!(
            (&m["stop_reason"], &m["stop_sequence"]),
            (&json!(stop), &sequence),
            "{what}"
        );
    }
}

#[test]
fn unusable_completions_are_api_errors() {
    let nameless = json!({"role": "assistant", "content": null,
                          "tool_calls": [{"id": "c", "type": "function", "function": {"arguments": "{}"}}]});
    assert_eq!(
        translate(nameless, json!("tool_calls"), json!(null)),
        Err("upstream returned a tool call without a function name".to_owned())
    );
    assert_eq!(
        translate(
            json!({"role": "assistant", "content": "x"}),
            json!("abort"),
            json!(null)
        ),
        Err("upstream generation failed (finish_reason=abort)".to_owned())
    );
    let req = request_with_stops();
    for body in [
        &b"not json"[..],
        br#"{"choices":[]}"#,
        br#"{"object":"chat.completion"}"#,
    ] {
        let e = response::to_anthropic(&req, body).expect_err("invalid");
        assert_eq!(e.message, "upstream returned an invalid response");
    }
}
