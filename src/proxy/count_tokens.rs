//! `POST /v1/messages/count_tokens`: exact when the backend can tokenize (vLLM `/tokenize`,
//! llama.cpp `/apply-template` + `/tokenize`), else the spec's estimate. The response says
//! which in `x-llmgate-token-count: exact|estimate`. Results are cached by a hash of the
//! backend, model and body, because Claude Code counts the same conversation in bursts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use pingora::prelude::{Result, Session};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::anthropic::profile_for;
use super::ctx::RequestCtx;
use super::respond;
use crate::api::Capability;
use crate::api::anthropic::count::{self, exact};
use crate::api::anthropic::request::{self, Endpoint, Normalized};
use crate::backends::Backend;
use crate::backends::client::{self, Call};
use crate::config::BackendKind;
use crate::proxy::Gateway;
use crate::routing;

/// Beyond this many entries the cache starts over (counts are cheap to redo).
const CACHE_ENTRIES: usize = 4096;
/// The exact path must answer within this, or the estimate is used.
const EXACT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub struct Cache(Mutex<HashMap<[u8; 32], (u64, bool)>>);

impl Cache {
    fn get(&self, key: &[u8; 32]) -> Option<(u64, bool)> {
        self.0.lock().ok()?.get(key).copied()
    }

    fn put(&self, key: [u8; 32], value: (u64, bool)) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHE_ENTRIES {
                map.clear();
            }
            map.insert(key, value);
        }
    }
}

pub async fn serve(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let Some(req) = super::anthropic::read_request(session, ctx, Endpoint::CountTokens).await?
    else {
        return Ok(());
    };
    let opts = ctx.rt.config.anthropic.options;
    let body = ctx.client.body.clone().unwrap_or_default();
    let candidates = match routing::resolve(&ctx.rt, Some(&req.model), &[Capability::Chat]) {
        Ok(c) => c,
        Err(e) => return respond::error(session, ctx, &e).await,
    };
    let rt = std::sync::Arc::clone(&ctx.rt);
    let Some(pick) = routing::choose(&rt, &candidates, &[]) else {
        return respond::error(
            session,
            ctx,
            &crate::api::error::ApiError::Internal {
                message: "no deployment".into(),
            },
        )
        .await;
    };
    let candidate = &candidates[pick];
    let backend = &rt.backends[candidate.backend];
    ctx.upstream.current = Some(candidate.backend);
    let model = candidate
        .upstream_model
        .clone()
        .unwrap_or_else(|| req.model.clone());

    let mut hasher = Sha256::new();
    hasher.update(backend.name().as_bytes());
    hasher.update([0]);
    hasher.update(model.as_bytes());
    hasher.update([0]);
    hasher.update(&body);
    let key: [u8; 32] = hasher.finalize().into();
    let (tokens, is_exact) = match gw.token_counts.get(&key) {
        Some(hit) => hit,
        None => {
            let counted = match exact_count(gw, backend, &req, &model, &opts).await {
                Some(n) => (n, true),
                None => (count::heuristic(&req), false),
            };
            gw.token_counts.put(key, counted);
            counted
        }
    };
    let body = Bytes::from(json!({"input_tokens": tokens}).to_string());
    let how = if is_exact { "exact" } else { "estimate" };
    respond::send(
        session,
        ctx,
        200,
        "application/json",
        body,
        &[("x-llmgate-token-count", how.to_owned())],
    )
    .await
}

async fn post(gw: &Gateway, backend: &Backend, path: &str, body: &Value) -> Option<Value> {
    let addr = backend.ensure_addr().await?;
    let peer = backend.peer(addr);
    let host = backend.config.url.authority();
    let call = Call {
        method: "POST",
        path,
        host: &host,
        auth: backend.auth_headers().collect(),
        body: Some(Bytes::from(body.to_string())),
        timeout: EXACT_TIMEOUT,
        max_body: 8 * 1024 * 1024,
    };
    match client::send(&gw.connector, &peer, call).await {
        Ok(reply) if (200..300).contains(&reply.status) => serde_json::from_slice(&reply.body).ok(),
        Ok(reply) => {
            log::debug!(target: "llmgate::anthropic", "count_tokens: {path} answered {}", reply.status);
            None
        }
        Err(e) => {
            log::debug!(target: "llmgate::anthropic", "count_tokens: {path} failed: {e}");
            None
        }
    }
}

/// The backend's own count, when it has a tokenizer endpoint and it answers in time.
async fn exact_count(
    gw: &Gateway,
    backend: &Backend,
    req: &Normalized,
    model: &str,
    opts: &crate::api::anthropic::Options,
) -> Option<u64> {
    if backend.serves_anthropic_natively() {
        let path = format!("{}/messages/count_tokens", backend.config.url.base_path);
        let reply = post(gw, backend, &path, &request::to_native(req, model)).await?;
        return reply["input_tokens"].as_u64();
    }
    if !backend.capabilities.tokenize {
        return None;
    }
    let openai = request::to_openai(req, model, &profile_for(backend), opts).ok()?;
    let root = exact::root_path(&backend.config.url.base_path).to_owned();
    let at = |path: &str| format!("{root}{path}");
    match backend.config.kind {
        BackendKind::Vllm => {
            let reply = post(
                gw,
                backend,
                &at("/tokenize"),
                &exact::vllm_tokenize(&openai),
            )
            .await?;
            reply["count"].as_u64()
        }
        BackendKind::Llamacpp => {
            let template = exact::llamacpp_apply_template(&openai);
            let rendered = post(gw, backend, &at("/apply-template"), &template).await?;
            let tokenize = exact::llamacpp_tokenize(rendered["prompt"].as_str()?);
            let reply = post(gw, backend, &at("/tokenize"), &tokenize).await?;
            reply["tokens"].as_array().map(|t| t.len() as u64)
        }
        // SGLang renders messages and tools itself: {messages, tools} -> {"count": N}.
        BackendKind::Sglang => {
            let reply = post(
                gw,
                backend,
                &at("/v1/tokenize"),
                &exact::sglang_tokenize(&openai),
            )
            .await?;
            reply["count"].as_u64()
        }
        // TGI applies the template to a chat body: {"tokenize_response": [...]}.
        BackendKind::Tgi => {
            let reply = post(gw, backend, &at("/chat_tokenize"), &openai).await?;
            reply["tokenize_response"]
                .as_array()
                .map(|t| t.len() as u64)
        }
        _ => None,
    }
}
