//! Client-facing errors produced by the gateway itself, and their one mapping to an HTTP
//! status, a dialect-shaped JSON body and a bounded metric label.

use serde_json::json;

/// An error the gateway answers on its own (as opposed to an error body a backend sent,
/// which OpenAI routes pass through untouched).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("invalid or missing API key; send it as `Authorization: Bearer <key>` or `x-api-key`")]
    Unauthorized,
    #[error("no route for {method} {path}; see GET / for the endpoint map")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed on {path}; use {allowed}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: &'static str,
    },
    #[error("the model `{model}` does not exist or is not served here; served models: {}", served_list(.served))]
    ModelNotFound { model: String, served: Vec<String> },
    /// The request itself is broken at the HTTP level (framing, encoding), not its JSON.
    #[error("malformed request: {message}")]
    MalformedRequest { message: String },
    #[error("timed out waiting for the client to send the request ({message})")]
    RequestTimeout { message: String },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("request headers exceed the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("rate limit exceeded for this API key; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("too many concurrent requests for this API key (limit {limit})")]
    TooManyInflight { limit: u32 },
    #[error(
        "{kind} token rate limit exceeded for this {scope} ({per_minute} per minute); retry after {retry_after_s} s"
    )]
    TokensExhausted {
        /// `API key` or `model`.
        scope: &'static str,
        /// `input` or `output`.
        kind: &'static str,
        per_minute: u64,
        retry_after_s: u64,
    },
    #[error("too many concurrent streams for this API key (limit {limit})")]
    TooManyStreams { limit: u32 },
    #[error(
        "backend `{backend}` is serving its maximum of {limit} requests and its queue is {why}; retry shortly"
    )]
    Saturated {
        backend: String,
        limit: u32,
        /// `full` or `not moving`.
        why: &'static str,
    },
    #[error("backend `{backend}` ({display}) does not support {capability}")]
    NotImplemented {
        backend: String,
        display: &'static str,
        capability: &'static str,
    },
    #[error("{message}")]
    BadGateway { message: String },
    #[error("{message}")]
    GatewayTimeout { message: String },
    #[error("{message}")]
    Unavailable { message: String },
    #[error("{message}")]
    Internal { message: String },
}

fn served_list(served: &[String]) -> String {
    if served.is_empty() {
        "(none)".to_owned()
    } else {
        served.join(", ")
    }
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::MalformedRequest { .. } => 400,
            ApiError::RequestTimeout { .. } => 408,
            ApiError::Unauthorized => 401,
            ApiError::NotFound { .. } | ApiError::ModelNotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::HeadersTooLarge { .. } => 431,
            ApiError::RateLimited { .. }
            | ApiError::TooManyInflight { .. }
            | ApiError::TokensExhausted { .. }
            | ApiError::TooManyStreams { .. } => 429,
            ApiError::Internal { .. } => 500,
            ApiError::NotImplemented { .. } => 501,
            ApiError::BadGateway { .. } => 502,
            ApiError::Unavailable { .. } | ApiError::Saturated { .. } => 503,
            ApiError::GatewayTimeout { .. } => 504,
        }
    }

    /// OpenAI's `error.type`.
    pub fn openai_type(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. }
            | ApiError::MalformedRequest { .. }
            | ApiError::RequestTimeout { .. }
            | ApiError::NotFound { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::ModelNotFound { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::NotImplemented { .. } => "invalid_request_error",
            ApiError::Unauthorized => "authentication_error",
            ApiError::RateLimited { .. }
            | ApiError::TooManyInflight { .. }
            | ApiError::TokensExhausted { .. }
            | ApiError::TooManyStreams { .. } => "rate_limit_error",
            ApiError::BadGateway { .. }
            | ApiError::GatewayTimeout { .. }
            | ApiError::Unavailable { .. }
            | ApiError::Saturated { .. }
            | ApiError::Internal { .. } => "server_error",
        }
    }

    /// OpenAI's `error.code`; doubles as the bounded metric/log label.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::MalformedRequest { .. } => "malformed_request",
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::Unauthorized => "invalid_api_key",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::ModelNotFound { .. } => "model_not_found",
            ApiError::PayloadTooLarge { .. } => "request_too_large",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::TooManyInflight { .. } => "concurrency_limit_exceeded",
            ApiError::TokensExhausted { .. } => "token_rate_limit_exceeded",
            ApiError::TooManyStreams { .. } => "stream_limit_exceeded",
            ApiError::Saturated { .. } => "backend_saturated",
            ApiError::NotImplemented { .. } => "unsupported_capability",
            ApiError::BadGateway { .. } => "bad_gateway",
            ApiError::GatewayTimeout { .. } => "gateway_timeout",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Internal { .. } => "internal_error",
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::InvalidRequest { param, .. } => *param,
            ApiError::ModelNotFound { .. } => Some("model"),
            _ => None,
        }
    }

    /// Seconds for a `retry-after` header, where one applies.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s } => Some(*retry_after_s),
            ApiError::TooManyInflight { .. }
            | ApiError::TooManyStreams { .. }
            | ApiError::Saturated { .. } => Some(1),
            ApiError::TokensExhausted { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// Whether the client caused this at the HTTP level; such a connection is not reused.
    pub fn client_fault_kind(&self) -> Option<&'static str> {
        match self {
            ApiError::MalformedRequest { .. } => Some("malformed"),
            ApiError::RequestTimeout { .. } => Some("timeout"),
            _ => None,
        }
    }

    /// `{"error":{"message","type","param","code"}}`, OpenAI's envelope.
    pub fn to_openai_body(&self) -> Vec<u8> {
        let body = json!({
            "error": {
                "message": self.to_string(),
                "type": self.openai_type(),
                "param": self.param(),
                "code": self.code(),
            }
        });
        body.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(e: &ApiError) -> Value {
        serde_json::from_slice(&e.to_openai_body()).expect("error body is JSON")
    }

    #[test]
    fn model_not_found_lists_served_models_in_openai_envelope() {
        let e = ApiError::ModelNotFound {
            model: "gpt-9".into(),
            served: vec!["llama".into(), "qwen".into()],
        };
        assert_eq!(e.status(), 404);
        let v = body(&e);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(
            msg.contains("gpt-9") && msg.contains("llama, qwen"),
            "{msg}"
        );
    }

    #[test]
    fn not_implemented_names_backend_and_capability() {
        let e = ApiError::NotImplemented {
            backend: "tgi0".into(),
            display: "Hugging Face TGI",
            capability: "embeddings",
        };
        assert_eq!(e.status(), 501);
        let v = body(&e);
        assert_eq!(
            v["error"]["message"],
            "backend `tgi0` (Hugging Face TGI) does not support embeddings"
        );
        assert!(v["error"]["param"].is_null());
    }

    #[test]
    fn every_variant_has_the_four_openai_fields() {
        let all = [
            ApiError::invalid("x"),
            ApiError::Unauthorized,
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::RateLimited { retry_after_s: 3 },
            ApiError::BadGateway {
                message: "down".into(),
            },
            ApiError::MalformedRequest {
                message: "bad chunk".into(),
            },
            ApiError::RequestTimeout {
                message: "body".into(),
            },
            ApiError::GatewayTimeout {
                message: "slow".into(),
            },
        ];
        for e in all {
            let v = body(&e);
            let obj = v["error"].as_object().expect("error object");
            for key in ["message", "type", "param", "code"] {
                assert!(obj.contains_key(key), "{e:?} lacks {key}");
            }
        }
    }
}
