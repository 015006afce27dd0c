//! The upstream side of a request: choosing the backend for each attempt, the request
//! header it gets, and the body it gets.

use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::prelude::{Error, ErrorType, HttpPeer, Result, Session};

use super::ctx::RequestCtx;
use super::retry;
use crate::api::{openai, usage};
use crate::proxy::Gateway;

/// Marks an attempt that failed before any address could be used.
pub const NO_ADDRESS: ErrorType = ErrorType::Custom("backend address unresolved");

/// A backend at `max_concurrency` whose queue is full or did not move in time.
pub const SATURATED: ErrorType = ErrorType::Custom("backend saturated");

/// Ends a request that has no attempt left (or no time for one).
pub const NO_ATTEMPT_LEFT: ErrorType = ErrorType::Custom("no attempt left");

/// `upstream_peer`: runs at the start of every attempt, including retries.
pub async fn peer(gw: &Gateway, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let rt = std::sync::Arc::clone(&ctx.rt);
    let Some((pick, wait)) = retry::next_attempt(&gw.metrics, ctx) else {
        return Error::e_explain(
            NO_ATTEMPT_LEFT,
            "no attempt left within the retry budget and deadline",
        );
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let candidate = ctx.upstream.candidates[pick.index].clone();
    let backend = &rt.backends[candidate.backend];
    ctx.upstream.current = Some(candidate.backend);
    ctx.upstream.attempts += 1;
    ctx.upstream.status = None;
    ctx.upstream.body = ctx
        .client
        .body
        .as_ref()
        .map(|body| match &candidate.upstream_model {
            Some(model) => openai::with_model(body, &ctx.client.summary, model),
            None => body.clone(),
        });
    ctx.upstream.asked_for_usage = false;
    ctx.upstream.usage_dropper = None;
    if let Some(with_usage) = ctx
        .upstream
        .body
        .as_ref()
        .filter(|_| stream_usage_applies(ctx) && backend.config.stream_usage)
        .and_then(usage::with_stream_usage)
    {
        ctx.upstream.body = Some(with_usage);
        ctx.upstream.asked_for_usage = true;
    }
    // The previous attempt's guard and slot (if any) are released here.
    ctx.guards.slot = None;
    if let Some(slots) = &backend.slots {
        let shared = rt.shared_limits.as_ref();
        match slots
            .acquire_for(backend.name(), &gw.metrics.inference.queued, shared)
            .await
        {
            Ok(permit) => ctx.guards.slot = Some(permit),
            Err(why) => {
                let mut e = Error::explain(
                    SATURATED,
                    format!(
                        "backend `{}` is at max_concurrency ({why:?})",
                        backend.name()
                    ),
                );
                e.set_retry(false);
                return Err(e);
            }
        }
    }
    ctx.guards.backend = Some(backend.track_inflight());
    let Some(addr) = backend.ensure_addr().await else {
        let mut e = Error::explain(
            NO_ADDRESS,
            format!("cannot resolve `{}`", backend.config.url.host),
        );
        e.set_retry(retry::may_retry(ctx, retry::Failure::Connect));
        return Err(e);
    };
    Ok(Box::new(backend.peer(addr)))
}

/// Whether the request is a stream that may be asked for its usage (chat and legacy
/// completions); each backend's `stream_usage` then decides.
pub fn stream_usage_applies(ctx: &RequestCtx) -> bool {
    ctx.client.summary.stream
        && matches!(
            ctx.route(),
            crate::api::Route::ChatCompletions | crate::api::Route::Completions
        )
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) never go upstream; nor do client credentials, in
/// any form a client sends them (`redact::CREDENTIAL_HEADERS`, and credential query
/// parameters, see `redact::query_for_upstream`). `Host` and `Content-Length` are
/// replaced rather than removed (see `request_header`).
const STRIPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
];

/// Removes the request's headers named in `lists`, and those named in its `Connection`
/// header (hop-by-hop too). One pass over the few headers a client sent, rather than a
/// lookup (and a header-name parse) for each of the ~25 names that might be there; no
/// allocation unless the client sent `Connection` or one of the names.
pub fn remove_headers(req: &mut RequestHeader, lists: &[&[&'static str]]) {
    let mut listed: Vec<String> = Vec::new();
    for value in req.headers.get_all(http::header::CONNECTION) {
        let tokens = value.to_str().unwrap_or_default().split(',');
        listed.extend(
            tokens
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty()),
        );
    }
    // The static name of each header to remove: no `HeaderName` clone.
    let doomed: Vec<&'static str> = req
        .headers
        .keys()
        .filter_map(|name| {
            let name = name.as_str();
            lists
                .iter()
                .find_map(|list| list.iter().find(|n| **n == name))
                .copied()
        })
        .collect();
    for name in doomed {
        req.remove_header(name);
    }
    // Names a client listed in `Connection` (rare); absent ones are no-ops.
    for name in &listed {
        req.remove_header(name.as_str());
    }
}

/// `upstream_request_filter`: the path under the backend's base URL, header hygiene, the
/// backend's own key, forwarding headers, and framing for the body we will send.
pub fn request_header(session: &Session, req: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    let Some(backend) = ctx.backend() else {
        return Error::e_explain(ErrorType::InternalError, "no backend chosen");
    };
    let model = ctx
        .upstream
        .plan
        .tried
        .last()
        .and_then(|i| ctx.upstream.candidates.get(*i))
        .and_then(|c| c.upstream_model.as_deref());
    let query = ctx
        .client
        .query
        .as_deref()
        .and_then(crate::redact::query_for_upstream);
    let path = if ctx.upstream.at_server_root {
        backend.root_target(&ctx.upstream.path_suffix, query.as_deref())
    } else {
        backend.request_target(&ctx.upstream.path_suffix, model, query.as_deref())
    };
    let uri = path
        .parse::<http::Uri>()
        .map_err(|e| Error::because(ErrorType::InternalError, "building upstream path", e))?;
    req.set_uri(uri);

    remove_headers(req, &[STRIPPED, crate::redact::CREDENTIAL_HEADERS]);
    // Inserting replaces the client's values: `Host` is always the backend's, and the
    // body's length is the attempt's (a model alias may have changed it).
    backend.insert_host(req)?;
    for (name, value) in &backend.auth_header_values {
        req.insert_header(*name, value.clone())?;
    }
    super::forwarded::apply(session, req, &ctx.rt.config.server.trusted_proxies)?;
    req.insert_header("x-request-id", ctx.request_id.as_str())?;
    match &ctx.upstream.body {
        Some(body) => req.insert_header("content-length", body.len())?,
        None if req.method == http::Method::GET => {
            req.remove_header("content-length");
        }
        None => req.insert_header("content-length", 0usize)?,
    }
    Ok(())
}

/// `request_body_filter`: the body was read in `request_filter`; Pingora (patched, see
/// vendor/README.md) calls this once per attempt with `end_of_stream`, and we emit the
/// attempt's body in one piece.
pub fn request_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &RequestCtx) {
    if let Some(ours) = &ctx.upstream.body {
        *body = end_of_stream.then(|| ours.clone());
    }
}
