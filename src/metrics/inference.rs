//! Inference metrics: tokens, time to first token, time per output token, request
//! duration and the gateway's own share of it, by route template, model alias, backend,
//! key id, status class and a closed `error_type` vocabulary. docs/metrics.md maps each
//! onto the OpenTelemetry GenAI semantic conventions.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

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
    /// The series of each label combination seen, by a hash of its labels.
    series: Mutex<HashMap<u64, Vec<Series>>>,
}

/// The series one label combination updates, resolved once: a finished request then
/// costs one map probe instead of up to eight `with_label_values` (each hashing every
/// label value under a lock). The optional ones are resolved when first observed, so a
/// combination that never streams has no time-to-first-token series.
struct Series {
    route: &'static str,
    model: Box<str>,
    backend: Box<str>,
    key_id: Box<str>,
    class: &'static str,
    error_type: &'static str,
    requests: IntCounter,
    duration: Histogram,
    /// Input, output, cached input.
    tokens: OnceCell<[IntCounter; 3]>,
    ttft: OnceCell<Histogram>,
    tpot: OnceCell<Histogram>,
    overhead: OnceCell<Histogram>,
}

impl Series {
    fn is_for(&self, l: &Labels<'_>, class: &str) -> bool {
        self.route == l.route
            && *self.model == *l.model
            && *self.backend == *l.backend
            && *self.key_id == *l.key_id
            && self.class == class
            && self.error_type == l.error_type
    }
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
            series: Mutex::new(HashMap::new()),
        }
    }

    fn new_series(&self, l: &Labels<'_>, class: &'static str) -> Series {
        Series {
            route: l.route,
            model: l.model.into(),
            backend: l.backend.into(),
            key_id: l.key_id.into(),
            class,
            error_type: l.error_type,
            requests: self.requests.with_label_values(&[
                l.route,
                l.model,
                l.backend,
                l.key_id,
                class,
                l.error_type,
            ]),
            duration: self.duration.with_label_values(&[
                l.route,
                l.model,
                l.backend,
                class,
                l.error_type,
            ]),
            tokens: OnceCell::new(),
            ttft: OnceCell::new(),
            tpot: OnceCell::new(),
            overhead: OnceCell::new(),
        }
    }

    pub fn observe(&self, l: &Labels<'_>, o: &Observed) {
        let class = status_class(l.status);
        let mut hasher = std::hash::DefaultHasher::new();
        (l.route, l.model, l.backend, l.key_id, class, l.error_type).hash(&mut hasher);
        // Held for a few atomic updates, never across an await.
        let mut by_hash = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = by_hash.entry(hasher.finish()).or_default();
        let at = match bucket.iter().position(|s| s.is_for(l, class)) {
            Some(at) => at,
            None => {
                bucket.push(self.new_series(l, class));
                bucket.len() - 1
            }
        };
        let s = &bucket[at];
        s.requests.inc();
        s.duration.observe(o.seconds);
        if let Some(u) = o.usage {
            let tokens = s.tokens.get_or_init(|| {
                ["input", "output", "cached_input"].map(|kind| {
                    self.tokens
                        .with_label_values(&[l.route, l.model, l.backend, l.key_id, kind])
                })
            });
            for (counter, n) in tokens.iter().zip([u.input, u.output, u.cached]) {
                counter.inc_by(n);
            }
        }
        let by_model = [l.route, l.model, l.backend];
        if let Some(t) = o.time_to_first_token {
            let ttft = s
                .ttft
                .get_or_init(|| self.ttft.with_label_values(&by_model));
            ttft.observe(t);
        }
        if let Some(t) = o.time_per_output_token {
            let tpot = s
                .tpot
                .get_or_init(|| self.tpot.with_label_values(&by_model));
            tpot.observe(t);
        }
        if let Some(t) = o.gateway_overhead {
            let overhead = s
                .overhead
                .get_or_init(|| self.overhead.with_label_values(&[l.route]));
            overhead.observe(t);
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

    fn text(registry: &Registry) -> String {
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut out,
        )
        .expect("encode");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn resolved_series_add_up_per_label_combination() {
        let registry = Registry::new();
        let m = Inference::register(&registry);
        let labels = |model, status| Labels {
            route: "/v1/chat/completions",
            model,
            backend: "gpu0",
            key_id: "alice",
            status,
            error_type: error_type(status, None),
        };
        let answered = Observed {
            usage: Some(Usage {
                input: 10,
                output: 5,
                cached: 2,
            }),
            seconds: 0.5,
            ..Observed::default()
        };
        m.observe(&labels("a", 200), &answered);
        m.observe(&labels("a", 200), &answered);
        m.observe(&labels("b", 200), &answered);
        m.observe(&labels("a", 503), &Observed::default());
        let out = text(&registry);
        for line in [
            r#"llmgate_inference_requests_total{backend="gpu0",error_type="none",key_id="alice",model="a",route="/v1/chat/completions",status_class="2xx"} 2"#,
            r#"llmgate_inference_requests_total{backend="gpu0",error_type="none",key_id="alice",model="b",route="/v1/chat/completions",status_class="2xx"} 1"#,
            r#"llmgate_inference_requests_total{backend="gpu0",error_type="backend_unavailable",key_id="alice",model="a",route="/v1/chat/completions",status_class="5xx"} 1"#,
            r#"llmgate_tokens_total{backend="gpu0",key_id="alice",model="a",route="/v1/chat/completions",type="output"} 10"#,
            r#"llmgate_tokens_total{backend="gpu0",key_id="alice",model="a",route="/v1/chat/completions",type="cached_input"} 4"#,
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
        assert!(
            !out.contains("llmgate_time_to_first_token_seconds_count"),
            "no stream, no time-to-first-token series"
        );
    }
}
