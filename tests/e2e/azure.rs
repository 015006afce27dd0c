//! Azure OpenAI and Azure AI Foundry from a `model_list` file: their URL shapes
//! (`/openai/deployments/{deployment}/...?api-version=`), the `api-key` header, and a
//! probe that costs no tokens, checked against scripted backends bound to those paths.

use std::time::Duration;

use serde_json::json;

use crate::harness::backend::chat_stream;
use crate::harness::{EventReader, Kind, MockBackend, Reply, TestGateway};

fn chat_answer(model: &str) -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-az", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "from azure"},
            "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_deployments_get_their_url_shape_and_api_key() {
    let azure = MockBackend::start(Kind::Openai, "gpt-4o").await;
    let foundry = MockBackend::start(Kind::Openai, "Llama-3.3-70B").await;
    let chat_path = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";
    azure.fix(
        "/openai/models?api-version=2024-10-21",
        Reply::json(200, json!({"data": []})),
    );
    foundry.fix(
        "/models/info?api-version=2024-05-01-preview",
        Reply::json(200, json!({"model_name": "Llama-3.3-70B"})),
    );
    foundry.fix(
        "/models/chat/completions?api-version=2024-05-01-preview",
        chat_answer("Llama-3.3-70B"),
    );
    let yaml = format!(
        "model_list:
  - model_name: gpt-4o
    params:
      model: azure/gpt4o-prod
      api_base: http://{}
      api_key: az-key-1
      api_version: '2024-10-21'
  - model_name: llama
    params:
      model: azure_ai/Llama-3.3-70B
      api_base: http://{}/models
      api_key: foundry-key-2
",
        azure.addr, foundry.addr
    );
    let gw = TestGateway::start(&yaml).await;
    gw.wait_backend_state("gpt-4o", "ready").await;
    gw.wait_backend_state("llama", "ready").await;

    azure.push(chat_answer("gpt-4o"));
    let r = gw.chat("gpt-4o").await;
    assert_eq!(r.status(), 200);
    azure.push(Reply::sse(chat_stream(
        Kind::Openai,
        "gpt-4o",
        &["from", " azure"],
        false,
    )));
    let r = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    let events = EventReader::new(r).rest().await;
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    azure.push(chat_answer("gpt-4o"));
    let r = gw
        .post(
            "/v1/messages",
            r#"{"model":"gpt-4o","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = gw.chat("llama").await;
    assert_eq!(r.status(), 200);

    let to_azure = azure.wait_requests(3, Duration::from_secs(5)).await;
    let chats: Vec<_> = to_azure.iter().filter(|r| r.target == chat_path).collect();
    assert_eq!(
        chats.len(),
        3,
        "{:?}",
        to_azure.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
    for req in chats {
        assert_eq!(req.header("api-key"), Some("az-key-1"));
        assert_eq!(
            req.header("authorization"),
            None,
            "Azure takes api-key, not Bearer"
        );
        assert_eq!(req.json()["model"], "gpt4o-prod");
    }
    let probes: Vec<_> = azure
        .all_requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/openai/models"))
        .collect();
    assert!(
        !probes.is_empty(),
        "probed with a model list, not a generation"
    );
    assert_eq!(probes[0].header("api-key"), Some("az-key-1"));
    let to_foundry: Vec<_> = foundry
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/chat/completions"))
        .collect();
    assert_eq!(to_foundry.len(), 1);
    assert_eq!(to_foundry[0].header("api-key"), Some("foundry-key-2"));
    assert_eq!(to_foundry[0].json()["model"], "Llama-3.3-70B");
}
