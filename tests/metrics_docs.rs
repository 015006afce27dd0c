//! docs/metrics.md lists every family `/metrics` exposes, and the Grafana dashboard only
//! queries families that exist.

use std::collections::BTreeSet;

use llmgate::api::usage::Usage;
use llmgate::metrics::Metrics;
use llmgate::metrics::inference::{Labels, Observed};

/// Every family name, with at least one series in each (so none is left out).
fn families() -> BTreeSet<String> {
    let m = Metrics::new();
    m.observe_request("POST", "/v1/chat/completions", 200, 0.1);
    m.rate_limited("k");
    m.fallback("a", "b");
    m.upstream_response("b", 200);
    m.backends
        .set_state("b", llmgate::backends::HealthState::Ready);
    m.backends.ejected("b");
    m.config_loaded(true, 1);
    let labels = Labels {
        route: "/v1/chat/completions",
        model: "m",
        backend: "b",
        key_id: "k",
        status: 200,
        error_type: "none",
    };
    let observed = Observed {
        usage: Some(Usage {
            input: 1,
            output: 2,
            cached: 0,
        }),
        seconds: 0.1,
        time_to_first_token: Some(0.01),
        time_per_output_token: Some(0.01),
        gateway_overhead: Some(0.0001),
    };
    m.inference.observe(&labels, &observed);
    let text = String::from_utf8(m.encode(false).0).expect("utf-8");
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_family_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
        .expect("docs/metrics.md");
    let families = families();
    assert!(families.len() >= 20, "{families:?}");
    for f in &families {
        assert!(
            docs.contains(&format!("`{f}`")),
            "{f} is not in docs/metrics.md"
        );
    }
}

#[test]
fn the_dashboard_queries_only_families_that_exist() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("JSON");
    let families = families();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !word.starts_with("llmgate_") {
                    continue;
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s))
                    .unwrap_or(word);
                assert!(
                    families.contains(family),
                    "{word} in panel {}",
                    panel["title"]
                );
                queried += 1;
            }
        }
    }
    assert!(queried >= 10);
}

#[test]
fn compat_names_repeat_the_seed_families_as_chat_api() {
    let m = Metrics::new();
    m.observe_request("POST", "/v1/chat/completions", 200, 0.1);
    m.rate_limited("k");
    m.backend_error("connect");
    let plain = String::from_utf8(m.encode(false).0).expect("utf-8");
    assert!(!plain.contains("chat_api_"));
    let compat = String::from_utf8(m.encode(true).0).expect("utf-8");
    for series in [
        "chat_api_requests_total{method=\"POST\",path=\"/v1/chat/completions\",status=\"200\"} 1",
        "chat_api_request_duration_seconds_count{path=\"/v1/chat/completions\"} 1",
        "chat_api_backend_errors_total{kind=\"connect\"} 1",
        "chat_api_rate_limited_total{key_id=\"k\"} 1",
        "# TYPE chat_api_uptime_seconds gauge",
        "llmgate_requests_total{method=\"POST\",path=\"/v1/chat/completions\",status=\"200\"} 1",
    ] {
        assert!(compat.contains(series), "{series} in\n{compat}");
    }
}
