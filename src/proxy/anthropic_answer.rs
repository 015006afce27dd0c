//! Writing a `/v1/messages` answer that streams: the native backend's bytes as they come,
//! or the translated events, with pings in silences (the loop itself is
//! [`stream_pump`]'s, shared with the OpenAI routes' own exchange).

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};

use super::ctx::RequestCtx;
use super::exchange::Upstream;
use super::respond;
use super::stream_pump::{self, Relay, Translated};
use crate::api::anthropic::request::Normalized;
use crate::api::anthropic::stream::{StreamTranslator, random_ids};
use crate::proxy::Gateway;

pub(super) async fn write_sse_head(session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let mut h = ResponseHeader::build(200, Some(8))?;
    h.insert_header("content-type", "text/event-stream; charset=utf-8")?;
    h.insert_header("cache-control", "no-cache")?;
    h.insert_header("x-accel-buffering", "no")?;
    if session.as_downstream().is_http2() {
        // HTTP/2 frames the body itself.
    } else {
        h.insert_header("transfer-encoding", "chunked")?;
    }
    respond::decorate(session, ctx, &mut h)?;
    ctx.local_status = Some(200);
    session.write_response_header(Box::new(h), false).await
}

/// Native mode: the backend speaks Anthropic itself; its successful answer (JSON or SSE)
/// goes to the client byte for byte, each chunk as it arrives.
pub(super) async fn passthrough(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    up: Upstream,
) -> Result<()> {
    let mut h = ResponseHeader::build(up.status, Some(6))?;
    let content_type = up
        .session
        .response_header()
        .and_then(|r| r.headers.get("content-type"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    h.insert_header("content-type", content_type)?;
    h.insert_header("cache-control", "no-cache")?;
    if !session.as_downstream().is_http2() {
        h.insert_header("transfer-encoding", "chunked")?;
    }
    respond::decorate(session, ctx, &mut h)?;
    ctx.local_status = Some(up.status);
    session.write_response_header(Box::new(h), false).await?;
    let mut relay = Relay::anthropic(&ctx.request_id);
    stream_pump::pump(gw, session, ctx, &mut relay, up).await
}

/// Streams the translated answer. Events go out as their upstream bytes arrive; pings fill
/// silences; a client that leaves closes the upstream connection at once.
pub(super) async fn stream(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &Normalized,
    up: Upstream,
) -> Result<()> {
    let buffered = ctx.rt.config.anthropic.options.buffered_tool_args;
    let ping_every = ctx.rt.config.anthropic.ping_interval;
    let event_limit =
        usize::try_from(ctx.rt.config.anthropic.max_response_bytes).unwrap_or(usize::MAX);
    let mut translator = StreamTranslator::new(req, buffered, ctx.request_id.clone(), random_ids())
        .with_event_limit(event_limit);
    let mut out = Vec::new();
    translator.start(&mut out);
    write_sse_head(session, ctx).await?;
    session
        .write_response_body(Some(Bytes::from(std::mem::take(&mut out))), false)
        .await?;

    let mut shaper = Translated {
        translator,
        ping_every,
    };
    stream_pump::pump(gw, session, ctx, &mut shaper, up).await
}
