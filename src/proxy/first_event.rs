//! Reading the first event of a stream before the client gets a status, for runtimes that
//! report errors inside a `200` stream (backends.md §2, §6): TGI sends validation errors
//! and its 429 overload as `data: {"error":{...,"http_status_code":N}}`, SGLang a full
//! queue as `{"error":{...,"code":503}}`, LocalAI model load failures the same way. Such
//! a first event is a failed attempt like any other: retried on another deployment when
//! the retry policy allows, else answered as a real HTTP error in the client's dialect.
//! Anything else is kept and relayed (or translated) before the rest of the stream.

use bytes::Bytes;
use pingora::prelude::Session;
use serde_json::{Value, json};

use super::ctx::RequestCtx;
use super::exchange::{self, Interrupted, Upstream};
use super::retry::{self, Failure};
use crate::api::anthropic::sse::SseFramer;
use crate::config::BackendKind;
use crate::proxy::Gateway;

/// Bytes read while looking for the first event; a backend that sends more without
/// completing one is relayed as it is.
const PEEK_LIMIT: usize = 64 * 1024;

/// Runtimes that report errors as the first event of a `200` stream.
pub fn errors_inside_streams(kind: BackendKind) -> bool {
    matches!(
        kind,
        BackendKind::Tgi | BackendKind::Sglang | BackendKind::Localai
    )
}

/// What the first event said.
pub enum Peeked {
    /// Not an error: what was read is in `Upstream::peeked`, to go out first.
    Stream,
    /// An error the retry policy lets us try elsewhere; the retry is counted.
    Retry,
    /// An error to answer with: its status, and its body (`{"error":{...}}`).
    Failed { status: u16, event: Bytes },
    /// The client left; nothing more to do.
    ClientGone,
}

/// Reads `up` until its first complete `data:` event and judges it.
pub async fn peek(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    up: &mut Upstream,
) -> Peeked {
    let mut read = Vec::new();
    let mut framer = SseFramer::with_limit(PEEK_LIMIT);
    let (failure, status, event) = loop {
        let deadline = ctx.deadline();
        let next =
            exchange::unless_interrupted(gw, session, deadline, up.session.read_response_body());
        let chunk = match next.await {
            Err(Interrupted::ClientGone) => {
                ctx.error = Some("client_closed");
                return Peeked::ClientGone;
            }
            // The stream's own error event reports the cut-off.
            Err(Interrupted::CutOff) | Ok(Ok(None)) => return keep(up, read),
            Err(Interrupted::Deadline) => {
                ctx.error = Some("timeout");
                let body = json!({"error": {"message": exchange::deadline_error().message,
                    "type": "server_error", "param": null, "code": "timeout"}});
                return Peeked::Failed {
                    status: 504,
                    event: Bytes::from(body.to_string()),
                };
            }
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Err(e)) => {
                let (failure, status, message) =
                    if matches!(e.etype(), pingora::ErrorType::ReadTimedout) {
                        (Failure::Timeout, 504, "the backend sent no event in time")
                    } else {
                        let message = "the backend closed the stream before its first event";
                        (Failure::Reset, 502, message)
                    };
                let body = json!({"error": {"message": message, "type": "server_error",
                    "param": null, "code": "upstream_error"}});
                break (failure, status, Bytes::from(body.to_string()));
            }
        };
        read.extend_from_slice(&chunk);
        let mut first: Option<String> = None;
        let fed = framer.feed(&chunk, &mut |e| {
            if first.is_none() {
                first = Some(e.to_owned());
            }
        });
        if let Some(event) = first {
            match stream_error(&event) {
                Some(status) => break (Failure::Status(status), status, Bytes::from(event)),
                None => return keep(up, read),
            }
        }
        if fed.is_err() || read.len() > PEEK_LIMIT {
            return keep(up, read);
        }
    };
    if let Some(backend) = ctx.backend() {
        match failure {
            Failure::Status(s) => backend.note_status(&gw.metrics, s, None),
            _ => backend.note_failure(&gw.metrics, false, None),
        }
    }
    ctx.upstream.status = Some(status);
    if retry::may_retry(ctx, failure) {
        retry::note_retry(&gw.metrics, ctx, failure);
        return Peeked::Retry;
    }
    Peeked::Failed { status, event }
}

fn keep(up: &mut Upstream, read: Vec<u8>) -> Peeked {
    if !read.is_empty() {
        up.peeked = Some(Bytes::from(read));
    }
    Peeked::Stream
}

/// The status of a first event that is an error: TGI puts it in `http_status_code` (or,
/// in its flat `{"error":"...","error_type"}` shape, implies it by the type), SGLang and
/// LocalAI in `code`; without a usable one it is a 502.
fn stream_error(event: &str) -> Option<u16> {
    let v: Value = serde_json::from_str(event).ok()?;
    let error = v.get("error")?;
    if error.is_string() {
        // TGI's `InferError` statuses (router/src/server.rs).
        return Some(match v.get("error_type").and_then(Value::as_str) {
            Some("validation" | "template_error" | "tool_error") => 422,
            Some("overloaded") => 429,
            Some("generation") => 424,
            _ => 502,
        });
    }
    let status = ["http_status_code", "code"]
        .iter()
        .filter_map(|k| error.get(*k))
        .find_map(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(502);
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_errors_carry_their_status() {
        let tgi = r#"{"error":{"message":"Input validation error: `top_p` must be > 0.0 and < 1.0","http_status_code":422}}"#;
        assert_eq!(stream_error(tgi), Some(422));
        let sglang = r#"{"error":{"object":"error","message":"The request queue is full.","type":"SERVICE_UNAVAILABLE","param":null,"code":503}}"#;
        assert_eq!(stream_error(sglang), Some(503));
        let localai = r#"{"error":{"code":"500","message":"could not load model","type":""}}"#;
        assert_eq!(stream_error(localai), Some(500));
        let flat = r#"{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096","error_type":"validation"}"#;
        assert_eq!(stream_error(flat), Some(422));
        let overloaded = r#"{"error":"Model is overloaded","error_type":"overloaded"}"#;
        assert_eq!(stream_error(overloaded), Some(429));
        let bare = r#"{"error":{"message":"model failed to load"}}"#;
        assert_eq!(stream_error(bare), Some(502));
        let chunk = r#"{"id":"x","choices":[{"delta":{"content":"hi"}}]}"#;
        assert_eq!(stream_error(chunk), None);
        assert_eq!(stream_error("[DONE]"), None);
    }
}
