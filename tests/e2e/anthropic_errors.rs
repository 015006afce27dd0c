//! vLLM 0.32's context-length errors reach Claude Code in the exact wording it acts on
//! (spec §7.4), whichever way `/v1/messages` reaches the backend: translated or native,
//! JSON or streamed, before the stream or inside it.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::harness::backend::data;
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway};

/// captures/vllm/19-err-ctx-overflow.resp.body, as a real vLLM sent it.
const PROMPT_TOO_LONG: &str = include_str!("../fixtures/captures/vllm-ctx-overflow-prompt.json");
/// vLLM 0.32's answer to Claude Code's default `max_tokens: 32000` (issue 7's report).
const MAX_TOKENS_TOO_LARGE: &str =
    include_str!("../fixtures/captures/vllm-ctx-overflow-max-tokens.json");

const TOO_LONG: &str = "prompt is too long: 4097 tokens > 4096 maximum";

fn request(stream: bool) -> String {
    json!({"model": "m", "max_tokens": 32000, "stream": stream,
        "messages": [{"role": "user", "content": "hello there"}]})
    .to_string()
}

async fn gateway(backend: &MockBackend, mode: &str) -> TestGateway {
    TestGateway::start(&format!(
        "backends:\n  - {{name: v, kind: vllm, url: '{}', anthropic: {mode}}}\nmodels:\n  m: {{backend: v}}\n",
        backend.url()
    ))
    .await
}

fn is_shrink_advice(message: &str) -> bool {
    // Claude Code retries with max_tokens = 4096 - input - 1000 on exactly this form.
    message.starts_with("input length and `max_tokens` exceed context limit: ")
        && message.contains(" + 32000 > 4096, decrease input length or `max_tokens` and try again")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_032_context_errors_are_rewritten_on_every_path() {
    for (mode, path) in [
        ("translate", "/v1/chat/completions"),
        ("native", "/v1/messages"),
    ] {
        let backend = MockBackend::start(Kind::Vllm, "m").await;
        let gw = gateway(&backend, mode).await;
        for stream in [false, true] {
            for (body, check) in [
                (PROMPT_TOO_LONG, TOO_LONG),
                (MAX_TOKENS_TOO_LARGE, "shrink"),
            ] {
                backend.push(Reply::Json {
                    status: 400,
                    body: body.to_owned(),
                });
                let r = gw.post("/v1/messages", request(stream)).await;
                assert_eq!(r.status(), 400, "{mode} stream={stream}");
                let v: Value = r.json().await.expect("json");
                assert_eq!(v["type"], "error");
                assert_eq!(v["error"]["type"], "invalid_request_error");
                let message = v["error"]["message"].as_str().unwrap_or_default();
                if check == "shrink" {
                    assert!(
                        is_shrink_advice(message),
                        "{mode} stream={stream}: {message}"
                    );
                } else {
                    assert_eq!(message, check, "{mode} stream={stream}");
                }
            }
        }
        assert_eq!(
            backend
                .requests()
                .iter()
                .filter(|r| r.target.ends_with(path))
                .count(),
            4,
            "{mode} reached the backend on {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_error_inside_a_200_stream_is_rewritten_too() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = gateway(&backend, "translate").await;
    let error: Value = serde_json::from_str(MAX_TOKENS_TOO_LARGE).expect("fixture");
    backend.push(Reply::sse(vec![
        data(&error),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ]));
    let r = gw.post("/v1/messages", request(true)).await;
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    let error = events
        .iter()
        .find(|e| e.starts_with("event: error"))
        .unwrap_or_else(|| panic!("no error event in {events:?}"));
    let payload: Value =
        serde_json::from_str(error.split_once("data: ").map_or("", |(_, d)| d)).expect("json");
    let message = payload["error"]["message"].as_str().unwrap_or_default();
    assert!(is_shrink_advice(message), "{message}");
}
