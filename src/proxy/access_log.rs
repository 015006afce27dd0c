//! The `logging` phase: one access-log line and the request metrics, for every request
//! however it ended. Bodies appear only with `log_prompts: true`; keys never do (the
//! target is logged with credential parameters masked).
//!
//! A request whose task panicked never reaches the `logging` phase; its context still
//! drops, and `RequestCtx`'s `Drop` writes the line through [`record_abandoned`].

use pingora::prelude::{Error, ErrorSource, ErrorType, Session};

use super::ctx::RequestCtx;
use super::failure::error_kind;
use crate::proxy::Gateway;

const LOGGED_BODY_LIMIT: usize = 16 * 1024;

/// nginx's status for a client that closed the connection before the response was
/// complete; never sent, only logged and counted.
pub const CLIENT_CLOSED_STATUS: u16 = 499;

fn body_text(bytes: Option<&[u8]>) -> String {
    bytes
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(LOGGED_BODY_LIMIT)]).into_owned())
        .unwrap_or_default()
}

/// Whether `e` says the client went away (as opposed to sending something malformed).
pub fn is_client_gone(e: &Error) -> bool {
    e.esource() == &ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
        )
}

pub fn record(gw: &Gateway, session: &Session, e: Option<&Error>, ctx: &mut RequestCtx) {
    if ctx.error.is_none() {
        ctx.error = e.map(|e| {
            if is_client_gone(e) {
                "client_closed"
            } else {
                error_kind(e)
            }
        });
    }
    let written = session
        .response_written()
        .map(|r| r.status.as_u16())
        .or(ctx.local_status);
    let status = if ctx.error == Some("client_closed") {
        if ctx.response_complete {
            // Every byte was handed over; a client closing after `[DONE]` cancelled nothing.
            ctx.error = None;
            written.unwrap_or(0)
        } else {
            gw.metrics.client_cancelled();
            CLIENT_CLOSED_STATUS
        }
    } else {
        written.unwrap_or(0)
    };
    if let Some(kind) = ctx.client_fault {
        gw.metrics.client_error(kind);
    }
    let method = session.req_header().method.as_str();
    let elapsed = ctx.started.elapsed();
    gw.metrics.observe_request(
        method,
        ctx.route().template(),
        status,
        elapsed.as_secs_f64(),
    );
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str());
    write_line(ctx, method, target, status);
    ctx.logged = true;
}

/// The line for a request whose `logging` phase never ran (its task panicked).
pub fn record_abandoned(ctx: &RequestCtx) {
    let error = if std::thread::panicking() {
        "panic"
    } else {
        "abandoned"
    };
    log::error!(target: "llmgate::access",
        request_id = ctx.request_id.as_str(), status = 500u16, error,
        duration_ms = duration_ms(ctx), route = ctx.route().template(),
        backend = ctx.backend().map_or("-", |b| b.name()),
        model = ctx.client.summary.model.as_deref().unwrap_or("-"),
        attempts = ctx.upstream.attempts; "request ended without a response");
}

fn duration_ms(ctx: &RequestCtx) -> f64 {
    (ctx.started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

fn write_line(ctx: &RequestCtx, method: &str, target: &str, status: u16) {
    // The query is logged too (Claude Code's `/v1/messages?beta=true` shows which client
    // flavour called), with credential parameters masked.
    let target = &target[..target.floor_char_boundary(256)];
    let path = crate::redact::target_for_log(target);
    let path = path.as_ref();
    let duration_ms = duration_ms(ctx);
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
