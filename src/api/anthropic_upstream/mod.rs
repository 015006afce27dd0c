//! The other direction: OpenAI clients in front of an Anthropic upstream (`anthropic/`
//! models). An OpenAI chat request becomes a Messages request ([`request`]); the answer
//! becomes a chat completion ([`response`]), and its SSE chunk by chunk ([`stream`]).
//! Pure code, no Pingora types. Not wired to a route yet (issue 8): docs/providers.md
//! lists the prefix as not served.

pub mod request;
pub mod response;
pub mod stream;
