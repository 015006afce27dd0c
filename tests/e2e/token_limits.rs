//! Token budgets per key and per model (reserved up front, settled from the reported
//! usage), concurrent streams per key, and their answers: 429 in the client's dialect
//! with `Retry-After`, and `x-ratelimit-*` / `anthropic-ratelimit-*` headers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;

use crate::harness::backend::chat_stream;
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway};

const KEY: &str = "sk-tokens-1";

async fn gateway(backend: &MockBackend, limits: &str) -> TestGateway {
    TestGateway::start(&format!(
        "auth:\n  keys: [{{id: alice, key: {KEY}}}]\nlimits:\n{limits}backends:\n  - {{name: b, kind: vllm, url: '{}', anthropic: translate}}\nmodels:\n  m: {{backend: b}}\n  n: {{backend: b}}\n",
        backend.url()
    ))
    .await
}

/// The status of `send` once it is 200, within a second: what a request that just ended
/// holds (a slot, a reservation) is released in its logging phase, just after its last
/// byte reached the client.
async fn eventually_ok<F, Fut>(send: F) -> u16
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = send().await;
        if status == 200 || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn chat(gw: &TestGateway, model: &str, extra: &str) -> reqwest::Response {
    gw.client()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(format!(
            r#"{{"model":"{model}"{extra},"messages":[{{"role":"user","content":"hi"}}]}}"#
        ))
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_budget_admits_exactly_its_tokens_per_minute() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    // 600 output tokens a minute = 10 a second; each answer uses the 4 it reserves.
    let gw = gateway(&backend, "  tokens_per_key: {output: 600}\n").await;
    let started = Instant::now();
    let mut admitted = 0u64;
    let refused = loop {
        let r = chat(&gw, "m", r#","max_tokens":4"#).await;
        if r.status() == 429 {
            break r;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted < 1000, "never refused");
    };
    let elapsed = started.elapsed().as_secs_f64();
    // A token bucket admits its capacity plus what refilled meanwhile.
    let expected = 600.0 + 10.0 * elapsed;
    let used = (admitted * 4) as f64;
    let error = (used - expected).abs() / 600.0;
    eprintln!(
        "token budget accuracy: {admitted} requests, {used} tokens admitted in {elapsed:.3} s, expected {expected:.1}: {:.3}% of the limit",
        error * 100.0
    );
    assert!(
        error <= 0.01,
        "admitted {used} tokens, expected {expected:.1} (error {:.2}%)",
        error * 100.0
    );

    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .is_ok_and(|s| s.parse::<u64>().is_ok())
    );
    let v: Value = refused.json().await.expect("json");
    assert_eq!(v["error"]["code"], "token_rate_limit_exceeded", "{v}");
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let m = gw.metrics().await;
    assert!(
        m.contains("llmgate_rate_limited_total{key_id=\"alice\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_are_settled_from_the_reported_usage() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    // No max_tokens: 512 reserved, 4 used (the mock's usage), 508 given back.
    let gw = gateway(
        &backend,
        "  tokens_per_key: {output: 1000}\n  default_output_tokens: 512\n",
    )
    .await;
    let first = chat(&gw, "m", "").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-tokens"], "1000");
    assert_eq!(
        first.headers()["x-ratelimit-remaining-tokens"],
        "488",
        "512 held while it ran"
    );
    let _ = first.bytes().await;
    // Settled when the first request ends (its logging phase, just after the last byte):
    // the next request sees 1000 - 4 - 512 (its own reservation).
    let deadline = Instant::now() + Duration::from_secs(2);
    let second = loop {
        let r = chat(&gw, "m", "").await;
        if r.status() == 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let remaining: u64 = second.headers()["x-ratelimit-remaining-tokens"]
        .to_str()
        .expect("header")
        .parse()
        .expect("number");
    assert!((484..=486).contains(&remaining), "{remaining}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_budgets_and_the_anthropic_dialect() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = gateway(&backend, "  tokens_per_model: {m: {output: 20}}\n").await;
    let messages = |model: &str| {
        gw.client()
            .post(gw.url("/v1/messages"))
            .header("x-api-key", KEY)
            .body(format!(
                r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"hi"}}]}}"#
            ))
            .send()
    };
    let ok = messages("m").await.expect("first");
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["anthropic-ratelimit-output-tokens-limit"],
        "20"
    );
    assert!(
        ok.headers()["anthropic-ratelimit-output-tokens-reset"]
            .to_str()
            .is_ok_and(|t| t.ends_with('Z'))
    );
    let _ = ok.bytes().await;
    // The first used 4 of its 16: 16 left, enough for one more reservation of 16, which
    // uses 4 again: 12 left.
    let second = eventually_ok(|| async {
        let r = messages("m").await.expect("second");
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        status
    })
    .await;
    assert_eq!(second, 200);
    let refused = messages("m").await.expect("third");
    assert_eq!(refused.status(), 429, "12 left < 16");
    assert!(refused.headers().contains_key("retry-after"));
    let v: Value = refused.json().await.expect("json");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    // Another model has its own budget (none here).
    assert_eq!(messages("n").await.expect("other model").status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_per_key_are_bounded() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = gateway(&backend, "  max_streams_per_key: 1\n").await;
    let gate = Arc::new(Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a", "b"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    let open = chat(&gw, "m", r#","stream":true"#).await;
    assert_eq!(open.status(), 200);
    let mut reader = EventReader::new(open);
    reader.next().await.expect("streaming");
    let second = chat(&gw, "m", r#","stream":true"#).await;
    assert_eq!(second.status(), 429);
    let v: Value = second.json().await.expect("json");
    assert_eq!(v["error"]["code"], "stream_limit_exceeded");
    // A non-streamed request is not a stream.
    assert_eq!(chat(&gw, "m", "").await.status(), 200);
    gate.notify_one();
    reader.rest().await;
    // The slot is freed when the request ends, just after its last byte.
    let again =
        eventually_ok(|| async { chat(&gw, "m", r#","stream":true"#).await.status().as_u16() })
            .await;
    assert_eq!(again, 200, "the slot is free again");
}

/// `max_concurrency` per deployment: at most that many at once, then a bounded queue with
/// a deadline, then a 503 (Anthropic's 529 on `/v1/messages`) with `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_at_max_concurrency_queues_then_refuses() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = TestGateway::start(&format!(
        "backends:\n  - {{name: b, kind: vllm, url: '{}', anthropic: translate, max_concurrency: 1, max_queue: 1, queue_timeout_ms: 400}}\nmodels:\n  m: {{backend: b}}\n",
        backend.url()
    ))
    .await;
    let gate = Arc::new(Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a", "b"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let holder = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let mut reader = EventReader::new(holder);
    reader.next().await.expect("holding the slot");

    // One request waits in the queue...
    let (waiter, _) = tokio::join!(gw.post("/v1/chat/completions", body), async {
        gw.wait_metric("llmgate_queued_requests 1").await;
        // ...so the next finds the queue full and is refused at once.
        let started = Instant::now();
        let r = gw.post("/v1/chat/completions", body).await;
        assert_eq!(r.status(), 503);
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "no wait when the queue is full"
        );
        assert_eq!(r.headers()["retry-after"], "1");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["code"], "backend_saturated", "{v}");
    });
    // The waiter's wait ran out: 503 as well.
    assert_eq!(waiter.status(), 503);
    let r = gw
        .post(
            "/v1/messages",
            r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 529, "Anthropic's overloaded on /v1/messages");

    gate.notify_one();
    reader.rest().await;
    let again = eventually_ok(|| async {
        gw.post("/v1/chat/completions", body)
            .await
            .status()
            .as_u16()
    })
    .await;
    assert_eq!(again, 200, "the slot is free");
    assert!(gw.metrics().await.contains("llmgate_queued_requests 0"));
}

/// The request rate's standing goes out with every answer, refusals included, in each
/// dialect's names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_headers_in_both_dialects() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = gateway(
        &backend,
        "  rate_limit: {enabled: true, requests_per_minute: 60, burst: 2}\n",
    )
    .await;
    let first = chat(&gw, "m", "").await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-requests"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining-requests"], "1");
    assert_eq!(first.headers()["x-ratelimit-reset-requests"], "1s");
    let second = gw
        .client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", KEY)
        .body(r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("messages");
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["anthropic-ratelimit-requests-limit"], "2");
    assert_eq!(
        second.headers()["anthropic-ratelimit-requests-remaining"],
        "0"
    );
    let refused = chat(&gw, "m", "").await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    assert!(refused.headers().contains_key("retry-after"));
}
