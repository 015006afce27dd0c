//! The schema of `limits`: request rates, concurrency and streams per key, token budgets
//! per key and per model, and where they are counted (this process or Redis). Part of
//! [`super`]: same conventions (unknown keys denied, every non-string value typed after
//! interpolation).

use serde::Deserialize;

use crate::config::interpolate;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Concurrent requests allowed per API key; unset means unlimited.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub max_inflight_per_key: Option<u32>,
    /// Concurrent streamed answers allowed per API key; unset means unlimited.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub max_streams_per_key: Option<u32>,
    /// Tokens per minute for each API key (each client address when auth is off).
    #[serde(default)]
    pub tokens_per_key: TokensPerMinute,
    /// Tokens per minute for a model alias, all keys together.
    #[serde(default)]
    pub tokens_per_model: std::collections::BTreeMap<String, TokensPerMinute>,
    /// Output tokens reserved for a request that sets no `max_tokens`, until its usage is
    /// known.
    #[serde(
        default = "default_output_reservation",
        deserialize_with = "interpolate::typed"
    )]
    pub default_output_tokens: u64,
    /// Where limits are counted: `local` (this process) or `redis` (shared by every
    /// replica using the same Redis).
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub backend: LimitsBackend,
    /// `redis://[:password@]host:port[/db]`, with `backend: redis`.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys, so several gateways can share one Redis apart.
    #[serde(
        default = "default_redis_prefix",
        deserialize_with = "interpolate::string"
    )]
    pub redis_prefix: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitsBackend {
    #[default]
    Local,
    Redis,
}

fn default_redis_prefix() -> String {
    "llmgate".into()
}

fn default_output_reservation() -> u64 {
    512
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate_limit: RateLimit::default(),
            max_inflight_per_key: None,
            max_streams_per_key: None,
            tokens_per_key: TokensPerMinute::default(),
            tokens_per_model: std::collections::BTreeMap::new(),
            default_output_tokens: default_output_reservation(),
            backend: LimitsBackend::Local,
            redis_url: None,
            redis_prefix: default_redis_prefix(),
        }
    }
}

/// Input and output token budgets per minute; unset means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensPerMinute {
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub input: Option<u64>,
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub output: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub enabled: bool,
    /// Sustained requests per minute per key (per client address when auth is off).
    #[serde(default = "default_rpm", deserialize_with = "interpolate::typed")]
    pub requests_per_minute: u32,
    /// Requests allowed back-to-back before the per-minute rate applies.
    #[serde(default = "default_burst", deserialize_with = "interpolate::typed")]
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            enabled: false,
            requests_per_minute: default_rpm(),
            burst: default_burst(),
        }
    }
}

fn default_rpm() -> u32 {
    60
}
fn default_burst() -> u32 {
    10
}
