//! Semantic checks: turns a parsed [`file::File`] into a [`Config`], collecting every
//! problem with its key path instead of stopping at the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file::{self, BackendKind};
use super::locate::KeyPath;
use crate::api::anthropic::{Options, Unsupported};

use super::{
    AnthropicSettings, BackendConfig, BackendUrl, Config, ConfigSource, DeploymentConfig,
    HealthSettings, KeySpec, RateLimitSettings, Secret, ServerSettings, TlsFiles,
};

type Issues = Vec<(KeyPath, String)>;

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
    cors(&f.cors, &mut issues);
    let anthropic = anthropic(&f.anthropic, &mut issues);
    let backends = backends(&f.backends, &mut issues);
    let index: HashMap<&str, usize> = f
        .backends
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let models = models(&f.models, &index, &mut issues);
    let default_backend = f.default_backend.as_deref().and_then(|name| {
        let found = index.get(name).copied();
        if found.is_none() {
            issues.push((
                KeyPath::root("default_backend"),
                unknown_backend(name, &f.backends),
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
        source,
        server,
        logging: f.logging,
        metrics_enabled: f.metrics.enabled,
        keys,
        rate_limit,
        max_inflight_per_key: f.limits.max_inflight_per_key,
        cors: f.cors,
        anthropic,
        backends,
        models,
        default_backend,
    })
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
        ("client_keepalive_timeout_ms", s.client_keepalive_timeout_ms),
    ] {
        if value == 0 {
            issues.push((path.key(key), "must be greater than 0".into()));
        }
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
        client_keepalive_timeout: Duration::from_millis(s.client_keepalive_timeout_ms),
        shutdown_grace: Duration::from_secs(s.shutdown_grace_period_s),
        tls: s.tls.as_ref().map(|t| tls_files(t, source, issues)),
    }
}

/// Resolves the PEM paths against the config file's directory and checks they hold PEM,
/// so a typo is a config error naming the key rather than a failed start.
fn tls_files(t: &file::Tls, source: &ConfigSource, issues: &mut Issues) -> TlsFiles {
    let path = KeyPath::root("server").key("tls");
    let base = match source {
        ConfigSource::File(file) => file.parent().map(Path::to_path_buf),
        ConfigSource::Environment => None,
    };
    let mut resolve = |key: &'static str, raw: &str, marker: &str| {
        let given = PathBuf::from(raw);
        let resolved = match &base {
            Some(dir) if given.is_relative() => dir.join(&given),
            _ => given,
        };
        match std::fs::read_to_string(&resolved) {
            Ok(pem) if pem.contains(marker) => {}
            Ok(_) => issues.push((
                path.key(key),
                format!("`{}` holds no `{marker}` PEM block", resolved.display()),
            )),
            Err(e) => issues.push((
                path.key(key),
                format!("cannot read `{}`: {e}", resolved.display()),
            )),
        }
        resolved
    };
    TlsFiles {
        cert: resolve("cert_file", &t.cert_file, "-----BEGIN CERTIFICATE-----"),
        key: resolve("key_file", &t.key_file, "PRIVATE KEY-----"),
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

/// Parses a backend URL as given to the OpenAI SDK.
pub fn parse_backend_url(raw: &str) -> Result<BackendUrl, String> {
    if !raw.contains("://") {
        return Err(format!("`{raw}` needs a scheme, e.g. `http://{raw}`"));
    }
    let uri: http::Uri = raw
        .parse()
        .map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(format!("`{raw}`: scheme `{other}` is not http or https")),
        None => return Err(format!("`{raw}` needs a scheme, e.g. `http://{raw}`")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{raw}` has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "`{raw}`: put credentials in `api_key`, not in the URL"
        ));
    }
    if uri.query().is_some() {
        return Err(format!("`{raw}`: a query string is not supported"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{raw}` has no host"));
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let path = uri.path().trim_end_matches('/');
    let base_path = if path.is_empty() {
        "/v1".to_owned()
    } else {
        path.to_owned()
    };
    Ok(BackendUrl {
        tls,
        host: host.to_owned(),
        port,
        base_path,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn backends(list: &[file::Backend], issues: &mut Issues) -> Vec<BackendConfig> {
    if list.is_empty() {
        issues.push((
            KeyPath::root("backends"),
            "at least one backend is required".into(),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let path = KeyPath::root("backends").index(i);
        if !valid_name(&b.name) {
            issues.push((
                path.key("name"),
                format!(
                    "`{}` must be non-empty and use only letters, digits, `-`, `_`, `.`",
                    b.name
                ),
            ));
        } else if !seen.insert(b.name.as_str()) {
            issues.push((
                path.key("name"),
                format!("duplicate backend name `{}`", b.name),
            ));
        }
        let url = match parse_backend_url(&b.url) {
            Ok(url) => url,
            Err(msg) => {
                issues.push((path.key("url"), msg));
                continue;
            }
        };
        if b.api_key.as_deref() == Some("") {
            issues.push((
                path.key("api_key"),
                "is empty (omit it if the backend needs none)".into(),
            ));
        }
        if b.kind == BackendKind::Openai && b.api_key.is_none() {
            log::debug!(target: "llmgate::config", "backend `{}` (openai) has no api_key", b.name);
        }
        for (key, value) in [
            ("connect_timeout_ms", b.connect_timeout_ms),
            ("read_timeout_ms", b.read_timeout_ms),
            ("write_timeout_ms", b.write_timeout_ms),
            ("idle_timeout_ms", b.idle_timeout_ms),
        ] {
            if value == 0 {
                issues.push((path.key(key), "must be greater than 0".into()));
            }
        }
        let hc = &b.health_check;
        let hc_path = path.key("health_check");
        if hc.interval_ms < 100 {
            issues.push((hc_path.key("interval_ms"), "must be at least 100".into()));
        }
        if hc.timeout_ms == 0 {
            issues.push((hc_path.key("timeout_ms"), "must be greater than 0".into()));
        }
        if let Some(p) = &hc.path
            && !p.starts_with('/')
        {
            issues.push((hc_path.key("path"), format!("`{p}` must start with `/`")));
        }
        out.push(BackendConfig {
            name: b.name.clone(),
            kind: b.kind,
            url,
            api_key: b.api_key.clone().map(Secret::new),
            connect_timeout: Duration::from_millis(b.connect_timeout_ms),
            read_timeout: Duration::from_millis(b.read_timeout_ms),
            write_timeout: Duration::from_millis(b.write_timeout_ms),
            idle_timeout: Duration::from_millis(b.idle_timeout_ms),
            health: HealthSettings {
                enabled: hc.enabled,
                interval: Duration::from_millis(hc.interval_ms),
                timeout: Duration::from_millis(hc.timeout_ms),
                path: hc.path.clone(),
            },
            capabilities: b.capabilities,
            anthropic: b.anthropic,
        });
    }
    out
}

fn unknown_backend(name: &str, backends: &[file::Backend]) -> String {
    let known: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    format!("unknown backend `{name}` (known: {})", known.join(", "))
}

fn models(
    models: &BTreeMap<String, file::Model>,
    index: &HashMap<&str, usize>,
    issues: &mut Issues,
) -> BTreeMap<String, Vec<DeploymentConfig>> {
    let mut out = BTreeMap::new();
    for (alias, m) in models {
        let path = KeyPath::root("models").key(alias);
        if alias.trim().is_empty() {
            issues.push((path.clone(), "a model name must not be empty".into()));
            continue;
        }
        let mut wanted: Vec<(KeyPath, &str, Option<&String>)> = Vec::new();
        match (&m.backend, m.deployments.is_empty()) {
            (Some(b), true) => wanted.push((path.key("backend"), b, m.upstream_model.as_ref())),
            (None, false) => {
                for (i, d) in m.deployments.iter().enumerate() {
                    let dp = path.key("deployments").index(i);
                    let upstream = d.upstream_model.as_ref().or(m.upstream_model.as_ref());
                    wanted.push((dp.key("backend"), &d.backend, upstream));
                }
            }
            (Some(_), false) => {
                issues.push((
                    path.clone(),
                    "set either `backend` or `deployments`, not both".into(),
                ));
                continue;
            }
            (None, true) => {
                issues.push((
                    path.clone(),
                    "needs `backend` (or a list of `deployments`)".into(),
                ));
                continue;
            }
        }
        let mut deployments = Vec::new();
        for (bpath, backend, upstream) in wanted {
            let Some(&i) = index.get(backend) else {
                let mut known: Vec<&str> = index.keys().copied().collect();
                known.sort_unstable();
                issues.push((
                    bpath,
                    format!("unknown backend `{backend}` (known: {})", known.join(", ")),
                ));
                continue;
            };
            let upstream_model = upstream.cloned().unwrap_or_else(|| alias.clone());
            if upstream_model.is_empty() {
                issues.push((path.key("upstream_model"), "must not be empty".into()));
            }
            deployments.push(DeploymentConfig {
                backend: i,
                upstream_model,
            });
        }
        out.insert(alias.clone(), deployments);
    }
    out
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
