//! `retries.num_retries` and `models.<alias>.fallbacks` (and their `model_list` forms):
//! retries on the same alias, replaying the body byte for byte, then fallback aliases in
//! order with their own upstream names, on OpenAI routes and on `/v1/messages`.

use std::time::Duration;

use crate::harness::{Kind, MockBackend, Reply, TestGateway};

fn failing(status: u16) -> Reply {
    Reply::json(
        status,
        serde_json::json!({"error": {"message": "boom", "type": "server_error", "code": status}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_deployment_is_retried_with_the_same_1_mib_body() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    a.push(failing(500));
    a.push(failing(502));
    let yaml = format!(
        "retries: {{num_retries: 2, backoff_ms: 10}}\nbackends:\n  - {{name: a, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: a, upstream_model: org/M}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let filler = "x".repeat(1024 * 1024);
    let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{filler}"}}]}}"#);
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), 200);
    let got = a.wait_requests(3, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 3, "two retries on the same deployment");
    let expected = body.replacen("\"model\":\"m\"", "\"model\":\"org/M\"", 1);
    for req in &got {
        assert_eq!(req.body.len(), expected.len());
        assert!(
            req.body == expected.as_bytes(),
            "every attempt gets the same bytes"
        );
    }
    let text = gw
        .wait_metric("llmgate_retries_total{reason=\"status\"} 2")
        .await;
    assert!(text.contains("status=\"200\"} 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_chain_of_three_aliases_ends_at_the_one_that_answers() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let b = MockBackend::start(Kind::Vllm, "m").await;
    let c = MockBackend::start(Kind::Vllm, "m").await;
    a.fix("/v1/chat/completions", failing(500));
    b.fix("/v1/chat/completions", failing(503));
    let yaml = format!(
        "backends:
  - {{name: a, kind: vllm, url: '{}', anthropic: translate, health_check: {{eject_after_failures: 0}}}}
  - {{name: b, kind: vllm, url: '{}', anthropic: translate, health_check: {{eject_after_failures: 0}}}}
  - {{name: c, kind: vllm, url: '{}', anthropic: translate}}
models:
  first: {{backend: a, upstream_model: org/First, fallbacks: [second, third]}}
  second: {{backend: b, upstream_model: org/Second}}
  third: {{backend: c, upstream_model: org/Third}}
",
        a.url(),
        b.url(),
        c.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw.chat("first").await;
    assert_eq!(r.status(), 200);
    let r = gw
        .post(
            "/v1/messages",
            r#"{"model":"first","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let served = c.wait_requests(2, Duration::from_secs(5)).await;
    for req in &served {
        assert_eq!(req.json()["model"], "org/Third", "the fallback's own name");
    }
    assert_eq!(a.requests()[0].json()["model"], "org/First");
    assert_eq!(b.requests()[0].json()["model"], "org/Second");
    let text = gw.metrics().await;
    for series in [
        "llmgate_fallbacks_total{fallback=\"second\",model=\"first\"} 2",
        "llmgate_fallbacks_total{fallback=\"third\",model=\"first\"} 2",
        "llmgate_retries_total{reason=\"status\"} 4",
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_before_the_answer_is_retried_elsewhere_when_retries_are_on() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    let b = MockBackend::start(Kind::Vllm, "m").await;
    a.fix("/v1/chat/completions", Reply::Hang);
    let yaml = format!(
        "retries: {{num_retries: 1}}\nbackends:\n  - {{name: a, kind: vllm, url: '{}', read_timeout_ms: 300}}\n  - {{name: b, kind: vllm, url: '{}', read_timeout_ms: 300}}\nmodels:\n  m: {{deployments: [{{backend: a}}, {{backend: b}}]}}\n",
        a.url(),
        b.url()
    );
    let gw = TestGateway::start(&yaml).await;
    for _ in 0..4 {
        let r = gw.chat("m").await;
        assert_eq!(r.status(), 200);
    }
    gw.wait_metric("llmgate_retries_total{reason=\"timeout\"}")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_bounds_every_attempt_and_wait() {
    let a = MockBackend::start(Kind::Vllm, "m").await;
    a.fix("/v1/chat/completions", failing(500));
    let yaml = format!(
        "retries: {{num_retries: 5, backoff_ms: 1000, deadline_ms: 300}}\nbackends:\n  - {{name: a, kind: vllm, url: '{}', health_check: {{eject_after_failures: 0}}}}\nmodels:\n  m: {{backend: a}}\n",
        a.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw.chat("m").await;
    assert_eq!(r.status(), 502);
    let text = r.text().await.expect("body");
    assert!(text.contains("retry deadline"), "{text}");
    assert_eq!(
        a.requests().len(),
        1,
        "a 1 s backoff does not fit a 300 ms deadline"
    );
}
