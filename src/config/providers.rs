//! Provider prefixes of the `model_list` format (`openai/gpt-4o`, `groq/llama-3.1-8b`):
//! for each, the backend kind llmgate drives it as, its default base URL, and the
//! environment variable its key is read from when `api_key` is not given. See
//! docs/providers.md, which lists the same table.

use super::file::BackendKind;

/// One provider prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provider {
    pub prefix: &'static str,
    pub display: &'static str,
    pub kind: BackendKind,
    /// `None` when the provider has no fixed address (`api_base` is required).
    pub default_base: Option<&'static str>,
    /// Read when `api_key` is absent.
    pub key_variable: Option<&'static str>,
    /// Read when `api_base` is absent, before `default_base`.
    pub base_variable: Option<&'static str>,
    /// Read when `api_version` is absent (the Azure kinds).
    pub version_variable: Option<&'static str>,
    /// The provider serves its API at the root of `default_base` (no `/v1` is added).
    pub root_path: bool,
}

/// A hosted OpenAI-compatible API.
const fn hosted(
    prefix: &'static str,
    display: &'static str,
    base: &'static str,
    key: &'static str,
) -> Provider {
    local(prefix, display, BackendKind::Openai, base, key)
}

/// A provider with a fixed default address, driven as `kind`.
const fn local(
    prefix: &'static str,
    display: &'static str,
    kind: BackendKind,
    base: &'static str,
    key: &'static str,
) -> Provider {
    Provider {
        prefix,
        display,
        kind,
        default_base: Some(base),
        key_variable: Some(key),
        base_variable: None,
        version_variable: None,
        root_path: false,
    }
}

/// Every prefix the format names, in its order.
pub const PROVIDERS: &[Provider] = &[
    local(
        "docker_model_runner",
        "Docker Model Runner",
        BackendKind::Openai,
        "http://localhost:12434/engines/v1",
        "DOCKER_MODEL_RUNNER_API_KEY",
    ),
    hosted(
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    ),
    local(
        "anthropic",
        "Anthropic",
        BackendKind::Anthropic,
        "https://api.anthropic.com/v1",
        "ANTHROPIC_API_KEY",
    ),
    local(
        "ollama",
        "Ollama",
        BackendKind::Ollama,
        "http://localhost:11434/v1",
        "OLLAMA_API_KEY",
    ),
    hosted(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
    ),
    hosted(
        "mistral",
        "Mistral AI",
        "https://api.mistral.ai/v1",
        "MISTRAL_API_KEY",
    ),
    hosted(
        "together_ai",
        "Together AI",
        "https://api.together.xyz/v1",
        "TOGETHERAI_API_KEY",
    ),
    hosted(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
    hosted(
        "fireworks_ai",
        "Fireworks AI",
        "https://api.fireworks.ai/inference/v1",
        "FIREWORKS_AI_API_KEY",
    ),
    hosted(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    Provider {
        root_path: true,
        ..hosted(
            "perplexity",
            "Perplexity",
            "https://api.perplexity.ai",
            "PERPLEXITYAI_API_KEY",
        )
    },
    hosted("xai", "xAI", "https://api.x.ai/v1", "XAI_API_KEY"),
    hosted(
        "nvidia_nim",
        "NVIDIA NIM",
        "https://integrate.api.nvidia.com/v1",
        "NVIDIA_NIM_API_KEY",
    ),
    hosted(
        "cerebras",
        "Cerebras",
        "https://api.cerebras.ai/v1",
        "CEREBRAS_API_KEY",
    ),
    hosted(
        "sambanova",
        "SambaNova",
        "https://api.sambanova.ai/v1",
        "SAMBANOVA_API_KEY",
    ),
    hosted(
        "deepinfra",
        "DeepInfra",
        "https://api.deepinfra.com/v1/openai",
        "DEEPINFRA_API_KEY",
    ),
    Provider {
        prefix: "azure",
        display: "Azure OpenAI",
        kind: BackendKind::Azure,
        default_base: None,
        key_variable: Some("AZURE_API_KEY"),
        base_variable: Some("AZURE_API_BASE"),
        version_variable: Some("AZURE_API_VERSION"),
        root_path: false,
    },
    Provider {
        prefix: "azure_ai",
        display: "Azure AI Foundry",
        kind: BackendKind::AzureAi,
        default_base: None,
        key_variable: Some("AZURE_AI_API_KEY"),
        base_variable: Some("AZURE_AI_API_BASE"),
        version_variable: Some("AZURE_AI_API_VERSION"),
        root_path: false,
    },
    local(
        "vllm",
        "vLLM",
        BackendKind::Vllm,
        "http://localhost:8000/v1",
        "VLLM_API_KEY",
    ),
    local(
        "lm_studio",
        "LM Studio",
        BackendKind::Lmstudio,
        "http://localhost:1234/v1",
        "LM_STUDIO_API_KEY",
    ),
    hosted(
        "huggingface",
        "Hugging Face Inference Providers",
        "https://router.huggingface.co/v1",
        "HF_TOKEN",
    ),
];

/// The provider of `model` (`<prefix>/<upstream model>`) and the upstream model name.
///
/// # Errors
/// No prefix, an unknown one, or an empty model name; the message lists the prefixes.
pub fn split(model: &str) -> Result<(&'static Provider, &str), String> {
    let Some((prefix, upstream)) = model.split_once('/') else {
        return Err(format!(
            "`{model}` needs a provider prefix, e.g. `openai/{model}` (known: {})",
            known()
        ));
    };
    let provider = PROVIDERS
        .iter()
        .find(|p| p.prefix == prefix)
        .ok_or_else(|| format!("unknown provider `{prefix}` (known: {})", known()))?;
    if upstream.trim().is_empty() {
        return Err(format!("`{model}` names no model after `{prefix}/`"));
    }
    Ok((provider, upstream))
}

fn known() -> String {
    PROVIDERS
        .iter()
        .map(|p| p.prefix)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_of_the_format_is_known_and_strips_once() {
        for prefix in [
            "docker_model_runner",
            "openai",
            "anthropic",
            "ollama",
            "groq",
            "mistral",
            "together_ai",
            "deepseek",
            "fireworks_ai",
            "openrouter",
            "perplexity",
            "xai",
            "nvidia_nim",
            "cerebras",
            "sambanova",
            "deepinfra",
            "azure",
            "azure_ai",
            "vllm",
            "lm_studio",
            "huggingface",
        ] {
            let model = format!("{prefix}/org/model-1");
            let (p, upstream) = split(&model).expect(prefix);
            assert_eq!(p.prefix, prefix);
            assert_eq!(upstream, "org/model-1", "only the prefix is stripped");
        }
        assert_eq!(PROVIDERS.len(), 21);
    }

    #[test]
    fn bad_models_say_why() {
        assert!(
            split("gpt-4o")
                .expect_err("no prefix")
                .contains("openai/gpt-4o")
        );
        assert!(
            split("bedrock/x")
                .expect_err("unknown")
                .contains("unknown provider `bedrock`")
        );
        assert!(
            split("openai/")
                .expect_err("empty")
                .contains("names no model")
        );
    }
}
