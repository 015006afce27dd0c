//! Wire formats and the route table. Pure code: nothing in `api` may import `pingora_*`,
//! so everything here is unit-testable without a socket.

pub mod anthropic;
pub mod anthropic_upstream;
pub mod error;
pub mod models;
pub mod openai;
pub mod openapi;
pub mod sse_tail;
pub mod upstream_error;
pub mod usage;

/// Which error/envelope dialect a client speaks on a given route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    #[default]
    OpenAi,
    Anthropic,
}

/// What a backend must be able to do for a request to be forwarded to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    Chat,
    Completions,
    Embeddings,
    Streaming,
    Tools,
    Tokenize,
    /// OpenAI's Responses API (`/v1/responses`).
    Responses,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Chat => "chat",
            Capability::Completions => "completions",
            Capability::Embeddings => "embeddings",
            Capability::Streaming => "streaming",
            Capability::Tools => "tools",
            Capability::Tokenize => "tokenize",
            Capability::Responses => "responses",
        }
    }
}

/// Every path the gateway knows. Anything else is `NotFound`, so a backend's admin
/// endpoints (`/slots`, `/metrics`, `/tokenize`, ...) are never reachable through us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Index,
    /// `GET /openapi.json`: the served API, described.
    OpenApi,
    /// `GET /docs`: a page rendering it.
    Docs,
    Livez,
    Readyz,
    Health,
    Metrics,
    Models,
    /// `GET /v1/models/{id}`: one model, looked up by alias.
    Model,
    ChatCompletions,
    Completions,
    Embeddings,
    /// OpenAI's Responses API, passed through to backends that serve it.
    Responses,
    /// Anthropic Messages, terminated and translated at the gateway.
    Messages,
    CountTokens,
    /// A path a backend lists in `passthrough_paths` (`/tokenize`, `/v1/rerank`, ...).
    Passthrough,
    NotFound,
}

impl Route {
    /// Matches the path part of a request target (the query string must already be cut off).
    pub fn from_path(path: &str) -> Route {
        match path {
            "/" => Route::Index,
            "/openapi.json" => Route::OpenApi,
            "/docs" => Route::Docs,
            "/livez" => Route::Livez,
            "/readyz" => Route::Readyz,
            "/health" => Route::Health,
            "/metrics" => Route::Metrics,
            "/v1/models" => Route::Models,
            "/v1/chat/completions" => Route::ChatCompletions,
            "/v1/completions" => Route::Completions,
            "/v1/embeddings" => Route::Embeddings,
            "/v1/responses" => Route::Responses,
            "/v1/messages" => Route::Messages,
            "/v1/messages/count_tokens" => Route::CountTokens,
            _ if path.len() > MODEL_PREFIX.len() && path.starts_with(MODEL_PREFIX) => Route::Model,
            _ => Route::NotFound,
        }
    }

    /// Routes that reach a model (what the inference metrics count).
    pub fn is_inference(self) -> bool {
        matches!(
            self,
            Route::ChatCompletions
                | Route::Completions
                | Route::Embeddings
                | Route::Responses
                | Route::Messages
        )
    }

    /// The bounded label used for metrics and logs: a template, never the raw client path.
    pub fn template(self) -> &'static str {
        match self {
            Route::Index => "/",
            Route::OpenApi => "/openapi.json",
            Route::Docs => "/docs",
            Route::Livez => "/livez",
            Route::Readyz => "/readyz",
            Route::Health => "/health",
            Route::Metrics => "/metrics",
            Route::Models => "/v1/models",
            Route::Model => "/v1/models/{model}",
            Route::ChatCompletions => "/v1/chat/completions",
            Route::Completions => "/v1/completions",
            Route::Embeddings => "/v1/embeddings",
            Route::Responses => "/v1/responses",
            Route::Passthrough => "passthrough",
            Route::Messages => "/v1/messages",
            Route::CountTokens => "/v1/messages/count_tokens",
            Route::NotFound => "other",
        }
    }

    /// Served by the gateway itself; never needs an API key.
    pub fn is_local_probe(self) -> bool {
        matches!(
            self,
            Route::Index
                | Route::OpenApi
                | Route::Docs
                | Route::Livez
                | Route::Readyz
                | Route::Health
                | Route::Metrics
        )
    }

    /// The HTTP method the route accepts.
    pub fn method(self) -> &'static str {
        match self {
            Route::ChatCompletions
            | Route::Completions
            | Route::Embeddings
            | Route::Responses
            | Route::Messages
            | Route::CountTokens => "POST",
            _ => "GET",
        }
    }

    /// The error dialect of the request: the route's, except that the model endpoints,
    /// shared by both SDKs, answer Anthropic's when the client sent `anthropic-version`.
    pub fn dialect_for(self, anthropic_version: bool) -> Dialect {
        match self {
            Route::Models | Route::Model if anthropic_version => Dialect::Anthropic,
            _ => self.dialect(),
        }
    }

    /// The error dialect of the route.
    pub fn dialect(self) -> Dialect {
        match self {
            Route::Messages | Route::CountTokens => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }

    /// For proxied inference routes: the path below the backend's OpenAI base URL and the
    /// capability the backend needs.
    pub fn upstream(self) -> Option<(&'static str, Capability)> {
        match self {
            Route::ChatCompletions => Some(("/chat/completions", Capability::Chat)),
            Route::Completions => Some(("/completions", Capability::Completions)),
            Route::Embeddings => Some(("/embeddings", Capability::Embeddings)),
            Route::Responses => Some(("/responses", Capability::Responses)),
            _ => None,
        }
    }
}

/// The path prefix of `GET /v1/models/{id}`.
pub const MODEL_PREFIX: &str = "/v1/models/";

/// Splits a request target into path and query (without the `?`).
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_are_not_found_and_label_as_other() {
        for path in [
            "/slots",
            "/tokenize",
            "/v1/chat/completions/",
            "/metrics/x",
            "",
        ] {
            let route = Route::from_path(path);
            assert_eq!(route, Route::NotFound, "{path}");
            assert_eq!(route.template(), "other");
        }
    }

    #[test]
    fn inference_routes_map_to_backend_paths_and_capabilities() {
        assert_eq!(
            Route::from_path("/v1/embeddings").upstream(),
            Some(("/embeddings", Capability::Embeddings))
        );
        assert_eq!(Route::from_path("/v1/models").upstream(), None);
        assert!(Route::from_path("/livez").is_local_probe());
        assert!(!Route::from_path("/v1/models").is_local_probe());
    }

    #[test]
    fn split_target_separates_query() {
        assert_eq!(
            split_target("/v1/messages?beta=true"),
            ("/v1/messages", Some("beta=true"))
        );
        assert_eq!(split_target("/livez"), ("/livez", None));
    }
}
