//! Passive health: what real traffic says about a backend between probes. After
//! `eject_after_failures` consecutive failures a backend is ejected: routing tries it only
//! when nothing else is left, until its cool-down ends or a probe passes.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Backend, HealthState};
use crate::config::HealthSettings;
use crate::metrics::Metrics;

/// The longest `Retry-After` we honour; beyond it a backend's own number is not trusted.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Milliseconds are counted from here, so a deadline fits in one atomic.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Never 0, which marks "not ejected".
fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

#[derive(Debug, Default)]
pub struct PassiveHealth {
    consecutive_failures: AtomicU32,
    /// `now_ms()` at which the ejection ends; 0 when not ejected.
    ejected_until_ms: AtomicU64,
    ejections: AtomicU64,
    /// The streak includes answers (5xx, 429), not only connection failures: a passing
    /// readiness probe says nothing about overload, so it does not end such an ejection.
    answered_failures: AtomicBool,
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Counted,
    /// This failure ejected the backend for the given time.
    Ejected(Duration),
}

impl PassiveHealth {
    /// A request went well: the failure streak is over.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        if self.ejected_until_ms.load(Ordering::Relaxed) != 0 {
            self.ejected_until_ms.store(0, Ordering::Relaxed);
        }
        if self.answered_failures.load(Ordering::Relaxed) {
            self.answered_failures.store(false, Ordering::Relaxed);
        }
    }

    /// A request failed on this backend. `answered` when the backend answered (5xx, 429)
    /// rather than failing the connection; `retry_after` is its own hint (429/503).
    pub fn record_failure(
        &self,
        settings: &HealthSettings,
        answered: bool,
        retry_after: Option<Duration>,
    ) -> Verdict {
        if answered {
            self.answered_failures.store(true, Ordering::Relaxed);
        }
        let streak = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if settings.eject_after_failures == 0 || streak < settings.eject_after_failures {
            return Verdict::Counted;
        }
        let now = now_ms();
        if self.ejected_until_ms.load(Ordering::Relaxed) > now {
            return Verdict::Counted;
        }
        let cooldown = retry_after.map_or(settings.cooldown, |hint| {
            hint.min(MAX_RETRY_AFTER).max(settings.cooldown)
        });
        let until = now.saturating_add(u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX));
        self.ejected_until_ms.store(until, Ordering::Relaxed);
        self.ejections.fetch_add(1, Ordering::Relaxed);
        Verdict::Ejected(cooldown)
    }

    /// A probe passed: a backend ejected for connection failures is back in rotation at
    /// once. One that answered 5xx/429 stays out for its cool-down: its readiness endpoint
    /// passing says nothing about the overload.
    pub fn readmit(&self) {
        if !self.answered_failures.load(Ordering::Relaxed) {
            self.record_success();
        }
    }

    /// How much longer the backend stays ejected, if it is.
    pub fn ejected_for(&self) -> Option<Duration> {
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected_for().is_some()
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Relaxed)
    }

    pub fn ejections(&self) -> u64 {
        self.ejections.load(Ordering::Relaxed)
    }
}

impl Backend {
    /// A request failed on this backend through its fault: a connection failure (connect
    /// error, reset, timeout), or with `answered`, a 5xx/429 with `retry_after` its hint.
    pub fn note_failure(&self, metrics: &Metrics, answered: bool, retry_after: Option<Duration>) {
        let verdict =
            self.shared
                .passive
                .record_failure(&self.config.health, answered, retry_after);
        if let Verdict::Ejected(cooldown) = verdict {
            metrics.backends.ejected(self.name());
            log::warn!(target: "llmgate::backend",
                "backend `{}` ejected for {} ms after {} consecutive failed requests",
                self.name(), cooldown.as_millis(), self.shared.passive.consecutive_failures());
        }
    }

    /// The backend answered a request: it is serving, whatever the last probe said.
    pub fn note_success(&self, metrics: &Metrics) {
        self.shared.passive.record_success();
        if matches!(
            self.shared.state(),
            HealthState::Down | HealthState::Loading | HealthState::Unknown
        ) {
            self.shared.set_state(HealthState::Ready, None);
            metrics.backends.set_state(self.name(), HealthState::Ready);
        }
    }

    /// Records an upstream status: success, or a failure that counts towards ejection.
    pub fn note_status(&self, metrics: &Metrics, status: u16, retry_after: Option<&str>) {
        if status == 429 || status >= 500 {
            self.note_failure(metrics, true, self::retry_after(retry_after));
        } else {
            self.note_success(metrics);
        }
    }
}

/// Parses `Retry-After` in its delay-seconds form (the HTTP-date form is rare on APIs).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(after: u32, cooldown_ms: u64) -> HealthSettings {
        HealthSettings {
            enabled: true,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            path: None,
            eject_after_failures: after,
            cooldown: Duration::from_millis(cooldown_ms),
        }
    }

    #[test]
    fn ejects_after_the_streak_and_success_resets() {
        let p = PassiveHealth::default();
        let s = settings(3, 10_000);
        assert_eq!(p.record_failure(&s, false, None), Verdict::Counted);
        assert_eq!(p.record_failure(&s, false, None), Verdict::Counted);
        assert!(!p.is_ejected());
        assert_eq!(
            p.record_failure(&s, false, None),
            Verdict::Ejected(Duration::from_secs(10))
        );
        assert!(p.is_ejected());
        assert_eq!(p.ejections(), 1);
        p.record_success();
        assert!(!p.is_ejected());
        assert_eq!(p.consecutive_failures(), 0);
    }

    #[test]
    fn retry_after_lengthens_the_cooldown_within_a_cap() {
        let p = PassiveHealth::default();
        let s = settings(1, 1_000);
        assert_eq!(
            p.record_failure(&s, true, Some(Duration::from_secs(30))),
            Verdict::Ejected(Duration::from_secs(30))
        );
        let q = PassiveHealth::default();
        assert_eq!(
            q.record_failure(&s, true, Some(Duration::from_secs(86_400))),
            Verdict::Ejected(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn cooldown_ends_by_itself_and_zero_disables() {
        let p = PassiveHealth::default();
        let s = settings(1, 0);
        p.record_failure(&s, false, None);
        assert!(!p.is_ejected(), "a zero cool-down ends at once");
        // A probe ends an ejection for connection failures, not one for overload answers.
        let long = settings(1, 60_000);
        let refused = PassiveHealth::default();
        refused.record_failure(&long, false, None);
        refused.readmit();
        assert!(!refused.is_ejected());
        let overloaded = PassiveHealth::default();
        overloaded.record_failure(&long, true, None);
        overloaded.readmit();
        assert!(overloaded.is_ejected());
        let off = settings(0, 10_000);
        for _ in 0..10 {
            assert_eq!(p.record_failure(&off, false, None), Verdict::Counted);
        }
        assert!(!p.is_ejected());
    }
}
