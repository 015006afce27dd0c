//! `request_filter`: match the route, answer local endpoints, authenticate, apply limits,
//! read the body and decide which deployments may serve the request.

use std::borrow::Cow;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::HeaderName;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, EXPECT};
use pingora::prelude::{Result, Session};

use super::ctx::RequestCtx;
use super::{cors, local, respond};
use crate::api::error::ApiError;
use crate::api::{Capability, Dialect, Route, openai, split_target};
use crate::auth;
use crate::proxy::Gateway;
use crate::routing;

// Header names looked up on every request, built once: a lookup by `&str` parses the
// name each time.
static ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// What the filter decided.
pub enum Outcome {
    /// The gateway wrote the response; stop.
    Responded,
    /// Go upstream.
    Proxy,
}

/// Runs the filter. Errors in the client's dialect are written here; `Err` is left for
/// I/O failures on the client connection.
pub async fn run(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<Outcome> {
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let (path, query) = split_target(&target);
    let route = match Route::from_path(path) {
        Route::NotFound if !ctx.rt.passthrough_backends(path).is_empty() => Route::Passthrough,
        route => route,
    };
    ctx.client.route = Some(route);
    ctx.client.dialect = route.dialect_for(
        session
            .req_header()
            .headers
            .contains_key(&ANTHROPIC_VERSION),
    );
    ctx.client.query = query.map(str::to_owned);
    ctx.request_id = request_id(session, ctx.client.dialect);
    let server = &ctx.rt.config.server;
    // Requests a client pipelines on one connection are answered in order (RFC 9112
    // §9.3.2); without this Pingora answers the first and drops the rest.
    session.as_downstream_mut().set_pipelining_enabled(true);
    session.set_keepalive(Some(server.client_keepalive_timeout.as_secs().max(1)));
    session.set_read_timeout(Some(server.client_read_timeout));

    let header_bytes = header_size(session);
    if header_bytes > server.max_header_bytes {
        let err = ApiError::HeadersTooLarge {
            limit: server.max_header_bytes,
        };
        respond::error(session, ctx, &err).await?;
        return Ok(Outcome::Responded);
    }

    let method = session.req_header().method.clone();
    if method == http::Method::HEAD {
        // Connectivity probes (Claude Code sends `HEAD /api/hello`): 200, no body.
        respond::send(session, ctx, 200, "text/plain", Bytes::new(), &[]).await?;
        return Ok(Outcome::Responded);
    }

    if method == http::Method::OPTIONS
        && session
            .req_header()
            .headers
            .contains_key("access-control-request-method")
    {
        let extra = match cors::allowed_origin(&ctx.rt.config.cors, session.req_header()) {
            Some(_) => cors::preflight_headers(session.req_header()),
            None => Vec::new(),
        };
        respond::send(session, ctx, 204, "text/plain", Bytes::new(), &extra).await?;
        return Ok(Outcome::Responded);
    }
    if route == Route::NotFound {
        let err = ApiError::NotFound {
            method: method.to_string(),
            path: path.to_owned(),
        };
        respond::error(session, ctx, &err).await?;
        return Ok(Outcome::Responded);
    }
    if route != Route::Passthrough && method.as_str() != route.method() {
        let err = ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_owned(),
            allowed: route.method(),
        };
        respond::error(session, ctx, &err).await?;
        return Ok(Outcome::Responded);
    }
    if route.is_local_probe() {
        local::serve(gw, session, ctx, route).await?;
        return Ok(Outcome::Responded);
    }
    ctx.guards.request = Some(gw.lifecycle.ticket());

    if let Err(err) = admit(gw, session, ctx).await {
        respond::error(session, ctx, &err).await?;
        return Ok(Outcome::Responded);
    }

    match route {
        Route::Passthrough => {
            return match prepare_passthrough(session, ctx, path).await? {
                Ok(()) => Ok(Outcome::Proxy),
                Err(err) => {
                    respond::error(session, ctx, &err).await?;
                    Ok(Outcome::Responded)
                }
            };
        }
        Route::Messages => {
            super::anthropic::messages(gw, session, ctx).await?;
            return Ok(Outcome::Responded);
        }
        Route::CountTokens => {
            super::count_tokens::serve(gw, session, ctx).await?;
            return Ok(Outcome::Responded);
        }
        _ => {}
    }
    if matches!(route, Route::Models | Route::Model) {
        if local::models(gw, session, ctx, path).await? {
            return Ok(Outcome::Responded);
        }
        // Nothing configured: the default backend answers for what it serves.
        ctx.upstream.candidates = routing::resolve(&ctx.rt, None, &[]).unwrap_or_default();
        ctx.upstream.path_suffix = match path.strip_prefix("/v1") {
            Some(below_v1) if route == Route::Model => Cow::Owned(below_v1.to_owned()),
            _ => Cow::Borrowed("/models"),
        };
        return Ok(Outcome::Proxy);
    }

    let mut prepared = prepare_inference(session, ctx, route).await?;
    if prepared.is_ok() {
        let summary = &ctx.client.summary;
        let (stream, max_output) = (summary.stream, summary.max_tokens);
        // The usual four bytes a token: a prompt estimate, settled against real usage.
        let input = ctx.client.body.as_ref().map_or(0, |b| b.len() as u64 / 4);
        prepared = super::admission::admit(gw, ctx, stream, input, max_output).await;
    }
    match prepared {
        Ok(()) if super::openai_exchange::needed(ctx) => {
            super::openai_exchange::serve(gw, session, ctx).await?;
            Ok(Outcome::Responded)
        }
        Ok(()) => Ok(Outcome::Proxy),
        Err(err) => {
            respond::error(session, ctx, &err).await?;
            Ok(Outcome::Responded)
        }
    }
}

/// The client's `x-request-id` when it is sane, else a fresh one (`req_…` on Anthropic
/// routes, the form the Anthropic SDKs expect).
fn request_id(session: &Session, dialect: Dialect) -> String {
    let from_client = session
        .req_header()
        .headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
    match (from_client, dialect) {
        (Some(id), _) => id.to_owned(),
        (None, Dialect::Anthropic) => crate::api::anthropic::ids::request_id(),
        // No system call per request: a per-thread generator (`random`).
        (None, Dialect::OpenAi) => crate::random::hex_id(),
    }
}

fn header_size(session: &Session) -> usize {
    let req = session.req_header();
    // No allocation: this runs on every request.
    req.uri.path_and_query().map_or(1, |pq| pq.as_str().len())
        + req
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Authentication, then rate and concurrency limits.
async fn admit(gw: &Gateway, session: &Session, ctx: &mut RequestCtx) -> Result<(), ApiError> {
    let rt = std::sync::Arc::clone(&ctx.rt);
    if rt.keys.is_enabled() {
        let headers = &session.req_header().headers;
        let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let presented = auth::presented_key(header(&AUTHORIZATION), header(&X_API_KEY));
        match presented.and_then(|k| rt.keys.authenticate(k)) {
            Some(id) => ctx.client.key_id = Some(id),
            None => return Err(ApiError::Unauthorized),
        }
    }
    let limited = rt.rate_limiter.is_some()
        || rt.inflight_limiter.is_some()
        || rt.stream_limiter.is_some()
        || rt.token_budgets.is_some();
    if !limited {
        return Ok(());
    }
    let limit_key = match &ctx.client.key_id {
        Some(id) => id.to_string(),
        None => super::forwarded::client_ip(session, &rt.config.server.trusted_proxies)
            .map_or_else(|| "anonymous".into(), |ip| format!("ip:{ip}")),
    };
    ctx.client.limit_key.clone_from(&limit_key);
    let shared = rt.shared_limits.as_ref();
    if let (Some(limiter), Some(settings)) = (&rt.rate_limiter, rt.config.rate_limit) {
        // Shared through Redis when it answers; this replica's own bucket otherwise.
        let capacity = f64::from(settings.burst.max(1));
        let per_second = f64::from(settings.requests_per_minute) / 60.0;
        let key = format!("requests:{limit_key}");
        let decided = match shared {
            Some(s) => s.take(&key, capacity, per_second, 1.0).await,
            None => None,
        };
        let decided = decided.unwrap_or_else(|| limiter.check(&limit_key, Instant::now()));
        let left = decided.unwrap_or(0.0);
        ctx.limit_headers = super::admission::request_headers(
            ctx.dialect(),
            capacity,
            left,
            ((capacity - left) / per_second).ceil() as u64,
        );
        if let Err(retry_after_s) = decided {
            gw.metrics.rate_limited(ctx.metric_key());
            return Err(ApiError::RateLimited { retry_after_s });
        }
    }
    if let Some(limiter) = &rt.inflight_limiter {
        match super::admission::slot(shared, "inflight", &limit_key, limiter).await {
            Some(super::admission::Slot::Lease(lease)) => ctx.guards.leases.push(lease),
            Some(super::admission::Slot::Local(guard)) => ctx.guards.key = Some(guard),
            None => {
                gw.metrics.rate_limited(ctx.metric_key());
                return Err(ApiError::TooManyInflight {
                    limit: limiter.limit(),
                });
            }
        }
    }
    Ok(())
}

/// Reads and inspects the body, then resolves the deployments that may serve it.
async fn prepare_inference(
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: Route,
) -> Result<Result<(), ApiError>> {
    let Some((suffix, capability)) = route.upstream() else {
        return Ok(Err(ApiError::Internal {
            message: "route has no upstream".into(),
        }));
    };
    let body = match read_body(session, ctx.rt.config.server.max_body_bytes).await? {
        Ok(body) => body,
        Err(err) => return Ok(Err(err)),
    };
    let summary = match openai::inspect(&body) {
        Ok(s) => s,
        Err(err) => return Ok(Err(err)),
    };
    let mut needs = vec![capability];
    if summary.stream {
        needs.push(Capability::Streaming);
    }
    if summary.has_tools {
        needs.push(Capability::Tools);
    }
    ctx.client.summary = summary;
    ctx.client.body = Some(body);
    ctx.upstream.path_suffix = Cow::Borrowed(suffix);
    match routing::resolve(&ctx.rt, ctx.client.summary.model.as_deref(), &needs) {
        Ok(candidates) => {
            ctx.upstream.candidates = candidates;
            Ok(Ok(()))
        }
        Err(err) => Ok(Err(err)),
    }
}

/// A `passthrough_paths` request: the body goes as it is to a backend that lists the path
/// (among the deployments of the body's `model`, when it names an alias; any method,
/// any content type), at the path the client used, below the backend's server root.
async fn prepare_passthrough(
    session: &mut Session,
    ctx: &mut RequestCtx,
    path: &str,
) -> Result<Result<(), ApiError>> {
    let body = match read_body(session, ctx.rt.config.server.max_body_bytes).await? {
        Ok(body) => body,
        Err(err) => return Ok(Err(err)),
    };
    let serving = ctx.rt.passthrough_backends(path);
    // A JSON body naming an alias routes to that alias's deployments that list the path.
    let summary = openai::inspect(&body).unwrap_or_default();
    let by_model: Vec<routing::Candidate> = summary
        .model
        .as_deref()
        .and_then(|m| ctx.rt.config.models.get(m))
        .into_iter()
        .flatten()
        .filter(|d| serving.contains(&d.backend))
        .map(|d| routing::Candidate {
            backend: d.backend,
            upstream_model: Some(d.upstream_model.clone()),
            tier: 0,
        })
        .collect();
    ctx.upstream.candidates = if by_model.is_empty() {
        serving
            .into_iter()
            .map(|backend| routing::Candidate {
                backend,
                upstream_model: None,
                tier: 0,
            })
            .collect()
    } else {
        by_model
    };
    ctx.client.summary = summary;
    ctx.client.body = Some(body);
    ctx.upstream.path_suffix = Cow::Owned(path.to_owned());
    ctx.upstream.at_server_root = true;
    Ok(Ok(()))
}

/// Reads the whole request body, refusing more than `limit` bytes.
///
/// The body is read here, before `upstream_peer`, because routing needs its `model`.
/// Pingora 0.9.1 then only forwards a pre-read body by replaying its retry buffer, which
/// holds 64 KiB (cloudflare/pingora#780, #575); our vendored pingora-proxy (see
/// vendor/README.md) calls `request_body_filter` once at the end instead, and that filter
/// emits the body we keep in the context. So the retry buffer is not enabled here: it
/// would only hold a second copy of up to 64 KiB of every body.
pub(super) async fn read_body(
    session: &mut Session,
    limit: u64,
) -> Result<Result<Bytes, ApiError>> {
    let declared = session
        .req_header()
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Ok(Err(ApiError::PayloadTooLarge { limit }));
    }
    let expects_continue = session
        .req_header()
        .headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        session.write_continue_response().await?;
    }
    let capacity = declared.map_or(16 * 1024, |len| usize::try_from(len).unwrap_or(0));
    // A body that arrives in one chunk (most do) is that chunk, not a copy of it; more
    // chunks are joined.
    let mut single: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    loop {
        let chunk = match session.read_request_body().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(Ok(single.unwrap_or_else(|| joined.freeze()))),
            Err(e) => return Ok(Err(body_read_error(&e))),
        };
        let so_far = single.as_ref().map_or(joined.len(), Bytes::len);
        if (so_far + chunk.len()) as u64 > limit {
            return Ok(Err(ApiError::PayloadTooLarge { limit }));
        }
        if single.is_none() && joined.is_empty() {
            single = Some(chunk);
            continue;
        }
        if let Some(first) = single.take() {
            joined.reserve(capacity.max(first.len() + chunk.len()));
            joined.extend_from_slice(&first);
        }
        joined.extend_from_slice(&chunk);
    }
}

/// A body that could not be read is the client's fault, never the backend's: a 408 when
/// it stalled, else a 400 (bad chunked framing, or fewer bytes than `Content-Length`
/// before the client closed its side). If the client is gone the answer is simply lost.
fn body_read_error(e: &pingora::Error) -> ApiError {
    use pingora::ErrorType;
    match e.etype() {
        ErrorType::ReadTimedout => ApiError::RequestTimeout {
            message: "the request body stalled".into(),
        },
        ErrorType::ConnectionClosed | ErrorType::ReadError => ApiError::MalformedRequest {
            message: "the request body ended before it was complete".into(),
        },
        other => ApiError::MalformedRequest {
            message: match other.as_str() {
                "InvalidChunk" => "invalid chunked transfer encoding".to_owned(),
                name => format!("unreadable request body ({name})"),
            },
        },
    }
}
