//! The backend table and the model aliases routed onto it: backend URLs, names and
//! settings, and each alias's deployments, checked with their key paths.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::file::{self, BackendKind};
use super::locate::KeyPath;
use super::pem;
use super::validate::{Issues, relative_to_config};
use super::{
    BackendConfig, BackendUrl, ConfigSource, DeploymentConfig, HealthSettings, PathPattern, Secret,
};

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

mod url {
    /// Whether `raw` (already a valid URL) gave no path, so `/v1` was assumed.
    pub fn path_was_empty(raw: &str) -> bool {
        raw.parse::<http::Uri>()
            .is_ok_and(|u| u.path().trim_end_matches('/').is_empty())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn backends(
    list: &[file::Backend],
    source: &ConfigSource,
    issues: &mut Issues,
) -> Vec<BackendConfig> {
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
            Ok(mut url) => {
                let rooted =
                    b.root_path || matches!(b.kind, BackendKind::Azure | BackendKind::AzureAi);
                if rooted && url::path_was_empty(&b.url) {
                    url.base_path.clear();
                }
                url
            }
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
        } else if b
            .api_key
            .as_deref()
            .is_some_and(|k| !k.bytes().all(|c| c.is_ascii_graphic()))
        {
            // It goes in a header; the message must not quote it.
            issues.push((
                path.key("api_key"),
                "has a space or a control or non-ASCII character, which a header cannot carry"
                    .into(),
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
            ("total_timeout_ms", b.total_timeout_ms.unwrap_or(1)),
            ("max_concurrency", b.max_concurrency.map_or(1, u64::from)),
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
        let tls_ca = b.tls_ca_file.as_deref().and_then(|raw| {
            let ca = match ca_bundle(raw, source) {
                Ok(_) if !url.tls => Err("only applies to `https://` backends".to_owned()),
                other => other,
            };
            ca.map_err(|e| issues.push((path.key("tls_ca_file"), e)))
                .ok()
        });
        out.push(BackendConfig {
            name: b.name.clone(),
            kind: b.kind,
            url,
            api_key: b.api_key.clone().map(Secret::new),
            connect_timeout: Duration::from_millis(b.connect_timeout_ms),
            read_timeout: Duration::from_millis(b.read_timeout_ms),
            total_timeout: b.total_timeout_ms.map(Duration::from_millis),
            write_timeout: Duration::from_millis(b.write_timeout_ms),
            idle_timeout: Duration::from_millis(b.idle_timeout_ms),
            health: HealthSettings {
                enabled: hc.enabled,
                interval: Duration::from_millis(hc.interval_ms),
                timeout: Duration::from_millis(hc.timeout_ms),
                path: hc.path.clone(),
                eject_after_failures: hc.eject_after_failures,
                cooldown: Duration::from_millis(hc.cooldown_ms),
            },
            capabilities: b.capabilities,
            anthropic: b.anthropic,
            stream_usage: b.stream_usage.unwrap_or(matches!(
                b.kind,
                BackendKind::Vllm
                    | BackendKind::Llamacpp
                    | BackendKind::Sglang
                    | BackendKind::Ollama
                    | BackendKind::Tgi
                    | BackendKind::Localai
                    | BackendKind::Lmstudio
                    | BackendKind::Azure
            )),
            passthrough: passthrough_patterns(&b.passthrough_paths, &path, issues),
            concurrency: b.max_concurrency.map(|max| super::ConcurrencySettings {
                max,
                max_queue: b.max_queue,
                queue_timeout: Duration::from_millis(b.queue_timeout_ms),
            }),
            tls_ca,
            api_version: match b.kind {
                BackendKind::Azure => {
                    Some(b.api_version.clone().unwrap_or_else(|| "2024-10-21".into()))
                }
                BackendKind::AzureAi => Some(
                    b.api_version
                        .clone()
                        .unwrap_or_else(|| "2024-05-01-preview".into()),
                ),
                _ => None,
            },
        });
    }
    out
}

/// `passthrough_paths`, checked: each starts with `/`, and none shadows a route the
/// gateway serves itself.
fn passthrough_patterns(paths: &[String], at: &KeyPath, issues: &mut Issues) -> Vec<PathPattern> {
    let mut out = Vec::new();
    for (i, raw) in paths.iter().enumerate() {
        let here = at.key("passthrough_paths").index(i);
        let pattern = match raw.strip_suffix("/*") {
            Some(prefix) => PathPattern::Below(format!("{prefix}/")),
            None => PathPattern::Exact(raw.clone()),
        };
        let probe = match &pattern {
            PathPattern::Exact(p) => p.clone(),
            PathPattern::Below(p) => p.trim_end_matches('/').to_owned(),
        };
        if !raw.starts_with('/') || raw.contains(['?', '#', ' ']) || probe.is_empty() {
            issues.push((here, format!("`{raw}` must be a path starting with `/` (a trailing `/*` takes everything below)")));
        } else if crate::api::Route::from_path(&probe) != crate::api::Route::NotFound
            || probe.starts_with("/v1/models")
            || probe.starts_with("/v1/messages")
        {
            issues.push((
                here,
                format!("`{raw}` is a route the gateway serves itself"),
            ));
        } else {
            out.push(pattern);
        }
    }
    out
}

/// The DER certificates of a PEM CA bundle.
fn ca_bundle(raw: &str, source: &ConfigSource) -> Result<Arc<[Vec<u8>]>, String> {
    pem::certificates(&relative_to_config(raw, source)).map(Into::into)
}

/// "unknown backend `x` (known: a, b)", the names in the order given.
pub(super) fn unknown_backend<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    format!("unknown backend `{name}` (known: {})", known.join(", "))
}

pub(super) fn models(
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
                issues.push((bpath, unknown_backend(backend, known)));
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
mod tests {
    use super::*;

    #[test]
    fn backend_urls_default_to_v1_and_keep_provider_paths() {
        let u = parse_backend_url("http://127.0.0.1:8001").expect("ok");
        assert_eq!((u.tls, u.port, u.base_path.as_str()), (false, 8001, "/v1"));
        let u = parse_backend_url("https://api.example.com/openai/v1/").expect("ok");
        assert_eq!(
            (u.tls, u.port, u.base_path.as_str()),
            (true, 443, "/openai/v1")
        );
        assert_eq!(u.authority(), "api.example.com");
        assert_eq!(u.to_string(), "https://api.example.com/openai/v1");
        let u = parse_backend_url("http://[::1]:9000/v1").expect("ok");
        assert_eq!(u.host_port(), "[::1]:9000");
    }

    #[test]
    fn bad_backend_urls_say_why() {
        for (raw, needle) in [
            ("localhost:8000", "scheme"),
            ("ftp://x/v1", "not http or https"),
            ("http://u:p@x/v1", "api_key"),
            ("http://x/v1?a=b", "query"),
            ("http://", "not a valid URL"),
        ] {
            let err = parse_backend_url(raw).expect_err(raw);
            assert!(err.contains(needle), "{raw}: {err}");
        }
    }
}
