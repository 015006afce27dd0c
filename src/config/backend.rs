//! The validated form of `backends` and `models`: each backend's address, key, timeouts,
//! health checks, limits and passthrough paths, and each deployment of a model. Built by
//! `routing_table` from the file's schema.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{AnthropicMode, BackendKind, CapabilityOverrides, Secret};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The OpenAI base path without a trailing slash, e.g. `/v1` or `/openai/v1`.
    pub base_path: String,
}

impl BackendUrl {
    /// The `Host` header value: the port is omitted when it is the scheme's default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `host:port`, for name resolution.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.base_path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub path: Option<String>,
    /// Consecutive failed requests that eject the backend; 0 means never.
    pub eject_after_failures: u32,
    pub cooldown: Duration,
}

#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub kind: BackendKind,
    pub url: BackendUrl,
    pub api_key: Option<Secret>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Bounds the whole request (arrival to last byte), when set.
    pub total_timeout: Option<Duration>,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub health: HealthSettings,
    pub capabilities: CapabilityOverrides,
    pub anthropic: AnthropicMode,
    /// Add `stream_options.include_usage` to streams that lack it (for token metrics).
    pub stream_usage: bool,
    /// `passthrough_paths`: exact paths, or prefixes (from `/*`).
    pub passthrough: Vec<PathPattern>,
    /// `max_concurrency`, with its queue: at most this many requests at once.
    pub concurrency: Option<ConcurrencySettings>,
    /// DER certificates trusted for this backend's TLS instead of the system store.
    pub tls_ca: Option<Arc<[Vec<u8>]>>,
    /// `api-version` for the Azure kinds.
    pub api_version: Option<String>,
}

/// A backend's `max_concurrency` and the queue in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencySettings {
    pub max: u32,
    pub max_queue: u32,
    pub queue_timeout: Duration,
}

/// A path a backend serves as it is: exact, or everything below a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// From `/v1/audio/*`: `/v1/audio/` and below.
    Below(String),
}

impl PathPattern {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Below(prefix) => {
                path.len() > prefix.len() && path.starts_with(prefix.as_str())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    pub backend: usize,
    pub upstream_model: String,
}
