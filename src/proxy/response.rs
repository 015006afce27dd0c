//! The response side: status bookkeeping and retry-on-overload before anything reaches
//! the client, response headers, and the (untouched) OpenAI body.

use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::prelude::{Error, ErrorType, Result, Session};

use super::ctx::RequestCtx;
use crate::proxy::Gateway;

/// An upstream answer worth retrying elsewhere (overloaded), raised before any byte went
/// to the client; `error_while_proxy` turns it into a retry on another deployment.
pub const RETRYABLE_STATUS: ErrorType = ErrorType::Custom("backend overloaded");

/// Bytes of response body kept for the access log with `log_prompts: true`.
const CAPTURE_LIMIT: usize = 64 * 1024;

/// `upstream_response_filter`: nothing has been sent downstream yet.
pub fn upstream_response(gw: &Gateway, resp: &ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    let status = resp.status.as_u16();
    if let Some(backend) = ctx.backend() {
        gw.metrics.upstream_response(backend.name(), status);
    }
    if matches!(status, 429 | 503) && ctx.has_untried_candidate() {
        let name = ctx.backend().map_or("?", |b| b.name());
        return Error::e_explain(
            RETRYABLE_STATUS,
            format!("backend `{name}` answered {status}"),
        );
    }
    ctx.upstream.status = Some(status);
    Ok(())
}

/// `response_filter`: our headers on the way out.
pub fn response_header(
    session: &Session,
    resp: &mut ResponseHeader,
    ctx: &RequestCtx,
) -> Result<()> {
    super::respond::decorate(session, ctx, resp)
}

/// `response_body_filter`: OpenAI bodies pass through as they are; only a copy for the
/// access log is taken, and only when prompt logging is on.
pub fn response_body(body: &Option<Bytes>, ctx: &mut RequestCtx) {
    if !ctx.rt.config.logging.log_prompts {
        return;
    }
    if let Some(chunk) = body {
        let kept = ctx.captured_response.get_or_insert_with(BytesMut::new);
        let room = CAPTURE_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}
