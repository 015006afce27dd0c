//! Admission once the model and the body are known: a stream slot under
//! `limits.max_streams_per_key`, and tokens reserved in the key's and the model's budgets
//! (`limits::tokens`), settled against the reported usage when the request ends. The
//! budgets' standing goes out as `x-ratelimit-*` (OpenAI routes) or
//! `anthropic-ratelimit-*` (`/v1/messages`) headers.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::ctx::RequestCtx;
use crate::api::Dialect;
use crate::api::error::ApiError;
use crate::limits::tokens::Standing;
use crate::proxy::Gateway;

/// Admits a request expecting about `input` prompt tokens and at most `max_output` output
/// tokens (the configured default when the client set none).
///
/// # Errors
/// 429 in the client's dialect when a stream slot or a token budget is exhausted.
pub async fn admit(
    gw: &Gateway,
    ctx: &mut RequestCtx,
    stream: bool,
    input: u64,
    max_output: Option<u64>,
) -> Result<(), ApiError> {
    let rt = std::sync::Arc::clone(&ctx.rt);
    let shared = rt.shared_limits.as_ref();
    if stream && let Some(limiter) = &rt.stream_limiter {
        match slot(shared, "streams", &ctx.client.limit_key, limiter).await {
            Some(Slot::Lease(lease)) => ctx.guards.leases.push(lease),
            Some(Slot::Local(guard)) => ctx.guards.stream = Some(guard),
            None => {
                gw.metrics.rate_limited(ctx.metric_key());
                return Err(ApiError::TooManyStreams {
                    limit: limiter.limit(),
                });
            }
        }
    }
    let Some(budgets) = &rt.token_budgets else {
        return Ok(());
    };
    let model = ctx
        .client
        .summary
        .model
        .as_deref()
        .filter(|m| rt.config.models.contains_key(*m));
    let output = max_output.unwrap_or(budgets.settings().default_output);
    let key = ctx.client.limit_key.clone();
    let in_redis = match shared {
        Some(s) => budgets.reserve_shared(s, &key, model, input, output).await,
        None => None,
    };
    let decided =
        in_redis.unwrap_or_else(|| budgets.reserve(&key, model, input, output, Instant::now()));
    match decided {
        Ok(reservation) => {
            ctx.limit_headers.extend(headers(
                ctx.dialect(),
                reservation.input_standing,
                reservation.output_standing,
            ));
            ctx.reservation = Some(reservation);
            Ok(())
        }
        Err(refused) => {
            gw.metrics.rate_limited(ctx.metric_key());
            Err(ApiError::TokensExhausted {
                scope: refused.scope,
                kind: refused.kind,
                per_minute: refused.per_minute,
                retry_after_s: refused.retry_after_s,
            })
        }
    }
}

/// A place under a per-key concurrency limit.
pub(super) enum Slot {
    /// Held in Redis (`limits.backend: redis`), released when dropped.
    Lease(crate::limits::shared::Lease),
    /// This replica's own counter.
    Local(pingora_limits::inflight::Guard),
}

/// A slot for `key` under `limiter`'s limit, in Redis when limits are shared and it
/// answers, else locally; `None` when the limit is reached.
pub(super) async fn slot(
    shared: Option<&std::sync::Arc<crate::limits::shared::SharedLimits>>,
    kind: &str,
    key: &str,
    limiter: &crate::limits::InflightLimiter,
) -> Option<Slot> {
    if let Some(s) = shared
        && let Some(leased) = s.lease(&format!("{kind}:{key}"), limiter.limit()).await
    {
        return leased.ok().map(Slot::Lease);
    }
    limiter.acquire(key).ok().map(Slot::Local)
}

/// Settles the request's reservation against the usage its backend reported; without a
/// report the reservation stands (the estimate is all there is).
pub fn settle(ctx: &RequestCtx, usage: Option<crate::api::usage::Usage>) {
    let (Some(budgets), Some(reservation), Some(usage)) =
        (&ctx.rt.token_budgets, &ctx.reservation, usage)
    else {
        return;
    };
    match (&ctx.rt.shared_limits, reservation.shared) {
        (Some(shared), true) => {
            // The request is over; its settlement need not hold up the logging phase.
            let (budgets, shared, reservation) = (
                std::sync::Arc::clone(budgets),
                std::sync::Arc::clone(shared),
                reservation.clone(),
            );
            tokio::spawn(async move {
                budgets
                    .settle_shared(&shared, &reservation, usage.input, usage.output)
                    .await;
            });
        }
        _ => budgets.settle(reservation, usage.input, usage.output, Instant::now()),
    }
}

/// Anthropic's reset: the RFC 3339 time `seconds` from now.
fn reset_at(seconds: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    crate::api::models::rfc3339_utc(now + seconds)
}

/// The request-rate budget's standing (`limits.rate_limit`), in the dialect's names.
pub fn request_headers(
    dialect: Dialect,
    limit: f64,
    remaining: f64,
    reset_s: u64,
) -> Vec<(&'static str, String)> {
    let (limit, remaining) = (limit as u64, remaining.max(0.0) as u64);
    match dialect {
        Dialect::OpenAi => vec![
            ("x-ratelimit-limit-requests", limit.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            ("x-ratelimit-reset-requests", format!("{reset_s}s")),
        ],
        Dialect::Anthropic => vec![
            ("anthropic-ratelimit-requests-limit", limit.to_string()),
            (
                "anthropic-ratelimit-requests-remaining",
                remaining.to_string(),
            ),
            ("anthropic-ratelimit-requests-reset", reset_at(reset_s)),
        ],
    }
}

fn headers(
    dialect: Dialect,
    input: Option<Standing>,
    output: Option<Standing>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match dialect {
        Dialect::OpenAi => {
            // OpenAI's names for the token budget (input, the one every request draws on),
            // and the same for output tokens.
            if let Some(s) = input.or(output) {
                out.push(("x-ratelimit-limit-tokens", s.limit.to_string()));
                out.push(("x-ratelimit-remaining-tokens", s.remaining.to_string()));
                out.push(("x-ratelimit-reset-tokens", format!("{}s", s.reset_s)));
            }
            if let (Some(s), Some(_)) = (output, input) {
                out.push(("x-ratelimit-limit-output-tokens", s.limit.to_string()));
                out.push((
                    "x-ratelimit-remaining-output-tokens",
                    s.remaining.to_string(),
                ));
                out.push(("x-ratelimit-reset-output-tokens", format!("{}s", s.reset_s)));
            }
        }
        Dialect::Anthropic => {
            let reset = |s: Standing| reset_at(s.reset_s);
            if let Some(s) = input {
                out.push((
                    "anthropic-ratelimit-input-tokens-limit",
                    s.limit.to_string(),
                ));
                out.push((
                    "anthropic-ratelimit-input-tokens-remaining",
                    s.remaining.to_string(),
                ));
                out.push(("anthropic-ratelimit-input-tokens-reset", reset(s)));
            }
            if let Some(s) = output {
                out.push((
                    "anthropic-ratelimit-output-tokens-limit",
                    s.limit.to_string(),
                ));
                out.push((
                    "anthropic-ratelimit-output-tokens-remaining",
                    s.remaining.to_string(),
                ));
                out.push(("anthropic-ratelimit-output-tokens-reset", reset(s)));
            }
        }
    }
    out
}
