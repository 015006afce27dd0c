//! Endpoints the gateway answers itself: probes, metrics, the index, and `/v1/models`.

use pingora::prelude::{Result, Session};
use serde_json::{Value, json};

use super::ctx::RequestCtx;
use super::respond;
use crate::api::error::ApiError;
use crate::api::{Dialect, MODEL_PREFIX, Route, models};
use crate::proxy::Gateway;

/// The body of the 400/405 Pingora answers itself for a request header it cannot parse
/// (or a CONNECT), before any route is known: OpenAI's envelope, the default dialect.
pub fn invalid_request_body(status: u16) -> Vec<u8> {
    let err = match status {
        405 => ApiError::MethodNotAllowed {
            method: "CONNECT".into(),
            path: "this server".into(),
            allowed: "GET or POST",
        },
        _ => ApiError::MalformedRequest {
            message: "the request header could not be parsed (bad syntax, too many or too large headers, or conflicting Content-Length/Transfer-Encoding)".into(),
        },
    };
    err.to_openai_body()
}

/// Serves a local probe route.
pub async fn serve(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    route: Route,
) -> Result<()> {
    match route {
        Route::Livez => respond::json(session, ctx, 200, &json!({"status": "ok"})).await,
        Route::Readyz => readyz(gw, session, ctx).await,
        Route::Health => {
            let body = health(gw, ctx);
            // 503 when nothing can be served: what the earlier gateway's probe meant.
            let code = if body["backend_ok"] == true { 200 } else { 503 };
            respond::json(session, ctx, code, &body).await
        }
        Route::Metrics => metrics(gw, session, ctx).await,
        Route::OpenApi => {
            let doc =
                crate::api::openapi::document(&ctx.rt.served_models(), ctx.rt.keys.is_enabled());
            respond::json(session, ctx, 200, &doc).await
        }
        Route::Docs => {
            let page = bytes::Bytes::from_static(include_bytes!("assets/docs.html"));
            respond::send(session, ctx, 200, "text/html; charset=utf-8", page, &[]).await
        }
        _ => {
            let body = index(ctx);
            respond::json(session, ctx, 200, &body).await
        }
    }
}

async fn readyz(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let (ready, models) = ctx.rt.readiness();
    let draining = gw.lifecycle.is_draining();
    let status = if draining {
        "draining"
    } else if ready {
        "ready"
    } else {
        "not_ready"
    };
    let body = json!({"status": status, "generation": ctx.rt.generation, "models": models});
    let code = if ready && !draining { 200 } else { 503 };
    respond::json(session, ctx, code, &body).await
}

fn health(gw: &Gateway, ctx: &RequestCtx) -> Value {
    let backends: Vec<Value> = ctx
        .rt
        .backends
        .iter()
        .map(|b| {
            let detail = b.shared.detail();
            let last_checked = detail
                .last_checked
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs());
            json!({
                "name": b.config.name,
                "kind": b.profile.display_name,
                "kind_id": serde_json::to_value(b.config.kind).unwrap_or(Value::Null),
                "url": b.config.url.to_string(),
                "state": b.shared.state().as_str(),
                "last_error": detail.last_error,
                "last_checked_unix": last_checked,
                "inflight": b.shared.inflight(),
                "passive": {
                    "consecutive_failures": b.shared.passive.consecutive_failures(),
                    "ejected": b.shared.passive.is_ejected(),
                    "ejected_for_ms": b.shared.passive.ejected_for().map(|d| d.as_millis()),
                    "ejections": b.shared.passive.ejections(),
                },
                "capabilities": b.capabilities.names(),
                "anthropic": match (b.config.anthropic, b.shared.native_anthropic()) {
                    (crate::config::AnthropicMode::Translate, _) | (_, Some(false)) => "translate",
                    (crate::config::AnthropicMode::Native, _) | (_, Some(true)) => "native",
                    (_, None) => "unknown",
                },
            })
        })
        .collect();
    let (ready, models) = ctx.rt.readiness();
    // Usable: at least one served model (or the default backend) has a ready deployment.
    let backend_ok = models.values().any(|r| *r);
    json!({
        "status": match (ready, backend_ok) {
            (true, _) => "ok",
            (false, true) => "degraded",
            (false, false) => "unavailable",
        },
        "backend_ok": backend_ok,
        "models_ready": models,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": gw.metrics.uptime_seconds(),
        "generation": ctx.rt.generation,
        "inflight_requests": gw.lifecycle.inflight(),
        "draining": gw.lifecycle.is_draining(),
        "auth_enabled": ctx.rt.keys.is_enabled(),
        "limits": match &ctx.rt.shared_limits {
            Some(shared) => json!({"backend": "redis", "redis": shared.where_(), "shared": shared.is_up()}),
            None => json!({"backend": "local"}),
        },
        "models": ctx.rt.served_models(),
        "default_backend": ctx.rt.config.default_backend.map(|i| ctx.rt.backends[i].config.name.clone()),
        "backends": backends,
    })
}

async fn metrics(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    if !ctx.rt.config.metrics_enabled {
        let err = ApiError::NotFound {
            method: "GET".into(),
            path: "/metrics (metrics are disabled)".into(),
        };
        return respond::error(session, ctx, &err).await;
    }
    for b in &ctx.rt.backends {
        gw.metrics
            .backends
            .refresh(b.name(), b.shared.passive.is_ejected());
    }
    if let Some(shared) = &ctx.rt.shared_limits {
        gw.metrics.set_limits_shared(shared.is_up());
    }
    let (body, content_type) = gw.metrics.encode(ctx.rt.config.metrics_compat_names);
    respond::send(session, ctx, 200, &content_type, body.into(), &[]).await
}

fn index(ctx: &RequestCtx) -> Value {
    json!({
        "name": "llmgate",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "LLM API gateway: OpenAI-compatible passthrough in front of self-hosted inference runtimes",
        "auth": if ctx.rt.keys.is_enabled() { "Authorization: Bearer <key> or x-api-key" } else { "disabled" },
        "endpoints": {
            "POST /v1/chat/completions": "OpenAI chat completions (JSON or SSE), proxied",
            "POST /v1/completions": "OpenAI text completions, proxied",
            "POST /v1/embeddings": "OpenAI embeddings, proxied",
            "GET /v1/models": "the models this gateway serves (Anthropic's shape with anthropic-version)",
            "GET /v1/models/{model}": "one served model",
            "POST /v1/messages": "Anthropic Messages, translated or forwarded natively",
            "POST /v1/messages/count_tokens": "Anthropic token counting",
            "GET /livez": "liveness: 200 while the process runs",
            "GET /readyz": "readiness: 200 when every model has a ready backend",
            "GET /health": "backend states, version, uptime",
            "GET /metrics": "Prometheus metrics",
            "GET /openapi.json": "the served API as OpenAPI 3.1",
            "GET /docs": "the same, as a page",
            "POST /v1/responses": "OpenAI Responses API, proxied to backends that serve it",
        },
        "models": ctx.rt.served_models(),
    })
}

/// `GET /v1/models` and `GET /v1/models/{id}`: the configured aliases, in the shape of the
/// client's dialect. Returns `false` when nothing is configured and the default backend
/// should answer instead.
pub async fn models(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    path: &str,
) -> Result<bool> {
    let served = ctx.rt.served_models();
    if served.is_empty() && ctx.rt.config.default_backend.is_some() {
        return Ok(false);
    }
    let created = gw.lifecycle.started_unix();
    let anthropic = ctx.dialect() == Dialect::Anthropic;
    let Some(encoded) = path.strip_prefix(MODEL_PREFIX) else {
        let list = if anthropic {
            models::anthropic_list(&served, created)
        } else {
            let described: Vec<_> = served
                .iter()
                .map(|alias| (alias.clone(), ctx.rt.reported_model(alias)))
                .collect();
            models::openai_list(&described, created)
        };
        respond::json(session, ctx, 200, &list).await?;
        return Ok(true);
    };
    let id = models::id_from_path(encoded).unwrap_or_else(|| encoded.to_owned());
    if !served.contains(&id) {
        let err = ApiError::ModelNotFound { model: id, served };
        respond::error(session, ctx, &err).await?;
        return Ok(true);
    }
    let body = if anthropic {
        models::anthropic_model(&id, created)
    } else {
        models::openai_model(&id, ctx.rt.reported_model(&id), created)
    };
    respond::json(session, ctx, 200, &body).await?;
    Ok(true)
}
