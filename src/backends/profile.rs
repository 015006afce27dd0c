//! One row per inference runtime: what it is called, how to tell it is ready, and what it
//! can serve. The facts come from each runtime's server code (see docs/backends.md).

use crate::api::Capability;
use crate::config::{BackendKind, CapabilityOverrides};

/// What a backend can serve. The profile gives the defaults; config may override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub chat: bool,
    pub completions: bool,
    pub embeddings: bool,
    pub streaming: bool,
    pub tools: bool,
    pub tokenize: bool,
    pub responses: bool,
}

impl Capabilities {
    pub fn supports(&self, c: Capability) -> bool {
        match c {
            Capability::Chat => self.chat,
            Capability::Completions => self.completions,
            Capability::Embeddings => self.embeddings,
            Capability::Streaming => self.streaming,
            Capability::Tools => self.tools,
            Capability::Tokenize => self.tokenize,
            Capability::Responses => self.responses,
        }
    }

    pub fn with_overrides(self, o: &CapabilityOverrides) -> Capabilities {
        Capabilities {
            chat: o.chat.unwrap_or(self.chat),
            completions: o.completions.unwrap_or(self.completions),
            embeddings: o.embeddings.unwrap_or(self.embeddings),
            streaming: o.streaming.unwrap_or(self.streaming),
            tools: o.tools.unwrap_or(self.tools),
            tokenize: o.tokenize.unwrap_or(self.tokenize),
            responses: o.responses.unwrap_or(self.responses),
        }
    }

    /// The names of the supported capabilities, for `/health`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            Capability::Chat,
            Capability::Completions,
            Capability::Embeddings,
            Capability::Streaming,
            Capability::Tools,
            Capability::Tokenize,
            Capability::Responses,
        ]
        .into_iter()
        .filter(|c| self.supports(*c))
        .map(Capability::as_str)
        .collect()
    }
}

/// Where a readiness probe path is rooted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeBase {
    /// The server root (`http://host:port/health`): runtimes' own health routes.
    Root,
    /// The OpenAI base URL (`https://provider/v1` + `/models`): hosted APIs have no root.
    ApiBase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub path: &'static str,
    pub base: ProbeBase,
    /// Send the backend's API key with the probe (hosted APIs authenticate everything).
    pub with_auth: bool,
    /// A status and a body fragment meaning "up, but still loading the model".
    pub loading: Option<(u16, &'static str)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub kind: BackendKind,
    pub display_name: &'static str,
    pub probe: Probe,
    pub capabilities: Capabilities,
}

const ALL: Capabilities = Capabilities {
    chat: true,
    completions: true,
    embeddings: true,
    streaming: true,
    tools: true,
    tokenize: true,
    responses: true,
};

/// Runtimes without OpenAI's Responses API (`/v1/responses`).
const NO_RESPONSES: Capabilities = Capabilities {
    responses: false,
    ..ALL
};

/// Everything but tokenize: hosted and OpenAI-compatible APIs have no tokenize route.
const NO_TOKENIZE: Capabilities = Capabilities {
    tokenize: false,
    ..ALL
};

/// A probe that lists models with the backend's key: costs no tokens.
const fn keyed_probe(path: &'static str, base: ProbeBase) -> Probe {
    Probe {
        path,
        base,
        with_auth: true,
        loading: None,
    }
}

const fn root_probe(path: &'static str) -> Probe {
    Probe {
        path,
        base: ProbeBase::Root,
        with_auth: false,
        loading: None,
    }
}

static PROFILES: [Profile; 11] = [
    Profile {
        kind: BackendKind::Vllm,
        display_name: "vLLM",
        // Refuses connections until the weights are loaded; then /health is 200 (empty).
        probe: root_probe("/health"),
        capabilities: ALL,
    },
    Profile {
        kind: BackendKind::Ollama,
        display_name: "Ollama",
        // Up at once and loads models lazily; /api/tags is cheap and proves the API works.
        probe: root_probe("/api/tags"),
        capabilities: Capabilities {
            tokenize: false,
            ..NO_RESPONSES
        },
    },
    Profile {
        kind: BackendKind::Llamacpp,
        display_name: "llama.cpp llama-server",
        // Answers 503 {"error":{"message":"Loading model",...}} on every route while loading.
        probe: Probe {
            loading: Some((503, "Loading model")),
            ..root_probe("/health")
        },
        capabilities: ALL,
    },
    Profile {
        kind: BackendKind::Tgi,
        display_name: "Hugging Face TGI",
        probe: root_probe("/health"),
        // TGI has no /v1/embeddings route (a bare 404 upstream).
        capabilities: Capabilities {
            embeddings: false,
            ..NO_RESPONSES
        },
    },
    Profile {
        kind: BackendKind::Sglang,
        display_name: "SGLang",
        // Never /health: on SGLang it runs a one-token generation on every call.
        probe: Probe {
            loading: Some((503, "")),
            ..root_probe("/ready")
        },
        capabilities: NO_RESPONSES,
    },
    Profile {
        kind: BackendKind::Localai,
        display_name: "LocalAI",
        // /readyz is 503 {"status":"starting"} while models preload.
        probe: Probe {
            loading: Some((503, "starting")),
            ..root_probe("/readyz")
        },
        capabilities: NO_RESPONSES,
    },
    Profile {
        kind: BackendKind::Lmstudio,
        display_name: "LM Studio",
        probe: keyed_probe("/models", ProbeBase::ApiBase),
        capabilities: NO_TOKENIZE,
    },
    Profile {
        kind: BackendKind::Openai,
        display_name: "OpenAI-compatible API",
        probe: keyed_probe("/models", ProbeBase::ApiBase),
        capabilities: NO_TOKENIZE,
    },
    Profile {
        kind: BackendKind::Azure,
        display_name: "Azure OpenAI",
        // The resource's model list (`api-version` is added to every Azure path).
        probe: keyed_probe("/openai/models", ProbeBase::Root),
        capabilities: NO_TOKENIZE,
    },
    Profile {
        kind: BackendKind::AzureAi,
        display_name: "Azure AI Foundry",
        probe: keyed_probe("/info", ProbeBase::ApiBase),
        capabilities: Capabilities {
            completions: false,
            responses: false,
            ..NO_TOKENIZE
        },
    },
    Profile {
        kind: BackendKind::Anthropic,
        display_name: "Anthropic",
        // GET /v1/models with the key: authenticated, and costs no tokens.
        probe: keyed_probe("/models", ProbeBase::ApiBase),
        // Messages has no legacy completions, no embeddings and no tokenizer route
        // (token counts go to its own `/v1/messages/count_tokens`).
        capabilities: Capabilities {
            completions: false,
            embeddings: false,
            responses: false,
            ..NO_TOKENIZE
        },
    },
];

/// The profile row for a runtime kind.
pub fn profile(kind: BackendKind) -> &'static Profile {
    PROFILES
        .iter()
        .find(|p| p.kind == kind)
        .unwrap_or(&PROFILES[PROFILES.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [BackendKind; 11] = [
        BackendKind::Vllm,
        BackendKind::Ollama,
        BackendKind::Llamacpp,
        BackendKind::Tgi,
        BackendKind::Sglang,
        BackendKind::Localai,
        BackendKind::Lmstudio,
        BackendKind::Openai,
        BackendKind::Azure,
        BackendKind::AzureAi,
        BackendKind::Anthropic,
    ];

    #[test]
    fn every_kind_has_exactly_one_row() {
        for kind in KINDS {
            assert_eq!(
                PROFILES.iter().filter(|p| p.kind == kind).count(),
                1,
                "{kind:?}"
            );
            assert_eq!(profile(kind).kind, kind);
        }
    }

    #[test]
    fn probes_follow_each_runtime() {
        assert_eq!(profile(BackendKind::Sglang).probe.path, "/ready");
        assert_eq!(profile(BackendKind::Ollama).probe.path, "/api/tags");
        assert_eq!(
            profile(BackendKind::Llamacpp).probe.loading,
            Some((503, "Loading model"))
        );
        assert_eq!(profile(BackendKind::Openai).probe.base, ProbeBase::ApiBase);
    }

    #[test]
    fn tgi_lacks_embeddings_and_overrides_apply() {
        let tgi = profile(BackendKind::Tgi).capabilities;
        assert!(!tgi.supports(Capability::Embeddings));
        let forced = tgi.with_overrides(&CapabilityOverrides {
            embeddings: Some(true),
            tools: Some(false),
            ..CapabilityOverrides::default()
        });
        assert!(forced.embeddings && !forced.tools && forced.chat);
        assert!(!profile(BackendKind::Ollama).capabilities.tokenize);
    }
}
