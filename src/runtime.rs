//! One generation of the running configuration: validated config plus the objects built
//! from it (backends with their health, key ring, limiters). The proxy holds it in an
//! `ArcSwap`; each request takes one snapshot when it starts and keeps it to the end, so a
//! reload never changes the rules under an in-flight request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::auth::KeyRing;
use crate::backends::Backend;
use crate::config::Config;
use crate::limits::{InflightLimiter, RateLimiter};

#[derive(Debug)]
pub struct Runtime {
    pub generation: u64,
    pub config: Config,
    pub backends: Vec<Backend>,
    pub keys: KeyRing,
    pub rate_limiter: Option<Arc<RateLimiter>>,
    pub inflight_limiter: Option<Arc<InflightLimiter>>,
    /// Concurrent streams per key (`limits.max_streams_per_key`).
    pub stream_limiter: Option<Arc<InflightLimiter>>,
    /// Token budgets per key and per model (`limits.tokens_per_*`).
    pub token_budgets: Option<Arc<crate::limits::tokens::TokenBudgets>>,
    /// `limits.backend: redis`: the limits every replica shares.
    pub shared_limits: Option<Arc<crate::limits::shared::SharedLimits>>,
    /// Rotates the choice among equally good deployments.
    round_robin: AtomicUsize,
}

impl Runtime {
    /// Builds generation `generation` from `config`. Backend health and limiter state carry
    /// over from `previous` where the backend or the limit settings did not change.
    pub fn build(config: Config, generation: u64, previous: Option<&Runtime>) -> Runtime {
        crate::redact::register_secrets(
            config
                .backends
                .iter()
                .filter_map(|b| b.api_key.as_ref().map(|k| k.expose())),
        );
        let backends = config
            .backends
            .iter()
            .map(|bc| {
                let old =
                    previous.and_then(|p| p.backends.iter().find(|b| b.config.name == bc.name));
                Backend::new(bc.clone(), old)
            })
            .collect();
        let rate_limiter = config.rate_limit.map(|settings| {
            previous
                .and_then(|p| p.rate_limiter.as_ref())
                .filter(|l| l.settings() == settings)
                .map_or_else(|| Arc::new(RateLimiter::new(settings)), Arc::clone)
        });
        let inflight_limiter = config.max_inflight_per_key.map(|limit| {
            previous
                .and_then(|p| p.inflight_limiter.as_ref())
                .filter(|l| l.limit() == limit)
                .map_or_else(|| Arc::new(InflightLimiter::new(limit)), Arc::clone)
        });
        let stream_limiter = config.max_streams_per_key.map(|limit| {
            previous
                .and_then(|p| p.stream_limiter.as_ref())
                .filter(|l| l.limit() == limit)
                .map_or_else(|| Arc::new(InflightLimiter::new(limit)), Arc::clone)
        });
        // Budgets carry over a reload when their settings did not change, so a reload is
        // no way around them.
        let token_budgets = config.token_limits.is_enabled().then(|| {
            previous
                .and_then(|p| p.token_budgets.as_ref())
                .filter(|b| *b.settings() == config.token_limits)
                .map_or_else(
                    || {
                        Arc::new(crate::limits::tokens::TokenBudgets::new(
                            &config.token_limits,
                        ))
                    },
                    Arc::clone,
                )
        });
        let shared_limits = config.shared_limits.as_ref().map(|(url, prefix)| {
            previous
                .and_then(|p| p.shared_limits.as_ref())
                .filter(|s| s.url() == url.expose() && s.prefix() == prefix)
                .map_or_else(
                    || {
                        Arc::new(crate::limits::shared::SharedLimits::new(
                            url.expose(),
                            prefix,
                        ))
                    },
                    Arc::clone,
                )
        });
        Runtime {
            generation,
            shared_limits,
            stream_limiter,
            token_budgets,
            keys: KeyRing::new(config.keys.clone()),
            config,
            backends,
            rate_limiter,
            inflight_limiter,
            round_robin: AtomicUsize::new(0),
        }
    }

    /// The client-facing model names, sorted.
    pub fn served_models(&self) -> Vec<String> {
        self.config.models.keys().cloned().collect()
    }

    /// What the first deployment of `alias` whose backend listed its upstream model said
    /// of it.
    pub fn reported_model(&self, alias: &str) -> crate::api::models::Reported {
        self.config.models.get(alias)?.iter().find_map(|d| {
            self.backends[d.backend]
                .shared
                .reported_model(&d.upstream_model)
        })
    }

    /// The backends that list `path` in `passthrough_paths`, in configuration order.
    pub fn passthrough_backends(&self, path: &str) -> Vec<usize> {
        self.backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.config.passthrough.iter().any(|p| p.matches(path)))
            .map(|(i, _)| i)
            .collect()
    }

    pub(crate) fn next_round_robin(&self) -> usize {
        self.round_robin.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether every model has at least one ready deployment, with the detail per model.
    /// The default backend counts as a model named `*`.
    pub fn readiness(&self) -> (bool, BTreeMap<String, bool>) {
        let ready = |i: usize| self.backends[i].shared.state().is_ready();
        let mut detail: BTreeMap<String, bool> = self
            .config
            .models
            .iter()
            .map(|(alias, deployments)| {
                (alias.clone(), deployments.iter().any(|d| ready(d.backend)))
            })
            .collect();
        if let Some(i) = self.config.default_backend {
            detail.insert("*".into(), ready(i));
        }
        (detail.values().all(|r| *r), detail)
    }
}
