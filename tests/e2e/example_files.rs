//! The three `model_list` example files of the `docker model gateway` design, served.
//! Hosted providers cannot be reached from a test, so each entry's `api_base` (and key)
//! is pointed at a scripted backend of the provider's shape; everything else in the file
//! (aliases, deployments, master key, retries, fallbacks) is used as written.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::harness::backend::anthropic_api;
use crate::harness::{Kind, MockBackend, TestGateway};

const MASTER: &str = "sk-example-master";

struct Served {
    gw: TestGateway,
    /// One scripted backend per `model_list` entry, in file order, with its alias.
    backends: Vec<(String, MockBackend)>,
    master_key: bool,
}

fn kind_of(provider: &str) -> Kind {
    match provider {
        "anthropic" => Kind::Anthropic,
        "ollama" => Kind::Ollama,
        "vllm" => Kind::Vllm,
        _ => Kind::Openai,
    }
}

async fn serve(file: &str) -> Served {
    let path = format!("{}/conf/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("read example");
    let mut doc: Yaml = serde_yaml::from_str(&text).expect("example is YAML");
    let mut backends = Vec::new();
    let entries = doc["model_list"]
        .as_sequence_mut()
        .expect("a model_list file");
    for (i, entry) in entries.iter_mut().enumerate() {
        let alias = entry["model_name"].as_str().expect("alias").to_owned();
        let params = if entry.get("litellm_params").is_some() {
            &mut entry["litellm_params"]
        } else {
            &mut entry["params"]
        };
        let model = params["model"].as_str().expect("model").to_owned();
        let (provider, upstream) = model.split_once('/').expect("a provider prefix");
        let backend = MockBackend::start(kind_of(provider), upstream).await;
        params["api_base"] = Yaml::from(backend.url());
        params["api_key"] = Yaml::from(format!("sk-provider-{i}"));
        backends.push((alias, backend));
    }
    let master_key = doc["general_settings"].get("master_key").is_some();
    if master_key {
        doc["general_settings"]["master_key"] = Yaml::from(MASTER);
    }
    let yaml = serde_yaml::to_string(&doc).expect("serialise");
    let gw = TestGateway::start(&yaml).await;
    Served {
        gw,
        backends,
        master_key,
    }
}

impl Served {
    async fn chat(&self, alias: &str) -> (u16, Value) {
        let mut req = self.gw.client().post(self.gw.url("/v1/chat/completions"));
        if self.master_key {
            req = req.header("authorization", format!("Bearer {MASTER}"));
        }
        let r = req
            .body(format!(
                r#"{{"model":"{alias}","messages":[{{"role":"user","content":"hi"}}]}}"#
            ))
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Every alias answers, and every deployment was used.
    async fn every_alias_answers(&self) {
        let mut per_alias: BTreeMap<&str, usize> = BTreeMap::new();
        for (alias, _) in &self.backends {
            *per_alias.entry(alias.as_str()).or_default() += 1;
        }
        for (alias, deployments) in per_alias {
            // Enough requests for the balancer to reach each deployment of the alias.
            for _ in 0..deployments * 2 {
                let (status, v) = self.chat(alias).await;
                assert_eq!(status, 200, "{alias}: {v}");
                assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
            }
        }
        for (alias, backend) in &self.backends {
            let chats = backend
                .requests()
                .into_iter()
                .filter(|r| r.method == "POST")
                .count();
            assert!(chats > 0, "no request reached a deployment of `{alias}`");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_model_runner_example_is_served() {
    let served = serve("model-list-docker-model-runner.yaml").await;
    served.every_alias_answers().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_key_example_is_served_behind_its_key() {
    let served = serve("model-list-master-key.yaml").await;
    served.every_alias_answers().await;
    let r = served
        .gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_provider_example_is_served_with_its_fallbacks() {
    let served = serve("model-list-multi-provider.yaml").await;
    served.every_alias_answers().await;
    // `claude` falls back to `smart` (OpenAI) when Anthropic is overloaded.
    let (_, anthropic) = served
        .backends
        .iter()
        .find(|(alias, _)| alias == "claude")
        .expect("claude in the example");
    anthropic.fix(
        "/v1/messages",
        anthropic_api::error(529, "overloaded_error", "Overloaded"),
    );
    let (status, v) = served.chat("claude").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from the mock");
    served
        .gw
        .wait_metric("llmgate_fallbacks_total{fallback=\"smart\",model=\"claude\"} 1")
        .await;
}
