//! Configuration: the YAML schema (`file`), its validation into the runtime [`Config`]
//! (`validate`), the environment-only mode of the previous gateway (`env`), and the errors.
//!
//! Nothing here runs per request: a `Config` is built once at startup or on reload and then
//! only read.

mod backend;
pub mod env;
pub mod file;
pub mod interpolate;
pub mod locate;
pub mod model_list;
mod pem;
pub mod providers;
mod routing_table;
mod validate;

#[cfg(test)]
mod model_list_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use locate::KeyPath;
use validate::Issues;

pub use backend::{
    BackendConfig, BackendUrl, ConcurrencySettings, DeploymentConfig, HealthSettings, PathPattern,
};
pub use file::{AnthropicMode, BackendKind, CapabilityOverrides, LogLevel};
pub use interpolate::EnvSource;
pub use routing_table::parse_backend_url;
pub use validate::key_digest;

/// Where the configuration comes from; kept so a reload reads the same source again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No file: the previous gateway's environment variables (`BACKEND_BASE_URL`, ...).
    Environment,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Environment => f.write_str("environment"),
        }
    }
}

/// The format a configuration was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// llmgate's own (`backends:` and `models:`).
    Llmgate,
    /// The `docker model gateway` design's `model_list:` (LiteLLM style).
    ModelList,
    /// No file: the previous gateway's environment variables.
    Environment,
}

impl fmt::Display for ConfigFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigFormat::Llmgate => "llmgate format",
            ConfigFormat::ModelList => "model_list format",
            ConfigFormat::Environment => "environment variables",
        })
    }
}

/// One problem found in a configuration, located by key path and, when known, line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: cannot read: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    /// The document does not match the schema (serde_yaml's message has path and line).
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    /// The document parsed but is not consistent; every problem is listed.
    #[error("{}", render_issues(.source_name, .issues))]
    Invalid {
        source_name: String,
        issues: Vec<Issue>,
    },
}

fn render_issues(source_name: &str, issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| format!("{source_name}: {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// Every problem, one line each.
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_owned).collect()
    }
}

/// A string that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

/// The validated, resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: ConfigSource,
    /// Which format the source was written in.
    pub format: ConfigFormat,
    pub server: ServerSettings,
    pub logging: file::Logging,
    pub metrics_enabled: bool,
    /// `metrics.compat_names`: the seed families again under `chat_api_` names.
    pub metrics_compat_names: bool,
    pub keys: Vec<KeySpec>,
    pub rate_limit: Option<RateLimitSettings>,
    pub max_inflight_per_key: Option<u32>,
    pub max_streams_per_key: Option<u32>,
    /// Token budgets: per key, per model alias, and the output reservation default.
    pub token_limits: TokenLimits,
    /// `limits.backend: redis`: the Redis URL and key prefix every replica shares.
    pub shared_limits: Option<(Secret, String)>,
    pub cors: file::Cors,
    pub anthropic: AnthropicSettings,
    pub backends: Vec<BackendConfig>,
    /// Alias → deployments, each naming a backend by index into `backends`.
    pub models: BTreeMap<String, Vec<DeploymentConfig>>,
    /// Alias → the aliases tried after it, in order (only aliases that have fallbacks).
    pub fallbacks: BTreeMap<String, Vec<String>>,
    pub retries: RetrySettings,
    pub default_backend: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub threads: usize,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub client_read_timeout: Duration,
    pub client_header_timeout: Duration,
    pub max_idle_connections: usize,
    pub client_keepalive_timeout: Duration,
    pub shutdown_grace: Duration,
    /// HTTPS on the listener; read once at startup.
    pub tls: Option<TlsFiles>,
    /// Peers whose forwarding headers are believed (`server.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// HTTP/2 by ALPN on the HTTPS listener.
    pub http2: bool,
    /// HTTP/2 with prior knowledge on a plain listener.
    pub h2c: bool,
    /// A plain listener that redirects to HTTPS.
    pub redirect_http_port: Option<u16>,
}

/// The HTTPS listener's certificate chain and private key (PEM), checked readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServerSettings {
    pub fn listen_addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An accepted API key: only its SHA-256 is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub id: Arc<str>,
    pub digest: [u8; 32],
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySpec({})", self.id)
    }
}

/// `/v1/messages` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnthropicSettings {
    pub ping_interval: Duration,
    pub options: crate::api::anthropic::Options,
    pub max_response_bytes: u64,
}

/// `limits.tokens_per_key`, `limits.tokens_per_model`, `limits.default_output_tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenLimits {
    pub per_key: file::TokensPerMinute,
    pub per_model: std::collections::BTreeMap<String, file::TokensPerMinute>,
    pub default_output: u64,
}

impl TokenLimits {
    pub fn is_enabled(&self) -> bool {
        self.per_key != file::TokensPerMinute::default() || !self.per_model.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub requests_per_minute: u32,
    pub burst: u32,
}

/// `retries:` in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub num_retries: u32,
    pub backoff: Duration,
    pub deadline: Duration,
}

impl Config {
    /// Loads and validates a configuration from `source`, reading variables from the
    /// process environment.
    ///
    /// # Errors
    /// Every problem, with key paths and lines (see [`ConfigError`]).
    pub fn load(source: &ConfigSource) -> Result<Config, ConfigError> {
        Self::load_with_env(source, Box::new(|k| std::env::var(k).ok()))
    }

    /// As [`Config::load`], with an explicit variable source.
    pub fn load_with_env(
        source: &ConfigSource,
        env: Box<EnvSource>,
    ) -> Result<Config, ConfigError> {
        match source {
            ConfigSource::File(path) => {
                let text = read_file(path)?;
                Self::from_yaml_str(&text, source.clone(), env)
            }
            ConfigSource::Environment => env::from_environment(env),
        }
    }

    /// Parses and validates YAML text. `source` is used in messages and kept for reloads.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn from_yaml_str(
        text: &str,
        source: ConfigSource,
        env: Box<EnvSource>,
    ) -> Result<Config, ConfigError> {
        let source_name = source.to_string();
        let parse_error = |e: serde_yaml::Error| ConfigError::Parse {
            source_name: source_name.clone(),
            message: e.to_string(),
        };
        let located = |issues: Issues, remap: &dyn Fn(KeyPath) -> KeyPath| ConfigError::Invalid {
            source_name: source_name.clone(),
            issues: issues
                .into_iter()
                .map(|(path, message)| {
                    let path = remap(path);
                    Issue {
                        line: locate::line_of(text, &path),
                        path: path.to_string(),
                        message,
                    }
                })
                .collect(),
        };
        if model_list::is_model_list(text) {
            let (parsed, origins) = interpolate::with_env(env, || {
                let f: model_list::ModelListFile = serde_yaml::from_str(text)?;
                Ok(model_list::to_file(f))
            })
            .map_err(parse_error)?
            .map_err(|issues| located(issues, &|p| p))?;
            let mut config = validate::validate(parsed, source)
                .map_err(|issues| located(issues, &|p| origins.remap(p)))?;
            config.format = ConfigFormat::ModelList;
            return Ok(config);
        }
        let parsed: file::File =
            interpolate::with_env(env, || serde_yaml::from_str(text)).map_err(parse_error)?;
        validate::validate(parsed, source).map_err(|issues| located(issues, &|p| p))
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        source_name: path.display().to_string(),
        error,
    })
}

/// Command-line overrides of the listen address; they also survive reloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<u16>,
}

impl Overrides {
    pub fn apply(&self, config: &mut Config) {
        if let Some(host) = &self.host {
            config.server.host = host.clone();
        }
        if let Some(port) = self.port {
            config.server.port = port;
        }
    }
}
