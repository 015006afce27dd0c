//! A `model_list` file (the `docker model gateway` format) served as is: provider prefixes
//! stripped, the master key required, deployments of one alias balanced, provider keys sent
//! upstream and client keys not.

use std::time::Duration;

use crate::harness::{Kind, MockBackend, TestGateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_list_file_routes_by_prefix_with_the_master_key() {
    let vllm = MockBackend::start(Kind::Vllm, "org/Model-A").await;
    let hosted = MockBackend::start(Kind::Openai, "gpt-x").await;
    let yaml = format!(
        "model_list:
  - model_name: chat
    params:
      model: vllm/org/Model-A
      api_base: {}
  - model_name: chat
    litellm_params:
      model: openai/gpt-x
      api_base: {}
      api_key: sk-provider-key-123
general_settings:
  master_key: mk-master-123
",
        vllm.url(),
        hosted.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw.post("/v1/chat/completions", body).await;
    assert_eq!(r.status(), 401, "the master key is required");
    for _ in 0..4 {
        let r = gw
            .client()
            .post(gw.url("/v1/chat/completions"))
            .header("authorization", "Bearer mk-master-123")
            .body(body)
            .send()
            .await
            .expect("chat");
        assert_eq!(r.status(), 200);
    }
    let chats = |b: &MockBackend| -> Vec<_> {
        b.requests()
            .into_iter()
            .filter(|r| r.target == "/v1/chat/completions")
            .collect()
    };
    vllm.wait_requests(1, Duration::from_secs(5)).await;
    let (to_vllm, to_hosted) = (chats(&vllm), chats(&hosted));
    assert_eq!(
        to_vllm.len() + to_hosted.len(),
        4,
        "both deployments served"
    );
    assert_eq!(to_vllm[0].json()["model"], "org/Model-A", "prefix stripped");
    assert_eq!(to_hosted[0].json()["model"], "gpt-x");
    assert_eq!(
        to_hosted[0].header("authorization"),
        Some("Bearer sk-provider-key-123")
    );
    assert_eq!(to_vllm[0].header("authorization"), None);
    let models: serde_json::Value = gw
        .client()
        .get(gw.url("/v1/models"))
        .header("x-api-key", "mk-master-123")
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(models["data"][0]["id"], "chat");
}
