//! OpenAI requests the gateway carries through its own exchange instead of Pingora's proxy
//! loop, because it must read the answer before the client sees a status:
//!
//! - a deployment on an **Anthropic upstream** (the request is translated to Messages and
//!   its answer back, `api::anthropic_upstream`), possibly mixed with OpenAI-compatible
//!   deployments of the same alias or of a fallback;
//! - a **stream from a runtime that reports errors inside a 200 stream** (TGI, SGLang,
//!   LocalAI: validation, overload and load failures arrive as a first `data:` event
//!   holding `{"error":...}`). The first event is read before the status is committed: an
//!   error there becomes a proper HTTP error, or a retry on another deployment.
//!
//! Whatever is relayed untouched still is: the client's bytes (model spliced as on the
//! proxy path) go up, the backend's bytes come back chunk by chunk.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{Result, Session};
use serde_json::Value;

use super::ctx::RequestCtx;
use super::exchange::{self, Opened, Outgoing, Upstream};
use super::first_event::{self, Peeked};
use super::stream_pump::{self, Relay};
use super::{anthropic_answer, respond, upstream};
use crate::api::anthropic::AnthropicError;
use crate::api::anthropic_upstream::{request as to_anthropic, response, stream};
use crate::api::error::ApiError;
use crate::api::{openai, upstream_error, usage};
use crate::backends::Backend;
use crate::config::BackendKind;
use crate::proxy::Gateway;
use crate::routing::Candidate;

/// Bytes of a backend's error answer kept (the message is near the start).
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// Whether this request needs the gateway's own exchange (see the module docs).
pub fn needed(ctx: &RequestCtx) -> bool {
    let stream = ctx.client.summary.stream;
    ctx.upstream.candidates.iter().any(|c| {
        let kind = ctx.rt.backends[c.backend].config.kind;
        kind == BackendKind::Anthropic || (stream && first_event::errors_inside_streams(kind))
    })
}

/// The OpenAI error for a failure of the exchange itself (no deployment reachable, a
/// timeout, shutdown).
pub fn to_api_error(e: &AnthropicError) -> ApiError {
    let message = e.message.clone();
    match (e.status, e.kind) {
        (504, _) | (_, "timeout_error") => ApiError::GatewayTimeout { message },
        (529 | 503, _) | (_, "overloaded_error") => ApiError::Unavailable { message },
        (400, _) => ApiError::invalid(message),
        _ => ApiError::BadGateway { message },
    }
}

/// Serves the request; every answer, error or not, is written here.
pub async fn serve(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let body = ctx.client.body.clone().unwrap_or_default();
    let summary = ctx.client.summary.clone();
    let suffix: &'static str = match &ctx.upstream.path_suffix {
        std::borrow::Cow::Borrowed(s) => s,
        std::borrow::Cow::Owned(_) => "/chat/completions",
    };
    let alias = summary.model.clone().unwrap_or_default();
    // Parsed once, for the Anthropic deployments; what Messages cannot express is refused
    // before any deployment is tried.
    let parsed: Option<Value> = if ctx
        .upstream
        .candidates
        .iter()
        .any(|c| ctx.rt.backends[c.backend].config.kind == BackendKind::Anthropic)
    {
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Err(e) = to_anthropic::to_messages(&v, &alias) {
            return respond::error(session, ctx, &e).await;
        }
        Some(v)
    } else {
        None
    };
    let include_usage = parsed
        .as_ref()
        .and_then(|v| v.pointer("/stream_options/include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Whether an attempt on a backend asks for stream usage the client did not ask for
    // (then its usage chunk is removed on the way out).
    let usage_applies = upstream::stream_usage_applies(ctx) && usage::lacks_stream_options(&body);
    let asks_usage = |b: &Backend| usage_applies && b.config.stream_usage;
    let body_for = |c: &Candidate, b: &Backend| {
        let model = c.upstream_model.as_deref().unwrap_or(&alias);
        if b.config.kind == BackendKind::Anthropic {
            let v = parsed.as_ref().unwrap_or(&Value::Null);
            let messages = to_anthropic::to_messages(v, model)
                .map_err(|e| AnthropicError::invalid(e.to_string()))?;
            return Ok(Outgoing::built(
                "/messages",
                Bytes::from(messages.to_string()),
            ));
        }
        let mut body = match &c.upstream_model {
            Some(m) => openai::with_model(&body, &summary, m),
            None => body.clone(),
        };
        if asks_usage(b) {
            body = usage::with_stream_usage(&body).unwrap_or(body);
        }
        Ok(Outgoing {
            suffix,
            body,
            client_headers: true,
        })
    };
    loop {
        let mut up = match exchange::open(gw, session, ctx, &body_for).await {
            Ok(Opened::Answered(up)) => *up,
            Ok(Opened::ClientGone) => {
                ctx.error = Some("client_closed");
                return Ok(());
            }
            Err(e) => return respond::error(session, ctx, &to_api_error(&e)).await,
        };
        let Some(kind) = ctx.backend().map(|b| b.config.kind) else {
            return respond::error(
                session,
                ctx,
                &ApiError::BadGateway {
                    message: "no backend chosen".into(),
                },
            )
            .await;
        };
        if kind == BackendKind::Anthropic {
            let answer = Translated {
                alias: &alias,
                stream: summary.stream,
                include_usage,
            };
            return answer.write(gw, session, ctx, up).await;
        }
        if !(200..300).contains(&up.status) {
            return relay_error(session, ctx, up).await;
        }
        if summary.stream && first_event::errors_inside_streams(kind) {
            match first_event::peek(gw, session, ctx, &mut up).await {
                Peeked::Stream => {}
                Peeked::ClientGone => return Ok(()),
                Peeked::Retry => continue,
                Peeked::Failed { status, event } => {
                    let body = upstream_error::to_openai(status, &event).map_or(event, Bytes::from);
                    let e = BackendError {
                        status: upstream_error::openai_status(status),
                        body: crate::redact::scrub_bytes(body),
                        retry_after: None,
                    };
                    return send_error(session, ctx, e).await;
                }
            }
        }
        let drop_usage = ctx.backend().is_some_and(&asks_usage);
        return relay(gw, session, ctx, up, drop_usage).await;
    }
}

/// An OpenAI backend's error answer, put into OpenAI's envelope when it is in another
/// shape, with its key scrubbed.
async fn relay_error(session: &mut Session, ctx: &mut RequestCtx, mut up: Upstream) -> Result<()> {
    let read = exchange::read_all(&mut up.session, ERROR_BODY_LIMIT).await;
    let body = read.unwrap_or_default();
    let answer = match upstream_error::to_openai(up.status, &body) {
        Some(rewritten) => Bytes::from(rewritten),
        None => body,
    };
    let answer = crate::redact::scrub_bytes(answer);
    send_error(
        session,
        ctx,
        BackendError {
            status: upstream_error::openai_status(up.status),
            body: answer,
            retry_after: up.retry_after,
        },
    )
    .await
}

/// An error answer from a backend, ready for the client.
struct BackendError {
    status: u16,
    body: Bytes,
    retry_after: Option<String>,
}

async fn send_error(session: &mut Session, ctx: &mut RequestCtx, e: BackendError) -> Result<()> {
    ctx.error = Some("upstream_error");
    let mut p = respond::Payload {
        status: e.status,
        body: e.body,
        headers: Vec::new(),
    };
    if let Some(ra) = e.retry_after.filter(|_| matches!(e.status, 429 | 503)) {
        p.headers.push(("retry-after", ra));
    }
    respond::send_payload(session, ctx, p).await
}

/// The backend's response header, cleaned of hop-by-hop fields, for the client.
fn relayed_header(
    session: &Session,
    ctx: &mut RequestCtx,
    up: &Upstream,
) -> Result<ResponseHeader> {
    let mut h = match up.session.response_header() {
        Some(resp) => resp.clone(),
        None => ResponseHeader::build(up.status, Some(4))?,
    };
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "trailer",
        "upgrade",
    ] {
        h.remove_header(name);
    }
    if !session.as_downstream().is_http2() {
        // Chunked, so that a failure can still be reported at the end of the body.
        h.insert_header("transfer-encoding", "chunked")?;
    }
    respond::decorate(session, ctx, &mut h)?;
    ctx.local_status = Some(up.status);
    Ok(h)
}

/// Relays a successful OpenAI answer as it is.
async fn relay(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    up: Upstream,
    drop_usage: bool,
) -> Result<()> {
    let h = relayed_header(session, ctx, &up)?;
    session.write_response_header(Box::new(h), false).await?;
    let mut relay = Relay::openai(&ctx.request_id).dropping_usage_chunks(drop_usage);
    stream_pump::pump(gw, session, ctx, &mut relay, up).await
}

/// An Anthropic answer for an OpenAI client.
struct Translated<'a> {
    alias: &'a str,
    stream: bool,
    include_usage: bool,
}

impl Translated<'_> {
    async fn write(
        &self,
        gw: &Gateway,
        session: &mut Session,
        ctx: &mut RequestCtx,
        mut up: Upstream,
    ) -> Result<()> {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if !(200..300).contains(&up.status) {
            let body = exchange::read_all(&mut up.session, ERROR_BODY_LIMIT)
                .await
                .unwrap_or_default();
            let (status, body) = response::error_to_openai(up.status, &body);
            let body = crate::redact::scrub_bytes(Bytes::from(body));
            return send_error(
                session,
                ctx,
                BackendError {
                    status,
                    body,
                    retry_after: up.retry_after,
                },
            )
            .await;
        }
        if self.stream {
            let mut translator =
                stream::ChunkTranslator::new(self.alias, created, self.include_usage);
            anthropic_answer::write_sse_head(session, ctx).await?;
            return stream_pump::pump(gw, session, ctx, &mut translator, up).await;
        }
        let body = match exchange::read_answer(gw, session, ctx, &mut up).await {
            Ok(body) => body,
            Err(exchange::NoAnswer::ClientGone) => return Ok(()),
            Err(exchange::NoAnswer::Error(e)) => {
                return respond::error(session, ctx, &to_api_error(&e)).await;
            }
        };
        let Ok(message) = serde_json::from_slice::<Value>(&body) else {
            let e = ApiError::BadGateway {
                message: "the Anthropic upstream answered with a body that is not JSON".into(),
            };
            return respond::error(session, ctx, &e).await;
        };
        gw.connector
            .release_http_session(up.session, &up.peer, up.peer.options.idle_timeout)
            .await;
        let completion = response::to_chat_completion(&message, self.alias, created);
        respond::json(session, ctx, 200, &completion).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_failures_map_onto_openai_statuses() {
        let t = |status, kind| to_api_error(&AnthropicError::new(status, kind, "m")).status();
        assert_eq!(t(504, "timeout_error"), 504);
        assert_eq!(t(529, "overloaded_error"), 503);
        assert_eq!(t(400, "invalid_request_error"), 400);
        assert_eq!(t(500, "api_error"), 502);
    }
}
