//! The `model_list` format: what each entry becomes, and its errors at its own paths.

use super::*;

fn load(yaml: &str) -> Result<Config, ConfigError> {
    let env: Box<EnvSource> = Box::new(|k| match k {
        "OPENAI_API_KEY" => Some("sk-from-openai-var".into()),
        "GROQ_API_KEY" => Some("gsk-from-groq-var".into()),
        "MASTER" => Some("master-secret".into()),
        _ => None,
    });
    Config::from_yaml_str(yaml, ConfigSource::File("gw.yaml".into()), env)
}

fn errors(yaml: &str) -> Vec<String> {
    load(yaml).expect_err("must be rejected").lines()
}

#[test]
fn entries_become_backends_and_aliases_with_the_prefix_stripped() {
    let c = load(
        "model_list:
  - model_name: gpt-4o
    params:
      model: openai/gpt-4o
  - model_name: llama
    litellm_params:
      model: groq/llama-3.1-8b-instant
  - model_name: llama
    params:
      model: vllm/meta-llama/Llama-3.1-8B-Instruct
      api_base: http://10.0.0.5:8000/v1
      api_key: inline-key
  - model_name: sonar
    params: {model: perplexity/sonar}
general_settings:
  master_key: os.environ/MASTER
",
    )
    .expect("valid");
    assert_eq!(c.format, ConfigFormat::ModelList);
    assert_eq!(
        c.server.listen_addr(),
        "0.0.0.0:4000",
        "the design's defaults without `server:`"
    );
    assert_eq!(c.keys.len(), 1, "master_key is the client key");
    let names: Vec<&str> = c.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["gpt-4o", "llama-1", "llama-2", "sonar"]);
    let openai = &c.backends[0];
    assert_eq!(openai.kind, BackendKind::Openai);
    assert_eq!(openai.url.to_string(), "https://api.openai.com/v1");
    assert_eq!(
        openai.api_key.as_ref().map(Secret::expose),
        Some("sk-from-openai-var"),
        "the provider's key variable when api_key is absent"
    );
    assert_eq!(
        c.backends[1].url.to_string(),
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(
        c.backends[1].api_key.as_ref().map(Secret::expose),
        Some("gsk-from-groq-var")
    );
    assert_eq!(c.backends[2].kind, BackendKind::Vllm);
    assert_eq!(
        c.backends[2].api_key.as_ref().map(Secret::expose),
        Some("inline-key")
    );
    // Perplexity serves at its root: no `/v1` is added to its default address.
    assert_eq!(c.backends[3].url.base_path, "");
    let llama = &c.models["llama"];
    assert_eq!(llama.len(), 2, "two entries, two deployments of one alias");
    assert_eq!(llama[0].upstream_model, "llama-3.1-8b-instant");
    assert_eq!(llama[1].upstream_model, "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(c.models["gpt-4o"][0].upstream_model, "gpt-4o");
}

#[test]
fn a_server_section_and_llmgate_sections_may_stand_beside_it() {
    let c = load(
        "server: {port: 4100}\nlogging: {level: debug}\nmodel_list:\n  - {model_name: m, params: {model: ollama/qwen3:8b}}\n",
    )
    .expect("valid");
    assert_eq!(c.server.listen_addr(), "127.0.0.1:4100");
    assert_eq!(c.logging.level, LogLevel::Debug);
    assert_eq!(c.backends[0].kind, BackendKind::Ollama);
    assert_eq!(c.backends[0].url.to_string(), "http://localhost:11434/v1");
    assert_eq!(c.models["m"][0].upstream_model, "qwen3:8b");
}

#[test]
fn errors_name_the_model_list_key_and_line() {
    assert_eq!(
        errors("model_list:\n  - model_name: m\n    params:\n      model: gpt-4o\n"),
        [
            "gw.yaml: model_list[0].params.model: `gpt-4o` needs a provider prefix, e.g. `openai/gpt-4o` (known: docker_model_runner, openai, anthropic, ollama, groq, mistral, together_ai, deepseek, fireworks_ai, openrouter, perplexity, xai, nvidia_nim, cerebras, sambanova, deepinfra, azure, azure_ai, vllm, lm_studio, huggingface) at line 4"
        ]
    );
    let unknown_key = errors(
        "model_list:\n  - model_name: m\n    params:\n      model: openai/x\n      rpm: 10\n",
    );
    assert!(
        unknown_key[0].contains("model_list[0].params: unknown field `rpm`")
            && unknown_key[0].contains("line 5"),
        "{unknown_key:?}"
    );
    let bad_url = errors(
        "model_list:\n  - model_name: m\n    params:\n      model: vllm/x\n      api_base: nowhere\n",
    );
    assert!(
        bad_url[0].starts_with("gw.yaml: model_list[0].params.api_base:")
            && bad_url[0].ends_with("at line 5"),
        "{bad_url:?}"
    );
}

#[test]
fn num_retries_and_fallbacks_map_onto_retries_and_alias_fallbacks() {
    let c = load(
        "model_list:
  - {model_name: a, params: {model: ollama/a}}
  - {model_name: b, params: {model: ollama/b}}
  - {model_name: c, params: {model: ollama/c}}
general_settings:
  num_retries: 2
  fallbacks:
    - a: [b, c]
    - b: [c]
",
    )
    .expect("valid");
    assert_eq!(c.retries.num_retries, 2);
    assert_eq!(c.fallbacks["a"], ["b", "c"]);
    assert_eq!(c.fallbacks["b"], ["c"]);
    let errs = errors(
        "model_list:\n  - {model_name: a, params: {model: ollama/a}}\ngeneral_settings:\n  fallbacks:\n    - ghost: [a]\n",
    );
    assert_eq!(
        errs,
        [
            "gw.yaml: general_settings.fallbacks[0].ghost: `ghost` is not a model_name of model_list at line 5"
        ]
    );
    let errs = errors(
        "model_list:\n  - {model_name: a, params: {model: ollama/a}}\ngeneral_settings:\n  fallbacks:\n    - a: [nope]\n",
    );
    assert!(
        errs.len() == 1
            && errs[0].starts_with("gw.yaml: general_settings.fallbacks")
            && errs[0].contains("unknown model `nope`"),
        "{errs:?}"
    );
}
