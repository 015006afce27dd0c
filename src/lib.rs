//! llmgate: an LLM API gateway on Pingora.
//!
//! OpenAI-compatible traffic is proxied byte-for-byte to the backend deployment that serves
//! the requested model; the gateway adds API keys, limits, health-aware routing, metrics
//! and logs. `main.rs` only parses arguments and calls into this library, so tests boot
//! the same server in-process.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod config;
pub mod lifecycle;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod random;
pub mod redact;
pub mod redirect;
pub mod reload;
pub mod routing;
pub mod runtime;
pub mod server;
pub mod systemd;
pub mod tls;

pub use config::{Config, ConfigError, ConfigSource};
pub use server::{BuildOptions, GatewayHandle, build_server};
