//! `total_timeout_ms` (and `REQUEST_TIMEOUT_S` in environment mode) bounds the whole
//! request, apart from the per-read timeout: a backend that keeps streaming slowly, each
//! gap within the read timeout, is still cut at the limit, with an error the client can
//! read and the upstream connection closed.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::backend::chat_stream;
use crate::harness::{EventReader, Kind, MockBackend, PROMPTLY, Reply, TestGateway};

const LIMIT_MS: u64 = 400;

async fn gateway(backend: &MockBackend) -> TestGateway {
    TestGateway::start(&format!(
        "backends:\n  - {{name: b, kind: vllm, url: '{}', read_timeout_ms: 60000, total_timeout_ms: {LIMIT_MS}, anthropic: translate}}\nmodels:\n  m: {{backend: b}}\n",
        backend.url()
    ))
    .await
}

fn slow_stream() -> Reply {
    let pieces = ["a"; 40];
    Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &pieces, false),
        delay: Duration::from_millis(50),
        gate: None,
        split: false,
        truncate: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_cut_at_the_total_limit_on_every_path() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = gateway(&backend).await;

    // Nothing sent yet: a 504 in OpenAI's envelope.
    backend.push(Reply::Hang);
    let started = Instant::now();
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_millis(LIMIT_MS * 4));
    let v: Value = r.json().await.expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("total time limit")),
        "{v}"
    );

    // A stream that never stalls (50 ms gaps) still ends at the limit, with an error event.
    backend.push(slow_stream());
    let started = Instant::now();
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(LIMIT_MS) && elapsed < Duration::from_millis(LIMIT_MS * 4),
        "{elapsed:?}"
    );
    let last = events.last().expect("events");
    assert!(
        last.starts_with("data: {\"error\"") && last.contains("total time limit"),
        "{events:?}"
    );
    assert!(
        events.len() > 3,
        "the answer streamed until the limit: {events:?}"
    );
    backend.wait_closed_early(PROMPTLY).await;

    // The same on /v1/messages, translated: Anthropic's timeout_error event.
    backend.push(slow_stream());
    let r = gw
        .post(
            "/v1/messages",
            r#"{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let events = EventReader::new(r).rest().await;
    let last = events.last().expect("events");
    assert!(
        last.starts_with("event: error") && last.contains("timeout_error"),
        "{events:?}"
    );
    let m = gw.metrics().await;
    assert!(m.contains("error_type=\"backend_timeout\""), "{m}");
}
