//! Process-wide lifecycle facts shared by the proxy, the local endpoints and the shutdown
//! watcher: when we started, how many requests are in flight, and whether we are draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::Metrics;

#[derive(Debug)]
pub struct Lifecycle {
    started_unix: u64,
    inflight: AtomicUsize,
    draining: AtomicBool,
    /// Turns `true` when the shutdown grace period is over: every exchange still running
    /// ends its response with an error and closes its upstream connection.
    cutoff: tokio::sync::watch::Sender<bool>,
    metrics: Arc<Metrics>,
}

impl Lifecycle {
    pub fn new(metrics: Arc<Metrics>) -> Lifecycle {
        Lifecycle {
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            inflight: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            cutoff: tokio::sync::watch::Sender::new(false),
            metrics,
        }
    }

    pub fn started_unix(&self) -> u64 {
        self.started_unix
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// From now on `/readyz` says 503 so load balancers stop sending new work.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The grace period is over: end every running exchange now (see `cutoff`).
    pub fn cut_off(&self) {
        self.cutoff.send_replace(true);
    }

    pub fn is_cut_off(&self) -> bool {
        *self.cutoff.borrow()
    }

    /// A receiver that turns `true` at the cut-off.
    pub fn cutoff_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.cutoff.subscribe()
    }

    /// Completes at the cut-off.
    pub async fn until_cut_off(&self) {
        let mut signal = self.cutoff.subscribe();
        if signal.wait_for(|cut| *cut).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Counts a request as in flight until the ticket drops.
    pub fn ticket(self: &Arc<Self>) -> InflightTicket {
        self.inflight.fetch_add(1, Ordering::AcqRel);
        self.metrics.inflight_inc();
        InflightTicket(Arc::clone(self))
    }
}

#[derive(Debug)]
pub struct InflightTicket(Arc<Lifecycle>);

impl Drop for InflightTicket {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.inflight_dec();
    }
}
