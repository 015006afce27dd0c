//! The YAML schema: exactly what a config file looks like, with defaults.
//!
//! Every struct denies unknown keys and uses real types, so serde_yaml reports typos and
//! type errors with the dotted key path and the line. Checks that need more than one value
//! (references between sections, URL shapes) live in `validate.rs`. These types are never
//! used at request time; `validate` turns them into [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::interpolate;

mod backends;
mod limits;
pub use backends::{
    AnthropicMode, Backend, BackendKind, CapabilityOverrides, Deployment, HealthCheck, Model,
};
pub use limits::{Limits, LimitsBackend, RateLimit, TokensPerMinute};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub logging: Logging,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub retries: Retries,
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub anthropic: Anthropic,
    #[serde(default)]
    pub backends: Vec<Backend>,
    #[serde(default)]
    pub models: BTreeMap<String, Model>,
    /// Requests for a model not listed under `models` go here with their model name
    /// unchanged. Without it they get a 404 that lists the served models.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub default_backend: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    #[serde(default = "default_host", deserialize_with = "interpolate::string")]
    pub host: String,
    #[serde(default = "default_port", deserialize_with = "interpolate::number")]
    pub port: u16,
    /// Worker threads for the proxy; 0 means one per CPU core.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub threads: usize,
    #[serde(
        default = "default_max_body_bytes",
        deserialize_with = "interpolate::typed"
    )]
    pub max_body_bytes: u64,
    #[serde(
        default = "default_max_header_bytes",
        deserialize_with = "interpolate::typed"
    )]
    pub max_header_bytes: usize,
    /// How long to wait for each read from a client (headers and body).
    #[serde(
        default = "default_client_read_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub client_read_timeout_ms: u64,
    /// How long a client may take to send a complete request header, from connecting (or,
    /// on a kept-alive connection, from the end of its idle time). Like nginx's
    /// `client_header_timeout`: a client that dribbles bytes cannot hold a connection.
    #[serde(
        default = "default_client_header_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub client_header_timeout_ms: u64,
    /// When more connections than this wait for a request (idle keep-alive ones
    /// included), a connection that starts waiting gets 1 s to send one, not the full
    /// header and keep-alive timeouts: idle connections cannot exhaust the process.
    #[serde(
        default = "default_max_idle_connections",
        deserialize_with = "interpolate::typed"
    )]
    pub max_idle_connections: usize,
    /// How long an idle client keep-alive connection is kept open.
    #[serde(
        default = "default_client_keepalive_timeout_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub client_keepalive_timeout_ms: u64,
    /// On SIGTERM, how long to let in-flight requests finish before exiting.
    #[serde(
        default = "default_shutdown_grace_period_s",
        deserialize_with = "interpolate::typed"
    )]
    pub shutdown_grace_period_s: u64,
    /// Serve HTTPS on the listen address instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Peers (addresses or CIDR blocks) whose `X-Forwarded-*`/`Forwarded` headers are
    /// believed: a load balancer in front. Anyone else's are replaced.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// HTTP/2 to clients: offered by ALPN on the HTTPS listener.
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub http2: bool,
    /// HTTP/2 without TLS (prior knowledge) on a plain listener, for clients inside a
    /// trusted network or behind a TLS-terminating load balancer.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub h2c: bool,
    /// With `tls`: also listen on this port for plain HTTP and answer every request with
    /// a permanent redirect to the HTTPS listener.
    #[serde(default, deserialize_with = "interpolate::opt_typed")]
    pub redirect_http_port: Option<u16>,
}

/// PEM files for the HTTPS listener. Relative paths are relative to the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain, leaf first.
    #[serde(deserialize_with = "interpolate::string")]
    pub cert_file: String,
    #[serde(deserialize_with = "interpolate::string")]
    pub key_file: String,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            host: default_host(),
            port: default_port(),
            threads: 0,
            max_body_bytes: default_max_body_bytes(),
            max_header_bytes: default_max_header_bytes(),
            client_read_timeout_ms: default_client_read_timeout_ms(),
            client_header_timeout_ms: default_client_header_timeout_ms(),
            max_idle_connections: default_max_idle_connections(),
            client_keepalive_timeout_ms: default_client_keepalive_timeout_ms(),
            shutdown_grace_period_s: default_shutdown_grace_period_s(),
            tls: None,
            trusted_proxies: Vec::new(),
            http2: true,
            h2c: false,
            redirect_http_port: None,
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    8000
}
fn default_max_body_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_max_header_bytes() -> usize {
    64 * 1024
}
fn default_client_read_timeout_ms() -> u64 {
    60_000
}
fn default_client_header_timeout_ms() -> u64 {
    10_000
}
fn default_max_idle_connections() -> usize {
    10_000
}
fn default_client_keepalive_timeout_ms() -> u64 {
    75_000
}
fn default_shutdown_grace_period_s() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default = "default_log_level", deserialize_with = "interpolate::typed")]
    pub level: LogLevel,
    /// One JSON object per line; `false` gives readable text lines.
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub json: bool,
    /// Log request and response bodies. Off by default: prompts are private.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub log_prompts: bool,
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            level: default_log_level(),
            json: true,
            log_prompts: false,
        }
    }
}

fn default_log_level() -> LogLevel {
    LogLevel::Info
}
pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub enabled: bool,
    /// Also export the earlier gateway's families under their `chat_api_` names, so
    /// existing dashboards keep working.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub compat_names: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            enabled: true,
            compat_names: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Empty means authentication is off (a loud warning is logged at startup).
    #[serde(default)]
    pub keys: Vec<ApiKey>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The name used in logs and metrics; never the key itself.
    pub id: String,
    /// The key as plain text, `sha256:<64 hex>`, or from the environment (`${VAR}`).
    #[serde(deserialize_with = "interpolate::string")]
    pub key: String,
}

/// Attempts beyond the first, for failures before a byte reached the client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Extra attempts per alias on a retryable failure (connect error, reset or timeout
    /// before the answer, 429, 5xx): another deployment, or the same one when it is the
    /// only one. 0 keeps plain failover (each deployment once; 429/503 and connection
    /// failures only).
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub num_retries: u32,
    /// The wait before trying a deployment again; doubles each time. A longer
    /// `Retry-After` from the backend wins.
    #[serde(
        default = "default_backoff_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub backoff_ms: u64,
    /// No attempt starts later than this after the request arrived, and no wait runs past
    /// it: all attempts and fallbacks share it.
    #[serde(
        default = "default_deadline_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub deadline_ms: u64,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            num_retries: 0,
            backoff_ms: default_backoff_ms(),
            deadline_ms: default_deadline_ms(),
        }
    }
}

fn default_backoff_ms() -> u64 {
    250
}
fn default_deadline_ms() -> u64 {
    120_000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Origins allowed to call the API from a browser; `*` allows any.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub allow_credentials: bool,
}

/// How `/v1/messages` is translated (see docs/anthropic.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anthropic {
    /// While a stream is silent (long prefill), a `ping` event every this often keeps
    /// clients from timing out.
    #[serde(
        default = "default_ping_interval_ms",
        deserialize_with = "interpolate::typed"
    )]
    pub ping_interval_ms: u64,
    /// Drop Claude Code's per-request `x-anthropic-billing-header` system block, which
    /// defeats prefix caching.
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub strip_billing_header: bool,
    /// Server tools (web_search, ...) cannot run on an OpenAI backend: reject or drop.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub unsupported_tools: UnsupportedTools,
    /// PDF documents: reject, or send as an OpenAI `file` part.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub pdf_documents: PdfDocuments,
    /// Send earlier thinking back to the backend as its reasoning field.
    #[serde(default = "yes", deserialize_with = "interpolate::typed")]
    pub history_thinking: bool,
    /// `incremental` streams tool arguments as generated; `buffered` sends each tool's
    /// arguments once, repaired, for models that emit malformed JSON.
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub tool_args_streaming: ToolArgsStreaming,
    /// Upper bound for a non-streaming backend answer the gateway must translate, and for
    /// one event of a streamed answer (an unterminated line ends the stream with an error).
    #[serde(
        default = "default_max_body_bytes",
        deserialize_with = "interpolate::typed"
    )]
    pub max_response_bytes: u64,
}

impl Default for Anthropic {
    fn default() -> Self {
        Anthropic {
            ping_interval_ms: default_ping_interval_ms(),
            strip_billing_header: true,
            unsupported_tools: UnsupportedTools::default(),
            pdf_documents: PdfDocuments::default(),
            history_thinking: true,
            tool_args_streaming: ToolArgsStreaming::default(),
            max_response_bytes: default_max_body_bytes(),
        }
    }
}

fn default_ping_interval_ms() -> u64 {
    15_000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedTools {
    #[default]
    Reject,
    Drop,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PdfDocuments {
    #[default]
    Reject,
    FilePart,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolArgsStreaming {
    #[default]
    Incremental,
    Buffered,
}
