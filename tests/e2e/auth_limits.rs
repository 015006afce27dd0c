//! API keys (plain, hashed, from the environment) and per-key rate limits.

use serde_json::Value;

use crate::harness::{Kind, MockBackend, PROMPTLY, TestGateway, backends_yaml};

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

async fn gateway(extra: &str) -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "auth:\n  keys:\n    - {{id: alice, key: alice-key}}\n    - {{id: bob, key: 'sha256:{}'}}\n{extra}{}models:\n  m: {{backend: b}}\n",
        sha256_hex("bob-key"),
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    (backend, TestGateway::start(&yaml).await)
}

async fn chat(gw: &TestGateway, header: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"m","messages":[]}"#);
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_and_accepted_in_both_headers() {
    let (backend, gw) = gateway("").await;
    let (status, v) = chat(&gw, None).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert_eq!(
        chat(&gw, Some(("authorization", "Bearer wrong"))).await.0,
        401
    );
    assert_eq!(
        chat(&gw, Some(("authorization", "Bearer alice-key")))
            .await
            .0,
        200
    );
    assert_eq!(
        chat(&gw, Some(("x-api-key", "bob-key"))).await.0,
        200,
        "sha256 form"
    );
    assert_eq!(
        chat(&gw, Some(("authorization", "bearer bob-key"))).await.0,
        200
    );
    assert_eq!(backend.requests().len(), 3);
    // Models listing needs a key too; probes do not.
    assert_eq!(
        reqwest::get(gw.url("/v1/models"))
            .await
            .expect("models")
            .status(),
        401
    );
    for probe in ["/livez", "/readyz", "/health", "/metrics", "/"] {
        let status = reqwest::get(gw.url(probe)).await.expect("probe").status();
        assert_ne!(status, 401, "{probe} needs no key");
    }
    let text = gw.wait_metric("status=\"401\"").await;
    assert!(!text.contains("alice-key") && !text.contains("bob-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_refuses_with_retry_after_and_counts_per_key() {
    let (_backend, gw) =
        gateway("limits:\n  rate_limit: {enabled: true, requests_per_minute: 1, burst: 2}\n").await;
    let alice = Some(("authorization", "Bearer alice-key"));
    assert_eq!(chat(&gw, alice).await.0, 200);
    assert_eq!(chat(&gw, alice).await.0, 200);
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer alice-key")
        .body(r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // Bob has his own bucket.
    assert_eq!(chat(&gw, Some(("x-api-key", "bob-key"))).await.0, 200);
    gw.wait_metric("llmgate_rate_limited_total{key_id=\"alice\"} 1")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_per_key() {
    let (backend, gw) = gateway("limits:\n  max_inflight_per_key: 1\n").await;
    backend.push(crate::harness::Reply::Hang);
    let client = reqwest::Client::new();
    let first = client
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer alice-key")
        .body(r#"{"model":"m","messages":[]}"#)
        .send();
    let pending = tokio::spawn(first);
    backend.wait_requests(1, PROMPTLY).await;
    let (status, v) = chat(&gw, Some(("authorization", "Bearer alice-key"))).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "concurrency_limit_exceeded");
    pending.abort();
}
