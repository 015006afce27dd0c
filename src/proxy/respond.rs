//! Writing the gateway's own responses (local endpoints and errors) from `request_filter`.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};

use super::cors;
use super::ctx::RequestCtx;
use crate::api::error::ApiError;

/// Writes a complete response with a known length.
pub async fn send(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: &str,
    body: Bytes,
    extra: &[(&'static str, String)],
) -> Result<()> {
    let mut h = ResponseHeader::build(status, Some(6 + extra.len()))?;
    h.insert_header("content-type", content_type)?;
    h.insert_header("content-length", body.len().to_string())?;
    h.insert_header("x-request-id", ctx.request_id.as_str())?;
    h.insert_header("cache-control", "no-store")?;
    for (k, v) in extra {
        h.insert_header(*k, v.as_str())?;
    }
    cors::decorate(&ctx.rt.config.cors, session.req_header(), &mut h)?;
    ctx.local_status = Some(status);
    let downstream = session.as_downstream_mut();
    if !downstream.is_body_done() && !downstream.is_body_empty() {
        // We answer without reading the request body: the connection cannot be reused.
        session.set_keepalive(None);
    }
    let head_only = session.req_header().method == http::Method::HEAD || body.is_empty();
    session
        .write_response_header(Box::new(h), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Writes a JSON value.
pub async fn json(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    value: &serde_json::Value,
) -> Result<()> {
    let body = Bytes::from(value.to_string());
    send(session, ctx, status, "application/json", body, &[]).await
}

/// Writes a gateway error in the route's dialect.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, err: &ApiError) -> Result<()> {
    ctx.error = Some(err.code());
    let mut extra = Vec::new();
    if let Some(seconds) = err.retry_after() {
        extra.push(("retry-after", seconds.to_string()));
    }
    if let ApiError::MethodNotAllowed { allowed, .. } = err {
        extra.push(("allow", (*allowed).to_owned()));
    }
    if matches!(
        err,
        ApiError::PayloadTooLarge { .. } | ApiError::HeadersTooLarge { .. }
    ) {
        // Part of the body may be unread: this connection cannot carry another request.
        session.set_keepalive(None);
    }
    let body = Bytes::from(err.to_openai_body());
    send(session, ctx, err.status(), "application/json", body, &extra).await
}
