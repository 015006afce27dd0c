//! Per-request state, grouped by concern. Dropped when the request ends however it ends
//! (success, error, client disconnect), which releases every guard it holds.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::api::openai::RequestSummary;
use crate::api::{Dialect, Route};
use crate::backends::InflightGuard;
use crate::lifecycle::InflightTicket;
use crate::routing::Candidate;
use crate::runtime::Runtime;

/// The request as the client sent it.
#[derive(Debug, Default)]
pub struct ClientRequest {
    pub route: Option<Route>,
    /// The dialect errors and envelopes are written in (see `Route::dialect_for`).
    pub dialect: Dialect,
    pub key_id: Option<Arc<str>>,
    /// The body as read, for routes that carry one.
    pub body: Option<Bytes>,
    pub summary: RequestSummary,
    /// The client's query string, forwarded upstream unchanged.
    pub query: Option<String>,
    /// Whose limits apply: the key id, or the client's address without auth.
    pub limit_key: String,
}

/// Where the request is going and how the attempts went.
#[derive(Debug, Default)]
pub struct Upstream {
    pub candidates: Vec<Candidate>,
    /// Which candidates were tried, and where the next attempt goes.
    pub plan: crate::routing::Attempts,
    /// The `Retry-After` of the last 429/503, for the wait before a repeat.
    pub retry_after: Option<std::time::Duration>,
    /// The backend of the current attempt.
    pub current: Option<usize>,
    /// The path below the backend's base URL (`/chat/completions`).
    pub path_suffix: Cow<'static, str>,
    /// `path_suffix` is below the backend's server root, not its API base
    /// (`passthrough_paths`: `/tokenize` next to `/v1`).
    pub at_server_root: bool,
    /// The body for the current attempt (the client's, with the model name rewritten when
    /// the deployment serves it under another name).
    pub body: Option<Bytes>,
    pub attempts: u32,
    pub status: Option<u16>,
    /// A backend's error answer being collected to be put into OpenAI's envelope
    /// (`api::upstream_error`); `None` for everything else, which streams through.
    pub error_body: Option<BytesMut>,
    /// How the body passed to the client so far ends, to end it cleanly on failure.
    pub tail: crate::api::sse_tail::SseTail,
    /// The gateway asked this attempt's backend for stream usage the client did not ask
    /// for: the usage chunk is removed on the way out.
    pub asked_for_usage: bool,
    pub usage_dropper: Option<crate::api::usage::UsageChunkDropper>,
}

/// Guards released when the context drops.
#[derive(Default)]
pub struct Guards {
    /// Counts an API request (not a probe) as in flight; drives draining on SIGTERM.
    pub request: Option<InflightTicket>,
    pub backend: Option<InflightGuard>,
    pub key: Option<pingora_limits::inflight::Guard>,
    /// A stream slot under `limits.max_streams_per_key`.
    pub stream: Option<pingora_limits::inflight::Guard>,
    /// The current attempt's slot under its backend's `max_concurrency`.
    pub slot: Option<crate::backends::slots::Held>,
    /// Concurrency leases held in Redis (`limits.backend: redis`).
    pub leases: Vec<crate::limits::shared::Lease>,
}

impl std::fmt::Debug for Guards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guards")
    }
}

#[derive(Debug)]
pub struct RequestCtx {
    /// The configuration generation this request runs under, from start to end.
    pub rt: Arc<Runtime>,
    pub request_id: String,
    pub started: Instant,
    pub client: ClientRequest,
    pub upstream: Upstream,
    /// Status of a response the gateway wrote itself.
    pub local_status: Option<u16>,
    /// Bounded label of the gateway error that ended the request, if any.
    pub error: Option<&'static str>,
    /// `client_errors_total{kind}` for a request that failed through the client's fault.
    pub client_fault: Option<&'static str>,
    /// The last byte of the response body went out (or was handed to Pingora to write):
    /// a client that disconnects after it did not cancel anything.
    pub response_complete: bool,
    /// The access-log line was written; a context dropped without one (a panic) writes it.
    pub logged: bool,
    /// Response bytes kept for the access log, only with `log_prompts: true`.
    pub captured_response: Option<BytesMut>,
    pub guards: Guards,
    /// Timings and usage for the inference metrics.
    pub meter: super::meter::Meter,
    /// Tokens reserved in the budgets, settled when the request ends.
    pub reservation: Option<crate::limits::tokens::Reservation>,
    /// `x-ratelimit-*` / `anthropic-ratelimit-*` for the response.
    pub limit_headers: Vec<(&'static str, String)>,
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        if !self.logged && !self.request_id.is_empty() {
            super::access_log::record_abandoned(self);
        }
    }
}

impl RequestCtx {
    pub fn new(rt: Arc<Runtime>) -> RequestCtx {
        RequestCtx {
            rt,
            request_id: String::new(),
            started: Instant::now(),
            client: ClientRequest::default(),
            upstream: Upstream::default(),
            local_status: None,
            error: None,
            client_fault: None,
            response_complete: false,
            logged: false,
            captured_response: None,
            guards: Guards::default(),
            meter: super::meter::Meter::default(),
            reservation: None,
            limit_headers: Vec::new(),
        }
    }

    pub fn route(&self) -> Route {
        self.client.route.unwrap_or(Route::NotFound)
    }

    pub fn dialect(&self) -> Dialect {
        self.client.dialect
    }

    /// The backend of the current attempt.
    /// The key id for metrics labels (`anonymous` without auth).
    pub fn metric_key(&self) -> &str {
        self.client.key_id.as_deref().unwrap_or("anonymous")
    }

    /// When the request must be over: its arrival plus the current backend's
    /// `total_timeout_ms`, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        let limit = self.backend()?.config.total_timeout?;
        Some(self.started + limit)
    }

    pub fn backend(&self) -> Option<&crate::backends::Backend> {
        self.upstream.current.map(|i| &self.rt.backends[i])
    }
}
