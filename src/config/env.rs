//! Environment-only mode: with no config file, the previous (FastAPI) gateway's variables
//! describe one backend that every model name goes to unchanged.

use std::collections::BTreeMap;

use super::file::{self, BackendKind, LogLevel};
use super::interpolate::EnvSource;
use super::{Config, ConfigError, ConfigSource, Issue, validate};

/// The variables this mode reads, with their defaults (documented in `.env.example`).
pub const VARIABLES: &[(&str, &str)] = &[
    ("BACKEND_KIND", "vllm"),
    ("BACKEND_BASE_URL", "(required)"),
    ("BACKEND_API_KEY", ""),
    ("MODEL_NAME", ""),
    ("API_HOST", "127.0.0.1"),
    ("API_PORT", "8000"),
    ("API_KEYS", ""),
    ("RATE_LIMIT_ENABLED", "false"),
    ("RATE_LIMIT_RPM", "60"),
    ("RATE_LIMIT_BURST", "10"),
    ("CORS_ORIGINS", ""),
    ("CORS_ALLOW_CREDENTIALS", "false"),
    ("REQUEST_TIMEOUT_S", "600"),
    ("CONNECT_TIMEOUT_S", "5"),
    ("LOG_LEVEL", "info"),
    ("LOG_JSON", "true"),
    ("LOG_PROMPTS", "false"),
    ("METRICS_ENABLED", "true"),
    ("METRICS_COMPAT_NAMES", "true"),
];

struct Reader<'a> {
    env: &'a EnvSource,
    issues: Vec<Issue>,
}

impl Reader<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.env)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn fail(&mut self, name: &str, message: String) {
        self.issues.push(Issue {
            path: name.to_owned(),
            line: None,
            message,
        });
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
            Some(v) => {
                self.fail(name, format!("`{v}` is not a boolean (true/false)"));
                default
            }
        }
    }

    fn number<T: std::str::FromStr + Copy>(&mut self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.fail(name, format!("`{v}` is not a valid number"));
                default
            }),
        }
    }

    fn seconds_as_ms(&mut self, name: &str, default_s: f64) -> u64 {
        let s: f64 = self.number(name, default_s);
        if !(s > 0.0 && s.is_finite()) {
            self.fail(name, format!("`{s}` must be a positive number of seconds"));
            return (default_s * 1000.0) as u64;
        }
        (s * 1000.0).round() as u64
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn parse_kind(v: &str) -> Option<BackendKind> {
    serde_yaml::from_str(&v.to_ascii_lowercase().replace(['.', '-', '_'], "")).ok()
}

fn parse_level(v: &str) -> Option<LogLevel> {
    serde_yaml::from_str(&v.to_ascii_lowercase().replace("warning", "warn")).ok()
}

/// Builds the configuration from environment variables.
pub fn from_environment(env: Box<EnvSource>) -> Result<Config, ConfigError> {
    let mut r = Reader {
        env: &*env,
        issues: Vec::new(),
    };

    let kind = match r.get("BACKEND_KIND") {
        None => BackendKind::Vllm,
        Some(v) => parse_kind(&v).unwrap_or_else(|| {
            r.fail(
                "BACKEND_KIND",
                format!("unknown kind `{v}` (expected vllm, ollama, llamacpp, tgi, sglang, localai, lmstudio or openai)"),
            );
            BackendKind::Vllm
        }),
    };
    let url = r.get("BACKEND_BASE_URL").unwrap_or_else(|| {
        r.fail(
            "BACKEND_BASE_URL",
            "is not set: give a config file with -c, or set BACKEND_BASE_URL (e.g. http://127.0.0.1:8001/v1)".into(),
        );
        "http://127.0.0.1/v1".into()
    });
    let level = match r.get("LOG_LEVEL") {
        None => LogLevel::Info,
        Some(v) => parse_level(&v).unwrap_or_else(|| {
            r.fail(
                "LOG_LEVEL",
                format!("`{v}` is not one of error, warn, info, debug, trace"),
            );
            LogLevel::Info
        }),
    };
    let keys = r
        .list("API_KEYS")
        .into_iter()
        .map(|key| {
            // A stable, non-secret name for logs and metrics.
            let id = format!(
                "key-{}",
                &hex::encode(validate::key_digest(key.as_bytes()))[..8]
            );
            file::ApiKey { id, key }
        })
        .collect();

    let mut models = BTreeMap::new();
    if let Some(name) = r.get("MODEL_NAME") {
        models.insert(
            name,
            file::Model {
                backend: Some("default".into()),
                ..file::Model::default()
            },
        );
    }

    let parsed = file::File {
        server: file::Server {
            host: r.get("API_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: r.number("API_PORT", 8000),
            ..file::Server::default()
        },
        logging: file::Logging {
            level,
            json: r.bool("LOG_JSON", true),
            log_prompts: r.bool("LOG_PROMPTS", false),
        },
        metrics: file::Metrics {
            enabled: r.bool("METRICS_ENABLED", true),
            // Whoever runs this mode comes from the earlier gateway: its dashboards query
            // the chat_api_* names.
            compat_names: r.bool("METRICS_COMPAT_NAMES", true),
        },
        auth: file::Auth { keys },
        retries: file::Retries::default(),
        limits: file::Limits {
            rate_limit: file::RateLimit {
                enabled: r.bool("RATE_LIMIT_ENABLED", false),
                requests_per_minute: r.number("RATE_LIMIT_RPM", 60),
                burst: r.number("RATE_LIMIT_BURST", 10),
            },
            ..file::Limits::default()
        },
        cors: file::Cors {
            allow_origins: r.list("CORS_ORIGINS"),
            allow_credentials: r.bool("CORS_ALLOW_CREDENTIALS", false),
        },
        anthropic: file::Anthropic::default(),
        backends: vec![file::Backend {
            name: "default".into(),
            kind,
            url,
            api_key: r.get("BACKEND_API_KEY"),
            connect_timeout_ms: r.seconds_as_ms("CONNECT_TIMEOUT_S", 5.0),
            // The earlier gateway's REQUEST_TIMEOUT_S bounded the whole request; each read
            // keeps the default bound as well.
            read_timeout_ms: 600_000,
            total_timeout_ms: Some(r.seconds_as_ms("REQUEST_TIMEOUT_S", 600.0)),
            write_timeout_ms: 60_000,
            idle_timeout_ms: 4_000,
            health_check: file::HealthCheck::default(),
            capabilities: file::CapabilityOverrides::default(),
            anthropic: file::AnthropicMode::default(),
            stream_usage: None,
            passthrough_paths: Vec::new(),
            max_concurrency: None,
            max_queue: 64,
            queue_timeout_ms: 30_000,
            tls_ca_file: None,
            api_version: None,
            root_path: false,
        }],
        models,
        default_backend: Some("default".into()),
    };

    let mut issues = r.issues;
    match validate::validate(parsed, ConfigSource::Environment) {
        Ok(config) if issues.is_empty() => Ok(config),
        Ok(_) => Err(invalid(issues)),
        Err(found) => {
            issues.extend(found.into_iter().map(|(path, message)| Issue {
                path: variable_for(&path.to_string()).to_owned(),
                line: None,
                message,
            }));
            Err(invalid(issues))
        }
    }
}

fn invalid(issues: Vec<Issue>) -> ConfigError {
    ConfigError::Invalid {
        source_name: "environment".into(),
        issues,
    }
}

/// Names the variable behind a schema path, so env-mode errors talk about what the user set.
fn variable_for(path: &str) -> &str {
    match path {
        "backends[0].url" => "BACKEND_BASE_URL",
        "backends[0].api_key" => "BACKEND_API_KEY",
        "server.host" => "API_HOST",
        "server.port" => "API_PORT",
        p if p.starts_with("auth.keys") => "API_KEYS",
        p if p.starts_with("limits.rate_limit.requests") => "RATE_LIMIT_RPM",
        p if p.starts_with("limits.rate_limit.burst") => "RATE_LIMIT_BURST",
        p if p.starts_with("cors") => "CORS_ORIGINS",
        p if p.starts_with("models") => "MODEL_NAME",
        other => other,
    }
}
