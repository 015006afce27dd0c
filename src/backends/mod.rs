//! Backends as the running gateway sees them: resolved address, health, in-flight count and
//! the `HttpPeer` to reach them. Health and address live in a [`BackendShared`] that a
//! reload hands to the next generation when the backend is unchanged, so a reload never
//! makes a healthy backend look unknown.

pub mod client;
pub mod health;
pub mod passive;
pub mod profile;
pub mod slots;

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwapOption;
use pingora::protocols::tls::CaType;
use pingora::tls::{CertificateDer, RootCertStore};
use pingora::upstreams::peer::HttpPeer;
use pingora::utils::tls::{WrappedX509, parse_x509};

use crate::config::{BackendConfig, BackendKind};
pub use profile::{Capabilities, Profile};

/// What the last probe said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HealthState {
    /// Not probed yet.
    Unknown = 0,
    Ready = 1,
    /// Answering, but still loading the model (llama.cpp 503 "Loading model", ...).
    Loading = 2,
    Down = 3,
    /// Health checks are disabled for this backend.
    Unchecked = 4,
}

impl HealthState {
    fn from_u8(v: u8) -> HealthState {
        match v {
            1 => HealthState::Ready,
            2 => HealthState::Loading,
            3 => HealthState::Down,
            4 => HealthState::Unchecked,
            _ => HealthState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Ready => "ready",
            HealthState::Loading => "loading",
            HealthState::Down => "down",
            HealthState::Unchecked => "unchecked",
        }
    }

    /// Whether routing should prefer this backend. Unknown/unchecked backends count as
    /// usable: refusing traffic we have no evidence against would drop servable requests.
    pub fn is_routable(self) -> bool {
        matches!(
            self,
            HealthState::Ready | HealthState::Unchecked | HealthState::Unknown
        )
    }

    /// Whether `/readyz` may count this backend as serving.
    pub fn is_ready(self) -> bool {
        matches!(self, HealthState::Ready | HealthState::Unchecked)
    }
}

#[derive(Debug, Default, Clone)]
pub struct HealthDetail {
    pub last_error: Option<String>,
    pub last_checked: Option<SystemTime>,
    pub(crate) last_probe_started: Option<Instant>,
}

/// The part of a backend that outlives a config generation.
#[derive(Debug, Default)]
pub struct BackendShared {
    state: AtomicU8,
    detail: Mutex<HealthDetail>,
    addr: ArcSwapOption<SocketAddr>,
    inflight: AtomicUsize,
    /// Whether the backend serves `/v1/messages` itself: 0 not probed, 1 no, 2 yes.
    native_anthropic: AtomicU8,
    pub passive: passive::PassiveHealth,
    /// What the backend's `GET /models` reported, by model id, and when it was read.
    models: ArcSwapOption<ReportedModels>,
}

/// A backend's own model list: each entry as the backend describes it (vLLM's
/// `max_model_len`, `root`, ...).
#[derive(Debug)]
pub struct ReportedModels {
    pub by_id: std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>,
    pub read_at: Instant,
}

impl BackendShared {
    pub fn state(&self) -> HealthState {
        HealthState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub fn set_state(&self, state: HealthState, error: Option<String>) {
        self.state.store(state as u8, Ordering::Relaxed);
        if let Ok(mut d) = self.detail.lock() {
            d.last_error = error;
            d.last_checked = Some(SystemTime::now());
        }
    }

    /// The backend's own description of `model`, if its model list named it.
    pub fn reported_model(
        &self,
        model: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        self.models.load().as_ref()?.by_id.get(model).cloned()
    }

    /// When the model list was last read (`None`: never).
    pub fn models_read_at(&self) -> Option<Instant> {
        self.models.load().as_ref().map(|m| m.read_at)
    }

    pub fn set_reported_models(&self, models: ReportedModels) {
        self.models.store(Some(Arc::new(models)));
    }

    pub fn detail(&self) -> HealthDetail {
        self.detail.lock().map(|d| d.clone()).unwrap_or_default()
    }

    pub(crate) fn mark_probe_started(&self) {
        if let Ok(mut d) = self.detail.lock() {
            d.last_probe_started = Some(Instant::now());
        }
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.load().as_deref().copied()
    }

    pub fn set_addr(&self, addr: SocketAddr) {
        if self.addr() != Some(addr) {
            self.addr.store(Some(Arc::new(addr)));
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// What routing compares, lowest first: demoted (probe says not routable, or ejected
    /// by passive health), then requests in flight.
    pub fn routing_score(&self) -> (bool, usize) {
        let demoted = !self.state().is_routable() || self.passive.is_ejected();
        (demoted, self.inflight())
    }

    /// The result of the one-time `/v1/messages` probe, if it ran.
    pub fn native_anthropic(&self) -> Option<bool> {
        match self.native_anthropic.load(Ordering::Relaxed) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    pub fn set_native_anthropic(&self, native: bool) {
        self.native_anthropic
            .store(if native { 2 } else { 1 }, Ordering::Relaxed);
    }
}

/// Decrements a backend's in-flight count when the request using it ends, however it ends.
#[derive(Debug)]
pub struct InflightGuard(Arc<BackendShared>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `anthropic-version` sent to Anthropic upstreams: the API both translators follow.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A configured backend in one config generation.
#[derive(Debug)]
pub struct Backend {
    pub config: BackendConfig,
    pub profile: &'static Profile,
    pub capabilities: Capabilities,
    pub shared: Arc<BackendShared>,
    /// `max_concurrency` slots; kept across reloads that keep the server and the limit.
    pub slots: Option<Arc<slots::Slots>>,
    /// `tls_ca_file`'s certificates, trusted for this backend instead of the system store.
    trusted_ca: Option<Arc<CaType>>,
    /// Pingora pools connections by address, SNI and verification flags, but not by CA:
    /// without a distinct group, a connection verified against one backend's CA could be
    /// reused for a backend at the same address that trusts another (or the system store).
    pool_group: u64,
    /// The `Host` header for the backend's URL, built once (`None` if it is not a valid
    /// header value; `insert_host` then reports the error).
    host_header: Option<http::HeaderValue>,
    /// [`Backend::auth_headers`] as header values, built once and marked sensitive.
    pub auth_header_values: Vec<(&'static str, http::HeaderValue)>,
}

impl Backend {
    /// Builds a backend, reusing `previous` state when it describes the same server.
    pub fn new(config: BackendConfig, previous: Option<&Backend>) -> Backend {
        let profile = profile::profile(config.kind);
        let capabilities = profile.capabilities.with_overrides(&config.capabilities);
        let same_server =
            previous.filter(|p| p.config.url == config.url && p.config.kind == config.kind);
        let slots = config.concurrency.map(|settings| {
            same_server
                .and_then(|p| p.slots.as_ref())
                .filter(|s| s.settings() == settings)
                .map_or_else(|| Arc::new(slots::Slots::new(settings)), Arc::clone)
        });
        let shared = match same_server {
            Some(p) => Arc::clone(&p.shared),
            None => {
                let shared = Arc::new(BackendShared::default());
                // Literal addresses need no lookup; names are resolved by the health loop.
                if let Ok(ip) = config.url.host.parse::<IpAddr>() {
                    shared.set_addr(SocketAddr::new(ip, config.url.port));
                } else if config.url.host.eq_ignore_ascii_case("localhost") {
                    shared.set_addr(SocketAddr::new(
                        IpAddr::from([127, 0, 0, 1]),
                        config.url.port,
                    ));
                }
                shared
            }
        };
        if !config.health.enabled {
            shared
                .state
                .store(HealthState::Unchecked as u8, Ordering::Relaxed);
        }
        let trusted_ca = config
            .tls_ca
            .as_deref()
            .map(|ders| trusted_ca(&config.name, ders));
        let pool_group = config.tls_ca.as_deref().map_or(0, |ders| {
            let mut h = std::hash::DefaultHasher::new();
            ders.hash(&mut h);
            h.finish()
        });
        Backend {
            host_header: http::HeaderValue::try_from(config.url.authority()).ok(),
            // Config validation refuses keys a header cannot carry.
            auth_header_values: auth_headers(&config)
                .filter_map(|(name, value)| {
                    let mut value = http::HeaderValue::try_from(value).ok()?;
                    value.set_sensitive(true);
                    Some((name, value))
                })
                .collect(),
            config,
            profile,
            capabilities,
            shared,
            slots,
            trusted_ca,
            pool_group,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Sets `Host` to the backend's authority (replacing the client's).
    pub fn insert_host(&self, req: &mut pingora::http::RequestHeader) -> pingora::Result<()> {
        match &self.host_header {
            Some(host) => req.insert_header("host", host.clone()),
            None => req.insert_header("host", self.config.url.authority()),
        }
    }

    /// Whether `/v1/messages` goes to the backend's own Anthropic endpoint. In `auto` mode
    /// that is known once the health checker probed it; until then we translate. Anthropic
    /// itself always serves it.
    pub fn serves_anthropic_natively(&self) -> bool {
        if self.config.kind == BackendKind::Anthropic {
            return true;
        }
        match self.config.anthropic {
            crate::config::AnthropicMode::Translate => false,
            crate::config::AnthropicMode::Native => true,
            crate::config::AnthropicMode::Auto => self.shared.native_anthropic() == Some(true),
        }
    }

    /// The headers every request to the backend carries, as text (see the free function;
    /// `auth_header_values` holds them built as header values).
    pub fn auth_headers(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        auth_headers(&self.config)
    }

    /// The request target for an API path (`/chat/completions`) below the base URL. Azure
    /// OpenAI addresses the deployment (the upstream model name) in the path; both Azure
    /// kinds carry `api-version`. `query` is the client's, already stripped of credentials.
    pub fn request_target(&self, suffix: &str, model: Option<&str>, query: Option<&str>) -> String {
        let base = &self.config.url.base_path;
        let mut target = match (self.config.kind, model) {
            (BackendKind::Azure, Some(deployment)) => {
                format!("{base}/openai/deployments/{deployment}{suffix}")
            }
            (BackendKind::Azure, None) => format!("{base}/openai{suffix}"),
            // Every request: no formatting machinery.
            _ => [base.as_str(), suffix].concat(),
        };
        let mut separator = '?';
        if let Some(version) = &self.config.api_version {
            target.push_str("?api-version=");
            target.push_str(version);
            separator = '&';
        }
        if let Some(query) = query {
            target.push(separator);
            target.push_str(query);
        }
        target
    }

    /// The request target for a path below the backend's server root (its base URL without
    /// a trailing `/v1`), for `passthrough_paths`.
    pub fn root_target(&self, path: &str, query: Option<&str>) -> String {
        let base = &self.config.url.base_path;
        let root = base.strip_suffix("/v1").unwrap_or(base);
        match query {
            Some(q) => format!("{root}{path}?{q}"),
            None => format!("{root}{path}"),
        }
    }

    /// Counts a request against this backend until the guard drops.
    pub fn track_inflight(&self) -> InflightGuard {
        self.shared.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(Arc::clone(&self.shared))
    }

    /// Resolves the backend's address now if it is not known yet.
    pub async fn ensure_addr(&self) -> Option<SocketAddr> {
        if let Some(addr) = self.shared.addr() {
            return Some(addr);
        }
        let addr = tokio::net::lookup_host(self.config.url.host_port())
            .await
            .ok()?
            .next()?;
        self.shared.set_addr(addr);
        Some(addr)
    }

    /// The peer used to proxy a request, with the backend's timeouts.
    pub fn peer(&self, addr: SocketAddr) -> HttpPeer {
        let c = &self.config;
        let mut peer = HttpPeer::new(addr, c.url.tls, c.url.host.clone());
        let o = &mut peer.options;
        o.connection_timeout = Some(c.connect_timeout);
        o.total_connection_timeout = Some(c.connect_timeout * 2);
        o.read_timeout = Some(c.read_timeout);
        o.write_timeout = Some(c.write_timeout);
        o.idle_timeout = Some(c.idle_timeout);
        o.ca.clone_from(&self.trusted_ca);
        peer.group_key = self.pool_group;
        peer
    }
}

/// The certificates of a CA bundle in pingora's form. Each is checked by rustls first,
/// because pingora's X.509 wrapper panics on DER it cannot parse; a rejected one is
/// logged and left out (an empty list makes pingora refuse the handshake, never fall back
/// to the system store).
fn trusted_ca(backend: &str, ders: &[Vec<u8>]) -> Arc<CaType> {
    let mut check = RootCertStore::empty();
    let certs: Vec<WrappedX509> = ders
        .iter()
        .filter(|der| match check.add(CertificateDer::from(der.as_slice())) {
            Ok(()) => true,
            Err(e) => {
                log::error!(target: "llmgate::backends", "backend `{backend}`: a certificate in tls_ca_file is unusable: {e}");
                false
            }
        })
        .map(|der| WrappedX509::new(der.clone(), parse_x509))
        .collect();
    certs.into()
}

/// The headers every request to a backend carries: its key (`api-key` for the Azure
/// kinds, `x-api-key` for Anthropic, `Authorization: Bearer` for everything else) and,
/// for Anthropic, the API version the translators implement.
fn auth_headers(config: &BackendConfig) -> impl Iterator<Item = (&'static str, String)> + '_ {
    let kind = config.kind;
    let key = config.api_key.as_ref().map(|k| {
        let key = k.expose();
        match kind {
            BackendKind::Azure | BackendKind::AzureAi => ("api-key", key.to_owned()),
            BackendKind::Anthropic => ("x-api-key", key.to_owned()),
            _ => ("authorization", format!("Bearer {key}")),
        }
    });
    let version = (kind == BackendKind::Anthropic)
        .then(|| ("anthropic-version", ANTHROPIC_VERSION.to_owned()));
    key.into_iter().chain(version)
}
