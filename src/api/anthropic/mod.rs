//! The Anthropic Messages facade as pure functions (see ../shared/docs/translation-spec.md):
//! request validation, normalisation and translation to an OpenAI chat request; the
//! non-streaming and streaming response translations; error envelopes; token counting.
//! Nothing here knows about Pingora or sockets.

pub mod count;
pub mod error;
pub mod ids;
pub mod request;
pub mod response;
pub mod sse;
pub mod stream;
mod tool_calls;
pub mod translate;
mod validate;

pub use error::AnthropicError;

/// Per-runtime translation knobs (spec §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Generic,
    Vllm,
    Llamacpp,
    Ollama,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub flavor: Flavor,
    /// `top_k` is non-standard: hosted OpenAI rejects it and TGI ignores it.
    pub send_top_k: bool,
}

impl Profile {
    pub const fn new(flavor: Flavor) -> Profile {
        Profile {
            flavor,
            send_top_k: true,
        }
    }

    /// Where assistant reasoning goes when replayed upstream.
    pub fn reasoning_field(&self) -> &'static str {
        match self.flavor {
            Flavor::Vllm | Flavor::Ollama => "reasoning",
            Flavor::Generic | Flavor::Llamacpp => "reasoning_content",
        }
    }
}

/// What to do with input the backend cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    Reject,
    Drop,
}

/// Gateway-wide translation options (spec vector `config`); the defaults are the spec's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub strip_billing_header: bool,
    pub unsupported_tools: Unsupported,
    /// PDF documents: reject, or send as an OpenAI `file` part.
    pub pdf_as_file_part: bool,
    /// Replay earlier thinking upstream as the reasoning field.
    pub history_thinking: bool,
    /// Emit each tool's arguments once, when the tool call is complete (for models that
    /// produce malformed JSON).
    pub buffered_tool_args: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strip_billing_header: true,
            unsupported_tools: Unsupported::Reject,
            pdf_as_file_part: false,
            history_thinking: true,
            buffered_tool_args: false,
        }
    }
}
