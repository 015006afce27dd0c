//! The official `anthropic` Python SDK against the gateway and scripted backends: its
//! stream accumulator must build the final message without error, for text, for several
//! tool calls, and raise the right exception for errors.
//!
//! Needs `LLMGATE_PYTHON` pointing at a Python with the SDK (`make test` creates `.venv`).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::backend::{data, done};
use crate::harness::{Kind, MockBackend, Reply, TestGateway, backends_yaml};

pub(crate) fn python() -> Option<String> {
    let p = std::env::var("LLMGATE_PYTHON")
        .ok()
        .filter(|p| !p.is_empty());
    if p.is_none() {
        eprintln!("skipping SDK checks: set LLMGATE_PYTHON (make test does)");
    }
    p
}

async fn run_sdk(python: &str, gw: &TestGateway, mode: &str, request: &Value) -> Value {
    run_script(python, "anthropic_client.py", gw, "test-key", mode, request).await
}

/// Runs `tests/sdk/<script> BASE KEY MODE` with `request` on stdin; its one JSON line.
pub(crate) async fn run_script(
    python: &str,
    script: &str,
    gw: &TestGateway,
    key: &str,
    mode: &str,
    request: &Value,
) -> Value {
    let script = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let (python, base, request) = (python.to_owned(), gw.url(""), request.to_string());
    let (key, mode) = (key.to_owned(), mode.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .args([script.as_str(), &base, &key, &mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the SDK script");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(request.as_bytes())
            .expect("write request");
        let out = child.wait_with_output().expect("SDK script output");
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
            panic!(
                "SDK script failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    })
    .await
    .expect("join")
}

async fn setup() -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  claude-x: {{backend: b, upstream_model: m}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    (backend, TestGateway::start(&yaml).await)
}

fn ask(tools: bool) -> Value {
    let mut r = json!({"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    if tools {
        r["tools"] = json!([{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]);
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_accumulates_text_and_tool_streams_and_raises_on_errors() {
    let Some(py) = python() else { return };
    let (backend, gw) = setup().await;

    let text = run_sdk(&py, &gw, "stream", &ask(false)).await;
    assert_eq!(text["ok"], true, "{text}");
    assert_eq!(text["message"]["content"][0]["text"], "Hello from the mock");
    assert_eq!(text["message"]["stop_reason"], "end_turn");

    let call = |i: u64, id: &str, args: &str| {
        data(
            &json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": "lookup", "arguments": args}}]}}]}),
        )
    };
    let more = |i: u64, args: &str| {
        data(
            &json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": args}}]}}]}),
        )
    };
    backend.push(Reply::sse(vec![
        data(&json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Looking."}}]})),
        call(0, "call_1", "{\"q\":"),
        more(0, "\"rust\"}"),
        call(1, "call_2", "{\"q\":\"go\"}"),
        call(2, "call_3", ""),
        data(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 20, "completion_tokens": 12}})),
        done(),
    ]));
    let tools = run_sdk(&py, &gw, "stream", &ask(true)).await;
    assert_eq!(tools["ok"], true, "{tools}");
    let content = tools["message"]["content"].as_array().expect("content");
    assert_eq!(content.len(), 4, "{tools}");
    assert_eq!(content[1]["input"], json!({"q": "rust"}));
    assert_eq!(content[2]["input"], json!({"q": "go"}));
    assert_eq!(
        content[3]["input"],
        json!({}),
        "a tool without arguments gets {{}}"
    );
    assert_eq!(tools["message"]["stop_reason"], "tool_use");
    assert_eq!(tools["message"]["usage"]["output_tokens"], 12);

    backend.push(Reply::sse(vec![
        data(&json!({"choices": [{"index": 0, "delta": {"content": "par"}}]})),
        data(&json!({"error": {"message": "engine crashed", "type": "InternalServerError", "code": 500}})),
    ]));
    let mid = run_sdk(&py, &gw, "stream", &ask(false)).await;
    assert_eq!(mid["ok"], false, "{mid}");
    assert!(
        mid["message"]
            .as_str()
            .expect("msg")
            .contains("engine crashed"),
        "{mid}"
    );

    backend.push(Reply::json(
        503,
        json!({"error": {"message": "Loading model", "code": 503}}),
    ));
    let before = run_sdk(&py, &gw, "stream", &ask(false)).await;
    assert_eq!(before["ok"], false);
    assert_eq!(before["status"], 529, "{before}");

    let created = run_sdk(&py, &gw, "create", &ask(false)).await;
    assert_eq!(
        created["message"]["content"][0]["type"], "text",
        "{created}"
    );
}
