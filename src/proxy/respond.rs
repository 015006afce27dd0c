//! Writing the gateway's own responses (local endpoints and errors) in the client's dialect.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};

use super::cors;
use super::ctx::RequestCtx;
use crate::api::Dialect;
use crate::api::anthropic::AnthropicError;
use crate::api::error::ApiError;

/// An error response ready to write.
pub struct Payload {
    pub status: u16,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

/// The error in the route's dialect: OpenAI's envelope, or Anthropic's with `request_id`.
pub fn error_payload(ctx: &RequestCtx, err: &ApiError) -> Payload {
    let mut p = match ctx.dialect() {
        Dialect::OpenAi => Payload {
            status: err.status(),
            body: Bytes::from(err.to_openai_body()),
            headers: Vec::new(),
        },
        Dialect::Anthropic => anthropic_payload(ctx, &AnthropicError::from_gateway(err)),
    };
    if let Some(seconds) = err.retry_after() {
        p.headers.push(("retry-after", seconds.to_string()));
    }
    if let ApiError::MethodNotAllowed { allowed, .. } = err {
        p.headers.push(("allow", (*allowed).to_owned()));
    }
    p
}

pub fn anthropic_payload(ctx: &RequestCtx, e: &AnthropicError) -> Payload {
    let mut headers = Vec::new();
    if !e.should_retry() {
        // Deterministic failures: tell the SDKs not to retry.
        headers.push(("x-should-retry", "false".to_owned()));
    }
    Payload {
        status: e.status,
        body: Bytes::from(e.to_body(&ctx.request_id)),
        headers,
    }
}

/// Headers every response of ours carries.
pub fn decorate(session: &Session, ctx: &RequestCtx, h: &mut ResponseHeader) -> Result<()> {
    h.insert_header("x-request-id", ctx.request_id.as_str())?;
    for (name, value) in &ctx.limit_headers {
        h.insert_header(*name, value.as_str())?;
    }
    if ctx.dialect() == Dialect::Anthropic {
        // The Anthropic SDKs read the request id from `request-id`.
        h.insert_header("request-id", ctx.request_id.as_str())?;
    }
    cors::decorate(&ctx.rt.config.cors, session.req_header(), h)
}

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
    h.insert_header("cache-control", "no-store")?;
    for (k, v) in extra {
        h.insert_header(*k, v.as_str())?;
    }
    decorate(session, ctx, &mut h)?;
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
    ctx.response_complete = true;
    Ok(())
}

/// Writes a JSON value.
pub async fn json(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    value: &serde_json::Value,
) -> Result<()> {
    let body = crate::api::anthropic::request::compact_bytes(value);
    send(session, ctx, status, "application/json", body, &[]).await
}

/// Writes a gateway error in the route's dialect.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, err: &ApiError) -> Result<()> {
    ctx.error = Some(err.code());
    ctx.client_fault = err.client_fault_kind();
    if matches!(
        err,
        ApiError::PayloadTooLarge { .. }
            | ApiError::HeadersTooLarge { .. }
            | ApiError::MalformedRequest { .. }
            | ApiError::RequestTimeout { .. }
    ) {
        // Part of the body may be unread: this connection cannot carry another request.
        session.set_keepalive(None);
    }
    let p = error_payload(ctx, err);
    send_payload(session, ctx, p).await
}

/// Writes a prepared error payload as JSON.
pub async fn send_payload(session: &mut Session, ctx: &mut RequestCtx, p: Payload) -> Result<()> {
    send(
        session,
        ctx,
        p.status,
        "application/json",
        p.body,
        &p.headers,
    )
    .await
}

/// Writes an Anthropic error (translation or upstream failures on `/v1/messages`).
pub async fn anthropic_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    e: &AnthropicError,
) -> Result<()> {
    ctx.error.get_or_insert(e.kind);
    let p = anthropic_payload(ctx, e);
    send_payload(session, ctx, p).await
}
