//! Semantic checks: turns a parsed [`file::File`] into a [`Config`], collecting every
//! problem with its key path instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file;
use super::locate::KeyPath;
use super::pem;
use super::routing_table::{backends, models, unknown_backend};
use crate::api::anthropic::{Options, Unsupported};

use super::{
    AnthropicSettings, Config, ConfigSource, KeySpec, RateLimitSettings, ServerSettings, TlsFiles,
};

pub(super) type Issues = Vec<(KeyPath, String)>;

pub fn validate(f: file::File, source: ConfigSource) -> Result<Config, Issues> {
    let mut issues = Issues::new();
    let server = server(&f.server, &source, &mut issues);
    let keys = keys(&f.auth.keys, &mut issues);
    let rate_limit = rate_limit(&f.limits.rate_limit, &mut issues);
    if f.limits.max_inflight_per_key == Some(0) {
        issues.push((
            KeyPath::root("limits").key("max_inflight_per_key"),
            "must be at least 1 (omit it for no limit)".into(),
        ));
    }
    token_limits(&f.limits, &f.models, &mut issues);
    cors(&f.cors, &mut issues);
    let anthropic = anthropic(&f.anthropic, &mut issues);
    let backends = backends(&f.backends, &source, &mut issues);
    let index: HashMap<&str, usize> = f
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let models = models(&f.models, &index, &mut issues);
    let fallbacks = fallbacks(&f.models, &mut issues);
    let retries = retries(&f.retries, &mut issues);
    let default_backend = f.default_backend.as_deref().and_then(|name| {
        let found = index.get(name).copied();
        if found.is_none() {
            issues.push((
                KeyPath::root("default_backend"),
                unknown_backend(name, f.backends.iter().map(|b| b.name.as_str())),
            ));
        }
        found
    });
    if models.is_empty() && f.default_backend.is_none() && !f.backends.is_empty() {
        issues.push((
            KeyPath::root("models"),
            "no model is routable: list models under `models`, or set `default_backend`".into(),
        ));
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Config {
        format: match source {
            ConfigSource::Environment => super::ConfigFormat::Environment,
            ConfigSource::File(_) => super::ConfigFormat::Llmgate,
        },
        source,
        server,
        logging: f.logging,
        metrics_enabled: f.metrics.enabled,
        metrics_compat_names: f.metrics.compat_names,
        keys,
        rate_limit,
        max_inflight_per_key: f.limits.max_inflight_per_key,
        max_streams_per_key: f.limits.max_streams_per_key,
        shared_limits: match (f.limits.backend, &f.limits.redis_url) {
            (file::LimitsBackend::Redis, Some(url)) => Some((
                crate::config::Secret::new(url.clone()),
                f.limits.redis_prefix.clone(),
            )),
            (file::LimitsBackend::Redis, None) => {
                issues.push((
                    KeyPath::root("limits").key("redis_url"),
                    "`backend: redis` needs a redis_url (redis://host:6379)".into(),
                ));
                None
            }
            (file::LimitsBackend::Local, _) => None,
        },
        token_limits: crate::config::TokenLimits {
            per_key: f.limits.tokens_per_key,
            per_model: f.limits.tokens_per_model.clone(),
            default_output: f.limits.default_output_tokens,
        },
        cors: f.cors,
        anthropic,
        backends,
        models,
        fallbacks,
        retries,
        default_backend,
    })
}

/// `limits`: stream and token limits above zero, token budgets for known aliases.
fn token_limits(l: &file::Limits, models: &BTreeMap<String, file::Model>, issues: &mut Issues) {
    let path = KeyPath::root("limits");
    if l.max_streams_per_key == Some(0) {
        issues.push((
            path.key("max_streams_per_key"),
            "must be at least 1 (omit it for no limit)".into(),
        ));
    }
    let check = |at: KeyPath, t: &file::TokensPerMinute, issues: &mut Issues| {
        for (kind, value) in [("input", t.input), ("output", t.output)] {
            if value == Some(0) {
                issues.push((
                    at.key(kind),
                    "must be at least 1 (omit it for no limit)".into(),
                ));
            }
        }
    };
    check(path.key("tokens_per_key"), &l.tokens_per_key, issues);
    for (alias, t) in &l.tokens_per_model {
        let at = path.key("tokens_per_model").key(alias);
        if !models.contains_key(alias) {
            let known: Vec<&str> = models.keys().map(String::as_str).collect();
            issues.push((
                at.clone(),
                format!("unknown model `{alias}` (known: {})", known.join(", ")),
            ));
        }
        check(at, t, issues);
    }
}

/// `models.<alias>.fallbacks`: known aliases, never the alias itself.
fn fallbacks(
    models: &BTreeMap<String, file::Model>,
    issues: &mut Issues,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (alias, m) in models.iter().filter(|(_, m)| !m.fallbacks.is_empty()) {
        let path = KeyPath::root("models").key(alias).key("fallbacks");
        for (i, to) in m.fallbacks.iter().enumerate() {
            if to == alias {
                issues.push((path.index(i), "an alias cannot fall back to itself".into()));
            } else if !models.contains_key(to) {
                let known: Vec<&str> = models.keys().map(String::as_str).collect();
                issues.push((
                    path.index(i),
                    format!("unknown model `{to}` (known: {})", known.join(", ")),
                ));
            }
        }
        out.insert(alias.clone(), m.fallbacks.clone());
    }
    out
}

fn retries(r: &file::Retries, issues: &mut Issues) -> super::RetrySettings {
    if r.deadline_ms == 0 {
        issues.push((
            KeyPath::root("retries").key("deadline_ms"),
            "must be greater than 0".into(),
        ));
    }
    super::RetrySettings {
        num_retries: r.num_retries,
        backoff: Duration::from_millis(r.backoff_ms),
        deadline: Duration::from_millis(r.deadline_ms),
    }
}

fn server(s: &file::Server, source: &ConfigSource, issues: &mut Issues) -> ServerSettings {
    let path = KeyPath::root("server");
    if s.host.trim().is_empty() {
        issues.push((path.key("host"), "must not be empty".into()));
    }
    if s.port == 0 {
        issues.push((path.key("port"), "must be between 1 and 65535".into()));
    }
    if s.max_body_bytes == 0 {
        issues.push((path.key("max_body_bytes"), "must be greater than 0".into()));
    }
    if s.max_header_bytes < 1024 {
        issues.push((path.key("max_header_bytes"), "must be at least 1024".into()));
    }
    for (key, value) in [
        ("client_read_timeout_ms", s.client_read_timeout_ms),
        ("client_header_timeout_ms", s.client_header_timeout_ms),
        ("client_keepalive_timeout_ms", s.client_keepalive_timeout_ms),
    ] {
        if value == 0 {
            issues.push((path.key(key), "must be greater than 0".into()));
        }
    }
    if s.redirect_http_port.is_some() && s.tls.is_none() {
        issues.push((
            path.key("redirect_http_port"),
            "redirects to HTTPS need `server.tls`".into(),
        ));
    }
    if s.redirect_http_port == Some(s.port) {
        issues.push((
            path.key("redirect_http_port"),
            "must differ from `server.port`".into(),
        ));
    }
    let threads = if s.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        s.threads
    };
    ServerSettings {
        host: s.host.clone(),
        port: s.port,
        threads,
        max_body_bytes: s.max_body_bytes,
        max_header_bytes: s.max_header_bytes,
        client_read_timeout: Duration::from_millis(s.client_read_timeout_ms),
        client_header_timeout: Duration::from_millis(s.client_header_timeout_ms),
        max_idle_connections: s.max_idle_connections,
        client_keepalive_timeout: Duration::from_millis(s.client_keepalive_timeout_ms),
        shutdown_grace: Duration::from_secs(s.shutdown_grace_period_s),
        tls: s.tls.as_ref().map(|t| tls_files(t, source, issues)),
        http2: s.http2,
        h2c: s.h2c,
        redirect_http_port: s.redirect_http_port,
        trusted_proxies: s
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, raw)| {
                // A bare address is a block of one.
                let parsed = raw
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                parsed
                    .map_err(|_| {
                        issues.push((
                            KeyPath::root("server").key("trusted_proxies").index(i),
                            format!("`{raw}` is not an IP address or CIDR block (10.0.0.0/8)"),
                        ));
                    })
                    .ok()
            })
            .collect(),
    }
}

/// Resolves the PEM paths against the config file's directory and checks they hold PEM,
/// so a typo is a config error naming the key rather than a failed start.
fn tls_files(t: &file::Tls, source: &ConfigSource, issues: &mut Issues) -> TlsFiles {
    let path = KeyPath::root("server").key("tls");
    let mut checked = |key: &'static str, raw: &str, check: fn(&Path) -> Result<(), String>| {
        let resolved = relative_to_config(raw, source);
        if let Err(e) = check(&resolved) {
            issues.push((path.key(key), e));
        }
        resolved
    };
    TlsFiles {
        cert: checked("cert_file", &t.cert_file, |p| {
            pem::certificates(p).map(drop)
        }),
        key: checked("key_file", &t.key_file, pem::check_private_key),
    }
}

/// A path from the config file: relative ones are relative to the file's directory.
pub(super) fn relative_to_config(raw: &str, source: &ConfigSource) -> PathBuf {
    let given = PathBuf::from(raw);
    match source {
        ConfigSource::File(file) if given.is_relative() => {
            file.parent().map_or(given.clone(), |dir| dir.join(&given))
        }
        _ => given,
    }
}

/// SHA-256 of a key, the only form the gateway keeps.
pub fn key_digest(key: &[u8]) -> [u8; 32] {
    Sha256::digest(key).into()
}

/// Parses `sha256:<hex>` or takes a plain key, returning its digest.
fn parse_key(spec: &str) -> Result<[u8; 32], String> {
    if let Some(hex_digest) = spec.strip_prefix("sha256:") {
        let bytes = hex::decode(hex_digest.trim())
            .map_err(|_| "`sha256:` must be followed by 64 hex digits".to_owned())?;
        return bytes
            .try_into()
            .map_err(|_| "`sha256:` must be followed by 64 hex digits".to_owned());
    }
    if spec.is_empty() {
        return Err("must not be empty".into());
    }
    // Only the digest is kept for authentication, but the plain key is masked wherever it
    // could surface in a log line.
    crate::redact::register_secrets([spec]);
    Ok(key_digest(spec.as_bytes()))
}

fn keys(keys: &[file::ApiKey], issues: &mut Issues) -> Vec<KeySpec> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    let mut digests = HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let path = KeyPath::root("auth").key("keys").index(i);
        if k.id.trim().is_empty() {
            issues.push((path.key("id"), "must not be empty".into()));
        } else if !ids.insert(k.id.as_str()) {
            issues.push((path.key("id"), format!("duplicate key id `{}`", k.id)));
        }
        match parse_key(&k.key) {
            Ok(digest) => {
                if !digests.insert(digest) {
                    issues.push((path.key("key"), "the same key is listed twice".into()));
                }
                out.push(KeySpec {
                    id: Arc::from(k.id.as_str()),
                    digest,
                });
            }
            Err(msg) => issues.push((path.key("key"), msg)),
        }
    }
    out
}

fn rate_limit(r: &file::RateLimit, issues: &mut Issues) -> Option<RateLimitSettings> {
    if !r.enabled {
        return None;
    }
    let path = KeyPath::root("limits").key("rate_limit");
    if r.requests_per_minute == 0 {
        issues.push((path.key("requests_per_minute"), "must be at least 1".into()));
    }
    if r.burst == 0 {
        issues.push((path.key("burst"), "must be at least 1".into()));
    }
    Some(RateLimitSettings {
        requests_per_minute: r.requests_per_minute,
        burst: r.burst,
    })
}

fn cors(c: &file::Cors, issues: &mut Issues) {
    for (i, origin) in c.allow_origins.iter().enumerate() {
        let ok = origin == "*" || origin.starts_with("http://") || origin.starts_with("https://");
        if !ok {
            issues.push((
                KeyPath::root("cors").key("allow_origins").index(i),
                format!("`{origin}` is not `*` or an http(s) origin"),
            ));
        }
    }
    if c.allow_credentials && c.allow_origins.iter().any(|o| o == "*") {
        issues.push((
            KeyPath::root("cors").key("allow_credentials"),
            "browsers refuse credentials with origin `*`; list the origins explicitly".into(),
        ));
    }
}

fn anthropic(a: &file::Anthropic, issues: &mut Issues) -> AnthropicSettings {
    let path = KeyPath::root("anthropic");
    if a.ping_interval_ms < 100 {
        issues.push((path.key("ping_interval_ms"), "must be at least 100".into()));
    }
    if a.max_response_bytes == 0 {
        issues.push((
            path.key("max_response_bytes"),
            "must be greater than 0".into(),
        ));
    }
    AnthropicSettings {
        ping_interval: Duration::from_millis(a.ping_interval_ms),
        options: Options {
            strip_billing_header: a.strip_billing_header,
            unsupported_tools: match a.unsupported_tools {
                file::UnsupportedTools::Reject => Unsupported::Reject,
                file::UnsupportedTools::Drop => Unsupported::Drop,
            },
            pdf_as_file_part: a.pdf_documents == file::PdfDocuments::FilePart,
            history_thinking: a.history_thinking,
            buffered_tool_args: a.tool_args_streaming == file::ToolArgsStreaming::Buffered,
        },
        max_response_bytes: a.max_response_bytes,
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
