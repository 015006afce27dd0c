//! What one inference request measures for the metrics: when it went upstream, when its
//! first generated token and its last upstream byte arrived, and the usage its backend
//! reported (`api::usage::Scanner` over the upstream bytes, whatever the path: proxied,
//! relayed or translated). Turned into `metrics::inference` series when the request ends.

use std::time::Instant;

use crate::api::usage::{self, Scanner};
use crate::metrics::inference::{self, Labels, Observed};
use crate::proxy::Gateway;

use super::ctx::RequestCtx;

#[derive(Debug, Default)]
pub struct Meter {
    /// Set for inference answers worth scanning (a 2xx from a backend).
    scanner: Option<Scanner>,
    stream: bool,
    upstream_sent: Option<Instant>,
    first_token: Option<Instant>,
    last_byte: Option<Instant>,
}

impl Meter {
    /// The request is about to go upstream (the first attempt counts).
    pub fn upstream_sent(&mut self) {
        self.upstream_sent.get_or_insert_with(Instant::now);
    }

    /// A successful answer starts: its bytes will be scanned.
    pub fn answer_started(&mut self, stream: bool) {
        self.scanner = Some(Scanner::default());
        self.stream = stream;
    }

    /// A chunk of the upstream answer arrived.
    pub fn upstream_chunk(&mut self, chunk: &[u8]) {
        let Some(scanner) = self.scanner.as_mut() else {
            return;
        };
        let now = Instant::now();
        self.last_byte = Some(now);
        scanner.push(chunk);
        if self.stream && self.first_token.is_none() && usage::carries_token(chunk) {
            self.first_token = Some(now);
        }
    }

    fn observed(&self, started: Instant, ended: Instant) -> Observed {
        let usage = self.scanner.as_ref().and_then(Scanner::usage);
        let time_to_first_token = self
            .first_token
            .map(|t| t.duration_since(started).as_secs_f64());
        let time_per_output_token = match (self.first_token, self.last_byte, usage) {
            (Some(first), Some(last), Some(u)) if u.output > 1 => {
                Some(last.duration_since(first).as_secs_f64() / (u.output - 1) as f64)
            }
            _ => None,
        };
        let gateway_overhead = self.upstream_sent.map(|sent| {
            let before = sent.duration_since(started);
            let after = self
                .last_byte
                .map_or_else(Default::default, |l| ended.duration_since(l));
            (before + after).as_secs_f64()
        });
        Observed {
            usage,
            seconds: ended.duration_since(started).as_secs_f64(),
            time_to_first_token,
            time_per_output_token,
            gateway_overhead,
        }
    }
}

/// Records a finished inference request (routes that reach a model; not probes, not
/// `/v1/models`).
pub fn record(gw: &Gateway, ctx: &RequestCtx, status: u16) {
    if !ctx.route().is_inference() {
        return;
    }
    // The alias only when it is configured: a client's free-form model string must not
    // become a label.
    let model = match ctx.client.summary.model.as_deref() {
        Some(m) if ctx.rt.config.models.contains_key(m) => m,
        Some(_) => "(default)",
        None => "(none)",
    };
    let labels = Labels {
        route: ctx.route().template(),
        model,
        backend: ctx.backend().map_or("(none)", |b| b.name()),
        key_id: ctx.client.key_id.as_deref().unwrap_or("anonymous"),
        status,
        error_type: inference::error_type(status, ctx.error),
    };
    let observed = ctx.meter.observed(ctx.started, Instant::now());
    super::admission::settle(ctx, observed.usage);
    gw.metrics.inference.observe(&labels, &observed);
}
