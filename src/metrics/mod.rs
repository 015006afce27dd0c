//! The gateway's Prometheus metrics, in a registry the gateway owns (not the process-global
//! default), so every gateway instance, including each one a test boots, has its own.
//!
//! Label values are bounded: route templates, status codes, configured backend and key
//! names, and fixed error kinds. Never raw paths, model strings or client input.

use std::time::Instant;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub mod backend_health;
pub mod inference;

/// Latency buckets spanning a cached health check to a long non-streaming generation.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Every `kind` of `backend_errors_total` (see `proxy::failure::error_kind`).
pub const ERROR_KINDS: &[&str] = &[
    "connect_refused",
    "connect_timeout",
    "connect",
    "tls",
    "timeout",
    "closed",
    "io",
    "protocol",
    "dns",
    "overloaded",
    "exhausted",
    "other",
];

pub struct Metrics {
    registry: Registry,
    started: Instant,
    requests: IntCounterVec,
    duration: HistogramVec,
    backend_errors: IntCounterVec,
    rate_limited: IntCounterVec,
    uptime: Gauge,
    inflight: IntGauge,
    upstream_responses: IntCounterVec,
    config_reloads: IntCounterVec,
    config_generation: IntGauge,
    client_errors: IntCounterVec,
    client_cancelled: IntCounter,
    retries: IntCounterVec,
    fallbacks: IntCounterVec,
    pub inference: inference::Inference,
    /// Per-backend health: readiness and passive ejection.
    pub backends: backend_health::BackendHealth,
    limits_shared_up: IntGaugeVec,
}

/// The earlier gateway's families (seed names, without a prefix), which
/// `metrics.compat_names` exports again as `chat_api_<name>` with the same labels.
pub const SEED_FAMILIES: &[&str] = &[
    "requests_total",
    "request_duration_seconds",
    "backend_errors_total",
    "rate_limited_total",
    "uptime_seconds",
];

/// Every `reason` of `retries_total`.
pub const RETRY_REASONS: &[&str] = &["connect", "reset", "timeout", "status"];

/// Every `kind` of `client_errors_total`: requests that failed through the client's fault.
pub const CLIENT_ERROR_KINDS: &[&str] = &["malformed", "timeout"];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("llmgate")
}

impl Metrics {
    /// # Panics
    /// Only if the metric definitions below are malformed (a programming error caught by
    /// every test that builds a gateway).
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            opts(
                "requests_total",
                "Requests by method, route template and status.",
            ),
            &["method", "path", "status"],
        )
        .expect("requests_total");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from request to last response byte.",
            )
            .namespace("llmgate")
            .buckets(DURATION_BUCKETS.to_vec()),
            &["path"],
        )
        .expect("request_duration_seconds");
        let backend_errors = IntCounterVec::new(
            opts(
                "backend_errors_total",
                "Failed attempts to reach or read from a backend, by kind.",
            ),
            &["kind"],
        )
        .expect("backend_errors_total");
        let rate_limited = IntCounterVec::new(
            opts(
                "rate_limited_total",
                "Requests refused by a rate or concurrency limit.",
            ),
            &["key_id"],
        )
        .expect("rate_limited_total");
        let uptime = Gauge::with_opts(opts("uptime_seconds", "Seconds since the gateway started."))
            .expect("uptime");
        let inflight = IntGauge::with_opts(opts("inflight_requests", "Requests being served now."))
            .expect("inflight");
        let upstream_responses = IntCounterVec::new(
            opts(
                "upstream_responses_total",
                "Responses received from backends, by backend and status.",
            ),
            &["backend", "status"],
        )
        .expect("upstream_responses_total");
        let config_reloads = IntCounterVec::new(
            opts("config_reloads_total", "Configuration reloads by result."),
            &["result"],
        )
        .expect("config_reloads_total");
        let config_generation = IntGauge::with_opts(opts(
            "config_generation",
            "Generation of the configuration in use (1 at startup, +1 per reload).",
        ))
        .expect("config_generation");

        let client_errors = IntCounterVec::new(
            opts(
                "client_errors_total",
                "Requests that failed through the client's fault: a malformed request or body, or a client too slow to send it.",
            ),
            &["kind"],
        )
        .expect("client_errors_total");
        let client_cancelled = IntCounter::with_opts(opts(
            "client_cancelled_total",
            "Requests whose client disconnected before the response was complete (logged as 499).",
        ))
        .expect("client_cancelled_total");

        let retries = IntCounterVec::new(
            opts(
                "retries_total",
                "Attempts started after a failure that reached no client byte, by what failed.",
            ),
            &["reason"],
        )
        .expect("retries_total");
        let fallbacks = IntCounterVec::new(
            opts(
                "fallbacks_total",
                "Requests moved on to a fallback alias after their alias's attempts failed.",
            ),
            &["model", "fallback"],
        )
        .expect("fallbacks_total");

        let collectors: [Box<dyn prometheus::core::Collector>; 13] = [
            Box::new(requests.clone()),
            Box::new(duration.clone()),
            Box::new(backend_errors.clone()),
            Box::new(rate_limited.clone()),
            Box::new(uptime.clone()),
            Box::new(inflight.clone()),
            Box::new(upstream_responses.clone()),
            Box::new(config_reloads.clone()),
            Box::new(config_generation.clone()),
            Box::new(client_errors.clone()),
            Box::new(client_cancelled.clone()),
            Box::new(retries.clone()),
            Box::new(fallbacks.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        // Series that exist from the start, so `rate()` sees the first increment.
        for kind in ERROR_KINDS {
            backend_errors.with_label_values(&[kind]);
        }
        for kind in CLIENT_ERROR_KINDS {
            client_errors.with_label_values(&[kind]);
        }
        for reason in RETRY_REASONS {
            retries.with_label_values(&[reason]);
        }
        let inference = inference::Inference::register(&registry);
        let backends = backend_health::BackendHealth::register(&registry);
        let limits_shared_up = IntGaugeVec::new(
            opts(
                "limits_shared_up",
                "With limits.backend: redis, 1 while Redis answers (limits shared by every replica), 0 while it does not (this replica's own limits apply).",
            ),
            &["backend"],
        )
        .expect("limits_shared_up");
        registry
            .register(Box::new(limits_shared_up.clone()))
            .expect("unique metric names");
        Metrics {
            inference,
            backends,
            limits_shared_up,
            registry,
            started: Instant::now(),
            requests,
            duration,
            backend_errors,
            rate_limited,
            uptime,
            inflight,
            upstream_responses,
            config_reloads,
            config_generation,
            client_errors,
            client_cancelled,
            retries,
            fallbacks,
        }
    }

    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn observe_request(&self, method: &str, path: &'static str, status: u16, seconds: f64) {
        let status = status_label(status);
        let method = match method {
            "GET" | "POST" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "PATCH" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[method, path, &status])
            .inc();
        self.duration.with_label_values(&[path]).observe(seconds);
    }

    pub fn backend_error(&self, kind: &'static str) {
        self.backend_errors.with_label_values(&[kind]).inc();
    }

    /// Creates the per-key series at zero, for the configured keys.
    pub fn register_keys<'a>(&self, key_ids: impl Iterator<Item = &'a str>) {
        for id in key_ids {
            self.rate_limited.with_label_values(&[id]);
        }
    }

    pub fn rate_limited(&self, key_id: &str) {
        self.rate_limited.with_label_values(&[key_id]).inc();
    }

    pub fn upstream_response(&self, backend: &str, status: u16) {
        self.upstream_responses
            .with_label_values(&[backend, &status_label(status)])
            .inc();
    }

    pub fn inflight_inc(&self) {
        self.inflight.inc();
    }

    pub fn inflight_dec(&self) {
        self.inflight.dec();
    }

    /// Whether shared limits reach Redis (called when scraped).
    pub fn set_limits_shared(&self, up: bool) {
        self.limits_shared_up
            .with_label_values(&["redis"])
            .set(i64::from(up));
    }

    pub fn client_error(&self, kind: &'static str) {
        self.client_errors.with_label_values(&[kind]).inc();
    }

    pub fn retry(&self, reason: &'static str) {
        self.retries.with_label_values(&[reason]).inc();
    }

    pub fn fallback(&self, model: &str, fallback: &str) {
        self.fallbacks.with_label_values(&[model, fallback]).inc();
    }

    pub fn client_cancelled(&self) {
        self.client_cancelled.inc();
    }

    pub fn config_loaded(&self, ok: bool, generation: u64) {
        self.config_reloads
            .with_label_values(&[if ok { "success" } else { "error" }])
            .inc();
        if ok {
            self.config_generation
                .set(i64::try_from(generation).unwrap_or(i64::MAX));
        }
    }

    /// The Prometheus text exposition of every metric; with `compat_names`, the seed
    /// families a second time under the earlier gateway's `chat_api_` names.
    pub fn encode(&self, compat_names: bool) -> (Vec<u8>, String) {
        self.uptime.set(self.uptime_seconds());
        let encoder = TextEncoder::new();
        let mut buf = Vec::new();
        let mut families = self.registry.gather();
        if compat_names {
            let renamed: Vec<_> = families
                .iter()
                .filter_map(|f| {
                    let seed = f.name().strip_prefix("llmgate_")?;
                    SEED_FAMILIES.contains(&seed).then(|| {
                        let mut copy = f.clone();
                        copy.set_name(format!("chat_api_{seed}"));
                        copy
                    })
                })
                .collect();
            families.extend(renamed);
        }
        if let Err(e) = encoder.encode(&families, &mut buf) {
            log::error!(target: "llmgate::metrics", "encoding metrics failed: {e}");
        }
        (buf, encoder.format_type().to_owned())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A status code as a label value, formatted once per process rather than per request;
/// only a code outside 100-599 is formatted each time.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    static LABELS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| (100..600u16).map(|s| s.to_string()).collect());
    match LABELS.get(usize::from(status).wrapping_sub(100)) {
        Some(label) => std::borrow::Cow::Borrowed(label.as_str()),
        None => std::borrow::Cow::Owned(status.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_seed_families_with_prefix() {
        let m = Metrics::new();
        m.observe_request("POST", "/v1/chat/completions", 200, 0.2);
        m.backend_error("connect");
        m.rate_limited("alice");
        let (text, content_type) = m.encode(false);
        let text = String::from_utf8(text).expect("utf8");
        assert!(content_type.starts_with("text/plain"));
        for family in [
            "llmgate_requests_total{method=\"POST\",path=\"/v1/chat/completions\",status=\"200\"} 1",
            "llmgate_request_duration_seconds_bucket",
            "llmgate_backend_errors_total{kind=\"connect\"} 1",
            "llmgate_rate_limited_total{key_id=\"alice\"} 1",
            "llmgate_uptime_seconds",
        ] {
            assert!(text.contains(family), "missing {family} in\n{text}");
        }
    }

    #[test]
    fn unknown_methods_are_folded() {
        let m = Metrics::new();
        m.observe_request("BREW", "other", 405, 0.0);
        let text = String::from_utf8(m.encode(false).0).expect("utf8");
        assert!(text.contains("method=\"other\""));
    }
}
