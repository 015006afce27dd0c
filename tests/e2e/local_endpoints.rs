//! Endpoints the gateway answers itself, and backend health as they report it.

use serde_json::Value;

use crate::harness::gateway::free_port;
use crate::harness::{Kind, MockBackend, TestGateway, backends_yaml};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_llamacpp_loading_and_health_has_detail() {
    let llama = MockBackend::start(Kind::Llamacpp, "m").await;
    llama.set_loading(true);
    let yaml = format!(
        "{}models:\n  m: {{backend: llama}}\n",
        backends_yaml(&[("llama", Kind::Llamacpp, llama.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("llama", "loading").await;
    let resp = reqwest::get(gw.url("/readyz")).await.expect("readyz");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["models"]["m"], false);

    let resp = reqwest::get(gw.url("/health")).await.expect("health");
    assert_eq!(resp.status(), 503, "no served model has a usable backend");
    let health: Value = resp.json().await.expect("json");
    assert_eq!(health["backend_ok"], false);
    assert_eq!(health["status"], "unavailable");
    let b = &health["backends"][0];
    assert_eq!(b["kind"], "llama.cpp llama-server");
    assert_eq!(b["url"], llama.url());
    assert_eq!(b["state"], "loading");
    assert!(
        b["last_error"]
            .as_str()
            .expect("error")
            .contains("Loading model")
    );
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].as_f64().is_some());

    llama.set_loading(false);
    gw.wait_backend_state("llama", "ready").await;
    assert_eq!(
        reqwest::get(gw.url("/readyz"))
            .await
            .expect("readyz")
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(gw.url("/livez"))
            .await
            .expect("livez")
            .status(),
        200
    );
    let resp = reqwest::get(gw.url("/health")).await.expect("health");
    assert_eq!(resp.status(), 200);
    let health: Value = resp.json().await.expect("json");
    assert_eq!(
        (&health["backend_ok"], &health["status"]),
        (&Value::Bool(true), &Value::from("ok"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_runtime_is_probed_on_its_own_readiness_path() {
    let kinds = [
        Kind::Vllm,
        Kind::Sglang,
        Kind::Ollama,
        Kind::Tgi,
        Kind::Localai,
    ];
    let mut backends = Vec::new();
    for k in kinds {
        backends.push(MockBackend::start(k, "m").await);
    }
    let entries: Vec<(&str, Kind, String)> = backends
        .iter()
        .zip(["v", "s", "o", "t", "l"])
        .map(|(b, n)| (n, b.kind, b.url()))
        .collect();
    let yaml = format!(
        "{}default_backend: v\n",
        crate::harness::backends_yaml(&entries)
    );
    let gw = TestGateway::start(&yaml).await;
    for n in ["v", "s", "o", "t", "l"] {
        gw.wait_backend_state(n, "ready").await;
    }
    let probed = |b: &MockBackend| b.all_requests().first().map(|r| r.target.clone());
    assert_eq!(probed(&backends[0]).as_deref(), Some("/health"));
    assert_eq!(
        probed(&backends[1]).as_deref(),
        Some("/ready"),
        "SGLang: never /health"
    );
    assert_eq!(probed(&backends[2]).as_deref(), Some("/api/tags"));
    assert_eq!(probed(&backends[3]).as_deref(), Some("/health"));
    assert_eq!(probed(&backends[4]).as_deref(), Some("/readyz"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_makes_readyz_fail() {
    let yaml = format!(
        "{}models:\n  m: {{backend: gone}}\n",
        backends_yaml(&[(
            "gone",
            Kind::Vllm,
            format!("http://127.0.0.1:{}/v1", free_port())
        )])
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("gone", "down").await;
    assert_eq!(
        reqwest::get(gw.url("/readyz"))
            .await
            .expect("readyz")
            .status(),
        503
    );
    let text = gw.metrics().await;
    assert!(
        text.contains("llmgate_backend_up{backend=\"gone\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_the_seed_families_with_bounded_labels() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let client = reqwest::Client::new();
    client
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"m","messages":[]}"#)
        .send()
        .await
        .expect("chat");
    client
        .get(gw.url("/some/random/path/12345"))
        .send()
        .await
        .expect("404");
    let text = gw
        .wait_metric("llmgate_requests_total{method=\"POST\",path=\"/v1/chat/completions\",status=\"200\"} 1")
        .await;
    let text = if text.contains("path=\"other\"") {
        text
    } else {
        gw.wait_metric("path=\"other\"").await
    };
    for family in [
        "llmgate_request_duration_seconds_bucket{path=\"/v1/chat/completions\"",
        "llmgate_uptime_seconds",
        "# TYPE llmgate_backend_errors_total counter",
        "# TYPE llmgate_rate_limited_total counter",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(!text.contains("12345"), "raw paths never become labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_maps_the_endpoints() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let v: Value = reqwest::get(gw.url("/"))
        .await
        .expect("index")
        .json()
        .await
        .expect("json");
    assert_eq!(v["name"], "llmgate");
    assert!(v["endpoints"]["POST /v1/chat/completions"].is_string());
    assert_eq!(v["models"][0], "m");
}

/// `/openapi.json` describes what this configuration serves (its aliases as the `model`
/// enum), and `/docs` renders it without reaching anything outside the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_docs_describe_the_served_api() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "auth:\n  keys: [{{id: a, key: k-1}}]\n{}models:\n  alpha: {{backend: b}}\n  beta: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let r = reqwest::get(gw.url("/openapi.json"))
        .await
        .expect("openapi");
    assert_eq!(r.status(), 200, "documentation needs no key");
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let model = &doc["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["model"];
    assert_eq!(model["enum"], serde_json::json!(["alpha", "beta"]));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let r = reqwest::get(gw.url("/docs")).await.expect("docs");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html"))
    );
    let page = r.text().await.expect("html");
    assert!(page.contains("fetch(\"/openapi.json\")"));
    for external in ["http://", "https://", "//cdn", "<link"] {
        assert!(
            !page.contains(external),
            "the page loads nothing from elsewhere: {external}"
        );
    }
}
