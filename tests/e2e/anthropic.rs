//! `/v1/messages` and `/v1/messages/count_tokens` through the real gateway, against
//! backends that stream slowly, fail in each runtime's way, or go away.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::harness::backend::{chat_stream, data, done};
use crate::harness::{EventReader, Kind, MockBackend, PROMPTLY, Reply, TestGateway, backends_yaml};

async fn setup(kind: Kind, extra: &str) -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(kind, "served-model").await;
    let yaml = format!(
        "{}    api_key: backend-secret\nmodels:\n  claude-sonnet-4-5:\n    backend: b\n    upstream_model: served-model\n{extra}",
        backends_yaml(&[("b", kind, backend.url())])
    );
    (backend, TestGateway::start(&yaml).await)
}

fn request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 256, "stream": stream,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330.7a4;"}, {"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}

async fn post(
    gw: &TestGateway,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(gw.url(path)).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// Parses `event: X\ndata: {...}` frames.
fn parse(frame: &str) -> (String, Value) {
    let (event, data) = frame.split_once('\n').expect("event and data lines");
    let event = event
        .strip_prefix("event: ")
        .expect("event line")
        .to_owned();
    let data =
        serde_json::from_str(data.strip_prefix("data: ").expect("data line")).expect("JSON data");
    (event, data)
}

async fn events(resp: reqwest::Response) -> Vec<(String, Value)> {
    EventReader::new(resp)
        .rest()
        .await
        .iter()
        .map(|f| parse(f))
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events
        .iter()
        .map(|(e, _)| e.as_str())
        .filter(|e| *e != "ping")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_json_round_trip_translates_both_ways() {
    let (backend, gw) = setup(Kind::Vllm, "").await;
    let resp = post(
        &gw,
        "/v1/messages",
        &request(false),
        &[
            ("x-api-key", "client-key"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "claude-code-20250219"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let rid = resp.headers()["request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(rid.starts_with("req_") && rid.len() == 28, "{rid}");
    let m: Value = resp.json().await.expect("json");
    assert_eq!(m["type"], "message");
    assert_eq!(
        m["model"], "claude-sonnet-4-5",
        "the client's model name is echoed"
    );
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "Hello from the mock"}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["input_tokens"], 9);
    let got = backend.wait_requests(1, PROMPTLY).await;
    let r = &got[0];
    assert_eq!(r.target, "/v1/chat/completions");
    assert_eq!(
        r.json(),
        json!({"model": "served-model", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}], "max_tokens": 256})
    );
    assert_eq!(r.header("authorization"), Some("Bearer backend-secret"));
    for h in ["x-api-key", "anthropic-version", "anthropic-beta"] {
        assert_eq!(r.header(h), None, "{h} must not reach the backend");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_arrive_incrementally() {
    let (backend, gw) = setup(Kind::Vllm, "").await;
    let gate = Arc::new(Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "served-model", &["Hel", "lo", "!"], true),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: true,
        truncate: false,
    });
    let resp = post(&gw, "/v1/messages?beta=true", &request(true), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let mut reader = EventReader::new(resp);
    // Before the backend sends its last event ([DONE]), everything else must be here.
    let mut early = Vec::new();
    while early
        .iter()
        .filter(|(e, _): &&(String, Value)| e == "content_block_delta")
        .count()
        < 3
    {
        early.push(parse(
            &reader
                .next()
                .await
                .expect("an event before the backend finished"),
        ));
    }
    assert_eq!(names(&early)[..2], ["message_start", "content_block_start"]);
    assert_eq!(early[1].0, "ping", "a ping right after message_start");
    gate.notify_one();
    let rest: Vec<(String, Value)> = reader.rest().await.iter().map(|f| parse(f)).collect();
    assert_eq!(
        names(&rest),
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let delta = &rest
        .iter()
        .find(|(e, _)| e == "message_delta")
        .expect("message_delta")
        .1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        delta["usage"]["output_tokens"], 3,
        "usage from the upstream usage chunk"
    );
    let sent = backend.wait_requests(1, PROMPTLY).await[0].json();
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "usage is asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_fill_a_silent_prefill() {
    let (backend, gw) = setup(Kind::Vllm, "anthropic:\n  ping_interval_ms: 100\n").await;
    let gate = Arc::new(Notify::new());
    backend.push(Reply::Sse {
        // One event, held back by the gate: ends without [DONE] but with a finish_reason.
        events: vec![data(&json!({"choices": [{"index": 0, "delta": {"content": "late"}, "finish_reason": "stop"}]}))],
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    // The backend sends headers, then nothing until the gate opens: a long prefill.
    let resp = post(&gw, "/v1/messages", &request(true), &[]).await;
    let mut reader = EventReader::new(resp);
    let mut pings = 0;
    while pings < 3 {
        let (event, _) = parse(&reader.next().await.expect("event"));
        if event == "ping" {
            pings += 1;
        }
    }
    gate.notify_one();
    let rest = reader.rest().await;
    assert!(
        rest.iter().any(|f| f.contains("\"text\":\"late\"")),
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_tool_calls_stream_as_tool_use_blocks() {
    let (backend, gw) = setup(Kind::Llamacpp, "").await;
    let tc = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut call = json!({"index": index, "function": {"arguments": args}});
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(n) = name {
            call["function"]["name"] = json!(n);
        }
        data(
            &json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]}),
        )
    };
    backend.push(Reply::sse(vec![
        data(&json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": null}}]})),
        tc(0, Some("call_a"), Some("get_weather"), ""),
        tc(0, None, None, "{\"city\":"),
        tc(0, None, None, "\"Paris\"}"),
        tc(
            1,
            Some("call_b"),
            Some("get_weather"),
            "{\"city\":\"Oslo\"}",
        ),
        data(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        done(),
    ]));
    let mut body = request(true);
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let ev = events(post(&gw, "/v1/messages", &body, &[]).await).await;
    let starts: Vec<&Value> = ev
        .iter()
        .filter(|(e, _)| e == "content_block_start")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["content_block"]["id"], "call_a");
    assert_eq!(starts[1]["index"], 1);
    let json_deltas: Vec<&str> = ev
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        json_deltas,
        ["{\"city\":", "\"Paris\"}", "{\"city\":\"Oslo\"}"],
        "fragments as they arrive"
    );
    let delta = &ev
        .iter()
        .find(|(e, _)| e == "message_delta")
        .expect("delta")
        .1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    let sent = backend.wait_requests(1, PROMPTLY).await[0].json();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
}

async fn stream_ends_with_error(kind: Kind, reply: Reply) -> Value {
    let (backend, gw) = setup(kind, "").await;
    backend.push(reply);
    let ev = events(post(&gw, "/v1/messages", &request(true), &[]).await).await;
    let (last, data) = ev.last().expect("events").clone();
    assert_eq!(last, "error", "{ev:?}");
    assert!(
        !names(&ev).contains(&"message_stop"),
        "never a fake end_turn: {ev:?}"
    );
    data
}

/// TGI and SGLang report errors as the first event of a 200 stream; the gateway reads it
/// before committing a status, so the client gets a real Anthropic error answer.
async fn first_event_error(kind: Kind, reply: Reply) -> (u16, Value) {
    let (backend, gw) = setup(kind, "").await;
    backend.push(reply);
    let r = post(&gw, "/v1/messages", &request(true), &[]).await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("a JSON error, not a stream"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_the_first_event_of_a_200_stream_are_http_errors() {
    let err = data(
        &json!({"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096", "error_type": "validation"}),
    );
    let (status, d) = first_event_error(Kind::Tgi, Reply::sse(vec![err])).await;
    assert_eq!(status, 400, "{d}");
    assert_eq!(d["type"], "error");
    assert_eq!(d["error"]["type"], "invalid_request_error", "{d}");
    let sglang = data(
        &json!({"error": {"object": "error", "message": "queue full", "type": "ServiceUnavailable", "code": 503}}),
    );
    let (status, d) = first_event_error(Kind::Sglang, Reply::sse(vec![sglang, done()])).await;
    assert_eq!(status, 529, "{d}");
    assert_eq!(d["error"]["type"], "overloaded_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_stream_without_finish_and_dropped_connection_are_errors() {
    // Ollama swallows a mid-stream failure: an empty chunk, then EOF, no finish, no [DONE].
    let ollama = vec![
        data(
            &json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": null}]}),
        ),
        data(&json!({"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": null}]})),
    ];
    let d = stream_ends_with_error(Kind::Ollama, Reply::sse(ollama)).await;
    assert_eq!(d["error"]["type"], "api_error");
    let cut = Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a", "b"], false)[..2].to_vec(),
        delay: Duration::ZERO,
        gate: None,
        split: false,
        truncate: true,
    };
    stream_ends_with_error(Kind::Vllm, cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_before_the_stream_are_json_in_anthropic_shape() {
    let (backend, gw) = setup(Kind::Vllm, "").await;
    backend.push(Reply::json(400, json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, you requested 32000 output tokens and your prompt contains at least 120 input tokens, for a total of at least 32120 tokens.", "type": "BadRequestError", "param": null, "code": 400}})));
    let resp = post(&gw, "/v1/messages", &request(true), &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-should-retry"], "false");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(
        v["error"]["message"],
        "input length and `max_tokens` exceed context limit: 120 + 32000 > 8192, decrease input length or `max_tokens` and try again"
    );
    backend.push(Reply::json(
        503,
        json!({"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}),
    ));
    let resp = post(&gw, "/v1/messages", &request(false), &[]).await;
    assert_eq!(resp.status(), 529);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(
        v["request_id"],
        v["request_id"].as_str().map_or(json!(null), |s| json!(s))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_400_and_never_reach_the_backend() {
    let (backend, gw) = setup(Kind::Vllm, "auth:\n  keys: [{id: cc, key: good-key}]\n").await;
    let key = [("x-api-key", "good-key")];
    for (body, message) in [
        (
            json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}),
            "messages: at least one message is required",
        ),
        (
            json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}),
            "messages.0.role: Input should be 'user', 'assistant' or 'system'",
        ),
        (
            json!({"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": 7}]}]}),
            "messages.0.content.0.type: Field required",
        ),
    ] {
        let resp = post(&gw, "/v1/messages", &body, &key).await;
        assert_eq!(resp.status(), 400);
        assert!(resp.headers().contains_key("request-id"));
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["message"], message);
        assert!(
            v["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_"))
        );
    }
    let resp = post(
        &gw,
        "/v1/messages",
        &request(false),
        &[("x-api-key", "wrong")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(
        v["error"],
        json!({"type": "authentication_error", "message": "invalid x-api-key"})
    );
    let resp = post(
        &gw,
        "/v1/messages",
        &json!({"model": "gpt-x", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}),
        &key,
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"]["type"],
        "not_found_error"
    );
    assert!(backend.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_probes_and_zero_max_tokens_answer_locally() {
    let (backend, gw) = setup(Kind::Vllm, "auth:\n  keys: [{id: cc, key: good-key}]\n").await;
    let resp = reqwest::Client::new()
        .head(gw.url("/api/hello"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(0));
    let mut body = request(false);
    body["max_tokens"] = json!(0);
    let resp = post(
        &gw,
        "/v1/messages",
        &body,
        &[("authorization", "Bearer good-key")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"], json!([]));
    assert!(
        backend.requests().is_empty(),
        "max_tokens 0 never calls the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_closes_the_upstream() {
    let (backend, gw) = setup(Kind::Vllm, "").await;
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a", "b", "c"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::new(Notify::new())), // never released
        split: false,
        truncate: false,
    });
    let mut reader = EventReader::new(post(&gw, "/v1/messages", &request(true), &[]).await);
    while !reader
        .next()
        .await
        .expect("event")
        .contains("content_block_delta")
    {}
    let left = std::time::Instant::now();
    drop(reader);
    let closed = backend.wait_closed_early(PROMPTLY).await;
    assert!(closed.duration_since(left) < Duration::from_secs(2));
    gw.wait_metric("llmgate_inflight_requests 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_sized_request_of_200_kib_works() {
    let (backend, gw) = setup(Kind::Vllm, "").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/claude-code/toolloop-first-request.json"
    ))
    .expect("fixture");
    let mut body: Value = serde_json::from_str(&text).expect("json");
    body["model"] = json!("claude-sonnet-4-5");
    let pad = "x".repeat(200 * 1024);
    body["messages"][0]["content"][0]["text"] = json!(format!(
        "{}{pad}",
        body["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
    ));
    assert!(body.to_string().len() >= 200 * 1024);
    let ev = events(post(&gw, "/v1/messages?beta=true", &body, &[]).await).await;
    assert_eq!(names(&ev).last(), Some(&"message_stop"), "{ev:?}");
    let sent = backend.wait_requests(1, PROMPTLY).await[0].json();
    let system = sent["messages"][0]["content"]
        .as_str()
        .expect("system text");
    assert!(
        !system.contains("x-anthropic-billing-header"),
        "billing header stripped"
    );
    assert!(sent["tools"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(sent.get("context_management").is_none() && sent.get("thinking").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_is_exact_where_the_backend_can_count() {
    let body = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Count me, please."}]});
    for kind in [Kind::Vllm, Kind::Llamacpp, Kind::Sglang, Kind::Tgi] {
        let (backend, gw) = setup(kind, "").await;
        let resp = post(&gw, "/v1/messages/count_tokens?beta=true", &body, &[]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-llmgate-token-count"], "exact", "{kind:?}");
        let v: Value = resp.json().await.expect("json");
        let n = v["input_tokens"].as_u64().expect("count");
        assert!(n > 0);
        let calls = backend.requests().len();
        // The same conversation again comes from the cache.
        let again: Value = post(&gw, "/v1/messages/count_tokens", &body, &[])
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(again["input_tokens"], n);
        assert_eq!(backend.requests().len(), calls, "cached");
    }
    let (_backend, gw) = setup(Kind::Ollama, "").await;
    let resp = post(&gw, "/v1/messages/count_tokens", &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-llmgate-token-count"], "estimate");
    assert_eq!(resp.json::<Value>().await.expect("json")["input_tokens"], 5);
    let _ = Bytes::new();
}

async fn wait_native(gw: &TestGateway) {
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        let h: Value = reqwest::get(gw.url("/health"))
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        if h["backends"][0]["anthropic"] == "native" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "native /v1/messages never detected: {h}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_backends_get_the_normalised_anthropic_request_and_answer_untouched() {
    let backend = MockBackend::start(Kind::Llamacpp, "served-model").await;
    backend.set_native_messages(true);
    let yaml = format!(
        "auth:\n  keys: [{{id: cc, key: good-key}}]\n{}models:\n  claude-sonnet-4-5: {{backend: b, upstream_model: served-model}}\n",
        backends_yaml(&[("b", Kind::Llamacpp, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    wait_native(&gw).await;
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 50, "stream": true,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"}, {"type": "text", "text": "Sys.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "# Environment"},
        ],
        "context_management": {"edits": []},
    });
    let resp = post(
        &gw,
        "/v1/messages?beta=true",
        &body,
        &[("x-api-key", "good-key")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let raw = resp.bytes().await.expect("body");
    assert_eq!(
        raw,
        Bytes::from_static(crate::harness::backend::NATIVE_SSE.as_bytes()),
        "passed through byte for byte"
    );
    let sent = backend
        .requests()
        .into_iter()
        .find(|r| r.target == "/v1/messages")
        .expect("forwarded");
    assert_eq!(sent.header("x-api-key"), None);
    assert_eq!(
        sent.json(),
        json!({
            "model": "served-model", "max_tokens": 50, "stream": true,
            "system": [{"type": "text", "text": "Sys."}, {"type": "text", "text": "# Environment"}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "context_management": {"edits": []},
        }),
        "system hoisted, cache_control and billing header removed, the rest untouched"
    );
    let count = post(
        &gw,
        "/v1/messages/count_tokens",
        &json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]}),
        &[("x-api-key", "good-key")],
    )
    .await;
    assert_eq!(count.headers()["x-llmgate-token-count"], "exact");
    assert_eq!(
        count.json::<Value>().await.expect("json")["input_tokens"],
        42
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translate_mode_ignores_a_native_endpoint() {
    let backend = MockBackend::start(Kind::Vllm, "served-model").await;
    backend.set_native_messages(true);
    let yaml = format!(
        "{}    anthropic: translate\nmodels:\n  claude-sonnet-4-5: {{backend: b, upstream_model: served-model}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = post(&gw, "/v1/messages", &request(false), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        backend.wait_requests(1, PROMPTLY).await[0].target,
        "/v1/chat/completions"
    );
}
