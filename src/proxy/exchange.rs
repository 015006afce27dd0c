//! The gateway's own upstream calls for `/v1/messages`: connect to the model's deployment,
//! send a body built for that deployment, and hand back the upstream once its response
//! header has arrived. Failover follows the proxy's rules: another deployment after a
//! refused connection or an overload answer, never after bytes reached the client.

use std::sync::Arc;

use bytes::Bytes;
use pingora::http::RequestHeader;
use pingora::prelude::{HttpPeer, Session};
use pingora::protocols::http::client::HttpSession;

use super::ctx::RequestCtx;
use super::retry::{self, Failure};
pub use super::whole_answer::{NoAnswer, read_all, read_answer};
use crate::api::anthropic::AnthropicError;
use crate::backends::{Backend, HealthState};
use crate::config::BackendKind;
use crate::proxy::Gateway;
use crate::routing::Candidate;

/// A backend answering: its response header has arrived.
pub struct Upstream {
    pub session: HttpSession,
    pub peer: HttpPeer,
    pub status: u16,
    pub retry_after: Option<String>,
    /// Body bytes already read (the first event of a stream, see `first_event`), to be
    /// delivered before the rest.
    pub peeked: Option<Bytes>,
}

/// The request for one deployment.
pub struct Outgoing {
    /// The API path below the backend's base URL (`/messages`, `/chat/completions`).
    pub suffix: &'static str,
    pub body: Bytes,
    /// Send the client's own headers, cleaned as the proxy cleans them (an OpenAI request
    /// relayed as it is), rather than a fresh set (a body the gateway wrote).
    pub client_headers: bool,
}

impl Outgoing {
    /// A body the gateway wrote, with a fresh set of headers.
    pub fn built(suffix: &'static str, body: Bytes) -> Outgoing {
        Outgoing {
            suffix,
            body,
            client_headers: false,
        }
    }
}

/// Builds the request for a deployment.
pub type BodyFor<'a> = dyn Fn(&Candidate, &Backend) -> Result<Outgoing, AnthropicError> + Sync + 'a;

/// What became of the attempt to reach a backend.
pub enum Opened {
    Answered(Box<Upstream>),
    /// The client went away while we waited; nothing more to do.
    ClientGone,
}

/// Why a wait ended before its future did.
pub enum Interrupted {
    /// The client closed its connection.
    ClientGone,
    /// The shutdown grace period is over.
    CutOff,
    /// The request's total time limit (`total_timeout_ms`) passed.
    Deadline,
}

/// Sleeps until `deadline`; never wakes without one.
pub async fn until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending::<()>().await,
    }
}

/// Waits for `fut` unless the client closes its connection, the gateway's shutdown grace
/// period ends, or the request's `deadline` passes first.
pub async fn unless_interrupted<T>(
    gw: &Gateway,
    session: &mut Session,
    deadline: Option<std::time::Instant>,
    fut: impl Future<Output = T>,
) -> Result<T, Interrupted> {
    tokio::select! {
        v = fut => Ok(v),
        _ = session.as_downstream_mut().read_body_or_idle(true) => Err(Interrupted::ClientGone),
        _ = gw.lifecycle.until_cut_off() => Err(Interrupted::CutOff),
        () = until(deadline) => Err(Interrupted::Deadline),
    }
}

/// The error a request cut off by shutdown ends with: overloaded, which the Anthropic
/// SDKs retry (on another replica, behind a load balancer).
pub fn shutdown_error() -> AnthropicError {
    AnthropicError::new(
        529,
        "overloaded_error",
        "the gateway is shutting down; retry the request",
    )
}

/// The error a request ends with when its total time limit passes.
pub fn deadline_error() -> AnthropicError {
    AnthropicError::new(
        504,
        "timeout_error",
        "the request exceeded its total time limit (total_timeout_ms)",
    )
}

fn request_header(
    session: &Session,
    backend: &Backend,
    candidate: &Candidate,
    out: &Outgoing,
    ctx: &mut RequestCtx,
) -> pingora::Result<RequestHeader> {
    if out.client_headers {
        let mut req = session.req_header().clone();
        ctx.upstream.path_suffix = std::borrow::Cow::Borrowed(out.suffix);
        ctx.upstream.body = Some(out.body.clone());
        super::upstream::request_header(session, &mut req, ctx)?;
        // The answer may be read here (an error event at the start of a stream): it must
        // not be compressed.
        req.insert_header("accept-encoding", "identity")?;
        return Ok(req);
    }
    let len = out.body.len();
    let path = backend.request_target(out.suffix, candidate.upstream_model.as_deref(), None);
    let mut req = RequestHeader::build("POST", path.as_bytes(), Some(8))?;
    backend.insert_host(&mut req)?;
    req.insert_header("content-type", "application/json")?;
    req.insert_header("content-length", len)?;
    req.insert_header("accept", "application/json, text/event-stream")?;
    // We parse the answer: it must not be compressed.
    req.insert_header("accept-encoding", "identity")?;
    req.insert_header("user-agent", concat!("llmgate/", env!("CARGO_PKG_VERSION")))?;
    req.insert_header("x-request-id", ctx.request_id.as_str())?;
    super::forwarded::apply(session, &mut req, &ctx.rt.config.server.trusted_proxies)?;
    for (name, value) in &backend.auth_header_values {
        req.insert_header(*name, value.clone())?;
    }
    if backend.config.kind == BackendKind::Anthropic
        && let Some(beta) = session.req_header().headers.get("anthropic-beta")
    {
        // Beta features the client opted into (Claude Code sends several); only Anthropic
        // itself knows them.
        req.insert_header("anthropic-beta", beta.clone())?;
    }
    Ok(req)
}

fn unavailable(backend: &Backend, e: &pingora::Error) -> AnthropicError {
    AnthropicError::new(
        529,
        "overloaded_error",
        format!(
            "upstream unavailable: backend `{}`: {}",
            backend.name(),
            e.etype().as_str()
        ),
    )
}

/// Sends `body_for(candidate)`, which also names the path below the backend's base URL,
/// to the best deployment, failing over as the proxy does.
///
/// # Errors
/// The Anthropic error to answer when no deployment could be reached, or one timed out.
pub async fn open(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    body_for: &BodyFor<'_>,
) -> Result<Opened, AnthropicError> {
    let rt = Arc::clone(&ctx.rt);
    let mut last_error = AnthropicError::new(
        529,
        "overloaded_error",
        "upstream unavailable: no deployment to try",
    );
    let mut stale_retries = 0;
    loop {
        let Some((pick, wait)) = retry::next_attempt(&gw.metrics, ctx) else {
            return Err(last_error);
        };
        if !wait.is_zero() {
            match unless_interrupted(gw, session, ctx.deadline(), tokio::time::sleep(wait)).await {
                Ok(()) => {}
                Err(Interrupted::ClientGone) => return Ok(Opened::ClientGone),
                Err(Interrupted::CutOff) => return Err(shutdown_error()),
                Err(Interrupted::Deadline) => return Err(deadline_error()),
            }
        }
        let candidate = ctx.upstream.candidates[pick.index].clone();
        let backend = &rt.backends[candidate.backend];
        ctx.upstream.current = Some(candidate.backend);
        ctx.upstream.status = None;
        ctx.upstream.attempts += 1;
        ctx.guards.slot = None;
        if let Some(slots) = &backend.slots {
            let waited = unless_interrupted(
                gw,
                session,
                ctx.deadline(),
                slots.acquire_for(
                    backend.name(),
                    &gw.metrics.inference.queued,
                    rt.shared_limits.as_ref(),
                ),
            )
            .await;
            match waited {
                Ok(Ok(permit)) => ctx.guards.slot = Some(permit),
                Ok(Err(why)) => {
                    ctx.error = Some("overloaded");
                    return Err(AnthropicError::new(
                        529,
                        "overloaded_error",
                        format!(
                            "backend `{}` is serving its maximum of {} requests ({why:?}); retry shortly",
                            backend.name(),
                            slots.settings().max
                        ),
                    ));
                }
                Err(Interrupted::ClientGone) => return Ok(Opened::ClientGone),
                Err(Interrupted::CutOff) => return Err(shutdown_error()),
                Err(Interrupted::Deadline) => return Err(deadline_error()),
            }
        }
        ctx.guards.backend = Some(backend.track_inflight());
        let outgoing = body_for(&candidate, backend)?;
        let Some(addr) = backend.ensure_addr().await else {
            gw.metrics.backend_error("dns");
            last_error = AnthropicError::new(
                529,
                "overloaded_error",
                format!(
                    "upstream unavailable: cannot resolve `{}`",
                    backend.config.url.host
                ),
            );
            continue;
        };
        let peer = backend.peer(addr);
        let (mut up, reused) = match gw.connector.get_http_session(&peer).await {
            Ok(s) => s,
            Err(e) => {
                gw.metrics.backend_error(super::failure::error_kind(&e));
                backend
                    .shared
                    .set_state(HealthState::Down, Some(e.etype().as_str().to_owned()));
                gw.metrics
                    .backends
                    .set_state(backend.name(), HealthState::Down);
                backend.note_failure(&gw.metrics, false, None);
                last_error = unavailable(backend, &e);
                if !retry::may_retry(ctx, Failure::Connect) {
                    return Err(last_error);
                }
                retry::note_retry(&gw.metrics, ctx, Failure::Connect);
                continue;
            }
        };
        up.set_read_timeout(Some(backend.config.read_timeout));
        up.set_write_timeout(Some(backend.config.write_timeout));
        let header = request_header(session, backend, &candidate, &outgoing, ctx)
            .map_err(|e| AnthropicError::api(e.to_string()))?;
        ctx.meter.upstream_sent();
        let sent = async {
            up.write_request_header(Box::new(header)).await?;
            up.write_request_body(outgoing.body, true).await?;
            up.finish_request_body().await?;
            up.read_response_header().await
        };
        let deadline = ctx.deadline();
        let outcome = match unless_interrupted(gw, session, deadline, sent).await {
            Err(Interrupted::ClientGone) => return Ok(Opened::ClientGone),
            Err(Interrupted::CutOff) => return Err(shutdown_error()),
            Err(Interrupted::Deadline) => return Err(deadline_error()),
            Ok(r) => r,
        };
        if let Err(e) = outcome {
            gw.metrics.backend_error(super::failure::error_kind(&e));
            if reused && stale_retries < 1 {
                // A pooled keep-alive connection the backend had closed: try it afresh,
                // without using up an attempt.
                stale_retries += 1;
                ctx.upstream.plan.forget_last();
                continue;
            }
            // A reset or a timeout before the response header: the backend's fault. A
            // reset goes on to the next deployment, as a refused connection does; a
            // timeout too when retries or fallbacks are configured.
            backend.note_failure(&gw.metrics, false, None);
            let failure = if matches!(
                e.etype(),
                pingora::ErrorType::ReadTimedout | pingora::ErrorType::WriteTimedout
            ) {
                last_error = AnthropicError::new(
                    504,
                    "timeout_error",
                    format!("backend `{}` did not respond in time", backend.name()),
                );
                Failure::Timeout
            } else {
                last_error = unavailable(backend, &e);
                Failure::Reset
            };
            if !retry::may_retry(ctx, failure) {
                return Err(last_error);
            }
            retry::note_retry(&gw.metrics, ctx, failure);
            continue;
        }
        let Some(resp) = up.response_header() else {
            last_error = AnthropicError::api("upstream sent no response header");
            continue;
        };
        let status = resp.status.as_u16();
        let retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        gw.metrics.upstream_response(backend.name(), status);
        backend.note_status(&gw.metrics, status, retry_after.as_deref());
        ctx.upstream.status = Some(status);
        if status >= 429 && retry::may_retry(ctx, Failure::Status(status)) {
            ctx.upstream.retry_after =
                crate::backends::passive::retry_after(retry_after.as_deref());
            retry::note_retry(&gw.metrics, ctx, Failure::Status(status));
            last_error = AnthropicError::new(
                529,
                "overloaded_error",
                format!("backend `{}` answered {status}", backend.name()),
            );
            continue;
        }
        if (200..300).contains(&status) {
            ctx.meter.answer_started(ctx.client.summary.stream);
        }
        return Ok(Opened::Answered(Box::new(Upstream {
            session: up,
            peer,
            status,
            retry_after,
            peeked: None,
        })));
    }
}
