//! The Pingora `ProxyHttp` implementation. Each phase is a thin call into the module that
//! owns it; the phases run in the order listed (see docs/architecture.md).

mod access_log;
mod admission;
mod anthropic;
mod anthropic_answer;
mod cors;
mod count_tokens;
pub mod ctx;
mod exchange;
mod failure;
mod first_event;
mod forwarded;
mod local;
mod meter;
mod openai_exchange;
mod request_filter;
mod respond;
mod response;
mod retry;
mod stream_pump;
mod upstream;
mod whole_answer;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::connectors::http::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{Error, HttpPeer, ProxyHttp, Result, Session};
use pingora::proxy::FailToProxy;

use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::runtime::Runtime;
pub use ctx::RequestCtx;

/// The header timeout of a connection that starts waiting while more than
/// `server.max_idle_connections` already do.
const IDLE_SHED_TIMEOUT: Duration = Duration::from_secs(1);

/// What a kept-alive connection carries from one request to the next.
struct KeptAlive;

/// The gateway: shared, hot-swappable runtime plus process-wide metrics and lifecycle.
pub struct Gateway {
    pub runtime: Arc<ArcSwap<Runtime>>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    /// For the gateway's own upstream calls (`/v1/messages`, token counting), pooled.
    pub connector: Arc<Connector>,
    pub token_counts: count_tokens::Cache,
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(self.runtime.load_full())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        match request_filter::run(self, session, ctx).await? {
            request_filter::Outcome::Responded => Ok(true),
            request_filter::Outcome::Proxy => Ok(false),
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        upstream::peer(self, ctx).await
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        e: Box<Error>,
    ) -> Box<Error> {
        failure::fail_to_connect(self, ctx, e)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.meter.upstream_sent();
        upstream::request_header(session, upstream_request, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream::request_body(body, end_of_stream, ctx);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        response::upstream_response(self, upstream_response, ctx)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        response::response_header(session, upstream_response, ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        response::response_body(body, end_of_stream, ctx);
        Ok(None)
    }

    fn error_while_proxy(
        &self,
        _peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        failure::error_while_proxy(self, session, e, ctx, client_reused)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        failure::fail_to_proxy(self, session, e, ctx).await
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _e: &Error) -> bool {
        // A client that went away is routine, and the access log records it.
        ctx.error == Some("client_closed")
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        _ctx: &RequestCtx,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        // Marks a kept-alive connection, so its next request header may first wait out
        // the idle time (see `request_header_timeout`). A zero-sized box: no allocation.
        Some(Box::new(KeptAlive))
    }

    fn request_header_timeout(
        &self,
        keepalive_secs: Option<u64>,
        waiting: usize,
    ) -> Option<Duration> {
        let server = &self.runtime.load().config.server;
        if waiting > server.max_idle_connections {
            // Too many connections hold a slot without a request: new waits (and so idle
            // kept-alive connections) get a short fuse, as nginx sheds reusable
            // connections when it runs out of them.
            return Some(server.client_header_timeout.min(IDLE_SHED_TIMEOUT));
        }
        // A reused connection may first sit idle for its keep-alive time.
        let idle = Duration::from_secs(keepalive_secs.unwrap_or(0));
        Some(server.client_header_timeout + idle)
    }

    fn invalid_request_body(&self, status: u16) -> Option<Bytes> {
        Some(Bytes::from(local::invalid_request_body(status)))
    }

    fn exchange_deadline(&self, ctx: &RequestCtx) -> Option<std::time::Instant> {
        ctx.deadline()
    }

    fn shutdown_cutoff(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.lifecycle.cutoff_signal())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        access_log::record(self, session, e, ctx);
    }
}
