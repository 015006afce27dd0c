//! `anthropic/<model>` deployments: a scripted backend that behaves as api.anthropic.com
//! (keys and version required, unknown fields refused, its error and SSE shapes), driven
//! by the official `openai` SDK through the reverse translation, and by raw HTTP and the
//! `anthropic` SDK through the native passthrough of `/v1/messages` and `count_tokens`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::backend::anthropic_api;
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway};
use crate::sdk::{python, run_script};

const BACKEND_KEY: &str = "sk-ant-backend-4242";
const MASTER_KEY: &str = "sk-master-1";

fn model_list(backend: &MockBackend, extra: &str) -> String {
    format!(
        "model_list:
  - model_name: claude
    params:
      model: anthropic/claude-sonnet-4-5
      api_base: {}
      api_key: {BACKEND_KEY}
{extra}general_settings:
  master_key: {MASTER_KEY}
",
        backend.url()
    )
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

async fn started(backend: &MockBackend, extra: &str) -> TestGateway {
    let gw = TestGateway::start(&model_list(backend, extra)).await;
    gw.wait_backend_state("claude", "ready").await;
    gw
}

async fn post_with_key(gw: &TestGateway, path: &str, body: &str) -> reqwest::Response {
    gw.client()
        .post(gw.url(path))
        .header("authorization", format!("Bearer {MASTER_KEY}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_chats_with_an_anthropic_upstream() {
    let Some(python) = python() else { return };
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let gw = started(&anthropic, "").await;
    let sdk = |mode: &'static str, request: Value| {
        let (python, gw) = (python.clone(), &gw);
        async move { run_script(&python, "openai_client.py", gw, MASTER_KEY, mode, &request).await }
    };
    let chat = json!({"model": "claude", "temperature": 1.5, "stop": "###",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]});

    let out = sdk("create", chat.clone()).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["text"], "Hello from Anthropic");
    assert_eq!(
        out["model"], "claude",
        "the client's alias, not the upstream name"
    );
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage"]["completion_tokens"], 5);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 2);

    // What Anthropic received: its own request shape, its own headers.
    let sent = &anthropic.requests()[0];
    assert_eq!(sent.target, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(BACKEND_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        sent.header("authorization"),
        None,
        "no client credential upstream"
    );
    let body = sent.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief."}])
    );
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["temperature"], 1.0, "capped at Anthropic's maximum");
    assert_eq!(body["stop_sequences"], json!(["###"]));

    let mut streamed = chat.clone();
    streamed["stream_options"] = json!({"include_usage": true});
    let out = sdk("stream", streamed).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["text"], "Hello from Anthropic");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["usage"]["completion_tokens"], 5, "{out}");
    let sent = anthropic.requests().pop().expect("request").json();
    assert_eq!(sent["stream"], true);
    assert!(sent.get("stream_options").is_none(), "{sent}");

    let tools = json!({"model": "claude", "tools": [weather_tool()], "tool_choice": "required",
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let out = sdk("create", tools.clone()).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["tool_calls"][0]["name"], "get_weather");
    assert_eq!(out["tool_calls"][0]["id"], "toolu_01A");
    let args: Value =
        serde_json::from_str(out["tool_calls"][0]["arguments"].as_str().unwrap_or(""))
            .expect("arguments are JSON");
    assert_eq!(args, json!({"city": "Paris"}));
    let sent = anthropic.requests().pop().expect("request").json();
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );

    let out = sdk("stream", tools).await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["text"], "Let me check.");
    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["tool_calls"][0]["name"], "get_weather");
    assert_eq!(out["tool_calls"][0]["arguments"], "{\"city\": \"Paris\"}");

    // The tool result goes back as a `tool_result` block, and the answer is text again.
    let follow_up = json!({"model": "claude", "tools": [weather_tool()], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_01A", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "18C, sunny"}]});
    let out = sdk("create", follow_up).await;
    assert_eq!(out["text"], "Hello from Anthropic", "{out}");
    let sent = anthropic.requests().pop().expect("request").json();
    assert_eq!(
        sent["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C, sunny"}]})
    );

    // What Messages cannot express is the client's error, in OpenAI's envelope.
    let out = sdk(
        "create",
        json!({"model": "claude", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(out["error"], "BadRequestError", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_count_tokens_pass_through_natively() {
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let gw = started(&anthropic, "").await;
    // Prompt caching and thinking must reach Anthropic as the client wrote them.
    let body = r#"{"model":"claude","max_tokens":64,  "thinking":{"type":"enabled","budget_tokens":1024},
        "system":[{"type":"text","text":"Long policy","cache_control":{"type":"ephemeral"}}],
        "messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw
        .client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["content"][0]["text"], "Hello from Anthropic");
    let sent = &anthropic.requests()[0];
    let expected = body.replacen(r#""model":"claude""#, r#""model":"claude-sonnet-4-5""#, 1);
    assert_eq!(
        std::str::from_utf8(&sent.body).expect("utf-8"),
        expected,
        "byte for byte, only the model replaced"
    );
    assert_eq!(
        sent.header("x-api-key"),
        Some(BACKEND_KEY),
        "never the client's key"
    );
    assert_eq!(
        sent.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14")
    );

    let r = gw
        .client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .body(r#"{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    let expected: Vec<String> = anthropic_api::stream(
        "claude-sonnet-4-5",
        &json!({}),
        false,
        "[{\"role\":\"user\",\"content\":\"hi\"}]".len() as u64 / 4,
    )
    .iter()
    .map(|e| String::from_utf8_lossy(e).trim_end().to_owned())
    .collect();
    assert_eq!(events, expected, "Anthropic's own events, untouched");

    let r = gw
        .client()
        .post(gw.url("/v1/messages/count_tokens"))
        .header("x-api-key", MASTER_KEY)
        .body(r#"{"model":"claude","messages":[{"role":"user","content":"count these words please"}]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-llmgate-token-count")
            .and_then(|v| v.to_str().ok()),
        Some("exact")
    );
    let sent = anthropic.requests().pop().expect("count request");
    assert_eq!(sent.target, "/v1/messages/count_tokens");
    assert_eq!(sent.header("x-api-key"), Some(BACKEND_KEY));
    let n: Value = r.json().await.expect("json");
    assert_eq!(
        n["input_tokens"],
        sent.json()["messages"].to_string().len() / 4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anthropic_sdk_works_against_an_anthropic_upstream() {
    let Some(python) = python() else { return };
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let gw = started(&anthropic, "").await;
    for mode in ["create", "stream"] {
        let out = run_script(
            &python,
            "anthropic_client.py",
            &gw,
            MASTER_KEY,
            mode,
            &json!({"model": "claude", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(out["ok"], true, "{mode}: {out}");
        assert_eq!(out["message"]["content"][0]["text"], "Hello from Anthropic");
        assert_eq!(out["message"]["stop_reason"], "end_turn");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_errors_reach_openai_clients_in_their_envelope() {
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let gw = started(&anthropic, "").await;
    anthropic.push(anthropic_api::error(
        400,
        "invalid_request_error",
        &format!("prompt is too long (key {BACKEND_KEY})"),
    ));
    let chat = r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_key(&gw, "/v1/chat/completions", chat).await;
    assert_eq!(r.status(), 400);
    let text = r.text().await.expect("body");
    assert!(!text.contains(BACKEND_KEY), "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("prompt is too long"))
    );

    // An error event mid-stream ends the OpenAI stream with an error object.
    let mut events = anthropic_api::stream("claude-sonnet-4-5", &json!({}), false, 3);
    events.truncate(4);
    events.push(anthropic_api::event(
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    anthropic.push(Reply::sse(events));
    let stream = r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_key(&gw, "/v1/chat/completions", stream).await;
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    let last = events.last().expect("an event");
    assert!(
        last.contains(r#""error""#) && last.contains("Overloaded"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "data: [DONE]"), "{events:?}");

    // Anthropic refusing the gateway's key is a gateway fault for the client: 502.
    anthropic.push(anthropic_api::error(
        401,
        "authentication_error",
        "invalid x-api-key",
    ));
    let r = post_with_key(&gw, "/v1/chat/completions", chat).await;
    assert_eq!(r.status(), 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_anthropic_falls_back_to_an_openai_alias_and_back() {
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let openai = MockBackend::start(Kind::Openai, "gpt-4o").await;
    anthropic.fix(
        "/v1/messages",
        anthropic_api::error(529, "overloaded_error", "Overloaded"),
    );
    let extra = format!(
        "  - model_name: gpt
    params:
      model: openai/gpt-4o
      api_base: {}
      api_key: sk-openai-1
",
        openai.url()
    );
    let yaml = model_list(&anthropic, &extra).replace(
        "general_settings:\n",
        "general_settings:\n  fallbacks:\n    - claude: [gpt]\n",
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("claude", "ready").await;
    let chat = r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_key(&gw, "/v1/chat/completions", chat).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from the mock");
    let stream = r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_key(&gw, "/v1/chat/completions", stream).await;
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("data: [DONE]"),
        "{events:?}"
    );
    // The fallback got an OpenAI request with its own model name, and its own key.
    let sent = openai.wait_requests(2, Duration::from_secs(5)).await;
    assert!(
        sent.iter().all(|r| r.target == "/v1/chat/completions"),
        "{sent:?}"
    );
    assert_eq!(sent[0].json()["model"], "gpt-4o");
    assert_eq!(sent[0].header("authorization"), Some("Bearer sk-openai-1"));
    // `/v1/messages` falls back the same way (translated for the OpenAI deployment).
    let r = post_with_key(
        &gw,
        "/v1/messages",
        r#"{"model":"claude","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["content"][0]["text"], "Hello from the mock");
    gw.wait_metric("llmgate_fallbacks_total{fallback=\"gpt\",model=\"claude\"} 3")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_is_forwarded_at_once_and_a_leaving_client_closes_the_upstream() {
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let gw = started(&anthropic, "").await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    anthropic.push(Reply::Sse {
        events: anthropic_api::stream("claude-sonnet-4-5", &json!({}), false, 3),
        delay: Duration::ZERO,
        gate: Some(std::sync::Arc::clone(&gate)), // the last event waits: never released
        split: true,
        truncate: false,
    });
    let stream = r#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = post_with_key(&gw, "/v1/chat/completions", stream).await;
    assert_eq!(r.status(), 200);
    let mut reader = EventReader::new(r);
    // Every text delta arrives while the upstream is still holding its last event.
    let mut text = String::new();
    while text != "Hello from Anthropic" {
        let event = reader
            .next()
            .await
            .expect("an event before the upstream ends");
        let chunk: Value = serde_json::from_str(event.trim_start_matches("data: ")).expect("json");
        text.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    let left = std::time::Instant::now();
    drop(reader);
    let closed = anthropic.wait_closed_early(crate::harness::PROMPTLY).await;
    assert!(closed.duration_since(left) < Duration::from_secs(2));
    gw.wait_metric("llmgate_inflight_requests 0").await;
}
