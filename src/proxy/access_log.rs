//! The `logging` phase: one access-log line and the request metrics, for every request
//! however it ended. Bodies appear only with `log_prompts: true`; keys never do (the
//! target is logged with credential parameters masked).
//!
//! A request whose task panicked never reaches the `logging` phase; its context still
//! drops, and `RequestCtx`'s `Drop` writes the line through [`record_abandoned`].

use pingora::prelude::{Error, ErrorSource, ErrorType, Session};

use super::ctx::RequestCtx;
use super::failure::error_kind;
use crate::proxy::Gateway;

const LOGGED_BODY_LIMIT: usize = 16 * 1024;

/// The access log's target, which `RUST_LOG` can filter.
const ACCESS: &str = "llmgate::access";

/// nginx's status for a client that closed the connection before the response was
/// complete; never sent, only logged and counted.
pub const CLIENT_CLOSED_STATUS: u16 = 499;

/// A logged body (only with `log_prompts: true`), secrets masked like every log line.
fn body_text(bytes: Option<&[u8]>) -> String {
    let text = bytes
        .map(|b| String::from_utf8_lossy(&b[..b.len().min(LOGGED_BODY_LIMIT)]).into_owned())
        .unwrap_or_default();
    match crate::redact::scrub(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

/// Whether `e` says the client went away (as opposed to sending something malformed).
pub fn is_client_gone(e: &Error) -> bool {
    e.esource() == &ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
        )
}

pub fn record(gw: &Gateway, session: &Session, e: Option<&Error>, ctx: &mut RequestCtx) {
    if ctx.error.is_none() {
        ctx.error = e.map(|e| {
            if is_client_gone(e) {
                "client_closed"
            } else {
                error_kind(e)
            }
        });
    }
    let written = session
        .response_written()
        .map(|r| r.status.as_u16())
        .or(ctx.local_status);
    let status = if ctx.error == Some("client_closed") {
        if ctx.response_complete {
            // Every byte was handed over; a client closing after `[DONE]` cancelled nothing.
            ctx.error = None;
            written.unwrap_or(0)
        } else {
            gw.metrics.client_cancelled();
            CLIENT_CLOSED_STATUS
        }
    } else {
        written.unwrap_or(0)
    };
    if let Some(kind) = ctx.client_fault {
        gw.metrics.client_error(kind);
    }
    let method = session.req_header().method.as_str();
    let elapsed = ctx.started.elapsed();
    gw.metrics.observe_request(
        method,
        ctx.route().template(),
        status,
        elapsed.as_secs_f64(),
    );
    super::meter::record(gw, ctx, status);
    let target = session
        .req_header()
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str());
    write_line(ctx, method, target, status);
    ctx.logged = true;
}

/// The line for a request whose `logging` phase never ran (its task panicked).
pub fn record_abandoned(ctx: &RequestCtx) {
    let error = if std::thread::panicking() {
        "panic"
    } else {
        "abandoned"
    };
    log::error!(target: "llmgate::access",
        request_id = ctx.request_id.as_str(), status = 500u16, error,
        duration_ms = elapsed_tenths(ctx) as f64 / 10.0, route = ctx.route().template(),
        backend = ctx.backend().map_or("-", |b| b.name()),
        model = ctx.client.summary.model.as_deref().unwrap_or("-"),
        attempts = ctx.upstream.attempts; "request ended without a response");
}

/// The request's duration so far, in tenths of a millisecond.
fn elapsed_tenths(ctx: &RequestCtx) -> u64 {
    (ctx.started.elapsed().as_secs_f64() * 10_000.0).round() as u64
}

fn write_line(ctx: &RequestCtx, method: &str, target: &str, status: u16) {
    use crate::logging::json_line::{self, Field};
    // The query is logged too (Claude Code's `/v1/messages?beta=true` shows which client
    // flavour called), with credential parameters masked.
    let target = &target[..target.floor_char_boundary(256)];
    let path = crate::redact::target_for_log(target);
    let line = [
        ("request_id", Field::Str(&ctx.request_id)),
        ("method", Field::Str(method)),
        ("path", Field::Str(&path)),
        ("status", Field::Int(status.into())),
        ("duration_ms", Field::Tenths(elapsed_tenths(ctx))),
        (
            "backend",
            Field::Str(ctx.backend().map_or("-", |b| b.name())),
        ),
        (
            "model",
            Field::Str(ctx.client.summary.model.as_deref().unwrap_or("-")),
        ),
        (
            "key_id",
            Field::Str(ctx.client.key_id.as_deref().unwrap_or("-")),
        ),
        (
            "upstream_status",
            Field::Int(ctx.upstream.status.unwrap_or(0).into()),
        ),
        ("attempts", Field::Int(ctx.upstream.attempts.into())),
        ("error", Field::Str(ctx.error.unwrap_or("-"))),
    ];
    if ctx.rt.config.logging.log_prompts {
        let request_body = body_text(ctx.client.body.as_deref());
        let response_body = body_text(ctx.captured_response.as_deref());
        let mut with_bodies = line.to_vec();
        with_bodies.push(("request_body", Field::Str(&request_body)));
        with_bodies.push(("response_body", Field::Str(&response_body)));
        json_line::log(log::Level::Info, ACCESS, "request", &with_bodies);
    } else {
        json_line::log(log::Level::Info, ACCESS, "request", &line);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use log::kv::{Key, Value, VisitSource};

    use super::*;
    use crate::config::{Config, ConfigSource};
    use crate::runtime::Runtime;

    /// Collects `llmgate::access` records as `key=value` text.
    struct Collect(Mutex<Vec<String>>);

    impl log::Log for Collect {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            struct Fields(String);
            impl<'kvs> VisitSource<'kvs> for Fields {
                fn visit_pair(
                    &mut self,
                    k: Key<'kvs>,
                    v: Value<'kvs>,
                ) -> Result<(), log::kv::Error> {
                    self.0.push_str(&format!("{k}={v} "));
                    Ok(())
                }
            }
            if record.target() == "llmgate::access" {
                let mut f = Fields(String::new());
                let _ = record.key_values().visit(&mut f);
                if let Ok(mut lines) = self.0.lock() {
                    lines.push(f.0);
                }
            }
        }
        fn flush(&self) {}
    }

    #[test]
    fn a_request_whose_task_panics_still_gets_its_access_line() {
        static LOGGER: Collect = Collect(Mutex::new(Vec::new()));
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Info);
        let cfg = Config::from_yaml_str(
            "backends: [{name: d, kind: vllm, url: 'http://127.0.0.1:9/v1'}]\ndefault_backend: d\n",
            ConfigSource::Environment,
            Box::new(|_| None),
        )
        .expect("config");
        let mut ctx = RequestCtx::new(Arc::new(Runtime::build(cfg, 1, None)));
        ctx.request_id = "doomed-1".into();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _owned = ctx;
            panic!("a bug in a proxy phase");
        }));
        assert!(outcome.is_err());
        let lines = LOGGER.0.lock().expect("lock").clone();
        let line = lines
            .iter()
            .find(|l| l.contains("request_id=doomed-1"))
            .unwrap_or_else(|| panic!("no access line in {lines:?}"));
        assert!(
            line.contains("status=500") && line.contains("error=panic"),
            "{line}"
        );
    }
}
