//! The schema of the routing table: `backends` (with their health checks and capability
//! overrides) and `models`. Part of [`super`]: same conventions (unknown keys denied, every
//! non-string value typed after interpolation).

use serde::Deserialize;

use super::yes;
use crate::config::interpolate;

/// The runtime behind a backend. One row per kind in `backends::profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Vllm,
    Ollama,
    Llamacpp,
    Tgi,
    Sglang,
    Localai,
    Lmstudio,
    Openai,
    /// Azure OpenAI: `{url}/openai/deployments/{deployment}/...?api-version=`, `api-key`.
    Azure,
    /// Azure AI Foundry model inference: `{url}/chat/completions?api-version=`, `api-key`.
    #[serde(rename = "azure_ai")]
    AzureAi,
    /// Anthropic's Messages API: `/v1/messages` is forwarded natively, OpenAI chat is
    /// translated to it; `x-api-key` and `anthropic-version`.
    Anthropic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    pub name: String,
    #[serde(deserialize_with = "interpolate::typed")]
    pub kind: BackendKind,
    /// The OpenAI base URL, as you would give the OpenAI SDK (`http://10.0.0.5:8000/v1`).
    /// A URL without a path gets `/v1`.
    #[serde(deserialize_with = "interpolate::string")]
    pub url: String,
    /// Sent upstream as `Authorization: Bearer <api_key>`. Client keys never are.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub api_key: Option<String>,
    #[serde(
        default = "default_connect_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub connect_timeout_ms: u64,
    /// Per read from the backend: bounds time to first byte and every gap in a stream.
    /// Non-streaming responses only start after the whole generation, hence the default.
    #[serde(
        default = "default_read_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub read_timeout_ms: u64,
    /// The whole request, from its arrival to the last byte of the answer (streams
    /// included), whatever the per-read timeout allows. Unset: no such bound.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub total_timeout_ms: Option<u64>,
    #[serde(
        default = "default_write_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub write_timeout_ms: u64,
    /// Idle pooled connections are dropped after this. Keep it under the backend's own
    /// keep-alive (5 s on uvicorn and llama.cpp) so a reused connection is never stale.
    #[serde(
        default = "default_idle_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub idle_timeout_ms: u64,
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Override what the kind's profile says the backend can do.
    #[serde(default)]
    pub capabilities: CapabilityOverrides,
    /// `/v1/messages`: `translate` to OpenAI chat, forward to the backend's own Anthropic
    /// endpoint (`native`; recent vLLM, llama.cpp, Ollama, LM Studio), or probe once
    /// (`auto`).
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub anthropic: AnthropicMode,
    /// Ask for `stream_options.include_usage` on streams whose client did not, so token
    /// metrics see every stream (the extra usage chunk is removed before the client sees
    /// it). Default: on for the local runtimes and Azure, off for `openai` (hosted APIs
    /// differ) and the kinds that do not speak OpenAI streams.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub stream_usage: Option<bool>,
    /// Paths of the backend's own API the gateway passes through as they are, with the
    /// same auth, limits, logs and metrics (`/tokenize`, `/v1/rerank`, `/v1/audio/*`: a
    /// trailing `/*` takes everything below). Relative to the server root.
    #[serde(default)]
    pub passthrough_paths: Vec<String>,
    /// Requests this backend serves at once; more wait in a queue. Unset: no bound.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub max_concurrency: Option<u32>,
    /// Requests that may wait for a `max_concurrency` slot; beyond, 503 at once.
    #[serde(default = "default_max_queue", deserialize_with = "interpolate::typed")]
    pub max_queue: u32,
    /// How long a request waits for a slot before it gets a 503.
    #[serde(
        default = "default_queue_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub queue_timeout_ms: u64,
    /// For `https://` backends signed by a private CA: a PEM bundle trusted for this
    /// backend instead of the system store. Relative paths are relative to the config file.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub tls_ca_file: Option<String>,
    /// `azure` and `azure_ai`: the `api-version` query parameter (defaults: 2024-10-21 and
    /// 2024-05-01-preview).
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub api_version: Option<String>,
    /// The API is served at the root of `url` (no `/v1` is added to a URL without a
    /// path). Not a key of this format: set for `model_list` providers that need it.
    #[serde(skip)]
    pub root_path: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnthropicMode {
    Translate,
    Native,
    #[default]
    Auto,
}

fn default_connect_timeout_ms() -> u64 {
    5_000
}
fn default_read_timeout_ms() -> u64 {
    600_000
}
fn default_write_timeout_ms() -> u64 {
    60_000
}
fn default_idle_timeout_ms() -> u64 {
    4_000
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub enabled: bool,
    #[serde(
        default = "default_health_interval_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub interval_ms: u64,
    #[serde(
        default = "default_health_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub timeout_ms: u64,
    /// Replace the kind's probe path (relative to the server root, e.g. `/health`).
    #[serde(default)]
    pub path: Option<String>,
    /// Passive health: after this many consecutive failed requests (connect error, reset,
    /// timeout, 5xx, 429) the backend is taken out of first choice; 0 turns it off.
    #[serde(
        default = "default_eject_after_failures",
        deserialize_with = "interpolate::typed"
    )]
    pub eject_after_failures: u32,
    /// How long an ejected backend stays out of first choice, unless a probe passes first.
    /// A longer `Retry-After` on the failing 429/503 is honoured (up to 5 minutes).
    #[serde(
        default = "default_cooldown_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub cooldown_ms: u64,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: true,
            interval_ms: default_health_interval_ms(),
            timeout_ms: default_health_timeout_ms(),
            path: None,
            eject_after_failures: default_eject_after_failures(),
            cooldown_ms: default_cooldown_ms(),
        }
    }
}

fn default_health_interval_ms() -> u64 {
    5_000
}
fn default_health_timeout_ms() -> u64 {
    2_000
}
fn default_eject_after_failures() -> u32 {
    3
}
fn default_cooldown_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityOverrides {
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub chat: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub completions: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub embeddings: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub streaming: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub tools: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub tokenize: Option<bool>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub responses: Option<bool>,
}

fn default_max_queue() -> u32 {
    64
}

fn default_queue_timeout_ms() -> u64 {
    30_000
}

/// A client-facing model name. Either `backend` (one deployment) or `deployments`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    #[serde(default)]
    pub backend: Option<String>,
    /// The name the backend serves the model under; defaults to the alias itself.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub upstream_model: Option<String>,
    #[serde(default)]
    pub deployments: Vec<Deployment>,
    /// Aliases tried in order, with their own deployments and upstream names, when every
    /// attempt on this one failed before a byte reached the client.
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub backend: String,
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub upstream_model: Option<String>,
}
