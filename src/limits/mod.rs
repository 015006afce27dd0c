//! Per-key request limits: a token bucket for rate (sustained per-minute rate plus a
//! burst, `tokens::TokenBudget`), and Pingora's `Inflight` counter for concurrency.
//!
//! pingora-limits offers estimators (`Rate`) but no bucket with burst semantics, which is
//! what `RATE_LIMIT_RPM` + `RATE_LIMIT_BURST` promise, hence the small bucket in
//! `tokens`.

use std::time::Instant;

use pingora_limits::inflight::{Guard, Inflight};

use crate::config::RateLimitSettings;

pub mod shared;
pub mod tokens;

/// Requests per key: a bucket of `burst` requests refilled at the per-minute rate (the
/// same bucket as the token budgets, one request a token).
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    bucket: tokens::TokenBudget,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> RateLimiter {
        let capacity = u64::from(settings.burst.max(1));
        let per_second = f64::from(settings.requests_per_minute) / 60.0;
        RateLimiter {
            settings,
            bucket: tokens::TokenBudget::with_rate(capacity, per_second),
        }
    }

    pub fn settings(&self) -> RateLimitSettings {
        self.settings
    }

    /// Takes one request for `key` (the requests left), or says how many seconds until
    /// one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<f64, u64> {
        self.bucket
            .reserve(key, 1, now)
            .map(|standing| standing.remaining as f64)
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
