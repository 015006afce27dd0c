//! Assembling the Pingora server: the proxy service, the health checker, the SIGHUP
//! reloader, and how the process stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::prelude::Server;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use pingora::services::background::background_service;
use tokio::sync::Notify;

use crate::backends::health::HealthChecker;
use crate::config::{Config, Overrides};
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::proxy::Gateway;
use crate::reload::{Reloader, SharedEnv, SighupListener};
use crate::runtime::Runtime;

/// How the server is assembled.
pub struct BuildOptions {
    /// Install the SIGHUP reload handler (the binary does; in-process tests call
    /// [`GatewayHandle::reload`] instead).
    pub reload_on_sighup: bool,
    /// Variable lookup for reloads.
    pub env: SharedEnv,
    /// Command-line listen overrides, re-applied on every reload.
    pub overrides: Overrides,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            reload_on_sighup: true,
            env: Arc::new(|k| std::env::var(k).ok()),
            overrides: Overrides::default(),
        }
    }
}

/// What a running gateway exposes to its owner.
#[derive(Clone)]
pub struct GatewayHandle {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    reloader: Arc<Reloader>,
}

impl GatewayHandle {
    /// Same as SIGHUP: reload the configuration source.
    ///
    /// # Errors
    /// The new configuration's problems; the running one is kept.
    pub fn reload(&self) -> Result<u64, crate::config::ConfigError> {
        self.reloader.reload()
    }
}

/// Builds the server for `config`. Call [`Server::run`] (or `run_forever`) on the result.
///
/// # Errors
/// The HTTPS listener's certificate or key cannot be loaded.
pub fn build_server(
    config: Config,
    options: BuildOptions,
) -> pingora::Result<(Server, GatewayHandle)> {
    let conf = ServerConf {
        threads: config.server.threads,
        // SIGTERM drains in our own watcher (see `SignalWatch`); the grace period only
        // applies to a graceful upgrade (SIGQUIT).
        grace_period_seconds: Some(config.server.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let metrics = Arc::new(Metrics::new());
    let lifecycle = Arc::new(Lifecycle::new(Arc::clone(&metrics)));
    let listen = config.server.listen_addr();
    let tls = config.server.tls.clone();
    let (http2, h2c) = (config.server.http2, config.server.h2c);
    let (redirect_port, https_port) = (config.server.redirect_http_port, config.server.port);
    let redirect_host = config.server.host.clone();
    let source = config.source.clone();
    metrics.register_keys(config.keys.iter().map(|k| &*k.id).chain(["anonymous"]));
    let runtime = Arc::new(ArcSwap::from_pointee(Runtime::build(config, 1, None)));
    metrics.config_loaded(true, 1);
    let health_wake = Arc::new(Notify::new());
    let mut reloader = Reloader::new(
        source,
        options.env,
        options.overrides,
        Arc::clone(&runtime),
        Arc::clone(&metrics),
        Arc::clone(&health_wake),
    );

    let gateway = Gateway {
        runtime: Arc::clone(&runtime),
        metrics: Arc::clone(&metrics),
        lifecycle: Arc::clone(&lifecycle),
        connector: Arc::new(pingora::connectors::http::Connector::new(None)),
        token_counts: Default::default(),
    };
    let mut proxy =
        pingora::proxy::http_proxy_service_with_name(&server.configuration, gateway, "llmgate");
    match &tls {
        Some(files) => {
            let cert = crate::tls::ReloadableCert::new(files.clone())
                .map_err(|e| pingora::Error::explain(pingora::ErrorType::InvalidCert, e))?;
            let cert = Arc::new(cert);
            let mut settings =
                TlsSettings::intermediate(&path_str(&files.cert), &path_str(&files.key))?;
            settings.set_cert_resolver(Arc::clone(&cert) as _);
            if http2 {
                settings.enable_h2();
            }
            proxy.add_listener(
                ListenerConfig::tcp(listen.as_str())
                    .tls(settings)
                    .l4_buffer(client_buffers()),
            );
            reloader.tls = Some(cert);
        }
        None => {
            proxy.add_listener(ListenerConfig::tcp(listen.as_str()).l4_buffer(client_buffers()))
        }
    }
    if h2c && let Some(app) = proxy.app_logic_mut() {
        let mut options = pingora::apps::HttpServerOptions::default();
        options.h2c = true;
        app.server_options = Some(options);
    }
    server.add_service(proxy);
    if let (Some(port), Some(_)) = (redirect_port, &tls) {
        server.add_service(crate::redirect::service(&redirect_host, port, https_port));
    }
    let reloader = Arc::new(reloader);
    let (probed, probed_rx) = tokio::sync::watch::channel(false);
    server.add_service(background_service(
        "health-checks",
        HealthChecker {
            runtime: Arc::clone(&runtime),
            metrics: Arc::clone(&metrics),
            wake: health_wake,
            probed,
        },
    ));
    server.add_service(background_service(
        "systemd-notify",
        crate::systemd::Notifier {
            listen: listen.clone(),
            probed: probed_rx,
        },
    ));
    if options.reload_on_sighup {
        server.add_service(background_service(
            "config-reload",
            SighupListener(Arc::clone(&reloader)),
        ));
    }
    let handle = GatewayHandle {
        runtime,
        metrics,
        lifecycle,
        reloader,
    };
    Ok((server, handle))
}

fn path_str(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Process signals: SIGTERM drains (readiness goes 503, in-flight requests finish, up to
/// the grace period) and exits; SIGINT exits at once; SIGQUIT hands the listeners to a
/// new process (`llmgate -u`) as Pingora does.
///
/// Pingora's own SIGTERM handling sleeps the full grace period even when idle; draining
/// here exits as soon as the last request is done.
pub struct SignalWatch {
    pub lifecycle: Arc<Lifecycle>,
    pub grace: Duration,
}

/// How long requests still running at the cut-off get to write their final error event
/// before the runtime is torn down.
const CUTOFF_FLUSH: Duration = Duration::from_secs(2);

impl SignalWatch {
    /// Ends every request still in flight with an error its client can read (an SSE error
    /// event, or a JSON error if nothing was sent yet), and waits briefly for them to be
    /// written; without it the connections would just close mid-stream.
    async fn cut_off_remaining(&self) {
        let left = self.lifecycle.inflight();
        if left == 0 {
            return;
        }
        log::warn!(target: "llmgate::server",
            "ending {left} request(s) still in flight: shutdown grace period over");
        self.lifecycle.cut_off();
        let deadline = Instant::now() + CUTOFF_FLUSH;
        while self.lifecycle.inflight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl ShutdownSignalWatch for SignalWatch {
    async fn recv(&self) -> ShutdownSignal {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            log::error!(target: "llmgate::server", "cannot install signal handlers");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {
                crate::systemd::stopping();
                self.lifecycle.start_draining();
                let deadline = Instant::now() + self.grace;
                log::info!(target: "llmgate::server", "SIGTERM: draining {} in-flight request(s), up to {} s",
                    self.lifecycle.inflight(), self.grace.as_secs());
                while self.lifecycle.inflight() > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                self.cut_off_remaining().await;
                log::info!(target: "llmgate::server", "drained; exiting");
                ShutdownSignal::FastShutdown
            }
            _ = int.recv() => {
                self.cut_off_remaining().await;
                ShutdownSignal::FastShutdown
            }
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
        }
    }
}

/// Runs a built server until a signal stops it.
/// No read buffer in front of client sockets. Pingora's default is 64 KiB per
/// connection, zero-filled when the first request arrives, and kept for the life of the
/// connection: most of the memory of an open stream or an idle keep-alive connection.
/// Request heads and bodies are read into Pingora's own right-sized buffers anyway (and
/// rustls keeps its own for TLS), so the extra buffer only added a copy.
fn client_buffers() -> L4BufferSettings {
    L4BufferSettings::default().read(0)
}

pub fn run(server: Server, handle: &GatewayHandle) {
    let grace = handle.runtime.load().config.server.shutdown_grace;
    server.run(RunArgs {
        shutdown_signal: Box::new(SignalWatch {
            lifecycle: Arc::clone(&handle.lifecycle),
            grace,
        }),
    });
}
