//! The `logging` phase: one access-log line and the request metrics, for every request
//! however it ended. Bodies appear only with `log_prompts: true`; keys never do.

use pingora::prelude::{Error, Session};

use super::ctx::RequestCtx;
use super::failure::error_kind;
use crate::proxy::Gateway;

const LOGGED_BODY_LIMIT: usize = 16 * 1024;

fn body_text(bytes: Option<&[u8]>) -> String {
    bytes
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(LOGGED_BODY_LIMIT)]).into_owned())
        .unwrap_or_default()
}

pub fn record(gw: &Gateway, session: &Session, e: Option<&Error>, ctx: &mut RequestCtx) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .or(ctx.local_status)
        .unwrap_or(0);
    let req = session.req_header();
    let method = req.method.as_str();
    let route = ctx.route();
    let elapsed = ctx.started.elapsed();
    gw.metrics
        .observe_request(method, route.template(), status, elapsed.as_secs_f64());

    if ctx.error.is_none() {
        ctx.error = e.map(error_kind);
    }
    // The query is logged too: Claude Code's `/v1/messages?beta=true` shows which client
    // flavour called.
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let path = &path[..path.floor_char_boundary(256)];
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let duration_ms = (duration_ms * 10.0).round() / 10.0;
    let backend = ctx.backend().map_or("-", |b| b.name());
    let model = ctx.client.summary.model.as_deref().unwrap_or("-");
    let key_id = ctx.client.key_id.as_deref().unwrap_or("-");
    let upstream_status = ctx.upstream.status.unwrap_or(0);
    let attempts = ctx.upstream.attempts;
    let error = ctx.error.unwrap_or("-");
    if ctx.rt.config.logging.log_prompts {
        let request_body = body_text(ctx.client.body.as_deref());
        let response_body = body_text(ctx.captured_response.as_deref());
        log::info!(target: "llmgate::access",
            request_id = ctx.request_id.as_str(), method, path, status, duration_ms, backend, model,
            key_id, upstream_status, attempts, error, request_body = request_body.as_str(),
            response_body = response_body.as_str(); "request");
    } else {
        log::info!(target: "llmgate::access",
            request_id = ctx.request_id.as_str(), method, path, status, duration_ms, backend, model,
            key_id, upstream_status, attempts, error; "request");
    }
}
