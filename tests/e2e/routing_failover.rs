//! Model routing, capabilities, failover and the gateway's own error answers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::gateway::free_port;
use crate::harness::{Kind, MockBackend, PROMPTLY, Reply, TestGateway, backends_yaml};

async fn post(gw: &TestGateway, path: &str, body: &str) -> (u16, Value) {
    let resp = gw.post(path, body.to_owned()).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn assert_openai_error(v: &Value, code: &str) {
    let e = &v["error"];
    assert!(e["message"].is_string() && e["type"].is_string(), "{v}");
    assert!(
        e.as_object().is_some_and(|o| o.contains_key("param")),
        "{v}"
    );
    assert_eq!(e["code"], code, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_missing_models_get_openai_errors() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  alpha: {{backend: a}}\n  beta: {{backend: a}}\n",
        backends_yaml(&[("a", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, v) = post(
        &gw,
        "/v1/chat/completions",
        r#"{"model":"gpt-4o","messages":[]}"#,
    )
    .await;
    assert_eq!(status, 404);
    assert_openai_error(&v, "model_not_found");
    let msg = v["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("gpt-4o") && msg.contains("alpha, beta"),
        "{msg}"
    );
    let (status, v) = post(&gw, "/v1/chat/completions", r#"{"messages":[]}"#).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "model");
    let (status, v) = post(&gw, "/v1/chat/completions", "{not json").await;
    assert_eq!(status, 400);
    assert_openai_error(&v, "invalid_request");
    assert!(backend.requests().is_empty(), "nothing reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_endpoint_lists_aliases_in_openai_shape() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  alpha: {{backend: a, upstream_model: org/Alpha}}\n  beta: {{backend: a}}\n",
        backends_yaml(&[("a", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let v: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["alpha", "beta"]);
    assert_eq!(v["data"][0]["object"], "model");
    assert!(v["data"][0]["created"].is_u64() && v["data"][0]["owned_by"].is_string());
}

/// `GET /v1/models[/{id}]` answers both SDKs: OpenAI's shapes, or Anthropic's `ModelInfo`
/// page when the client sends `anthropic-version`; unknown ids are 404 in that dialect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_are_listed_and_retrieved_in_the_clients_dialect() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  alpha: {{backend: a}}\n  'org/Gamma-7B': {{backend: a}}\n",
        backends_yaml(&[("a", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let client = reqwest::Client::new();
    let get = |path: &str, anthropic: bool| {
        let mut req = client.get(gw.url(path));
        if anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        async move {
            let resp = req.send().await.expect("models");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.expect("json"))
        }
    };

    let (status, v) = get("/v1/models/org%2FGamma-7B", false).await;
    assert_eq!(status, 200);
    assert_eq!(v["id"], "org/Gamma-7B");
    assert_eq!(v["object"], "model");
    let (status, v) = get("/v1/models/nope", false).await;
    assert_eq!(status, 404);
    assert_openai_error(&v, "model_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("message")
            .contains("alpha")
    );

    let (status, v) = get("/v1/models", true).await;
    assert_eq!(status, 200);
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], "alpha");
    assert_eq!(v["last_id"], "org/Gamma-7B");
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["display_name"], "alpha");
    assert!(
        v["data"][0]["created_at"]
            .as_str()
            .expect("created_at")
            .ends_with('Z')
    );
    let (status, v) = get("/v1/models/alpha", true).await;
    assert_eq!(
        (status, &v["type"], &v["id"]),
        (200, &json!("model"), &json!("alpha"))
    );
    let (status, v) = get("/v1/models/nope", true).await;
    assert_eq!(status, 404);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "not_found_error");
    assert!(v["request_id"].is_string());

    assert!(backend.requests().is_empty(), "answered by the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_capability_is_501_naming_backend_and_capability() {
    let tgi = MockBackend::start(Kind::Tgi, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: tgi0}}\n",
        backends_yaml(&[("tgi0", Kind::Tgi, tgi.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, v) = post(&gw, "/v1/embeddings", r#"{"model":"m","input":"x"}"#).await;
    assert_eq!(status, 501);
    assert_openai_error(&v, "unsupported_capability");
    assert_eq!(
        v["error"]["message"],
        "backend `tgi0` (Hugging Face TGI) does not support embeddings"
    );
    assert!(tgi.requests().is_empty());
    let (status, _) = post(
        &gw,
        "/v1/chat/completions",
        r#"{"model":"m","messages":[]}"#,
    )
    .await;
    assert_eq!(status, 200, "chat still works on TGI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_backend_serves_any_model_unchanged() {
    let backend = MockBackend::start(Kind::Ollama, "llama3:8b").await;
    let yaml = format!(
        "{}default_backend: o\n",
        backends_yaml(&[("o", Kind::Ollama, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"model":"qwen2.5:0.5b","messages":[]}"#;
    let (status, _) = post(&gw, "/v1/chat/completions", body).await;
    assert_eq!(status, 200);
    assert_eq!(
        backend.wait_requests(1, PROMPTLY).await[0].body,
        body.as_bytes()
    );
    // With no models configured, /v1/models is the backend's own list.
    let v: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(v["data"][0]["id"], "llama3:8b");
    // ... and looking one up goes to the backend too, the id still encoded as sent.
    let resp = reqwest::get(gw.url("/v1/models/llama3:8b"))
        .await
        .expect("retrieve");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["id"], "llama3:8b");
    let resp = reqwest::get(gw.url("/v1/models/library%2Fqwen"))
        .await
        .expect("retrieve");
    assert_eq!(resp.status(), 404);
    let seen: Vec<String> = backend.requests().into_iter().map(|r| r.target).collect();
    assert!(
        seen.contains(&"/v1/models/library%2Fqwen".to_owned()),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_deployment_fails_over_to_a_live_one() {
    let live = MockBackend::start(Kind::Vllm, "m").await;
    let dead_url = format!("http://127.0.0.1:{}/v1", free_port());
    let yaml = format!(
        "{}models:\n  m:\n    deployments:\n      - {{backend: dead}}\n      - {{backend: live}}\n",
        backends_yaml(&[
            ("dead", Kind::Vllm, dead_url),
            ("live", Kind::Vllm, live.url())
        ])
    );
    let gw = TestGateway::start(&yaml).await;
    for _ in 0..4 {
        let (status, v) = post(
            &gw,
            "/v1/chat/completions",
            r#"{"model":"m","messages":[]}"#,
        )
        .await;
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(live.requests().len(), 4);
    gw.wait_backend_state("dead", "down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_deployment_is_retried_elsewhere_before_anything_is_sent() {
    let busy = MockBackend::start(Kind::Sglang, "m").await;
    let spare = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  m:\n    deployments:\n      - {{backend: busy}}\n      - {{backend: spare}}\n",
        backends_yaml(&[
            ("busy", Kind::Sglang, busy.url()),
            ("spare", Kind::Vllm, spare.url())
        ])
    );
    let gw = TestGateway::start(&yaml).await;
    busy.fix(
        "/v1/chat/completions",
        Reply::json(
            503,
            json!({"object": "error", "message": "queue full", "code": 503}),
        ),
    );
    for _ in 0..3 {
        let (status, v) = post(
            &gw,
            "/v1/chat/completions",
            r#"{"model":"m","messages":[]}"#,
        )
        .await;
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(spare.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_deployments_down_is_a_502_in_openai_shape() {
    let yaml = format!(
        "{}models:\n  m: {{backend: gone}}\n",
        backends_yaml(&[(
            "gone",
            Kind::Vllm,
            format!("http://127.0.0.1:{}/v1", free_port())
        )])
    );
    let gw = TestGateway::start(&yaml).await;
    let (status, v) = post(
        &gw,
        "/v1/chat/completions",
        r#"{"model":"m","messages":[]}"#,
    )
    .await;
    assert_eq!(status, 502);
    assert_openai_error(&v, "bad_gateway");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("`gone`"),
        "{v}"
    );
    gw.wait_metric("llmgate_backend_errors_total{kind=\"connect_refused\"}")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_answers_is_a_504() {
    let slow = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}    read_timeout_ms: 300\nmodels:\n  m: {{backend: slow}}\n",
        backends_yaml(&[("slow", Kind::Vllm, slow.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    slow.push(Reply::Hang);
    let started = std::time::Instant::now();
    let (status, v) = post(
        &gw,
        "/v1/chat/completions",
        r#"{"model":"m","messages":[]}"#,
    )
    .await;
    assert_eq!(status, 504, "{v}");
    assert_openai_error(&v, "gateway_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_by_the_backend_ends_with_an_error_event() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let events = crate::harness::backend::chat_stream(Kind::Vllm, "m", &["a", "b"], false);
    backend.push(Reply::Sse {
        events: events[..2].to_vec(),
        delay: Duration::ZERO,
        gate: None,
        split: false,
        truncate: true,
    });
    let resp = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut reader = crate::harness::EventReader::new(resp);
    let mut all = Vec::new();
    while let Some(e) = reader.next().await {
        all.push(e);
    }
    let last = all.last().expect("events");
    let v: Value =
        serde_json::from_str(last.trim_start_matches("data: ")).expect("error event JSON");
    assert!(
        v["error"]["message"].is_string(),
        "last event is an OpenAI error: {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_json_and_never_reach_the_backend() {
    let backend = MockBackend::start(Kind::Llamacpp, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Llamacpp, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let client = reqwest::Client::new();
    for path in ["/slots", "/tokenize", "/v1/unknown", "/props"] {
        let resp = gw.post(path, "{}").await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "not_found");
    }
    let resp = client
        .get(gw.url("/v1/chat/completions"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    assert!(backend.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_headers_are_refused_in_dialect() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "server:\n  max_body_bytes: 100000\n  max_header_bytes: 2048\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let big = format!(r#"{{"model":"m","prompt":"{}"}}"#, "x".repeat(200_000));
    let (status, v) = post(&gw, "/v1/completions", &big).await;
    assert_eq!(status, 413);
    assert_openai_error(&v, "request_too_large");
    // Without a Content-Length, the limit applies while reading.
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.clone().into_bytes())]);
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/completions"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("chunked request");
    assert_eq!(resp.status(), 413);
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/completions"))
        .header("x-big", "y".repeat(4096))
        .body(r#"{"model":"m","prompt":"p"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 431);
    assert!(backend.requests().is_empty());
}

/// `GET /v1/models` keeps what the backend reports of a model (vLLM's `max_model_len`,
/// `root`), under the alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_keep_the_fields_their_backend_reports() {
    let backend = MockBackend::start(Kind::Vllm, "org/Alpha").await;
    let yaml = format!(
        "{}models:\n  alpha: {{backend: a, upstream_model: org/Alpha}}\n  other: {{backend: a, upstream_model: org/Unlisted}}\n",
        backends_yaml(&[("a", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let deadline = std::time::Instant::now() + crate::harness::PROMPTLY;
    let alpha = loop {
        let v: Value = reqwest::get(gw.url("/v1/models/alpha"))
            .await
            .expect("model")
            .json()
            .await
            .expect("json");
        if v.get("max_model_len").is_some() || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(alpha["id"], "alpha", "{alpha}");
    assert_eq!(alpha["max_model_len"], 8192);
    assert_eq!(alpha["root"], "org/Alpha");
    assert_eq!(alpha["owned_by"], "vllm");
    let list: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(list["data"][0]["max_model_len"], 8192);
    // A model the backend does not list keeps the gateway's own entry.
    assert_eq!(list["data"][1]["id"], "other");
    assert_eq!(list["data"][1]["owned_by"], "llmgate");
    assert!(list["data"][1].get("max_model_len").is_none());
}
