use super::*;
use crate::api::anthropic::Options;
use crate::api::anthropic::request::{Endpoint, normalize};

fn translator() -> StreamTranslator {
    let raw = json!({"model": "m", "max_tokens": 9, "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let req = normalize(
        raw.as_object().cloned().unwrap_or_default(),
        Endpoint::Messages,
        &Options::default(),
    )
    .expect("valid request");
    let mut n = 0;
    StreamTranslator::new(
        &req,
        false,
        "req_x".into(),
        Box::new(move |p| {
            n += 1;
            format!("{p}{n}")
        }),
    )
}

#[test]
fn multibyte_text_split_anywhere_comes_out_the_same() {
    let input = "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"思考…\"}}]}\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"héllo 😀 世界\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let bytes = input.as_bytes();
    let run = |cuts: &[usize]| {
        let mut t = translator();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts {
            t.feed(&bytes[at..c], &mut out);
            at = c;
        }
        t.feed(&bytes[at..], &mut out);
        t.finish(&mut out);
        out
    };
    let whole = run(&[]);
    let text = String::from_utf8(whole.clone()).expect("valid UTF-8 out");
    assert!(
        text.contains("\"thinking\":\"思考…\"") && text.contains("\"text\":\"héllo 😀 世界\""),
        "{text}"
    );
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    for split in 1..bytes.len() {
        assert_eq!(run(&[split]), whole, "split at byte {split}");
    }
    let every_byte: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(run(&every_byte), whole, "one byte at a time");
}

#[test]
fn nothing_follows_the_end() {
    let mut t = translator();
    let mut out = Vec::new();
    t.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", &mut out);
    let len = out.len();
    t.feed(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n",
        &mut out,
    );
    t.finish(&mut out);
    t.fail(AnthropicError::api("x"), &mut out);
    assert_eq!(out.len(), len, "message_stop is final");
    assert_eq!(t.phase(), Phase::Finished);
}

/// The output as short lines: `start text`, `text:Hi`, `json:{"a"`, `stop`,
/// `start tool_use call_1 get`, `delta tool_use`, `error api_error: ...`. `message_start`
/// and its ping are checked once and left out.
fn summary(input: &str) -> Vec<String> {
    let mut t = translator();
    let mut out = Vec::new();
    t.feed(input.as_bytes(), &mut out);
    t.finish(&mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    let mut lines = Vec::new();
    for frame in text.split("\n\n").filter(|f| !f.is_empty()) {
        let data = frame.split_once("\ndata: ").expect("event and data").1;
        let v: Value = serde_json::from_str(data).expect("JSON data");
        let line = match v["type"].as_str().unwrap_or("") {
            "message_start" | "ping" => continue,
            "content_block_start" => {
                let b = &v["content_block"];
                match b["type"].as_str().unwrap_or("") {
                    "tool_use" => format!(
                        "start tool_use {} {}",
                        b["id"].as_str().unwrap_or(""),
                        b["name"].as_str().unwrap_or("")
                    ),
                    other => format!("start {other}"),
                }
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => format!("text:{}", d["text"].as_str().unwrap_or("")),
                    "thinking_delta" => {
                        format!("thinking:{}", d["thinking"].as_str().unwrap_or(""))
                    }
                    "input_json_delta" => {
                        format!("json:{}", d["partial_json"].as_str().unwrap_or(""))
                    }
                    other => other.to_owned(),
                }
            }
            "content_block_stop" => "stop".to_owned(),
            "message_delta" => format!(
                "delta {} out={}",
                v["delta"]["stop_reason"].as_str().unwrap_or("null"),
                v["usage"]["output_tokens"]
            ),
            "message_stop" => "message_stop".to_owned(),
            "error" => format!(
                "error {}: {}",
                v["error"]["type"].as_str().unwrap_or(""),
                v["error"]["message"].as_str().unwrap_or("")
            ),
            other => other.to_owned(),
        };
        lines.push(line);
    }
    lines
}

fn chunk(delta: Value, finish: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    )
}

fn call(index: Value, id: Value, name: Value, args: Value) -> Value {
    let mut function = serde_json::Map::new();
    if !name.is_null() {
        function.insert("name".into(), name);
    }
    if !args.is_null() {
        function.insert("arguments".into(), args);
    }
    let mut c = json!({"function": function});
    if !index.is_null() {
        c["index"] = index;
    }
    if !id.is_null() {
        c["id"] = id;
    }
    json!({"tool_calls": [c]})
}

const DONE: &str = "data: [DONE]\n\n";
const USAGE: &str =
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\n";

#[test]
fn tool_call_identity_follows_the_spec_for_real_server_quirks() {
    let n = Value::Null;
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "Ollama: every call is a complete index-0 chunk without id",
            [
                chunk(
                    call(json!(0), n.clone(), json!("a"), json!("{\"x\":1}")),
                    n.clone(),
                ),
                chunk(
                    call(json!(0), n.clone(), json!("b"), json!("{}")),
                    n.clone(),
                ),
                chunk(json!({}), json!("tool_calls")),
                USAGE.into(),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start tool_use toolu_2 a",
                "json:{\"x\":1}",
                "stop",
                "start tool_use toolu_3 b",
                "json:{}",
                "stop",
                "delta tool_use out=7",
                "message_stop",
            ],
        ),
        (
            "name arrives after the arguments; indices start at 1",
            [
                chunk(
                    call(json!(1), json!("c1"), n.clone(), json!("{\"q\":")),
                    n.clone(),
                ),
                chunk(
                    call(json!(1), n.clone(), json!("find"), json!("\"z\"}")),
                    n.clone(),
                ),
                chunk(json!({}), json!("tool_calls")),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start tool_use c1 find",
                "json:{\"q\":\"z\"}",
                "stop",
                // No usage from upstream: the estimate (§5.5) from 9 emitted characters.
                "delta tool_use out=3",
                "message_stop",
            ],
        ),
        (
            // The block starts as soon as a name is known (§6.5 pseudo-code), so a name
            // split across deltas is announced by its first fragment.
            "name in fragments, id repeated on every delta",
            [
                chunk(
                    call(json!(0), json!("c1"), json!("get_"), n.clone()),
                    n.clone(),
                ),
                chunk(
                    call(json!(0), json!("c1"), json!("weather"), n.clone()),
                    n.clone(),
                ),
                chunk(
                    call(json!(0), json!("c1"), n.clone(), json!("{\"city\":")),
                    n.clone(),
                ),
                chunk(
                    call(json!(0), json!("c1"), n.clone(), json!("\"Paris\"}")),
                    json!("tool_calls"),
                ),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start tool_use c1 get_",
                "json:{\"city\":",
                "json:\"Paris\"}",
                "stop",
                "delta tool_use out=4",
                "message_stop",
            ],
        ),
        (
            "a second call interleaving with an open one is an error, never a fake end",
            [
                chunk(
                    call(json!(0), json!("c1"), json!("a"), json!("{")),
                    n.clone(),
                ),
                chunk(
                    call(json!(1), json!("c2"), json!("b"), json!("{")),
                    n.clone(),
                ),
                chunk(call(json!(0), n.clone(), n.clone(), json!("}")), n.clone()),
                chunk(json!({}), json!("tool_calls")),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start tool_use c1 a",
                "json:{",
                "stop",
                "start tool_use c2 b",
                "json:{",
                "error api_error: upstream interleaved tool calls",
            ],
        ),
        (
            "a call that never gets a name",
            [
                chunk(
                    call(json!(0), json!("c1"), n.clone(), json!("{}")),
                    json!("tool_calls"),
                ),
                DONE.into(),
            ]
            .concat(),
            vec!["error api_error: upstream returned a tool call without a function name"],
        ),
        (
            "whitespace before a tool call is dropped; a named call without arguments gets {}",
            [
                chunk(json!({"content": "\n\n"}), n.clone()),
                chunk(
                    call(json!(0), json!("c1"), json!("now"), n.clone()),
                    json!("tool_calls"),
                ),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start tool_use c1 now",
                "json:{}",
                "stop",
                "delta tool_use out=1",
                "message_stop",
            ],
        ),
        (
            "whitespace-only reasoning is discarded; text after reasoning closes the thinking block",
            [
                chunk(json!({"reasoning_content": "  "}), n.clone()),
                chunk(json!({"content": "Hi"}), n.clone()),
                chunk(json!({"reasoning": "late thought"}), n.clone()),
                chunk(json!({}), json!("stop")),
                DONE.into(),
            ]
            .concat(),
            vec![
                "start text",
                "text:Hi",
                "stop",
                "start thinking",
                "thinking:late thought",
                "signature_delta",
                "stop",
                "delta end_turn out=4",
                "message_stop",
            ],
        ),
        (
            "finish_reason abort is a failure",
            [chunk(json!({"content": "a"}), json!("abort")), DONE.into()].concat(),
            vec![
                "start text",
                "text:a",
                "error api_error: upstream generation failed (finish_reason=abort)",
            ],
        ),
        (
            "EOF after a finish_reason but without [DONE] still ends cleanly",
            [chunk(json!({"content": "a"}), json!("length"))].concat(),
            vec![
                "start text",
                "text:a",
                "stop",
                "delta max_tokens out=1",
                "message_stop",
            ],
        ),
        (
            "EOF with neither",
            chunk(json!({"content": "a"}), n.clone()),
            vec![
                "start text",
                "text:a",
                "error api_error: upstream stream ended unexpectedly",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (what, input, expected) in cases {
        let got = summary(&input);
        if got != expected {
            failures.push(format!("{what}:\n  got  {got:?}\n  want {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn upstream_sse_framing_variants_are_all_understood() {
    // No space after `data:`, CRLF, keep-alive comments, a multi-line data field, a chunk
    // without `delta`, usage on every chunk (the last one wins).
    let input = concat!(
        ": keep-alive\r\n\r\n",
        "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\n",
        ":\n\n",
        "data: {\"choices\":[{\"index\":0,\n",
        "data: \"delta\":{\"content\":\"llo\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
        "data: {\"choices\":[{\"index\":0,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3}}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(
        summary(input),
        [
            "start text",
            "text:He",
            "text:llo",
            "stop",
            "delta end_turn out=3",
            "message_stop"
        ]
    );
}

#[test]
fn error_shapes_inside_a_200_stream_become_error_events() {
    for (what, input, expected) in [
        (
            "vLLM: error object with a numeric code",
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"BadRequestError\",\"code\":400}}\n\ndata: [DONE]\n\n",
            "error invalid_request_error: boom",
        ),
        (
            "TGI: http_status_code 422",
            "data: {\"error\":{\"message\":\"Input validation error\",\"http_status_code\":422}}\n\n",
            "error invalid_request_error: Input validation error",
        ),
        (
            "older vLLM: flat object:error",
            "data: {\"object\":\"error\",\"message\":\"overloaded\",\"code\":503}\n\n",
            "error overloaded_error: overloaded",
        ),
        (
            "Ollama: error string",
            "data: {\"error\":\"model runner crashed\"}\n\n",
            "error api_error: model runner crashed",
        ),
        (
            "not JSON",
            "data: <html>oops</html>\n\n",
            "error api_error: upstream sent invalid JSON",
        ),
    ] {
        assert_eq!(summary(input), [expected], "{what}");
    }
}

#[test]
fn an_endless_upstream_line_ends_the_stream_with_an_error_event() {
    // A backend that never ends its line: bounded, not buffered without limit.
    let mut t = translator().with_event_limit(64 * 1024);
    let mut out = Vec::new();
    t.feed(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\ndata: \"",
        &mut out,
    );
    let chunk = [b'a'; 8 * 1024];
    for _ in 0..16 {
        t.feed(&chunk, &mut out);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("\"text\":\"ok\""), "{text}");
    assert!(
        text.contains("event: error") && text.contains("larger than 65536 bytes"),
        "{text}"
    );
    assert_eq!(t.phase(), Phase::Finished);
    let before = out.len();
    t.feed(&chunk, &mut out);
    assert_eq!(out.len(), before, "nothing after the error");
}
