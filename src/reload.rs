//! Configuration reload: SIGHUP (or [`Reloader::reload`]) reads the same source again,
//! validates all of it, and swaps the runtime atomically. A bad file changes nothing.
//! Requests in flight keep the generation they started with.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::sync::Notify;

use crate::config::{Config, ConfigError, ConfigSource, Overrides};
use crate::metrics::Metrics;
use crate::runtime::Runtime;

/// A variable lookup that can be shared with the reload thread.
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub struct Reloader {
    pub source: ConfigSource,
    pub env: SharedEnv,
    pub overrides: Overrides,
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub metrics: Arc<Metrics>,
    /// Wakes the health checker so new backends are probed at once.
    pub health_wake: Arc<Notify>,
    /// The HTTPS listener's certificate, re-read on every reload.
    pub tls: Option<Arc<crate::tls::ReloadableCert>>,
    /// Serialises reloads, so generations are numbered in order.
    serial: Mutex<()>,
}

impl Reloader {
    pub fn new(
        source: ConfigSource,
        env: SharedEnv,
        overrides: Overrides,
        runtime: Arc<ArcSwap<Runtime>>,
        metrics: Arc<Metrics>,
        health_wake: Arc<Notify>,
    ) -> Reloader {
        Reloader {
            source,
            env,
            overrides,
            runtime,
            metrics,
            health_wake,
            tls: None,
            serial: Mutex::new(()),
        }
    }

    /// Loads the configuration again and, if it is valid, makes it current.
    ///
    /// # Errors
    /// The new configuration's problems; the running one is kept.
    pub fn reload(&self) -> Result<u64, ConfigError> {
        let _serial = self
            .serial
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tls) = &self.tls {
            // New handshakes get the new certificate; open connections keep theirs. A
            // certificate that does not load changes nothing.
            match tls.reload() {
                Ok(()) => log::info!(target: "llmgate::config", "TLS certificate re-read"),
                Err(e) => {
                    log::error!(target: "llmgate::config", "TLS certificate not reloaded, keeping the current one: {e}")
                }
            }
        }
        let current = self.runtime.load_full();
        let env = Arc::clone(&self.env);
        let loaded = Config::load_with_env(&self.source, Box::new(move |k| env(k)));
        let mut config = match loaded {
            Ok(config) => config,
            Err(e) => {
                self.metrics.config_loaded(false, current.generation);
                log::error!(target: "llmgate::config", "reload failed, keeping generation {}: {e}", current.generation);
                return Err(e);
            }
        };
        self.overrides.apply(&mut config);
        if config.server != current.config.server {
            log::warn!(
                target: "llmgate::config",
                "`server` settings changed; listen address, threads and timeouts apply after a restart"
            );
        }
        if config.logging.level != current.config.logging.level
            || config.logging.json != current.config.logging.json
        {
            log::warn!(target: "llmgate::config", "`logging.level`/`logging.json` apply after a restart");
        }
        self.metrics
            .register_keys(config.keys.iter().map(|k| &*k.id));
        let generation = current.generation + 1;
        let next = Runtime::build(config, generation, Some(&current));
        let names: Vec<&str> = next.backends.iter().map(|b| b.name()).collect();
        let old: Vec<&str> = current.backends.iter().map(|b| b.name()).collect();
        self.metrics.backends.retain(&names, &old);
        self.runtime.store(Arc::new(next));
        self.metrics.config_loaded(true, generation);
        self.health_wake.notify_one();
        log::info!(target: "llmgate::config", "configuration reloaded from {}: generation {generation}", self.source);
        Ok(generation)
    }
}

/// Reloads on SIGHUP.
pub struct SighupListener(pub Arc<Reloader>);

#[async_trait]
impl BackgroundService for SighupListener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                log::error!(target: "llmgate::config", "cannot listen for SIGHUP, reload disabled: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    log::info!(target: "llmgate::config", "SIGHUP: reloading {}", self.0.source);
                    crate::systemd::reloading();
                    let generation = self
                        .0
                        .reload()
                        .unwrap_or_else(|_| self.0.runtime.load().generation);
                    crate::systemd::reloaded(generation);
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
