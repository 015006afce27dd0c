//! systemd's notify protocol (sd_notify(3)) for `Type=notify`: `READY=1` once the
//! listener accepts connections and every backend has been probed once, `WATCHDOG=1` at
//! half the unit's `WatchdogSec` from the event loop itself (a wedged runtime stops
//! them), `RELOADING=1` and `READY=1` around a SIGHUP reload, `STOPPING=1` on SIGTERM.
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing.

use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use sd_notify::NotifyState;
use tokio::sync::watch;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        log::warn!(target: "llmgate::server", "systemd notification failed: {e}");
    }
}

/// A reload starts (systemd ≥ 253 requires the monotonic timestamp with it).
pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::monotonic_usec_now().unwrap_or(NotifyState::Custom("MONOTONIC_USEC=0")),
    ]);
}

/// A reload ended (applied or refused: either way the gateway serves again).
pub fn reloaded(generation: u64) {
    let status = format!("serving configuration generation {generation}");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// SIGTERM: draining.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("draining in-flight requests"),
    ]);
}

/// Says `READY=1` when the gateway can serve, then keeps the watchdog fed.
pub struct Notifier {
    /// Where the listener is bound (`host:port`; an unspecified host is reached on loopback).
    pub listen: String,
    /// Turns true once the health checker finished its first round of probes.
    pub probed: watch::Receiver<bool>,
}

impl Notifier {
    /// Waits until the listener accepts a connection (Pingora binds it in its own service).
    async fn listener_accepts(&self) {
        let addr = match self.listen.rsplit_once(':') {
            Some((host, port)) if host == "0.0.0.0" || host == "[::]" || host == "::" => {
                format!("127.0.0.1:{port}")
            }
            _ => self.listen.clone(),
        };
        while tokio::net::TcpStream::connect(&addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[async_trait]
impl BackgroundService for Notifier {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            return;
        }
        let mut probed = self.probed.clone();
        let ready = async {
            let _ = probed.wait_for(|done| *done).await;
            self.listener_accepts().await;
        };
        tokio::select! {
            () = ready => {}
            _ = shutdown.changed() => return,
        }
        let status = format!("listening on {}", self.listen);
        send(&[NotifyState::Ready, NotifyState::Status(&status)]);
        log::info!(target: "llmgate::server", "told systemd READY=1");
        let Some(interval) = sd_notify::watchdog_enabled() else {
            return;
        };
        let every = interval / 2;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => send(&[NotifyState::Watchdog]),
                _ = shutdown.changed() => return,
            }
        }
    }
}
