//! `max_concurrency`: at most that many requests on a backend at once; more wait in a
//! bounded queue for a slot, each at most `queue_timeout_ms`, and are refused (503) when
//! the queue is full or the wait runs out. A slot is held until the request ends.

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

    /// A slot, at once or after waiting in the queue.
    ///
    /// # Errors
    /// The queue is full, or no slot freed within the queue timeout.
    pub async fn acquire(&self, queued: &IntGauge) -> Result<OwnedSemaphorePermit, Saturated> {
        if let Ok(permit) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.settings.max_queue {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Saturated::QueueFull);
        }
        queued.inc();
        let _waiting = Waiting {
            slots: self,
            gauge: queued,
        };
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
