//! The official `openai` and `anthropic` SDKs against a `model_list` gateway whose
//! providers are scripted backends bound to each provider shape: OpenAI-compatible
//! (`groq/`), root-path (`perplexity/`), Azure OpenAI (`azure/`), Azure AI Foundry
//! (`azure_ai/`), Anthropic (`anthropic/`, translated for the OpenAI SDK, native for the
//! Anthropic SDK) and a local runtime (`vllm/`), behind the master key.

use serde_json::{Value, json};

use crate::harness::backend::chat_stream;
use crate::harness::{Kind, MockBackend, Reply, TestGateway};
use crate::sdk::{python, run_script};

fn answer(model: &str, text: &str) -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-p", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
            "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sdks_work_through_every_provider_shape() {
    let Some(python) = python() else { return };
    let groq = MockBackend::start(Kind::Openai, "llama-3.1-8b-instant").await;
    let perplexity = MockBackend::start(Kind::Openai, "sonar").await;
    let azure = MockBackend::start(Kind::Openai, "gpt4o-prod").await;
    let vllm = MockBackend::start(Kind::Vllm, "org/Local").await;
    let foundry = MockBackend::start(Kind::Openai, "Llama-3.3-70B").await;
    let anthropic = MockBackend::start(Kind::Anthropic, "claude-sonnet-4-5").await;
    let azure_chat = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";
    for (backend, path, model, text) in [
        (
            &groq,
            "/openai/v1/chat/completions",
            "llama-3.1-8b-instant",
            "from groq",
        ),
        (&perplexity, "/chat/completions", "sonar", "from perplexity"),
        (&azure, azure_chat, "gpt4o-prod", "from azure"),
        (
            &foundry,
            "/models/chat/completions?api-version=2024-05-01-preview",
            "Llama-3.3-70B",
            "from foundry",
        ),
    ] {
        backend.fix(path, answer(model, text));
    }
    let yaml = format!(
        "model_list:
  - {{model_name: fast, params: {{model: groq/llama-3.1-8b-instant, api_base: 'http://{}/openai/v1', api_key: gsk-1}}}}
  - {{model_name: search, params: {{model: perplexity/sonar, api_base: 'http://{}', api_key: pplx-1}}}}
  - {{model_name: gpt-4o, params: {{model: azure/gpt4o-prod, api_base: 'http://{}', api_key: az-1}}}}
  - {{model_name: local, params: {{model: vllm/org/Local, api_base: '{}'}}}}
  - {{model_name: foundry, params: {{model: azure_ai/Llama-3.3-70B, api_base: 'http://{}/models', api_key: fdry-1}}}}
  - {{model_name: claude, params: {{model: anthropic/claude-sonnet-4-5, api_base: '{}', api_key: sk-ant-1}}}}
general_settings:
  master_key: sk-master-1
",
        groq.addr,
        perplexity.addr,
        azure.addr,
        vllm.url(),
        foundry.addr,
        anthropic.url()
    );
    // Perplexity serves at the root of its api_base: no /v1 is added.
    let gw = TestGateway::start(&yaml).await;
    let sdk = |script: &'static str, mode: &'static str, request: Value| {
        let (python, gw) = (python.clone(), &gw);
        async move { run_script(&python, script, gw, "sk-master-1", mode, &request).await }
    };
    for (alias, text) in [
        ("fast", "from groq"),
        ("search", "from perplexity"),
        ("gpt-4o", "from azure"),
        ("foundry", "from foundry"),
        ("claude", "Hello from Anthropic"),
    ] {
        let out = sdk(
            "openai_client.py",
            "create",
            json!({"model": alias, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
        assert_eq!(out["ok"], true, "{alias}: {out}");
        assert_eq!(out["text"], text, "{alias}");
    }
    vllm.push(Reply::sse(chat_stream(
        Kind::Vllm,
        "org/Local",
        &["str", "eamed"],
        false,
    )));
    let out = sdk(
        "openai_client.py",
        "stream",
        json!({"model": "local", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(out["text"], "streamed", "{out}");
    let out = sdk("openai_client.py", "models", json!({})).await;
    let mut ids: Vec<String> = out["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    assert_eq!(
        ids,
        ["claude", "fast", "foundry", "gpt-4o", "local", "search"]
    );
    let out = sdk(
        "anthropic_client.py",
        "create",
        json!({"model": "gpt-4o", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["message"]["content"][0]["text"], "from azure");
    let out = sdk(
        "anthropic_client.py",
        "stream",
        json!({"model": "claude", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["message"]["content"][0]["text"], "Hello from Anthropic");
    let wrong = run_script(
        &python,
        "openai_client.py",
        &gw,
        "not-the-master-key",
        "create",
        &json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(wrong["error"], "AuthenticationError", "{wrong}");
    assert_eq!(wrong["status"], 401);
}
