//! `/v1/messages` and `/v1/messages/count_tokens`: the Anthropic protocol terminates here.
//!
//! The exchange with the backend runs in `request_filter` rather than through Pingora's
//! proxy loop, because a streamed answer must be able to write without an upstream chunk:
//! `message_start` and a `ping` as soon as the backend accepts, more pings while it is
//! silent during a long prefill, and an `error` event if it fails later. Pingora's body
//! filters run only when upstream bytes arrive. The translation itself is the pure
//! [`StreamTranslator`], fed chunk by chunk; each translated event is written (and so
//! flushed) as soon as its upstream bytes arrive.

use std::time::Duration;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};
use serde_json::json;
use tokio::sync::mpsc;

use super::ctx::RequestCtx;
use super::exchange::{self, Opened, Upstream};
use super::{request_filter, respond};
use crate::api::Capability;
use crate::api::anthropic::error::from_upstream_for;
use crate::api::anthropic::request::{self, Endpoint, Normalized};
use crate::api::anthropic::sse::PING;
use crate::api::anthropic::stream::{Phase, StreamTranslator, random_ids};
use crate::api::anthropic::{AnthropicError, Flavor, Profile, response};
use crate::api::sse_tail::SseTail;
use crate::backends::Backend;
use crate::config::BackendKind;
use crate::proxy::Gateway;
use crate::routing;

/// The translation profile of a backend's runtime (spec §4.8).
pub fn profile_for(backend: &Backend) -> Profile {
    let flavor = match backend.config.kind {
        BackendKind::Vllm => Flavor::Vllm,
        BackendKind::Llamacpp => Flavor::Llamacpp,
        BackendKind::Ollama => Flavor::Ollama,
        _ => Flavor::Generic,
    };
    Profile {
        flavor,
        send_top_k: !matches!(backend.config.kind, BackendKind::Openai | BackendKind::Tgi),
    }
}

/// Reads, parses and validates the body; on failure the error is already written.
pub(super) async fn read_request(
    session: &mut Session,
    ctx: &mut RequestCtx,
    endpoint: Endpoint,
) -> Result<Option<Normalized>> {
    let body = match request_filter::read_body(session, ctx.rt.config.server.max_body_bytes).await?
    {
        Ok(b) => b,
        Err(e) => {
            respond::error(session, ctx, &e).await?;
            return Ok(None);
        }
    };
    let opts = ctx.rt.config.anthropic.options;
    let parsed =
        request::parse_body(&body).and_then(|raw| request::normalize(raw, endpoint, &opts));
    ctx.client.body = Some(body);
    match parsed {
        Ok(req) => {
            ctx.client.summary.model = Some(req.model.clone());
            ctx.client.summary.stream = req.stream;
            Ok(Some(req))
        }
        Err(e) => {
            respond::anthropic_error(session, ctx, &e).await?;
            Ok(None)
        }
    }
}

/// `POST /v1/messages`.
pub async fn messages(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let Some(req) = read_request(session, ctx, Endpoint::Messages).await? else {
        return Ok(());
    };
    let mut needs = vec![Capability::Chat];
    if req.stream {
        needs.push(Capability::Streaming);
    }
    if !req.tools.is_empty() {
        needs.push(Capability::Tools);
    }
    match routing::resolve(&ctx.rt, Some(&req.model), &needs) {
        Ok(c) => ctx.upstream.candidates = c,
        Err(e) => return respond::error(session, ctx, &e).await,
    }
    if req.max_tokens == Some(0) {
        return zero_max_tokens(session, ctx, &req).await;
    }
    let opts = ctx.rt.config.anthropic.options;
    let body_for = |c: &routing::Candidate, b: &Backend| {
        let model = c.upstream_model.as_deref().unwrap_or(&req.model);
        if b.serves_anthropic_natively() {
            return Ok((
                "/messages",
                Bytes::from(request::to_native(&req, model).to_string()),
            ));
        }
        let openai = request::to_openai(&req, model, &profile_for(b), &opts)?;
        Ok(("/chat/completions", Bytes::from(openai.to_string())))
    };
    let mut up = match exchange::open(gw, session, ctx, &body_for).await {
        Ok(Opened::Answered(up)) => up,
        Ok(Opened::ClientGone) => {
            ctx.error = Some("client_closed");
            return Ok(());
        }
        Err(e) => return respond::anthropic_error(session, ctx, &e).await,
    };
    let native = ctx
        .backend()
        .is_some_and(Backend::serves_anthropic_natively);
    if native && (200..300).contains(&up.status) {
        return passthrough(gw, session, ctx, *up).await;
    }
    if !(200..300).contains(&up.status) {
        // Native or not, errors go through the mapping: context-length errors must reach
        // Claude Code in the wording it acts on.
        let body = exchange::read_all(&mut up.session, 1024 * 1024)
            .await
            .unwrap_or_default();
        // A backend may quote the key it was sent ("Incorrect API key provided: ...").
        let body = crate::redact::scrub_bytes(body);
        let estimate = crate::api::anthropic::count::heuristic(&req);
        let e = from_upstream_for(up.status, &body, Some(estimate));
        let mut p = respond::anthropic_payload(ctx, &e);
        if let Some(ra) = up
            .retry_after
            .clone()
            .filter(|_| matches!(e.status, 429 | 529))
        {
            p.headers.push(("retry-after", ra));
        }
        ctx.error = Some(e.kind);
        return respond::send_payload(session, ctx, p).await;
    }
    if req.stream {
        stream(gw, session, ctx, &req, *up).await
    } else {
        let limit = ctx.rt.config.anthropic.max_response_bytes;
        let read =
            exchange::unless_interrupted(gw, session, exchange::read_all(&mut up.session, limit))
                .await;
        let body = match read {
            Ok(body) => body,
            Err(exchange::Interrupted::ClientGone) => {
                ctx.error = Some("client_closed");
                return Ok(());
            }
            Err(exchange::Interrupted::CutOff) => {
                ctx.error = Some("shutdown");
                return respond::anthropic_error(session, ctx, &exchange::shutdown_error()).await;
            }
        };
        let translated = body.and_then(|b| response::to_anthropic(&req, &b));
        if translated.is_ok() {
            gw.connector
                .release_http_session(up.session, &up.peer, up.peer.options.idle_timeout)
                .await;
        }
        match translated {
            Ok(message) => respond::json(session, ctx, 200, &message).await,
            Err(e) => respond::anthropic_error(session, ctx, &e).await,
        }
    }
}

async fn zero_max_tokens(
    session: &mut Session,
    ctx: &mut RequestCtx,
    req: &Normalized,
) -> Result<()> {
    let message = response::zero_max_tokens(req);
    if !req.stream {
        return respond::json(session, ctx, 200, &message).await;
    }
    let mut t = StreamTranslator::new(req, false, ctx.request_id.clone(), random_ids());
    let mut out = Vec::new();
    t.start(&mut out);
    let delta = json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": message["usage"]});
    crate::api::anthropic::sse::write_event(&mut out, "message_delta", &delta);
    crate::api::anthropic::sse::write_event(
        &mut out,
        "message_stop",
        &json!({"type": "message_stop"}),
    );
    write_sse_head(session, ctx).await?;
    session
        .write_response_body(Some(Bytes::from(out)), true)
        .await
}

async fn write_sse_head(session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
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
async fn passthrough(
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
async fn stream(
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
