//! Backends that fail: reset before answering, answer 503/429 on every request, echo the
//! key they were sent, die half-way through a line. Requests that could be served are
//! served, failing deployments stop getting first tries, and no secret or internal address
//! reaches a client.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::harness::backend::{chat_stream, data};
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

/// Two deployments of `m`; probes every `probe_ms`.
fn two_deployments(a: &MockBackend, b: &MockBackend, probe_ms: u64) -> String {
    format!(
        "backends:
  - {{name: a, kind: vllm, url: '{}', anthropic: translate, health_check: {{interval_ms: {probe_ms}}}}}
  - {{name: b, kind: vllm, url: '{}', anthropic: translate, health_check: {{interval_ms: {probe_ms}}}}}
models:
  m:
    deployments: [{{backend: a}}, {{backend: b}}]
",
        a.url(),
        b.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_before_the_response_fails_over_on_both_dialects() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let b = MockBackend::start(Kind::Vllm, "m").await;
    a.fix("/v1/chat/completions", Reply::Close);
    // Probes pass (the server is up; it only drops requests), so only passive health
    // can tell, and it is off here: every request meets the resetting deployment.
    let yaml = two_deployments(&a, &b, 100).replace(
        "interval_ms: 100}",
        "interval_ms: 100, eject_after_failures: 0}",
    );
    let gw = TestGateway::start(&yaml).await;
    for i in 0..20 {
        let (path, body) = if i % 2 == 0 {
            ("/v1/chat/completions", CHAT)
        } else {
            ("/v1/messages", MESSAGES)
        };
        let r = gw.post(path, body).await;
        assert_eq!(
            r.status(),
            200,
            "request {i} to {path}: {:?}",
            r.text().await
        );
    }
    assert!(
        a.requests().len() >= 5,
        "the resetting deployment was tried: {}",
        a.requests().len()
    );
    assert_eq!(b.requests().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_deployment_is_ejected_and_retry_after_is_honoured() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let b = MockBackend::start(Kind::Vllm, "m").await;
    a.fix(
        "/v1/chat/completions",
        Reply::Raw {
            head: "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 30\r\ncontent-length: 2".into(),
            body: Bytes::from_static(b"{}"),
        },
    );
    let gw = TestGateway::start(&two_deployments(&a, &b, 100)).await;
    for i in 0..20 {
        let r = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(r.status(), 200, "request {i}");
    }
    // Three consecutive 503s eject it (the default); passing probes do not re-admit an
    // overloaded backend, so it gets no further first tries.
    assert_eq!(a.requests().len(), 3, "first tries after ejection");
    let health = gw.backend_health("a").await;
    assert_eq!(health["passive"]["ejected"], true, "{health}");
    assert!(
        health["passive"]["ejected_for_ms"].as_u64().unwrap_or(0) > 20_000,
        "Retry-After: 30 beats the 10 s cool-down: {health}"
    );
    let text = gw.metrics().await;
    for series in [
        "llmgate_backend_ejected{backend=\"a\"} 1",
        "llmgate_backend_ejections_total{backend=\"a\"} 1",
        "llmgate_backend_ejected{backend=\"b\"} 0",
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deployment_comes_back_with_its_first_passing_probe() {
    let b = MockBackend::start(Kind::Vllm, "m").await;
    let port = crate::harness::gateway::free_port();
    let yaml = format!(
        "backends:
  - {{name: a, kind: vllm, url: 'http://127.0.0.1:{port}/v1', health_check: {{interval_ms: 200, eject_after_failures: 1, cooldown_ms: 600000}}}}
  - {{name: b, kind: vllm, url: '{}', health_check: {{interval_ms: 200}}}}
models:
  m:
    deployments: [{{backend: a}}, {{backend: b}}]
",
        b.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status(), 200);
    // The message for an unreachable backend names it, never its address.
    let lone = format!(
        "backends:\n  - {{name: a, kind: vllm, url: 'http://127.0.0.1:{port}/v1'}}\nmodels:\n  m: {{backend: a}}\n"
    );
    let gw2 = TestGateway::start(&lone).await;
    let r = gw2.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status(), 502);
    let body = r.text().await.expect("body");
    assert!(body.contains("backend `a`"), "{body}");
    assert!(
        !body.contains("127.0.0.1") && !body.contains(&port.to_string()),
        "{body}"
    );

    // Now `a` starts: a passing probe ends the 10-minute ejection at once.
    let _a = MockBackend::start_on(Kind::Vllm, "m", &format!("127.0.0.1:{port}")).await;
    gw.wait_backend_state("a", "ready").await;
    let health = gw.backend_health("a").await;
    assert_eq!(health["passive"]["ejected"], false, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_response_marks_the_backend_ready_before_the_next_probe() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    a.fix(
        "/health",
        Reply::json(503, serde_json::json!({"error": "warming"})),
    );
    let yaml = format!(
        "backends:\n  - {{name: a, kind: vllm, url: '{}', health_check: {{interval_ms: 600000}}}}\nmodels:\n  m: {{backend: a}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("a", "down").await;
    assert_eq!(
        reqwest::get(gw.url("/readyz"))
            .await
            .expect("readyz")
            .status(),
        503
    );
    let r = gw.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status(), 200);
    let ready = reqwest::get(gw.url("/readyz")).await.expect("readyz");
    assert_eq!(
        ready.status(),
        200,
        "no probe ran; the answer itself proved readiness"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_quoting_its_key_does_not_leak_it() {
    let a = MockBackend::start(Kind::Openai, "m").await;
    let key = "sk-backend-secret-98765";
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: Bearer {key}. You can find your API key at https://example.com.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
    );
    let yaml = format!(
        "backends:\n  - {{name: a, kind: openai, url: '{}', api_key: {key}, anthropic: translate, health_check: {{enabled: false}}}}\nmodels:\n  m: {{backend: a}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    for (status, path, body) in [
        (401, "/v1/chat/completions", CHAT),
        (401, "/v1/messages", MESSAGES),
        (400, "/v1/chat/completions", CHAT),
        (400, "/v1/messages", MESSAGES),
    ] {
        a.push(Reply::Json {
            status,
            body: echo.clone(),
        });
        let r = gw.post(path, body).await;
        let text = r.text().await.expect("body");
        assert!(
            !text.contains(key),
            "{status} on {path} leaked the key: {text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
        let v: Value = serde_json::from_str(&text).expect("still JSON");
        assert!(v["error"]["message"].is_string(), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_line_ends_with_an_error_event_on_its_own_line() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let mut events = chat_stream(Kind::Vllm, "m", &["Hel", "lo"], false);
    events.truncate(2);
    events.push(Bytes::from_static(b"data: {\"id\":\"chatcmpl-1\",\"choi"));
    a.push(Reply::Sse {
        events,
        delay: Duration::ZERO,
        gate: None,
        split: false,
        truncate: true,
    });
    let yaml = format!(
        "backends:\n  - {{name: a, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: a}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let mut reader = EventReader::new(r);
    let all = reader.rest().await;
    let last = all.last().expect("events");
    assert!(last.starts_with("data: {\"error\""), "{all:?}");
    assert_eq!(
        all[all.len() - 2],
        "data: {\"id\":\"chatcmpl-1\",\"choi",
        "the broken line stays apart from the error event"
    );
    let _ = data(&Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_are_499_and_a_finished_stream_is_a_200() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    a.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a", "b", "c"], false),
        delay: Duration::ZERO,
        gate: Some(gate.clone()),
        split: false,
        truncate: false,
    });
    let yaml = format!(
        "backends:\n  - {{name: a, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: a}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let stream = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut reader = EventReader::new(gw.post("/v1/chat/completions", stream).await);
    reader.next().await.expect("first event");
    drop(reader);
    a.wait_closed_early(crate::harness::PROMPTLY).await;
    let text = gw.wait_metric("llmgate_client_cancelled_total 1").await;
    assert!(
        text.contains("path=\"/v1/chat/completions\",status=\"499\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("llmgate_backend_errors_total{kind=\"closed\"} 0"),
        "{text}"
    );

    // Read to the end, then leave: a complete 200.
    let mut reader = EventReader::new(gw.post("/v1/chat/completions", stream).await);
    let all = reader.rest().await;
    assert_eq!(all.last().map(String::as_str), Some("data: [DONE]"));
    drop(reader);
    let text = gw
        .wait_metric("path=\"/v1/chat/completions\",status=\"200\"} 1")
        .await;
    assert!(text.contains("llmgate_client_cancelled_total 1"), "{text}");
}
