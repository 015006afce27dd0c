//! Inference metrics from real traffic: tokens from usage in JSON answers and streams (the
//! gateway asks for stream usage and removes the extra chunk when the client did not ask),
//! time to first token, time per output token, duration and gateway overhead, with the
//! alias, backend, key, status class and error type as labels.

use serde_json::Value;

use crate::harness::{EventReader, Kind, MockBackend, TestGateway, backends_yaml};

/// The value of the one series whose line starts with `series` (labels in Prometheus'
/// sorted order).
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in\n{metrics}"))
}

async fn gateway(kind: Kind) -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(kind, "org/M").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: b, upstream_model: org/M}}\n",
        backends_yaml(&[("b", kind, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    (backend, gw)
}

const LABELS: &str =
    "backend=\"b\",key_id=\"anonymous\",model=\"m\",route=\"/v1/chat/completions\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_counts_its_tokens_without_the_client_seeing_the_usage_chunk() {
    let (backend, gw) = gateway(Kind::Vllm).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let events = EventReader::new(r).rest().await;
    assert!(
        !events.iter().any(|e| e.contains("\"choices\":[]")),
        "the usage chunk the client did not ask for is removed: {events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    let sent = backend.requests().pop().expect("request").json();
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "asked upstream"
    );

    let m = gw
        .wait_metric("llmgate_inference_requests_total{backend=\"b\"")
        .await;
    // The mock reports 9 prompt tokens and one completion token per piece (4).
    assert_eq!(
        value(
            &m,
            &format!("llmgate_tokens_total{{{LABELS},type=\"input\"}}")
        ),
        9.0
    );
    assert_eq!(
        value(
            &m,
            &format!("llmgate_tokens_total{{{LABELS},type=\"output\"}}")
        ),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "llmgate_inference_requests_total{backend=\"b\",error_type=\"none\",key_id=\"anonymous\",model=\"m\",route=\"/v1/chat/completions\",status_class=\"2xx\"}"
        ),
        1.0
    );
    let by_model = "{backend=\"b\",model=\"m\",route=\"/v1/chat/completions\"}";
    assert_eq!(
        value(
            &m,
            &format!("llmgate_time_to_first_token_seconds_count{by_model}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            &format!("llmgate_time_per_output_token_seconds_count{by_model}")
        ),
        1.0
    );
    // The mock spaces its chunks 20 ms apart: the time per output token shows it.
    let tpot = value(
        &m,
        &format!("llmgate_time_per_output_token_seconds_sum{by_model}"),
    );
    assert!((0.01..1.0).contains(&tpot), "{tpot}");
    let overhead = value(
        &m,
        "llmgate_gateway_overhead_seconds_sum{route=\"/v1/chat/completions\"}",
    );
    let total = value(
        &m,
        "llmgate_inference_duration_seconds_sum{backend=\"b\",error_type=\"none\",model=\"m\",route=\"/v1/chat/completions\",status_class=\"2xx\"}",
    );
    assert!(
        overhead > 0.0 && overhead < total,
        "overhead {overhead} of {total}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_asks_for_usage_keeps_it_and_json_answers_count_too() {
    let (backend, gw) = gateway(Kind::Llamacpp).await;
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let events = EventReader::new(r).rest().await;
    let usage: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("\"choices\":[]"))
        .collect();
    assert_eq!(usage.len(), 1, "{events:?}");
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(backend.requests().len(), 2);
    let m = gw.metrics().await;
    assert_eq!(
        value(
            &m,
            &format!("llmgate_tokens_total{{{LABELS},type=\"input\"}}")
        ),
        18.0
    );
    assert_eq!(
        value(
            &m,
            &format!("llmgate_tokens_total{{{LABELS},type=\"output\"}}")
        ),
        8.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_messages_and_errors_are_labelled() {
    let (backend, gw) = gateway(Kind::Vllm).await;
    for stream in [false, true] {
        let r = gw
            .post(
                "/v1/messages",
                format!(
                    r#"{{"model":"m","max_tokens":16,"stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
                ),
            )
            .await;
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
    }
    backend.push(crate::harness::Reply::json(
        503,
        serde_json::json!({"error": {"message": "busy", "type": "server_error"}}),
    ));
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 503);
    let m = gw.metrics().await;
    let messages = "backend=\"b\",key_id=\"anonymous\",model=\"m\",route=\"/v1/messages\"";
    assert_eq!(
        value(
            &m,
            &format!("llmgate_tokens_total{{{messages},type=\"output\"}}")
        ),
        8.0
    );
    assert_eq!(
        value(
            &m,
            "llmgate_inference_requests_total{backend=\"b\",error_type=\"backend_unavailable\",key_id=\"anonymous\",model=\"m\",route=\"/v1/chat/completions\",status_class=\"5xx\"}"
        ),
        1.0
    );
}
