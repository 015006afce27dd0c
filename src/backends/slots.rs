//! `max_concurrency`: at most that many requests on a backend at once; more wait in a
//! bounded queue for a slot, each at most `queue_timeout_ms`, and are refused (503) when
//! the queue is full or the wait runs out. A slot is held until the request ends.
//!
//! With `limits.backend: redis` the slots are leases in Redis, one set per backend, so
//! every replica counts against the same `max_concurrency`; a waiting request polls for
//! a lease. When Redis does not answer, this replica's own slots apply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ConcurrencySettings;

#[derive(Debug)]
pub struct Slots {
    settings: ConcurrencySettings,
    semaphore: Arc<Semaphore>,
    waiting: AtomicU32,
}

/// A slot, held until dropped.
#[derive(Debug)]
pub enum Held {
    Local(OwnedSemaphorePermit),
    Shared(crate::limits::shared::Lease),
}

/// How often a request waiting for a shared slot asks again.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Why no slot was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saturated {
    QueueFull,
    TimedOut,
}

/// Counts a waiting request in the queue and in the `queued_requests` gauge, until it
/// stops waiting however that happens (a slot, a timeout, the client leaving).
struct Waiting<'a> {
    slots: &'a Slots,
    gauge: &'a IntGauge,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.slots.waiting.fetch_sub(1, Ordering::Relaxed);
        self.gauge.dec();
    }
}

impl Slots {
    pub fn new(settings: ConcurrencySettings) -> Slots {
        Slots {
            settings,
            semaphore: Arc::new(Semaphore::new(settings.max as usize)),
            waiting: AtomicU32::new(0),
        }
    }

    pub fn settings(&self) -> ConcurrencySettings {
        self.settings
    }

    /// A slot on `backend`, shared through Redis when `shared` is given and answers,
    /// else this replica's own.
    ///
    /// # Errors
    /// The queue is full, or no slot freed within the queue timeout.
    pub async fn acquire_for(
        &self,
        backend: &str,
        queued: &IntGauge,
        shared: Option<&Arc<crate::limits::shared::SharedLimits>>,
    ) -> Result<Held, Saturated> {
        let Some(shared) = shared else {
            return self.acquire(queued).await.map(Held::Local);
        };
        let key = format!("deployment:{backend}");
        match shared.lease(&key, self.settings.max).await {
            Some(Ok(lease)) => return Ok(Held::Shared(lease)),
            None => return self.acquire(queued).await.map(Held::Local),
            Some(Err(())) => {}
        }
        let _waiting = self.enter_queue(queued)?;
        let deadline = tokio::time::Instant::now() + self.settings.queue_timeout;
        loop {
            tokio::time::sleep(POLL).await;
            match shared.lease(&key, self.settings.max).await {
                Some(Ok(lease)) => return Ok(Held::Shared(lease)),
                // Redis went away while we waited: this replica's own slots.
                None => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    return match tokio::time::timeout(
                        left,
                        Arc::clone(&self.semaphore).acquire_owned(),
                    )
                    .await
                    {
                        Ok(Ok(permit)) => Ok(Held::Local(permit)),
                        _ => Err(Saturated::TimedOut),
                    };
                }
                Some(Err(())) if tokio::time::Instant::now() >= deadline => {
                    return Err(Saturated::TimedOut);
                }
                Some(Err(())) => {}
            }
        }
    }

    /// A place in the queue, or `QueueFull`.
    fn enter_queue<'a>(&'a self, queued: &'a IntGauge) -> Result<Waiting<'a>, Saturated> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.settings.max_queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Saturated::QueueFull);
        }
        queued.inc();
        Ok(Waiting {
            slots: self,
            gauge: queued,
        })
    }

    /// A local slot, at once or after waiting in the queue.
    ///
    /// # Errors
    /// The queue is full, or no slot freed within the queue timeout.
    pub async fn acquire(&self, queued: &IntGauge) -> Result<OwnedSemaphorePermit, Saturated> {
        if let Ok(permit) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Ok(permit);
        }
        let _waiting = self.enter_queue(queued)?;
        match tokio::time::timeout(
            self.settings.queue_timeout,
            Arc::clone(&self.semaphore).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Saturated::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn slots_queue_then_refuse() {
        let slots = Slots::new(ConcurrencySettings {
            max: 1,
            max_queue: 1,
            queue_timeout: Duration::from_millis(50),
        });
        let gauge = IntGauge::new("q", "q").expect("gauge");
        let held = slots.acquire(&gauge).await.expect("a free slot");
        // One may wait; it times out while the slot is held.
        assert_eq!(slots.acquire(&gauge).await.err(), Some(Saturated::TimedOut));
        assert_eq!(gauge.get(), 0, "no longer waiting");
        drop(held);
        assert!(
            slots.acquire(&gauge).await.is_ok(),
            "the slot is free again"
        );
    }
}
