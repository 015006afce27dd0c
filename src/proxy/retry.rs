//! The retry policy both upstream paths share (Pingora's proxy loop for OpenAI routes,
//! the gateway's own exchange for `/v1/messages`): whether a failure that reached no
//! client byte may be retried, the wait before trying a deployment again, and the count
//! and log line of each retry and fallback.

use std::time::{Duration, Instant};

use super::ctx::RequestCtx;
use crate::metrics::Metrics;
use crate::routing::{Attempts, Pick};

/// What made an attempt fail, before any byte of its answer reached the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing was sent: refused, unreachable, TLS.
    Connect,
    /// Reset or closed before the response header.
    Reset,
    /// No response header in time.
    Timeout,
    /// An error status.
    Status(u16),
}

impl Failure {
    fn reason(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Reset => "reset",
            Failure::Timeout => "timeout",
            Failure::Status(_) => "status",
        }
    }
}

fn deadline(ctx: &RequestCtx) -> Instant {
    ctx.started + ctx.rt.config.retries.deadline
}

/// Whether `failure` may be retried: attempts are left (on the alias or a fallback), the
/// deadline has not passed, and the failure is retryable. Plain failover (no
/// `num_retries`, no fallbacks) retries connection failures, resets and 429/503 only; with
/// either configured, timeouts and every 5xx too.
pub fn may_retry(ctx: &RequestCtx, failure: Failure) -> bool {
    let up = &ctx.upstream;
    let num_retries = ctx.rt.config.retries.num_retries;
    if !up.plan.can_continue(&up.candidates, num_retries) || Instant::now() >= deadline(ctx) {
        return false;
    }
    match failure {
        Failure::Connect | Failure::Reset | Failure::Status(429 | 503) => true,
        Failure::Timeout => Attempts::policy_active(&up.candidates, num_retries),
        Failure::Status(s) => s >= 500 && Attempts::policy_active(&up.candidates, num_retries),
    }
}

/// Counts and logs a retry that is about to happen.
pub fn note_retry(metrics: &Metrics, ctx: &RequestCtx, failure: Failure) {
    metrics.retry(failure.reason());
    log::info!(target: "llmgate::retry",
        request_id = ctx.request_id.as_str(),
        backend = ctx.backend().map_or("-", |b| b.name()),
        attempt = ctx.upstream.plan.tried.len(),
        reason = failure.reason(),
        status = match failure { Failure::Status(s) => s, _ => 0 };
        "retrying");
}

/// The next attempt and the wait before it, with a move to a fallback alias counted and
/// logged; `None` when no attempt is left or the wait would end past the deadline.
pub fn next_attempt(metrics: &Metrics, ctx: &mut RequestCtx) -> Option<(Pick, Duration)> {
    let num_retries = ctx.rt.config.retries.num_retries;
    let rt = std::sync::Arc::clone(&ctx.rt);
    let pick = ctx
        .upstream
        .plan
        .next(&rt, &ctx.upstream.candidates, num_retries)?;
    let wait = wait_before(ctx, pick)?;
    note_fallback(metrics, ctx, pick);
    Some((pick, wait))
}

/// Counts and logs the move to a fallback alias.
fn note_fallback(metrics: &Metrics, ctx: &RequestCtx, pick: Pick) {
    if !pick.fallback {
        return;
    }
    let model = ctx.client.summary.model.as_deref().unwrap_or("-");
    let fallback = ctx
        .rt
        .config
        .fallbacks
        .get(model)
        .and_then(|chain| chain.get(ctx.upstream.plan.tier.saturating_sub(1)))
        .map_or("-", String::as_str);
    metrics.fallback(model, fallback);
    log::info!(target: "llmgate::retry",
        request_id = ctx.request_id.as_str(), model, fallback; "falling back");
}

/// The wait before `pick`: none for a deployment not tried yet; else the backoff
/// (doubling) or the backend's `Retry-After`, whichever is longer. `None` when the wait
/// would end past the deadline: the request stops here.
fn wait_before(ctx: &RequestCtx, pick: Pick) -> Option<Duration> {
    if !pick.repeat {
        return Some(Duration::ZERO);
    }
    let settings = &ctx.rt.config.retries;
    let doublings = ctx.upstream.plan.repeats.saturating_sub(1).min(16);
    let backoff = settings.backoff.saturating_mul(1 << doublings);
    let wait = backoff.max(ctx.upstream.retry_after.unwrap_or_default());
    (Instant::now() + wait < deadline(ctx)).then_some(wait)
}
