//! Writing an upstream body the gateway reads itself (its own exchange, not Pingora's proxy
//! loop) to the client as it arrives: relayed as it is, or reshaped event by event by a
//! pure translator. One loop for every such answer, so each gets the same guarantees:
//! every chunk is written (and flushed) when its upstream bytes arrive, keep-alives fill
//! silences where the dialect has them, a client that leaves closes the upstream
//! connection at once, and a failing backend or the end of the shutdown grace period ends
//! the stream with an error event in the client's dialect.

use std::time::Duration;

use bytes::Bytes;
use pingora::prelude::{Result, Session};
use tokio::sync::mpsc;

use super::ctx::RequestCtx;
use super::exchange::{self, Upstream};
use crate::api::anthropic::AnthropicError;
use crate::api::anthropic::stream::{Phase, StreamTranslator};
use crate::api::anthropic_upstream::stream::ChunkTranslator;
use crate::api::sse_tail::SseTail;
use crate::api::usage::UsageChunkDropper;
use crate::proxy::Gateway;

/// What the pump needs from a translator (or from a plain relay).
pub(super) trait Shaper: Send {
    /// Shapes an upstream chunk: bytes appended to `out`, or the chunk itself handed back
    /// to be written as it is (no copy).
    fn feed(&mut self, chunk: Bytes, out: &mut Vec<u8>) -> Option<Bytes>;
    /// The upstream body ended.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The stream must end with `err` (transport failure, shutdown).
    fn fail(&mut self, err: AnthropicError, out: &mut Vec<u8>);
    fn is_finished(&self) -> bool;
    /// Written after this long without upstream bytes, if the dialect has keep-alives.
    fn keepalive(&self) -> Option<(Duration, &'static [u8])> {
        None
    }
    /// The bounded label of the error the stream ended with, for the access log.
    fn error_kind(&self) -> Option<&'static str> {
        None
    }
}

/// A body passed through untouched. Only a failure adds bytes: whatever completes the line
/// the backend left open, then the dialect's error event.
pub(super) struct Relay {
    tail: SseTail,
    finished: bool,
    /// Removes the usage chunk the gateway asked for and the client did not.
    usage_dropper: Option<UsageChunkDropper>,
    error_event: fn(&AnthropicError, &str) -> Vec<u8>,
    request_id: String,
}

impl Relay {
    /// For Anthropic clients: `event: error`.
    pub fn anthropic(request_id: &str) -> Relay {
        Relay::new(request_id, |e, id| e.to_event(id))
    }

    /// For OpenAI clients: `data: {"error":{...}}`, which the OpenAI SDKs raise.
    pub fn openai(request_id: &str) -> Relay {
        Relay::new(request_id, |e, _| openai_error_event(e))
    }

    /// Removes the usage-only chunk from the stream (the gateway asked for it).
    #[must_use]
    pub fn dropping_usage_chunks(mut self, drop: bool) -> Relay {
        self.usage_dropper = drop.then(UsageChunkDropper::default);
        self
    }

    fn new(request_id: &str, error_event: fn(&AnthropicError, &str) -> Vec<u8>) -> Relay {
        Relay {
            tail: SseTail::default(),
            finished: false,
            usage_dropper: None,
            error_event,
            request_id: request_id.to_owned(),
        }
    }
}

impl Shaper for Relay {
    fn feed(&mut self, chunk: Bytes, _out: &mut Vec<u8>) -> Option<Bytes> {
        let chunk = match self.usage_dropper.as_mut() {
            Some(dropper) => dropper.filter(chunk),
            None => chunk,
        };
        self.tail.push(&chunk);
        (!chunk.is_empty()).then_some(chunk)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(rest) = self
            .usage_dropper
            .as_mut()
            .and_then(UsageChunkDropper::finish)
        {
            out.extend_from_slice(&rest);
        }
        self.finished = true;
    }

    fn fail(&mut self, err: AnthropicError, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        // An event the usage filter was completing goes out first, as it came.
        if let Some(held) = self
            .usage_dropper
            .as_mut()
            .and_then(UsageChunkDropper::finish)
        {
            self.tail.push(&held);
            out.extend_from_slice(&held);
        }
        out.extend_from_slice(self.tail.terminator());
        out.extend_from_slice(&(self.error_event)(&err, &self.request_id));
        self.finished = true;
    }

    fn is_finished(&self) -> bool {
        self.finished
    }
}

/// An OpenAI stream error event for a gateway-side failure.
pub(super) fn openai_error_event(e: &AnthropicError) -> Vec<u8> {
    let mut event = b"data: ".to_vec();
    event.extend_from_slice(&super::openai_exchange::to_api_error(e).to_openai_body());
    event.extend_from_slice(b"\n\n");
    event
}

/// OpenAI chat clients of an Anthropic upstream.
impl Shaper for ChunkTranslator {
    fn feed(&mut self, chunk: Bytes, out: &mut Vec<u8>) -> Option<Bytes> {
        ChunkTranslator::feed(self, &chunk, out);
        None
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        ChunkTranslator::finish(self, out);
    }

    fn fail(&mut self, err: AnthropicError, out: &mut Vec<u8>) {
        ChunkTranslator::fail(self, &err.message, out);
    }

    fn is_finished(&self) -> bool {
        ChunkTranslator::is_finished(self)
    }
}

/// Anthropic clients of an OpenAI-compatible upstream.
pub(super) struct Translated {
    pub translator: StreamTranslator,
    pub ping_every: Duration,
}

impl Shaper for Translated {
    fn feed(&mut self, chunk: Bytes, out: &mut Vec<u8>) -> Option<Bytes> {
        self.translator.feed(&chunk, out);
        None
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.translator.finish(out);
    }

    fn fail(&mut self, err: AnthropicError, out: &mut Vec<u8>) {
        self.translator.fail(err, out);
    }

    fn is_finished(&self) -> bool {
        self.translator.phase() == Phase::Finished
    }

    fn keepalive(&self) -> Option<(Duration, &'static [u8])> {
        Some((self.ping_every, crate::api::anthropic::sse::PING))
    }

    fn error_kind(&self) -> Option<&'static str> {
        self.translator.error().map(|e| e.kind)
    }
}

/// What the upstream reader task reports.
type Chunk = std::result::Result<Option<Bytes>, Box<pingora::Error>>;

/// Reads the upstream body in its own task, so neither a keep-alive timer nor a departing
/// client cancels a read half-way; aborting the task drops (closes) the backend
/// connection. A complete body returns the connection to the pool.
fn spawn_reader(
    gw: &Gateway,
    up: Upstream,
) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Chunk>) {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let connector = std::sync::Arc::clone(&gw.connector);
    let reader = tokio::spawn(async move {
        let Upstream {
            mut session,
            peer,
            peeked,
            ..
        } = up;
        if let Some(first) = peeked
            && tx.send(Ok(Some(first))).await.is_err()
        {
            return;
        }
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

/// Writes the rest of `up`'s body through `shaper`; the response header is already out.
pub(super) async fn pump(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    shaper: &mut dyn Shaper,
    up: Upstream,
) -> Result<()> {
    let (reader, mut rx) = spawn_reader(gw, up);
    let result = run(gw, session, ctx, shaper, &mut rx).await;
    reader.abort();
    if let Some(kind) = shaper.error_kind() {
        ctx.error.get_or_insert(kind);
    }
    result
}

async fn run(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    shaper: &mut dyn Shaper,
    rx: &mut mpsc::Receiver<Chunk>,
) -> Result<()> {
    let mut out = Vec::new();
    // Built once, not once per event: each event costs only its own work.
    let expire = exchange::until(ctx.deadline());
    tokio::pin!(expire);
    let cut_off = gw.lifecycle.until_cut_off();
    tokio::pin!(cut_off);
    // Without keep-alives the timer never fires.
    let (silence, keepalive) = shaper
        .keepalive()
        .unwrap_or((Duration::from_secs(86_400 * 365), b""));
    let quiet = tokio::time::sleep(silence);
    tokio::pin!(quiet);
    // A completed future must not be polled again, should the stream go on after a
    // failure was written.
    let mut interrupted = false;
    loop {
        let mut pass = None;
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Ok(Some(chunk))) => {
                    ctx.meter.upstream_chunk(&chunk);
                    pass = shaper.feed(chunk, &mut out);
                    quiet.as_mut().reset(tokio::time::Instant::now() + silence);
                }
                Some(Ok(None)) | None => shaper.finish(&mut out),
                Some(Err(e)) => {
                    let err = if matches!(e.etype(), pingora::ErrorType::ReadTimedout) {
                        AnthropicError::new(504, "timeout_error", "upstream timed out mid-stream")
                    } else {
                        AnthropicError::api(format!("upstream connection failed: {}", e.etype().as_str()))
                    };
                    shaper.fail(err, &mut out);
                    if shaper.error_kind().is_none() {
                        ctx.error = Some(super::failure::error_kind(&e));
                    }
                }
            },
            () = &mut quiet => {
                out.extend_from_slice(keepalive);
                quiet.as_mut().reset(tokio::time::Instant::now() + silence);
            }
            () = &mut cut_off, if !interrupted => {
                interrupted = true;
                ctx.error = Some("shutdown");
                shaper.fail(exchange::shutdown_error(), &mut out);
            }
            () = &mut expire, if !interrupted => {
                interrupted = true;
                ctx.error = Some("timeout");
                shaper.fail(exchange::deadline_error(), &mut out);
            }
            _ = session.as_downstream_mut().read_body_or_idle(true) => {
                ctx.error = Some("client_closed");
                return Ok(());
            }
        }
        let finished = shaper.is_finished();
        if let Some(chunk) = pass {
            session.write_response_body(Some(chunk), false).await?;
        }
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
