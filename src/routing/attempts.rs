//! Which deployment each attempt of one request goes to: the alias asked for first (each
//! deployment once, then, with `num_retries`, again), then its fallback aliases in order.
//! Pure bookkeeping; the proxy decides whether a failure may be retried at all.

use super::{Candidate, choose_where};
use crate::runtime::Runtime;

/// The next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// Index into the candidates.
    pub index: usize,
    /// This deployment was tried before in this request (wait before trying it again).
    pub repeat: bool,
    /// The first attempt on a fallback alias.
    pub fallback: bool,
}

/// The attempts of one request so far.
#[derive(Debug, Default, Clone)]
pub struct Attempts {
    /// Candidate indices, in the order they were tried.
    pub tried: Vec<usize>,
    /// The alias being tried: 0, then the fallbacks.
    pub tier: usize,
    /// Attempts made on `tier`.
    pub in_tier: u32,
    /// Attempts on a deployment already tried (for the backoff).
    pub repeats: u32,
}

fn tiers(candidates: &[Candidate]) -> usize {
    candidates.iter().map(|c| c.tier + 1).max().unwrap_or(0)
}

/// Attempts an alias may take: each deployment once, or `1 + num_retries` if more.
fn budget(candidates: &[Candidate], tier: usize, num_retries: u32) -> u32 {
    let deployments = candidates.iter().filter(|c| c.tier == tier).count();
    u32::try_from(deployments)
        .unwrap_or(u32::MAX)
        .max(num_retries.saturating_add(1))
}

impl Attempts {
    /// Whether retries go beyond plain failover: retries were asked for, or the alias has
    /// fallbacks. Only then are timeouts and every 5xx retried.
    pub fn policy_active(candidates: &[Candidate], num_retries: u32) -> bool {
        num_retries > 0 || tiers(candidates) > 1
    }

    /// Whether another attempt can follow the current one.
    pub fn can_continue(&self, candidates: &[Candidate], num_retries: u32) -> bool {
        self.in_tier < budget(candidates, self.tier, num_retries)
            || self.tier + 1 < tiers(candidates)
    }

    /// Chooses and records the next attempt; `None` when the alias and every fallback
    /// have used their attempts.
    pub fn next(
        &mut self,
        rt: &Runtime,
        candidates: &[Candidate],
        num_retries: u32,
    ) -> Option<Pick> {
        let mut fallback = false;
        while self.in_tier >= budget(candidates, self.tier, num_retries) {
            if self.tier + 1 >= tiers(candidates) {
                return None;
            }
            self.tier += 1;
            self.in_tier = 0;
            fallback = true;
        }
        let tier = self.tier;
        let in_tier = |i: usize| candidates[i].tier == tier;
        let untried = choose_where(rt, candidates, |i| in_tier(i) && !self.tried.contains(&i));
        let (index, repeat) = match untried {
            Some(i) => (i, false),
            None => (choose_where(rt, candidates, in_tier)?, true),
        };
        self.in_tier += 1;
        if repeat {
            self.repeats += 1;
        }
        self.tried.push(index);
        Some(Pick {
            index,
            repeat,
            fallback,
        })
    }

    /// The last attempt met a stale pooled connection: it does not count, and the same
    /// deployment may be picked again as if untried.
    pub fn forget_last(&mut self) {
        if self.tried.pop().is_some() {
            self.in_tier = self.in_tier.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_runtime as runtime;
    use super::*;

    const CHAIN: &str = "
backends:
  - {name: a, kind: vllm, url: 'http://127.0.0.1:1/v1'}
  - {name: b, kind: vllm, url: 'http://127.0.0.1:2/v1'}
  - {name: c, kind: vllm, url: 'http://127.0.0.1:3/v1'}
models:
  first: {deployments: [{backend: a}, {backend: b}], fallbacks: [second, third]}
  second: {backend: c, upstream_model: org/Second}
  third: {backend: a, upstream_model: org/Third}
";

    fn order(num_retries: u32) -> Vec<(usize, bool, bool, Option<String>)> {
        let rt = runtime(CHAIN);
        let c = super::super::resolve(&rt, Some("first"), &[]).expect("routable");
        let mut attempts = Attempts::default();
        let mut out = Vec::new();
        while let Some(p) = attempts.next(&rt, &c, num_retries) {
            let cand = &c[p.index];
            out.push((cand.tier, p.repeat, p.fallback, cand.upstream_model.clone()));
        }
        out
    }

    #[test]
    fn each_deployment_once_then_each_fallback_with_its_own_name() {
        let got = order(0);
        let tiers: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(tiers, [0, 0, 1, 2]);
        assert!(got.iter().all(|g| !g.1), "no repeats without num_retries");
        assert!(got[2].2, "the first attempt on `second` is a fallback");
        assert_eq!(got[2].3.as_deref(), Some("org/Second"));
        assert_eq!(got[3].3.as_deref(), Some("org/Third"));
    }

    #[test]
    fn num_retries_repeats_deployments_of_the_alias_before_falling_back() {
        let got = order(3);
        let tiers: Vec<usize> = got.iter().map(|g| g.0).collect();
        // 1 + 3 attempts per alias: `first` has 2 deployments, each tried, then repeats.
        assert_eq!(tiers, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        let repeats: Vec<bool> = got.iter().map(|g| g.1).collect();
        assert_eq!(
            repeats,
            [
                false, false, true, true, false, true, true, true, false, true, true, true
            ]
        );
    }

    #[test]
    fn a_stale_connection_does_not_use_up_an_attempt() {
        let rt = runtime(CHAIN);
        let c = super::super::resolve(&rt, Some("second"), &[]).expect("routable");
        let mut attempts = Attempts::default();
        let first = attempts.next(&rt, &c, 0).expect("one");
        assert!(!attempts.can_continue(&c, 0));
        attempts.forget_last();
        let again = attempts.next(&rt, &c, 0).expect("again");
        assert_eq!((first.index, again.repeat), (again.index, false));
        assert!(!Attempts::policy_active(&c, 0));
        let chained = super::super::resolve(&rt, Some("first"), &[]).expect("routable");
        assert!(Attempts::policy_active(&chained, 0));
    }
}
