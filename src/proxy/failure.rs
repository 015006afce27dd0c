//! Failure handling: retry policy, and turning whatever went wrong into an error in the
//! client's dialect. A client never sees Pingora's default error page.

use bytes::Bytes;
use pingora::prelude::{Error, ErrorSource, ErrorType, Session};
use pingora::proxy::{FailToProxy, REQUEST_DEADLINE, SHUTDOWN_CUTOFF};
use pingora_error::RetryType;

use super::ctx::RequestCtx;
use super::response::RETRYABLE_STATUS;
use super::retry::{self, Failure};
use super::upstream::{NO_ADDRESS, NO_ATTEMPT_LEFT, SATURATED};
use crate::api::error::ApiError;
use crate::backends::HealthState;
use crate::proxy::Gateway;

/// Replays after a stale pooled connection, per request: they use up no attempt, so they
/// are bounded on their own.
const STALE_REPLAYS: u32 = 2;

/// `fail_to_connect`: nothing was sent, so trying another deployment is always safe.
pub fn fail_to_connect(gw: &Gateway, ctx: &mut RequestCtx, mut e: Box<Error>) -> Box<Error> {
    gw.metrics.backend_error(error_kind(&e));
    if let Some(backend) = ctx.backend() {
        // Prefer the other deployments until the next probe says otherwise.
        backend
            .shared
            .set_state(HealthState::Down, Some(describe(&e)));
        gw.metrics
            .backends
            .set_state(backend.name(), HealthState::Down);
        backend.note_failure(&gw.metrics, false, None);
    }
    let again = retry::may_retry(ctx, Failure::Connect);
    if again {
        retry::note_retry(&gw.metrics, ctx, Failure::Connect);
    }
    e.set_retry(again);
    e
}

/// `error_while_proxy`: after connecting. Retry only while nothing reached the client
/// (`proxy::retry` decides): on a retryable answer (decided when its status arrived), when
/// the backend reset or closed the connection or timed out before a response header, or
/// when a pooled keep-alive connection turned out to be closed (the same backend is fine
/// again). We hold the body, so a POST is as replayable as a GET.
pub fn error_while_proxy(
    gw: &Gateway,
    session: &Session,
    e: Box<Error>,
    ctx: &mut RequestCtx,
    connection_reused: bool,
) -> Box<Error> {
    let name = ctx.backend().map_or("?", |b| b.name()).to_owned();
    let mut e = e.more_context(format!("backend `{name}`"));
    let nothing_sent = session.response_written().is_none();
    if *e.etype() == SHUTDOWN_CUTOFF || *e.etype() == REQUEST_DEADLINE {
        // Neither is the backend's fault, and no time is left for another attempt.
        e.set_retry(false);
        return e;
    }
    if *e.etype() == RETRYABLE_STATUS {
        // Decided, counted and logged when the status arrived.
        e.set_retry(nothing_sent);
        return e;
    }
    if e.esource() != &ErrorSource::Upstream {
        // The client left or sent something broken: not the backend's doing.
        e.set_retry(false);
        return e;
    }
    gw.metrics.backend_error(error_kind(&e));
    let no_response_yet = ctx.upstream.status.is_none();
    let stale_pooled =
        connection_reused && no_response_yet && matches!(e.retry, RetryType::ReusedOnly);
    if !stale_pooled && let Some(backend) = ctx.backend() {
        backend.note_failure(&gw.metrics, false, None);
    }
    let replays = ctx
        .upstream
        .attempts
        .saturating_sub(ctx.upstream.plan.tried.len() as u32);
    let failure = match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Some(Failure::Timeout),
        _ if is_reset_before_response(&e) => Some(Failure::Reset),
        _ => None,
    };
    let again = if !(nothing_sent && no_response_yet) {
        false
    } else if stale_pooled && replays < STALE_REPLAYS {
        // A stale pooled connection says nothing about the backend: it may be tried again
        // without using up an attempt.
        ctx.upstream.plan.forget_last();
        true
    } else {
        match failure {
            Some(f) if retry::may_retry(ctx, f) => {
                retry::note_retry(&gw.metrics, ctx, f);
                true
            }
            _ => false,
        }
    };
    e.set_retry(again);
    e
}

/// The backend dropped the exchange before any response byte: nothing reached the client,
/// so another deployment can serve the request.
fn is_reset_before_response(e: &Error) -> bool {
    matches!(
        e.etype(),
        ErrorType::ConnectionClosed
            | ErrorType::ReadError
            | ErrorType::WriteError
            | ErrorType::ConnectError
            | ErrorType::H1Error
            | ErrorType::InvalidHTTPHeader
    )
}

/// Bounded label for `backend_errors_total{kind}` and the access log.
pub fn error_kind(e: &Error) -> &'static str {
    match e.etype() {
        ErrorType::ConnectTimedout => "connect_timeout",
        ErrorType::ConnectRefused => "connect_refused",
        ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::BindError
        | ErrorType::SocketError => "connect",
        ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::InvalidCert => "tls",
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => "timeout",
        t if *t == REQUEST_DEADLINE => "timeout",
        t if *t == SATURATED => "overloaded",
        ErrorType::ConnectionClosed => "closed",
        ErrorType::ReadError | ErrorType::WriteError => "io",
        ErrorType::InvalidHTTPHeader | ErrorType::H1Error | ErrorType::H2Error => "protocol",
        t if *t == NO_ADDRESS => "dns",
        t if *t == NO_ATTEMPT_LEFT => "exhausted",
        t if *t == RETRYABLE_STATUS => "overloaded",
        _ => "other",
    }
}

/// The error with its cause, for logs and `/health` (operators' eyes only: it may name
/// the backend's address).
fn describe(e: &Error) -> String {
    match &e.cause {
        Some(cause) => format!("{}: {cause}", e.etype().as_str()),
        None => e.etype().as_str().to_owned(),
    }
}

/// The client-facing error for a failed request, or `None` when the client is gone.
/// Messages name the backend, never its address.
fn client_error(e: &Error, ctx: &RequestCtx, shutting_down: bool) -> Option<ApiError> {
    let backend = ctx
        .backend()
        .map_or_else(|| "?".to_owned(), |b| b.name().to_owned());
    if let ErrorType::HTTPStatus(code) = e.etype() {
        let message = format!("request failed with status {code}");
        return Some(if *code >= 500 {
            ApiError::BadGateway { message }
        } else {
            ApiError::invalid(message)
        });
    }
    if *e.etype() == SHUTDOWN_CUTOFF || (shutting_down && e.esource() == &ErrorSource::Upstream) {
        return Some(ApiError::Unavailable {
            message: "the gateway is shutting down; retry the request".into(),
        });
    }
    match e.esource() {
        ErrorSource::Downstream => match e.etype() {
            ErrorType::ReadTimedout => Some(ApiError::RequestTimeout {
                message: "reading the request".into(),
            }),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError => None,
            other => Some(ApiError::MalformedRequest {
                message: other.as_str().to_owned(),
            }),
        },
        ErrorSource::Internal => Some(ApiError::Internal {
            message: "internal error in the gateway".into(),
        }),
        _ => Some(match e.etype() {
            ErrorType::ReadTimedout | ErrorType::WriteTimedout => ApiError::GatewayTimeout {
                message: format!(
                    "backend `{backend}` did not respond in time ({})",
                    e.etype().as_str()
                ),
            },
            t if *t == SATURATED => {
                let limit = ctx
                    .backend()
                    .and_then(|b| b.slots.as_ref())
                    .map_or(0, |s| s.settings().max);
                ApiError::Saturated {
                    backend,
                    limit,
                    why: if e.to_string().contains("QueueFull") {
                        "full"
                    } else {
                        "not moving"
                    },
                }
            }
            t if *t == REQUEST_DEADLINE => ApiError::GatewayTimeout {
                message: format!(
                    "the request exceeded its total time limit (backend `{backend}`, total_timeout_ms)"
                ),
            },
            ErrorType::ConnectTimedout | ErrorType::TLSHandshakeTimedout => {
                ApiError::GatewayTimeout {
                    message: format!("timed out connecting to backend `{backend}`"),
                }
            }
            t if *t == RETRYABLE_STATUS => ApiError::BadGateway {
                message: format!("every deployment is overloaded (last: backend `{backend}`)"),
            },
            ErrorType::ConnectRefused
            | ErrorType::ConnectNoRoute
            | ErrorType::ConnectError
            | ErrorType::TLSHandshakeFailure
            | ErrorType::InvalidCert => ApiError::BadGateway {
                message: format!(
                    "backend `{backend}` is unreachable ({})",
                    e.etype().as_str()
                ),
            },
            t if *t == NO_ADDRESS => ApiError::BadGateway {
                message: format!("backend `{backend}` address cannot be resolved"),
            },
            t if *t == NO_ATTEMPT_LEFT => ApiError::BadGateway {
                message: format!(
                    "no deployment answered within the retry deadline (last: backend `{backend}`)"
                ),
            },
            other => ApiError::BadGateway {
                message: format!("backend `{backend}` failed ({})", other.as_str()),
            },
        }),
    }
}

/// `fail_to_proxy`: the request is over. Write a dialect error if the response has not
/// started; if a stream already started, end it with an SSE error event (after finishing
/// whatever line the backend left open).
pub async fn fail_to_proxy(
    gw: &Gateway,
    session: &mut Session,
    e: &Error,
    ctx: &mut RequestCtx,
) -> FailToProxy {
    let shutting_down = gw.lifecycle.is_cut_off();
    let Some(err) = client_error(e, ctx, shutting_down) else {
        ctx.error = Some("client_closed");
        return FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
    };
    ctx.error = Some(if *e.etype() == SHUTDOWN_CUTOFF || shutting_down {
        "shutdown"
    } else if e.esource() == &ErrorSource::Upstream || e.esource() == &ErrorSource::Unset {
        error_kind(e)
    } else {
        err.code()
    });
    if let Some(kind) = err.client_fault_kind() {
        ctx.client_fault = Some(kind);
    }
    let payload = super::respond::error_payload(ctx, &err);
    let code = payload.status;
    let written = session.response_written().map(|h| {
        h.headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    });
    match written {
        None => {
            if let Err(write_err) = write_error(session, ctx, payload).await {
                log::debug!(target: "llmgate::access", "could not write error response: {write_err}");
            }
        }
        Some(true) => {
            // An event the usage filter was completing goes out first, as it came.
            let held = ctx
                .upstream
                .usage_dropper
                .as_mut()
                .and_then(crate::api::usage::UsageChunkDropper::finish);
            let mut event = held.map(|h| h.to_vec()).unwrap_or_default();
            ctx.upstream.tail.push(&event);
            event.extend_from_slice(ctx.upstream.tail.terminator());
            event.extend_from_slice(b"data: ");
            event.extend_from_slice(&payload.body);
            event.extend_from_slice(b"\n\n");
            let _ = session
                .write_response_body(Some(Bytes::from(event)), true)
                .await;
        }
        Some(false) => {}
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}

async fn write_error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    p: super::respond::Payload,
) -> pingora::Result<()> {
    // The upstream exchange failed half-way: this connection is not worth reusing.
    session.set_keepalive(None);
    super::respond::send_payload(session, ctx, p).await
}
