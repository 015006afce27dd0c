//! Every provider prefix of the `model_list` format, loaded with nothing but its prefix
//! (and, for the Azure kinds, their base variable): the kind it drives, its default
//! address, the key variable read, the headers its key travels in, the probe (which
//! must cost no tokens: a model list, an info or a health route) and the request target
//! of a chat. The end-to-end tests drive each shape against scripted backends bound to
//! these layouts (provider_sdks, azure, anthropic_upstream, example_files).

use llmgate::backends::Backend;
use llmgate::backends::health::probe_path;
use llmgate::config::{BackendKind, Config, ConfigSource};

struct Row {
    prefix: &'static str,
    kind: BackendKind,
    url: &'static str,
    key_variable: &'static str,
    /// The key's header and how its value reads for the key `K`.
    auth: (&'static str, &'static str),
    probe: &'static str,
    chat: &'static str,
}

const fn row(
    prefix: &'static str,
    kind: BackendKind,
    url: &'static str,
    key_variable: &'static str,
    probe: &'static str,
    chat: &'static str,
) -> Row {
    Row {
        prefix,
        kind,
        url,
        key_variable,
        auth: ("authorization", "Bearer K"),
        probe,
        chat,
    }
}

fn rows() -> Vec<Row> {
    use BackendKind::{Anthropic, Azure, AzureAi, Lmstudio, Ollama, Openai, Vllm};
    vec![
        row(
            "docker_model_runner",
            Openai,
            "http://localhost:12434/engines/v1",
            "DOCKER_MODEL_RUNNER_API_KEY",
            "/engines/v1/models",
            "/engines/v1/chat/completions",
        ),
        row(
            "openai",
            Openai,
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        Row {
            auth: ("x-api-key", "K"),
            ..row(
                "anthropic",
                Anthropic,
                "https://api.anthropic.com/v1",
                "ANTHROPIC_API_KEY",
                "/v1/models",
                "/v1/messages",
            )
        },
        row(
            "ollama",
            Ollama,
            "http://localhost:11434/v1",
            "OLLAMA_API_KEY",
            "/api/tags",
            "/v1/chat/completions",
        ),
        row(
            "groq",
            Openai,
            "https://api.groq.com/openai/v1",
            "GROQ_API_KEY",
            "/openai/v1/models",
            "/openai/v1/chat/completions",
        ),
        row(
            "mistral",
            Openai,
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "together_ai",
            Openai,
            "https://api.together.xyz/v1",
            "TOGETHERAI_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "deepseek",
            Openai,
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "fireworks_ai",
            Openai,
            "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_AI_API_KEY",
            "/inference/v1/models",
            "/inference/v1/chat/completions",
        ),
        row(
            "openrouter",
            Openai,
            "https://openrouter.ai/api/v1",
            "OPENROUTER_API_KEY",
            "/api/v1/models",
            "/api/v1/chat/completions",
        ),
        row(
            "perplexity",
            Openai,
            "https://api.perplexity.ai",
            "PERPLEXITYAI_API_KEY",
            "/models",
            "/chat/completions",
        ),
        row(
            "xai",
            Openai,
            "https://api.x.ai/v1",
            "XAI_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "nvidia_nim",
            Openai,
            "https://integrate.api.nvidia.com/v1",
            "NVIDIA_NIM_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "cerebras",
            Openai,
            "https://api.cerebras.ai/v1",
            "CEREBRAS_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "sambanova",
            Openai,
            "https://api.sambanova.ai/v1",
            "SAMBANOVA_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "deepinfra",
            Openai,
            "https://api.deepinfra.com/v1/openai",
            "DEEPINFRA_API_KEY",
            "/v1/openai/models",
            "/v1/openai/chat/completions",
        ),
        Row {
            auth: ("api-key", "K"),
            ..row(
                "azure",
                Azure,
                "https://res.openai.azure.com",
                "AZURE_API_KEY",
                "/openai/models?api-version=2024-10-21",
                "/openai/deployments/m/chat/completions?api-version=2024-10-21",
            )
        },
        Row {
            auth: ("api-key", "K"),
            ..row(
                "azure_ai",
                AzureAi,
                "https://res.services.ai.azure.com/models",
                "AZURE_AI_API_KEY",
                "/models/info?api-version=2024-05-01-preview",
                "/models/chat/completions?api-version=2024-05-01-preview",
            )
        },
        row(
            "vllm",
            Vllm,
            "http://localhost:8000/v1",
            "VLLM_API_KEY",
            "/health",
            "/v1/chat/completions",
        ),
        row(
            "lm_studio",
            Lmstudio,
            "http://localhost:1234/v1",
            "LM_STUDIO_API_KEY",
            "/v1/models",
            "/v1/chat/completions",
        ),
        row(
            "huggingface",
            Openai,
            "https://router.huggingface.co/v1",
            "HF_TOKEN",
            "/v1/models",
            "/v1/chat/completions",
        ),
    ]
}

#[test]
fn every_provider_gets_its_kind_address_key_headers_and_probe() {
    let rows = rows();
    assert_eq!(rows.len(), 21, "one row per prefix of the format");
    for r in rows {
        let yaml = format!(
            "model_list:\n  - {{model_name: a, params: {{model: {}/m}}}}\n",
            r.prefix
        );
        let key_variable = r.key_variable;
        let env = Box::new(move |name: &str| match name {
            v if v == key_variable => Some("K".to_owned()),
            "AZURE_API_BASE" => Some("https://res.openai.azure.com".to_owned()),
            "AZURE_AI_API_BASE" => Some("https://res.services.ai.azure.com/models".to_owned()),
            _ => None,
        });
        let config = Config::from_yaml_str(&yaml, ConfigSource::File("gw.yaml".into()), env)
            .unwrap_or_else(|e| panic!("{}: {e}", r.prefix));
        let backend = Backend::new(config.backends[0].clone(), None);
        let p = r.prefix;
        assert_eq!(backend.config.kind, r.kind, "{p}");
        assert_eq!(backend.config.url.to_string(), r.url, "{p}");
        let headers: Vec<(&str, String)> = backend.auth_headers().collect();
        assert_eq!(
            headers[0],
            (r.auth.0, r.auth.1.to_owned()),
            "{p}: key header"
        );
        if r.kind == BackendKind::Anthropic {
            assert_eq!(headers[1], ("anthropic-version", "2023-06-01".to_owned()));
        } else {
            assert_eq!(headers.len(), 1, "{p}");
        }
        assert_eq!(probe_path(&backend), r.probe, "{p}: probe");
        let suffix = if r.kind == BackendKind::Anthropic {
            "/messages"
        } else {
            "/chat/completions"
        };
        assert_eq!(
            backend.request_target(suffix, Some("m"), None),
            r.chat,
            "{p}: chat target"
        );
        assert_eq!(
            config.models["a"][0].upstream_model, "m",
            "{p}: prefix stripped"
        );
    }
}
