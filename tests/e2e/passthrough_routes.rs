//! Routes Nginx would have passed: OpenAI's `/v1/responses` (routed by model, to backends
//! that serve it), and each backend's `passthrough_paths` (`/tokenize`, `/v1/rerank`,
//! `/v1/audio/*`), with the same key, limits, logs and metrics as every other route.

use serde_json::Value;

use crate::harness::{EventReader, Kind, MockBackend, TestGateway};

const KEY: &str = "sk-client-1";

async fn gateway(vllm: &MockBackend, tgi: &MockBackend) -> TestGateway {
    TestGateway::start(&format!(
        "auth:\n  keys: [{{id: alice, key: {KEY}}}]\nbackends:\n  - {{name: v, kind: vllm, url: '{}', api_key: sk-backend-9, passthrough_paths: [/tokenize, /v1/rerank, /v1/audio/*]}}\n  - {{name: t, kind: tgi, url: '{}'}}\nmodels:\n  chat: {{backend: v, upstream_model: org/M}}\n  tgi: {{backend: t}}\n",
        vllm.url(),
        tgi.url()
    ))
    .await
}

async fn send(gw: &TestGateway, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
    let r = gw
        .client()
        .request(method, gw.url(path))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_routed_by_model_to_backends_that_serve_them() {
    let vllm = MockBackend::start(Kind::Vllm, "org/M").await;
    let tgi = MockBackend::start(Kind::Tgi, "tgi").await;
    let gw = gateway(&vllm, &tgi).await;
    let (status, v) = send(
        &gw,
        reqwest::Method::POST,
        "/v1/responses",
        r#"{"model":"chat","input":"hi"}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["output"][0]["content"][0]["text"], "Hi there");
    let sent = vllm.requests().pop().expect("request");
    assert_eq!(sent.target, "/v1/responses");
    assert_eq!(sent.json()["model"], "org/M", "the alias's upstream name");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-backend-9"));

    let r = gw
        .client()
        .post(gw.url("/v1/responses"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(r#"{"model":"chat","input":"hi","stream":true}"#)
        .send()
        .await
        .expect("stream");
    let events = EventReader::new(r).rest().await;
    assert!(
        events
            .last()
            .is_some_and(|e| e.starts_with("event: response.completed")),
        "{events:?}"
    );

    // TGI has no Responses API: the gateway says so instead of forwarding a 404.
    let (status, v) = send(
        &gw,
        reqwest::Method::POST,
        "/v1/responses",
        r#"{"model":"tgi","input":"hi"}"#,
    )
    .await;
    assert_eq!(status, 501, "{v}");
    assert!(tgi.requests().is_empty());

    let m = gw.metrics().await;
    for series in [
        "llmgate_tokens_total{backend=\"v\",key_id=\"alice\",model=\"chat\",route=\"/v1/responses\",type=\"output\"} 6",
        "llmgate_tokens_total{backend=\"v\",key_id=\"alice\",model=\"chat\",route=\"/v1/responses\",type=\"cached_input\"} 4",
        "llmgate_time_to_first_token_seconds_count{backend=\"v\",model=\"chat\",route=\"/v1/responses\"} 1",
    ] {
        assert!(m.contains(series), "{series} in {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_paths_reach_their_backend_with_the_same_rules() {
    let vllm = MockBackend::start(Kind::Vllm, "org/M").await;
    let tgi = MockBackend::start(Kind::Tgi, "tgi").await;
    let gw = gateway(&vllm, &tgi).await;

    // Root-level (`/tokenize` next to `/v1`), routed by the body's model.
    let (status, v) = send(
        &gw,
        reqwest::Method::POST,
        "/tokenize",
        r#"{"model":"chat","messages":[{"role":"user","content":"count me please"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["count"].is_u64(), "{v}");
    let sent = vllm.requests().pop().expect("tokenize");
    assert_eq!(sent.target, "/tokenize");
    assert_eq!(sent.json()["model"], "org/M");

    // Below `/v1`, any method, the query kept (credentials in it stripped).
    let (status, v) = send(
        &gw,
        reqwest::Method::POST,
        "/v1/rerank?top_n=2&api_key=leak",
        r#"{"query":"q","documents":["a","b"]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["echo"]["target"], "/v1/rerank?top_n=2");
    let (status, v) = send(&gw, reqwest::Method::GET, "/v1/audio/voices", "").await;
    assert_eq!(status, 200);
    assert_eq!(v["echo"]["method"], "GET");

    // A multipart upload passes byte for byte.
    let form = "--b\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF....\r\n--b--\r\n";
    let r = gw
        .client()
        .post(gw.url("/v1/audio/transcriptions"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "multipart/form-data; boundary=b")
        .body(form)
        .send()
        .await
        .expect("upload");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["echo"]["bytes"], form.len());
    assert_eq!(v["echo"]["content_type"], "multipart/form-data; boundary=b");
    let sent = vllm.requests().pop().expect("upload");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-backend-9"),
        "never the client's key"
    );

    // The same key rules, and paths nobody listed stay unknown.
    let r = gw.post("/tokenize", "{}").await;
    assert_eq!(r.status(), 401);
    let (status, _) = send(&gw, reqwest::Method::POST, "/detokenize", "{}").await;
    assert_eq!(status, 404);
    let m = gw.metrics().await;
    assert!(
        m.contains("llmgate_requests_total{method=\"POST\",path=\"passthrough\",status=\"200\"}"),
        "{m}"
    );
}
