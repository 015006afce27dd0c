//! Reloading: valid changes apply atomically, invalid ones change nothing, and requests in
//! flight finish under the generation they started with.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::harness::backend::chat_stream;
use crate::harness::{EventReader, Kind, MockBackend, PROMPTLY, Reply, TestGateway, backends_yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_valid_config_and_keeps_in_flight_streams() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let base = backends_yaml(&[("b", Kind::Vllm, backend.url())]);
    let gw = TestGateway::start(&format!("{base}models:\n  old: {{backend: b}}\n")).await;

    let gate = Arc::new(Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "old", &["x", "y"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"old","stream":true,"messages":[]}"#)
        .send()
        .await
        .expect("stream");
    let mut reader = EventReader::new(resp);
    reader.next().await.expect("stream started");

    // Swap to a config where `old` no longer exists.
    let generation = gw
        .reload_with(&format!("{base}models:\n  new: {{backend: b}}\n"))
        .expect("valid reload");
    assert_eq!(generation, 2);
    gate.notify_one();
    let rest = reader.rest().await;
    assert_eq!(
        rest.last().map(String::as_str),
        Some("data: [DONE]"),
        "in-flight stream completed"
    );

    let client = reqwest::Client::new();
    let status = |model: &'static str| {
        let client = client.clone();
        let url = gw.url("/v1/chat/completions");
        async move {
            client
                .post(url)
                .body(format!(r#"{{"model":"{model}","messages":[]}}"#))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("new").await, 200);
    assert_eq!(status("old").await, 404);
    gw.wait_metric("llmgate_config_generation 2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reload_keeps_the_running_config() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let base = backends_yaml(&[("b", Kind::Vllm, backend.url())]);
    let gw = TestGateway::start(&format!("{base}models:\n  m: {{backend: b}}\n")).await;
    let err = gw
        .reload_with(&format!("{base}models:\n  m: {{backend: nope}}\n"))
        .expect_err("unknown backend");
    assert!(
        err.to_string()
            .contains("models.m.backend: unknown backend `nope`"),
        "{err}"
    );
    let resp = gw
        .post("/v1/chat/completions", r#"{"model":"m","messages":[]}"#)
        .await;
    assert_eq!(resp.status(), 200);
    gw.wait_metric("llmgate_config_reloads_total{result=\"error\"} 1")
        .await;
    backend.wait_requests(1, PROMPTLY).await;
}
