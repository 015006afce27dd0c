//! The response side: status bookkeeping and retry-on-overload before anything reaches
//! the client, response headers, and the OpenAI body: untouched, except that a backend's
//! error answer in a non-OpenAI shape is put into OpenAI's envelope.

use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::prelude::{Error, ErrorType, Result, Session};

use super::ctx::RequestCtx;
use super::retry::{self, Failure};
use crate::api::upstream_error;
use crate::api::usage::UsageChunkDropper;
use crate::proxy::Gateway;

/// An upstream answer worth retrying (429/503, or any 5xx when retries or fallbacks are
/// configured), raised before any byte went to the client; `error_while_proxy` turns it
/// into the next attempt.
pub const RETRYABLE_STATUS: ErrorType = ErrorType::Custom("backend overloaded");

/// Bytes of response body kept for the access log with `log_prompts: true`.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// Bytes of a backend's error answer kept for finding its message; the rest (an HTML page,
/// a stack trace) is dropped.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// `upstream_response_filter`: nothing has been sent downstream yet.
pub fn upstream_response(gw: &Gateway, resp: &ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    let status = resp.status.as_u16();
    if let Some(backend) = ctx.backend() {
        gw.metrics.upstream_response(backend.name(), status);
        let retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok());
        backend.note_status(&gw.metrics, status, retry_after);
    }
    if status >= 429 && retry::may_retry(ctx, Failure::Status(status)) {
        ctx.upstream.retry_after = crate::backends::passive::retry_after(
            resp.headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        retry::note_retry(&gw.metrics, ctx, Failure::Status(status));
        let name = ctx.backend().map_or("?", |b| b.name());
        return Error::e_explain(
            RETRYABLE_STATUS,
            format!("backend `{name}` answered {status}"),
        );
    }
    ctx.upstream.status = Some(status);
    if (200..300).contains(&status) {
        ctx.meter.answer_started(ctx.client.summary.stream);
        if ctx.upstream.asked_for_usage {
            ctx.upstream.usage_dropper = Some(UsageChunkDropper::default());
        }
    }
    if status >= 400 && error_body_is_rewritable(resp) {
        ctx.upstream.error_body = Some(BytesMut::new());
    }
    Ok(())
}

/// An error answer can be rewritten when it has a body to read and that body is not
/// compressed (the client's `Accept-Encoding` is forwarded, so a hosted backend may gzip).
fn error_body_is_rewritable(resp: &ResponseHeader) -> bool {
    let header = |name: &str| resp.headers.get(name).and_then(|v| v.to_str().ok());
    header("content-length") != Some("0")
        && header("content-encoding").is_none_or(|e| e.eq_ignore_ascii_case("identity"))
}

/// `response_filter`: our headers on the way out.
pub fn response_header(
    session: &Session,
    resp: &mut ResponseHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    if ctx.upstream.error_body.is_some() {
        // The body is replaced at its end, so its length is unknown here.
        resp.set_status(upstream_error::openai_status(resp.status.as_u16()))?;
        resp.remove_header("content-length");
        resp.insert_header("transfer-encoding", "chunked")?;
        resp.insert_header("content-type", "application/json")?;
    }
    super::respond::decorate(session, ctx, resp)
}

/// `response_body_filter`: OpenAI bodies pass through as they are, chunk by chunk; a
/// backend's error answer is collected and written once, rewritten if needed. A copy for
/// the access log is taken only when prompt logging is on.
pub fn response_body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
    if let Some(collected) = ctx.upstream.error_body.as_mut() {
        if let Some(chunk) = body.take() {
            let room = ERROR_BODY_LIMIT.saturating_sub(collected.len());
            collected.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if !end_of_stream {
            return;
        }
        let collected = std::mem::take(collected).freeze();
        let status = ctx.upstream.status.unwrap_or(500);
        let answer = match upstream_error::to_openai(status, &collected) {
            Some(rewritten) => Bytes::from(rewritten),
            None => collected,
        };
        // A backend may quote the key it was sent ("Incorrect API key provided: ...").
        *body = Some(crate::redact::scrub_bytes(answer));
    }
    if let Some(chunk) = body.as_deref() {
        ctx.meter.upstream_chunk(chunk);
    }
    if let Some(dropper) = ctx.upstream.usage_dropper.as_mut() {
        let kept = body.take().map(|chunk| dropper.filter(chunk));
        *body = match (kept, end_of_stream.then(|| dropper.finish()).flatten()) {
            (Some(kept), Some(rest)) => Some([kept, rest].concat().into()),
            (kept, rest) => kept.or(rest),
        };
    }
    if let Some(chunk) = body.as_deref() {
        ctx.upstream.tail.push(chunk);
    }
    if end_of_stream {
        ctx.response_complete = true;
    }
    if !ctx.rt.config.logging.log_prompts {
        return;
    }
    if let Some(chunk) = body {
        let kept = ctx.captured_response.get_or_insert_with(BytesMut::new);
        let room = CAPTURE_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}
