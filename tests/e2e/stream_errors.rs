//! Runtimes that report errors inside a `200` stream (TGI: validation and overload with
//! `http_status_code`; SGLang: a full queue as the first event; LocalAI: load failures).
//! The gateway reads the first event before it commits a status: an error there is
//! retried on another deployment, or becomes a real HTTP error; once a real chunk went
//! out, later errors stay in the stream.

use serde_json::{Value, json};

use crate::harness::backend::{chat_stream, data, done};
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway, backends_yaml};
use crate::sdk::{python, run_script};

const STREAM: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

fn error_first(error: Value) -> Reply {
    Reply::sse(vec![data(&json!({ "error": error })), done()])
}

fn two_deployments(kind: Kind, a: &MockBackend, b: &MockBackend, extra: &str) -> String {
    format!(
        "{}models:\n  m: {{deployments: [{{backend: a}}, {{backend: b}}]}}\n{extra}",
        backends_yaml(&[("a", kind, a.url()), ("b", kind, b.url())])
    )
}

const PATH: &str = "/v1/chat/completions";

/// Sends `n` streamed requests once both deployments are ready; each must be served.
async fn all_served(gw: &TestGateway, n: usize) {
    gw.wait_backend_state("a", "ready").await;
    gw.wait_backend_state("b", "ready").await;
    for _ in 0..n {
        let r = gw.post(PATH, STREAM).await;
        assert_eq!(r.status(), 200);
        let events = EventReader::new(r).rest().await;
        let text: String = events
            .iter()
            .filter_map(|e| e.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, "Hello from the mock", "{events:?}");
        assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tgi_overload_in_the_first_event_is_retried_on_another_deployment() {
    let a = MockBackend::start(Kind::Tgi, "m").await;
    let b = MockBackend::start(Kind::Tgi, "m").await;
    a.fix(
        PATH,
        error_first(json!({"message": "Model is overloaded", "http_status_code": 429})),
    );
    let gw = TestGateway::start(&two_deployments(Kind::Tgi, &a, &b, "")).await;
    // Deployments take turns (least in flight, rotating): `a` gets first tries.
    all_served(&gw, 4).await;
    let overloaded = a.requests().len();
    assert!(overloaded >= 1);
    gw.wait_metric(&format!(
        "llmgate_retries_total{{reason=\"status\"}} {overloaded}"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tgi_validation_error_in_the_first_event_becomes_an_http_422() {
    let tgi = MockBackend::start(Kind::Tgi, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: t}}\n",
        backends_yaml(&[("t", Kind::Tgi, tgi.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let invalid = json!({"message": "Input validation error: `top_p` must be > 0.0 and < 1.0",
        "http_status_code": 422});
    tgi.push(error_first(invalid.clone()));
    let r = gw.post("/v1/chat/completions", STREAM).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("top_p")),
        "{v}"
    );
    assert_eq!(tgi.requests().len(), 1, "a client error is not retried");

    // The official SDK sees a typed 422, not a stream that dies.
    if let Some(python) = python() {
        tgi.push(error_first(invalid));
        let out = run_script(
            &python,
            "openai_client.py",
            &gw,
            "unused",
            "stream",
            &json!({"model": "m", "top_p": 1.0, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(out["error"], "UnprocessableEntityError", "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sglang_full_queue_is_a_503_or_a_retry() {
    let a = MockBackend::start(Kind::Sglang, "m").await;
    let b = MockBackend::start(Kind::Sglang, "m").await;
    let full = json!({"object": "error", "message": "The request queue is full.",
        "type": "SERVICE_UNAVAILABLE", "param": null, "code": 503});
    a.fix(PATH, error_first(full.clone()));
    b.fix(PATH, error_first(full));
    let gw = TestGateway::start(&two_deployments(Kind::Sglang, &a, &b, "")).await;
    gw.wait_backend_state("b", "ready").await;
    // Both full: a real 503 with SGLang's message.
    let r = gw.post(PATH, STREAM).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["message"], "The request queue is full.");
    // One full, one free: served.
    b.clear_fixed();
    all_served(&gw, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_localai_load_failure_is_retried_when_retries_are_on() {
    let a = MockBackend::start(Kind::Localai, "m").await;
    let b = MockBackend::start(Kind::Localai, "m").await;
    let yaml = two_deployments(Kind::Localai, &a, &b, "retries: {num_retries: 1}\n");
    a.fix(
        PATH,
        error_first(json!({"code": 500, "message": "could not load model: rpc error", "type": ""})),
    );
    let gw = TestGateway::start(&yaml).await;
    all_served(&gw, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_after_the_first_token_stays_in_the_stream() {
    let tgi = MockBackend::start(Kind::Tgi, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: t}}\n",
        backends_yaml(&[("t", Kind::Tgi, tgi.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let mut events = chat_stream(Kind::Tgi, "m", &["partial"], false);
    events.truncate(1);
    events.push(data(
        &json!({"error": {"message": "Request failed during generation", "http_status_code": 422}}),
    ));
    events.push(done());
    let sent = events.clone();
    tgi.push(Reply::sse(events));
    let r = gw.post("/v1/chat/completions", STREAM).await;
    assert_eq!(r.status(), 200);
    let mut reader = EventReader::new(r);
    reader.rest().await;
    assert_eq!(reader.raw, sent.concat(), "relayed byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_streams_get_the_same_first_event_check() {
    let a = MockBackend::start(Kind::Tgi, "m").await;
    let b = MockBackend::start(Kind::Tgi, "m").await;
    let overloaded = json!({"message": "Model is overloaded", "http_status_code": 429});
    a.fix(PATH, error_first(overloaded.clone()));
    b.fix(PATH, error_first(overloaded));
    let yaml = two_deployments(Kind::Tgi, &a, &b, "").replace(
        "    connect_timeout_ms: 1000\n",
        "    connect_timeout_ms: 1000\n    anthropic: translate\n",
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("a", "ready").await;
    gw.wait_backend_state("b", "ready").await;
    let messages =
        r#"{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    // Both overloaded: Anthropic's own 429, before any event.
    let r = gw.post("/v1/messages", messages).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    // One free: the stream is served by it, translated.
    b.clear_fixed();
    let r = gw.post("/v1/messages", messages).await;
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    assert!(
        events
            .last()
            .is_some_and(|e| e.starts_with("event: message_stop")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.contains("Hello")), "{events:?}");
}
