//! Reading a whole answer from the gateway's own exchange (a JSON answer to translate, an
//! error body to map), bounded in size, and given up when the client leaves, the
//! request's deadline passes or shutdown cuts it off.

use bytes::Bytes;
use pingora::prelude::Session;
use pingora::protocols::http::client::HttpSession;

use super::ctx::RequestCtx;
use super::exchange::{Interrupted, Upstream, deadline_error, shutdown_error, unless_interrupted};
use crate::api::anthropic::AnthropicError;
use crate::proxy::Gateway;

/// How reading a whole answer ended when it did not give one.
pub enum NoAnswer {
    /// The client left: nothing more to write.
    ClientGone,
    /// The error to answer with (the backend failed, the deadline passed, shutdown).
    Error(AnthropicError),
}

/// Reads the whole answer of `up` (up to `anthropic.max_response_bytes`), unless the
/// client leaves, the deadline passes or shutdown cuts it off first; the bytes count for
/// the metrics, and an interruption is recorded in `ctx.error`.
pub async fn read_answer(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    up: &mut Upstream,
) -> Result<Bytes, NoAnswer> {
    let limit = ctx.rt.config.anthropic.max_response_bytes;
    let read = unless_interrupted(
        gw,
        session,
        ctx.deadline(),
        read_all(&mut up.session, limit),
    )
    .await;
    match read {
        Ok(Ok(body)) => {
            ctx.meter.upstream_chunk(&body);
            Ok(body)
        }
        Ok(Err(e)) => Err(NoAnswer::Error(e)),
        Err(Interrupted::ClientGone) => {
            ctx.error = Some("client_closed");
            Err(NoAnswer::ClientGone)
        }
        Err(Interrupted::Deadline) => {
            ctx.error = Some("timeout");
            Err(NoAnswer::Error(deadline_error()))
        }
        Err(Interrupted::CutOff) => {
            ctx.error = Some("shutdown");
            Err(NoAnswer::Error(shutdown_error()))
        }
    }
}

/// Reads the rest of an upstream body, up to `limit` bytes.
pub async fn read_all(up: &mut HttpSession, limit: u64) -> Result<Bytes, AnthropicError> {
    let mut body = bytes::BytesMut::new();
    loop {
        match up.read_response_body().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > limit {
                    return Err(AnthropicError::api(
                        "upstream response exceeds anthropic.max_response_bytes",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) if matches!(e.etype(), pingora::ErrorType::ReadTimedout) => {
                return Err(AnthropicError::new(
                    504,
                    "timeout_error",
                    "upstream timed out",
                ));
            }
            Err(e) => {
                return Err(AnthropicError::api(format!(
                    "upstream connection failed: {}",
                    e.etype().as_str()
                )));
            }
        }
    }
}
