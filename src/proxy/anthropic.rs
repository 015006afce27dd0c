//! `/v1/messages` and `/v1/messages/count_tokens`: the Anthropic protocol terminates here.
//!
//! The exchange with the backend runs in `request_filter` rather than through Pingora's
//! proxy loop, because a streamed answer must be able to write without an upstream chunk:
//! `message_start` and a `ping` as soon as the backend accepts, more pings while it is
//! silent during a long prefill, and an `error` event if it fails later. Pingora's body
//! filters run only when upstream bytes arrive. The translation itself is the pure
//! [`StreamTranslator`], fed chunk by chunk; each translated event is written (and so
//! flushed) as soon as its upstream bytes arrive (`anthropic_answer.rs` writes streams).

use bytes::Bytes;
use pingora::prelude::{Result, Session};
use serde_json::json;

use super::anthropic_answer as answer;
use super::ctx::RequestCtx;
use super::exchange::{self, Opened, Outgoing};
use super::first_event::{self, Peeked};
use super::{request_filter, respond};
use crate::api::Capability;
use crate::api::anthropic::error::from_upstream_for;
use crate::api::anthropic::request::{self, Endpoint, Normalized};
use crate::api::anthropic::stream::{StreamTranslator, random_ids};
use crate::api::anthropic::{Flavor, Profile, response};
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
        send_top_k: !matches!(
            backend.config.kind,
            BackendKind::Openai | BackendKind::Tgi | BackendKind::Azure | BackendKind::AzureAi
        ),
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
    if req.has_tools() {
        needs.push(Capability::Tools);
    }
    match routing::resolve(&ctx.rt, Some(&req.model), &needs) {
        Ok(c) => ctx.upstream.candidates = c,
        Err(e) => return respond::error(session, ctx, &e).await,
    }
    if req.max_tokens == Some(0) {
        return zero_max_tokens(session, ctx, &req).await;
    }
    // The prompt estimate only matters to token budgets; it walks every schema.
    let input = match ctx.rt.token_budgets {
        Some(_) => crate::api::anthropic::count::heuristic(&req),
        None => 0,
    };
    if let Err(e) = super::admission::admit(gw, ctx, req.stream, input, req.max_tokens).await {
        return respond::error(session, ctx, &e).await;
    }
    let opts = ctx.rt.config.anthropic.options;
    let raw = ctx.client.body.clone().unwrap_or_default();
    let to_anthropic = ctx
        .upstream
        .candidates
        .iter()
        .any(|c| ctx.rt.backends[c.backend].config.kind == BackendKind::Anthropic);
    // Where `model` stands in the client's bytes, for the splice (the body is valid JSON:
    // it was parsed already).
    let raw_summary = if to_anthropic {
        crate::api::openai::inspect(&raw).unwrap_or_default()
    } else {
        crate::api::openai::RequestSummary::default()
    };
    let body_for = |c: &routing::Candidate, b: &Backend| {
        let model = c.upstream_model.as_deref().unwrap_or(&req.model);
        if b.config.kind == BackendKind::Anthropic {
            // Anthropic itself gets the client's bytes, only `model` replaced: prompt
            // caching (`cache_control`), thinking and every field it adds stay intact.
            let body = crate::api::openai::with_model(&raw, &raw_summary, model);
            return Ok(Outgoing::built("/messages", body));
        }
        if b.serves_anthropic_natively() {
            let body = request::compact_bytes(&request::to_native(&req, model));
            return Ok(Outgoing::built("/messages", body));
        }
        let openai = request::to_openai(&req, model, &profile_for(b), &opts)?;
        Ok(Outgoing::built(
            "/chat/completions",
            request::compact_bytes(&openai),
        ))
    };
    let mut up = loop {
        let mut up = match exchange::open(gw, session, ctx, &body_for).await {
            Ok(Opened::Answered(up)) => up,
            Ok(Opened::ClientGone) => {
                ctx.error = Some("client_closed");
                return Ok(());
            }
            Err(e) => return respond::anthropic_error(session, ctx, &e).await,
        };
        let peeks = ctx.backend().is_some_and(|b| {
            !b.serves_anthropic_natively() && first_event::errors_inside_streams(b.config.kind)
        });
        if !(req.stream && peeks && (200..300).contains(&up.status)) {
            break up;
        }
        match first_event::peek(gw, session, ctx, &mut up).await {
            Peeked::Stream => break up,
            Peeked::ClientGone => return Ok(()),
            Peeked::Retry => {}
            Peeked::Failed { status, event } => {
                let estimate = crate::api::anthropic::count::heuristic(&req);
                let e =
                    from_upstream_for(status, &crate::redact::scrub_bytes(event), Some(estimate));
                return respond::anthropic_error(session, ctx, &e).await;
            }
        }
    };
    let native = ctx
        .backend()
        .is_some_and(Backend::serves_anthropic_natively);
    if native && (200..300).contains(&up.status) {
        return answer::passthrough(gw, session, ctx, *up).await;
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
        answer::stream(gw, session, ctx, &req, *up).await
    } else {
        let body = match exchange::read_answer(gw, session, ctx, &mut up).await {
            Ok(body) => body,
            Err(exchange::NoAnswer::ClientGone) => return Ok(()),
            Err(exchange::NoAnswer::Error(e)) => {
                return respond::anthropic_error(session, ctx, &e).await;
            }
        };
        let translated = response::to_anthropic(&req, &body);
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
    answer::write_sse_head(session, ctx).await?;
    session
        .write_response_body(Some(Bytes::from(out)), true)
        .await
}
