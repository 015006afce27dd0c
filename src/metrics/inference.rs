//! Inference metrics: tokens, time to first token, time per output token, request
//! duration and the gateway's own share of it, by route template, model alias, backend,
//! key id, status class and a closed `error_type` vocabulary. docs/metrics.md maps each
//! onto the OpenTelemetry GenAI semantic conventions.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

use crate::api::usage::Usage;

/// Time to first token: from a cached prefix on a small model to a long prefill.
const TTFT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
/// Time per output token (the inter-token gap): 1 ms to a crawling 2.5 s.
const TPOT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// The gateway's own time: tens of microseconds to a slow retry wait.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Every `error_type` label value: `none` for a success.
pub const ERROR_TYPES: &[&str] = &[
    "none",
    "invalid_request",
    "authentication",
    "not_found",
    "rate_limited",
    "client_cancelled",
    "client_timeout",
    "backend_unavailable",
    "backend_timeout",
    "backend_error",
    "shutdown",
    "internal",
];

/// The labels of one finished inference request.
pub struct Labels<'a> {
    pub route: &'static str,
    pub model: &'a str,
    pub backend: &'a str,
    pub key_id: &'a str,
    pub status: u16,
    pub error_type: &'static str,
}

/// What one inference request measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct Observed {
    pub usage: Option<Usage>,
    pub seconds: f64,
    pub time_to_first_token: Option<f64>,
    pub time_per_output_token: Option<f64>,
    pub gateway_overhead: Option<f64>,
}

pub struct Inference {
    requests: IntCounterVec,
    tokens: IntCounterVec,
    ttft: HistogramVec,
    tpot: HistogramVec,
    duration: HistogramVec,
    overhead: HistogramVec,
    pub queued: IntGauge,
}

fn histogram(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help)
            .namespace("llmgate")
            .buckets(buckets.to_vec()),
        labels,
    )
    .expect(name)
}

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

impl Inference {
    /// # Panics
    /// Only if a definition below is malformed (caught by every test that builds one).
    pub fn register(registry: &Registry) -> Inference {
        let models = ["route", "model", "backend"];
        let requests = IntCounterVec::new(
            Opts::new(
                "inference_requests_total",
                "Inference requests by route template, model alias, backend, key, status class and error type.",
            )
            .namespace("llmgate"),
            &["route", "model", "backend", "key_id", "status_class", "error_type"],
        )
        .expect("inference_requests_total");
        let tokens = IntCounterVec::new(
            Opts::new(
                "tokens_total",
                "Tokens backends reported (usage), by type: input (cached included), output, cached_input.",
            )
            .namespace("llmgate"),
            &["route", "model", "backend", "key_id", "type"],
        )
        .expect("tokens_total");
        let ttft = histogram(
            "time_to_first_token_seconds",
            "Streams: from the request's arrival to the first chunk carrying generated output.",
            TTFT_BUCKETS,
            &models,
        );
        let tpot = histogram(
            "time_per_output_token_seconds",
            "Streams: time from the first to the last output chunk per output token after the first.",
            TPOT_BUCKETS,
            &models,
        );
        let duration = histogram(
            "inference_duration_seconds",
            "Inference requests: from arrival to the last response byte.",
            DURATION_BUCKETS,
            &["route", "model", "backend", "status_class", "error_type"],
        );
        let overhead = histogram(
            "gateway_overhead_seconds",
            "Time spent in llmgate itself: before the request went upstream and after the last upstream byte.",
            OVERHEAD_BUCKETS,
            &["route"],
        );
        let queued = IntGauge::with_opts(
            Opts::new(
                "queued_requests",
                "Requests waiting for a deployment's max_concurrency slot.",
            )
            .namespace("llmgate"),
        )
        .expect("queued_requests");
        let collectors: [Box<dyn prometheus::core::Collector>; 7] = [
            Box::new(requests.clone()),
            Box::new(tokens.clone()),
            Box::new(ttft.clone()),
            Box::new(tpot.clone()),
            Box::new(duration.clone()),
            Box::new(overhead.clone()),
            Box::new(queued.clone()),
        ];
        for c in collectors {
            registry.register(c).expect("unique metric names");
        }
        Inference {
            requests,
            tokens,
            ttft,
            tpot,
            duration,
            overhead,
            queued,
        }
    }

    pub fn observe(&self, l: &Labels<'_>, o: &Observed) {
        let class = status_class(l.status);
        self.requests
            .with_label_values(&[l.route, l.model, l.backend, l.key_id, class, l.error_type])
            .inc();
        self.duration
            .with_label_values(&[l.route, l.model, l.backend, class, l.error_type])
            .observe(o.seconds);
        if let Some(u) = o.usage {
            for (kind, n) in [
                ("input", u.input),
                ("output", u.output),
                ("cached_input", u.cached),
            ] {
                self.tokens
                    .with_label_values(&[l.route, l.model, l.backend, l.key_id, kind])
                    .inc_by(n);
            }
        }
        let by_model = [l.route, l.model, l.backend];
        if let Some(t) = o.time_to_first_token {
            self.ttft.with_label_values(&by_model).observe(t);
        }
        if let Some(t) = o.time_per_output_token {
            self.tpot.with_label_values(&by_model).observe(t);
        }
        if let Some(t) = o.gateway_overhead {
            self.overhead.with_label_values(&[l.route]).observe(t);
        }
    }
}

/// The closed `error_type` of a request, from its status and the error kind it recorded
/// (`RequestCtx::error`: backend error kinds, API error codes, Anthropic error types).
pub fn error_type(status: u16, kind: Option<&str>) -> &'static str {
    match kind {
        Some("client_closed") => return "client_cancelled",
        Some("shutdown") => return "shutdown",
        Some("panic") => return "internal",
        Some("request_timeout" | "timeout_client") => return "client_timeout",
        Some("timeout" | "timeout_error" | "connect_timeout") => return "backend_timeout",
        Some(
            "connect_refused" | "connect" | "tls" | "dns" | "closed" | "overloaded" | "exhausted"
            | "overloaded_error",
        ) => return "backend_unavailable",
        _ => {}
    }
    match status {
        200..=399 => "none",
        401 | 403 if kind.is_none_or(|k| k == "invalid_api_key" || k == "authentication_error") => {
            "authentication"
        }
        404 => "not_found",
        408 => "client_timeout",
        429 => "rate_limited",
        400..=499 => "invalid_request",
        504 => "backend_timeout",
        502 | 503 => "backend_unavailable",
        _ => "backend_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_stay_in_the_closed_vocabulary() {
        for (status, kind) in [
            (200, None),
            (499, Some("client_closed")),
            (401, Some("invalid_api_key")),
            (429, Some("rate_limited")),
            (502, Some("connect_refused")),
            (504, Some("timeout")),
            (500, Some("something_new")),
            (400, Some("invalid_request")),
            (503, Some("shutdown")),
        ] {
            let t = error_type(status, kind);
            assert!(ERROR_TYPES.contains(&t), "{status} {kind:?} -> {t}");
        }
        assert_eq!(error_type(200, None), "none");
        assert_eq!(error_type(499, Some("client_closed")), "client_cancelled");
        assert_eq!(
            error_type(502, Some("connect_refused")),
            "backend_unavailable"
        );
    }
}
