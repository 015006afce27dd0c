//! Writing a `/v1/messages` answer that streams: the native backend's bytes as they come,
//! or the translated events, with pings in silences, an `error` event when the backend
//! fails or the gateway shuts down, and the upstream closed as soon as the client leaves.

use std::time::Duration;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};
use tokio::sync::mpsc;

use super::ctx::RequestCtx;
use super::exchange::{self, Upstream};
use super::respond;
use crate::api::anthropic::AnthropicError;
use crate::api::anthropic::request::Normalized;
use crate::api::anthropic::sse::PING;
use crate::api::anthropic::stream::{Phase, StreamTranslator, random_ids};
use crate::api::sse_tail::SseTail;
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

/// What the upstream reader task reports.
type Chunk = std::result::Result<Option<Bytes>, Box<pingora::Error>>;

/// Reads the upstream body in its own task, so neither a ping timer nor a departing client
/// cancels a read half-way; aborting the task drops (closes) the backend connection. A
/// complete body returns the connection to the pool.
fn spawn_reader(
    gw: &Gateway,
    up: Upstream,
) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Chunk>) {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let connector = std::sync::Arc::clone(&gw.connector);
    let reader = tokio::spawn(async move {
        let Upstream {
            mut session, peer, ..
        } = up;
        loop {
            match session.read_response_body().await {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(Some(chunk))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = tx.send(Ok(None)).await;
                    connector
                        .release_http_session(session, &peer, peer.options.idle_timeout)
                        .await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    (reader, rx)
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
    let (reader, mut rx) = spawn_reader(gw, up);
    let mut tail = SseTail::default();
    let result = async {
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Ok(Some(chunk))) => {
                        tail.push(&chunk);
                        session.write_response_body(Some(chunk), false).await?;
                    }
                    Some(Err(e)) => {
                        ctx.error = Some(super::failure::error_kind(&e));
                        let err = AnthropicError::api(format!(
                            "upstream connection failed: {}",
                            e.etype().as_str()
                        ));
                        return end_with_error(session, tail, &err, &ctx.request_id).await;
                    }
                    Some(Ok(None)) | None => {
                        ctx.response_complete = true;
                        return session.write_response_body(None, true).await;
                    }
                },
                _ = session.as_downstream_mut().read_body_or_idle(true) => {
                    ctx.error = Some("client_closed");
                    return Ok(());
                }
                _ = gw.lifecycle.until_cut_off() => {
                    ctx.error = Some("shutdown");
                    return end_with_error(session, tail, &exchange::shutdown_error(), &ctx.request_id).await;
                }
            }
        }
    }
    .await;
    reader.abort();
    result
}

/// Ends a passed-through stream with an Anthropic `error` event, after completing whatever
/// line the backend left open.
async fn end_with_error(
    session: &mut Session,
    tail: SseTail,
    err: &AnthropicError,
    request_id: &str,
) -> Result<()> {
    let mut out = tail.terminator().to_vec();
    out.extend_from_slice(&err.to_event(request_id));
    session
        .write_response_body(Some(Bytes::from(out)), true)
        .await
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

    let (reader, mut rx) = spawn_reader(gw, up);
    let result = pump(gw, session, ctx, &mut translator, &mut rx, ping_every).await;
    reader.abort();
    if let Some(e) = translator.error() {
        ctx.error.get_or_insert(e.kind);
    }
    result
}

async fn pump(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    translator: &mut StreamTranslator,
    rx: &mut mpsc::Receiver<Chunk>,
    ping_every: Duration,
) -> Result<()> {
    let mut out = Vec::new();
    loop {
        tokio::select! {
            msg = rx.recv() => {
                match msg {
                    Some(Ok(Some(chunk))) => translator.feed(&chunk, &mut out),
                    Some(Ok(None)) | None => translator.finish(&mut out),
                    Some(Err(e)) => {
                        let err = if matches!(e.etype(), pingora::ErrorType::ReadTimedout) {
                            AnthropicError::new(504, "timeout_error", "upstream timed out mid-stream")
                        } else {
                            AnthropicError::api(format!("upstream connection failed: {}", e.etype().as_str()))
                        };
                        translator.fail(err, &mut out);
                    }
                }
            }
            _ = tokio::time::sleep(ping_every) => out.extend_from_slice(PING),
            _ = gw.lifecycle.until_cut_off() => {
                ctx.error = Some("shutdown");
                translator.fail(exchange::shutdown_error(), &mut out);
            }
            _ = session.as_downstream_mut().read_body_or_idle(true) => {
                ctx.error = Some("client_closed");
                return Ok(());
            }
        }
        let finished = translator.phase() == Phase::Finished;
        if !out.is_empty() {
            session
                .write_response_body(Some(Bytes::from(std::mem::take(&mut out))), finished)
                .await?;
        } else if finished {
            session.write_response_body(None, true).await?;
        }
        if finished {
            ctx.response_complete = true;
            return Ok(());
        }
    }
}
