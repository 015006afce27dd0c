//! Background readiness probes. Requests never wait on a probe: routing and `/readyz` only
//! read the state the last probe left behind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::connectors::http::Connector;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::Notify;

use super::client::{self, Call, Reply};
use super::profile::{Probe, ProbeBase};
use super::{Backend, HealthState};
use crate::metrics::Metrics;
use crate::runtime::Runtime;

/// Turns a probe's outcome into a state and a reason for `/health`.
pub fn classify(probe: &Probe, outcome: Result<Reply, String>) -> (HealthState, Option<String>) {
    match outcome {
        Ok(reply) if (200..300).contains(&reply.status) => (HealthState::Ready, None),
        Ok(reply) => {
            let body = String::from_utf8_lossy(&reply.body);
            let text = crate::redact::scrub(&body);
            let snippet: String = text.chars().take(200).collect();
            let loading = probe.loading.is_some_and(|(status, fragment)| {
                reply.status == status && text.contains(fragment)
            });
            let state = if loading {
                HealthState::Loading
            } else {
                HealthState::Down
            };
            (
                state,
                Some(format!("HTTP {}: {}", reply.status, snippet.trim())),
            )
        }
        Err(reason) => (HealthState::Down, Some(reason)),
    }
}

/// The probe path for a backend: config override, else the profile's.
pub fn probe_path(backend: &Backend) -> String {
    let profile_probe = &backend.profile.probe;
    let mut path = match (&backend.config.health.path, profile_probe.base) {
        (Some(path), _) => path.clone(),
        (None, ProbeBase::Root) => profile_probe.path.to_owned(),
        (None, ProbeBase::ApiBase) => {
            format!("{}{}", backend.config.url.base_path, profile_probe.path)
        }
    };
    if let Some(version) = &backend.config.api_version {
        // The Azure kinds answer nothing without it.
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str("api-version=");
        path.push_str(version);
    }
    path
}

/// Probes one backend once and records the result.
pub async fn probe(connector: &Connector, backend: &Backend, metrics: &Metrics) {
    backend.shared.mark_probe_started();
    let before = backend.shared.state();
    let (state, error) = match resolve(backend).await {
        Err(reason) => (HealthState::Down, Some(reason)),
        Ok(addr) => {
            let peer = backend.peer(addr);
            let path = probe_path(backend);
            let host = backend.config.url.authority();
            let auth = if backend.profile.probe.with_auth {
                backend.auth_headers().collect()
            } else {
                Vec::new()
            };
            let call = Call {
                method: "GET",
                path: &path,
                host: &host,
                auth,
                body: None,
                timeout: backend.config.health.timeout,
                max_body: 64 * 1024,
            };
            classify(
                &backend.profile.probe,
                client::send(connector, &peer, call).await,
            )
        }
    };
    backend.shared.set_state(state, error.clone());
    metrics.backends.set_state(backend.name(), state);
    if state == HealthState::Ready {
        // A passing probe re-admits a backend that passive health ejected.
        backend.shared.passive.readmit();
    }
    if state == HealthState::Ready
        && backend
            .shared
            .models_read_at()
            .is_none_or(|at| at.elapsed() >= MODELS_REFRESH)
    {
        read_models(connector, backend).await;
    }
    if state == HealthState::Ready
        && backend.config.anthropic == crate::config::AnthropicMode::Auto
        && backend.shared.native_anthropic().is_none()
    {
        probe_native_anthropic(connector, backend).await;
    }
    if before != state {
        let reason = error.unwrap_or_default();
        if state == HealthState::Ready {
            log::info!(target: "llmgate::backend", "backend `{}` is {}", backend.name(), state.as_str());
        } else {
            log::warn!(target: "llmgate::backend", "backend `{}` is {}: {reason}", backend.name(), state.as_str());
        }
    }
}

/// How often a ready backend's model list is read again.
const MODELS_REFRESH: Duration = Duration::from_secs(300);

/// Reads the backend's OpenAI model list, so `GET /v1/models` can show what the backend
/// says of each model (vLLM's `max_model_len`, ...) under its alias. Anthropic's list has
/// another shape and is not read.
async fn read_models(connector: &Connector, backend: &Backend) {
    if backend.config.kind == crate::config::BackendKind::Anthropic {
        return;
    }
    let Some(addr) = backend.shared.addr() else {
        return;
    };
    let peer = backend.peer(addr);
    let path = backend.request_target("/models", None, None);
    let host = backend.config.url.authority();
    let call = Call {
        method: "GET",
        path: &path,
        host: &host,
        auth: backend.auth_headers().collect(),
        body: None,
        timeout: backend.config.health.timeout,
        max_body: 1024 * 1024,
    };
    let Ok(reply) = client::send(connector, &peer, call).await else {
        return;
    };
    let listed = serde_json::from_slice::<serde_json::Value>(&reply.body)
        .ok()
        .filter(|_| reply.status == 200);
    let by_id = listed
        .as_ref()
        .and_then(|v| v["data"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let fields = m.as_object()?;
            Some((fields.get("id")?.as_str()?.to_owned(), fields.clone()))
        })
        .collect();
    backend
        .shared
        .set_reported_models(crate::backends::ReportedModels {
            by_id,
            read_at: Instant::now(),
        });
}

/// Asks once whether the backend serves Anthropic's `/v1/messages` itself: an empty
/// request gets a validation error from a server that has the route, and 404 from one that
/// does not.
async fn probe_native_anthropic(connector: &Connector, backend: &Backend) {
    let Some(addr) = backend.shared.addr() else {
        return;
    };
    let peer = backend.peer(addr);
    let path = format!("{}/messages", backend.config.url.base_path);
    let host = backend.config.url.authority();
    let call = Call {
        method: "POST",
        path: &path,
        host: &host,
        auth: backend.auth_headers().collect(),
        body: Some(bytes::Bytes::from_static(b"{}")),
        timeout: backend.config.health.timeout,
        max_body: 64 * 1024,
    };
    if let Ok(reply) = client::send(connector, &peer, call).await {
        // Servers that have the route reject the empty body (400/422; llama.cpp says 500
        // "'messages' is required"); servers without it answer 404/405/501.
        let native = !matches!(reply.status, 404 | 405 | 501);
        backend.shared.set_native_anthropic(native);
        log::info!(target: "llmgate::backend", "backend `{}`: /v1/messages {}", backend.name(),
            if native { "served natively (forwarding)" } else { "not served (translating)" });
    }
}

/// Resolves the backend's host on every probe, so DNS changes are picked up.
async fn resolve(backend: &Backend) -> Result<std::net::SocketAddr, String> {
    let host = &backend.config.url.host;
    // Literal addresses (and localhost) were fixed when the backend was built.
    if host.parse::<std::net::IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost") {
        return backend.shared.addr().ok_or_else(|| "no address".to_owned());
    }
    let lookup = tokio::net::lookup_host(backend.config.url.host_port());
    match tokio::time::timeout(backend.config.health.timeout, lookup).await {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(addr) => {
                backend.shared.set_addr(addr);
                Ok(addr)
            }
            None => Err(format!(
                "`{}` resolved to no address",
                backend.config.url.host
            )),
        },
        Ok(Err(e)) => Err(format!("cannot resolve `{}`: {e}", backend.config.url.host)),
        Err(_) => Err(format!("resolving `{}` timed out", backend.config.url.host)),
    }
}

/// Probes every backend of the current generation on its own interval.
pub struct HealthChecker {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub metrics: Arc<Metrics>,
    /// Signalled on reload so new backends are probed at once.
    pub wake: Arc<Notify>,
    /// Set once the first round of probes is done (the systemd notifier waits for it).
    pub probed: tokio::sync::watch::Sender<bool>,
}

impl HealthChecker {
    fn due(backend: &Backend, now: Instant) -> bool {
        backend.config.health.enabled
            && backend
                .shared
                .detail()
                .last_probe_started
                .is_none_or(|t| now.duration_since(t) >= backend.config.health.interval)
    }

    /// One round: probes what is due, concurrently; returns when to look again.
    async fn round(&self, connector: &Arc<Connector>) -> Duration {
        let runtime = self.runtime.load_full();
        let now = Instant::now();
        let mut probes = tokio::task::JoinSet::new();
        for index in 0..runtime.backends.len() {
            if Self::due(&runtime.backends[index], now) {
                let runtime = Arc::clone(&runtime);
                let connector = Arc::clone(connector);
                let metrics = Arc::clone(&self.metrics);
                probes.spawn(
                    async move { probe(&connector, &runtime.backends[index], &metrics).await },
                );
            }
        }
        while probes.join_next().await.is_some() {}
        runtime
            .backends
            .iter()
            .filter(|b| b.config.health.enabled)
            .map(|b| b.config.health.interval)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_millis(500))
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let connector = Arc::new(Connector::new(None));
        loop {
            let pause = self.round(&connector).await;
            self.probed.send_replace(true);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::profile::profile;
    use crate::config::BackendKind;
    use bytes::Bytes;

    fn reply(status: u16, body: &'static str) -> Result<Reply, String> {
        Ok(Reply {
            status,
            body: Bytes::from_static(body.as_bytes()),
        })
    }

    #[test]
    fn llamacpp_loading_503_is_loading_not_down() {
        let p = &profile(BackendKind::Llamacpp).probe;
        let body = r#"{"error":{"message":"Loading model","type":"unavailable_error","code":503}}"#;
        assert_eq!(classify(p, reply(503, body)).0, HealthState::Loading);
        assert_eq!(classify(p, reply(503, "{}")).0, HealthState::Down);
        assert_eq!(
            classify(p, reply(200, r#"{"status":"ok"}"#)),
            (HealthState::Ready, None)
        );
    }

    #[test]
    fn connection_errors_are_down_with_reason() {
        let p = &profile(BackendKind::Vllm).probe;
        let (state, reason) = classify(p, Err("ConnectRefused".into()));
        assert_eq!(state, HealthState::Down);
        assert_eq!(reason.as_deref(), Some("ConnectRefused"));
    }
}
