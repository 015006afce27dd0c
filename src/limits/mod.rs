//! Per-key request limits: a token bucket for rate (sustained per-minute rate plus a
//! burst), and Pingora's `Inflight` counter for concurrency.
//!
//! pingora-limits offers estimators (`Rate`) but no bucket with burst semantics, which is
//! what `RATE_LIMIT_RPM` + `RATE_LIMIT_BURST` promise, hence the small bucket here. The
//! mutex is held for a few arithmetic operations and never across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use pingora_limits::inflight::{Guard, Inflight};

use crate::config::RateLimitSettings;

pub mod shared;
pub mod tokens;

/// Beyond this many tracked keys (anonymous clients are keyed by address), full buckets
/// are forgotten: a full bucket is indistinguishable from a new one.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> RateLimiter {
        RateLimiter {
            settings,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> RateLimitSettings {
        self.settings
    }

    fn capacity(&self) -> f64 {
        f64::from(self.settings.burst.max(1))
    }

    fn per_second(&self) -> f64 {
        f64::from(self.settings.requests_per_minute) / 60.0
    }

    /// Takes one token for `key` (the tokens left), or says how many seconds until one is
    /// available.
    pub fn check(&self, key: &str, now: Instant) -> Result<f64, u64> {
        let capacity = self.capacity();
        let rate = self.per_second();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(0.0); // a poisoned limiter must not take the gateway down with it
        };
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(bucket.tokens)
        } else {
            let wait = (1.0 - bucket.tokens) / rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// Concurrent requests per key.
pub struct InflightLimiter {
    limit: u32,
    counter: Inflight,
}

impl std::fmt::Debug for InflightLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InflightLimiter({})", self.limit)
    }
}

impl InflightLimiter {
    pub fn new(limit: u32) -> InflightLimiter {
        InflightLimiter {
            limit,
            counter: Inflight::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Admits a request for `key`; the count drops when the guard does.
    pub fn acquire(&self, key: &str) -> Result<Guard, u32> {
        let (guard, count) = self.counter.incr(key, 1);
        if count > isize::try_from(self.limit).unwrap_or(isize::MAX) {
            Err(self.limit)
        } else {
            Ok(guard)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = RateLimiter::new(RateLimitSettings {
            requests_per_minute: 60,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k", t0).is_ok());
        }
        assert_eq!(limiter.check("k", t0), Err(1));
        assert!(limiter.check("other", t0).is_ok(), "keys are independent");
        assert!(limiter.check("k", t0 + Duration::from_millis(1000)).is_ok());
        assert!(
            limiter
                .check("k", t0 + Duration::from_millis(1000))
                .is_err()
        );
    }

    #[test]
    fn inflight_guard_releases_on_drop() {
        let limiter = InflightLimiter::new(1);
        let first = limiter.acquire("k").expect("first admitted");
        assert_eq!(limiter.acquire("k").err(), Some(1));
        drop(first);
        assert!(limiter.acquire("k").is_ok());
    }
}
