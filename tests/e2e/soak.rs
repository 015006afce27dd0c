//! The soak run (`make soak`; ignored by `make test`): hundreds of thousands of requests
//! through 2 worker threads and 2 deployments, with hundreds of concurrent streams, half
//! of them abandoned by their clients. It must end with no panic, no dropped connection
//! and one access-log record (the logging phase, counted in `llmgate_requests_total`) per
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{EventReader, Kind, MockBackend, TestGateway};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

fn requests_total(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("llmgate_requests_total{") && l.contains("path=\"/v1/chat/completions\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with `make soak`"]
async fn soak_two_threads_two_deployments_streams_and_aborts() {
    let total: usize = std::env::var("SOAK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let panics = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&panics);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::Relaxed);
        default_hook(info);
    }));

    let a = MockBackend::start(Kind::Vllm, "m").await;
    let b = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "server: {{threads: 2}}\nbackends:\n  - {{name: a, kind: vllm, url: '{}'}}\n  - {{name: b, kind: vllm, url: '{}'}}\nmodels:\n  m:\n    deployments: [{{backend: a}}, {{backend: b}}]\n",
        a.url(),
        b.url()
    );
    let gw = Arc::new(TestGateway::start(&yaml).await);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let streams_open = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..264 {
        let (gw, client, next, failures, open) = (
            Arc::clone(&gw),
            client.clone(),
            Arc::clone(&next),
            Arc::clone(&failures),
            Arc::clone(&streams_open),
        );
        // 64 workers send plain requests, 200 hold streams.
        let streaming = w >= 64;
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let body = if streaming { STREAM } else { CHAT };
                let sent = client
                    .post(gw.url("/v1/chat/completions"))
                    .body(body)
                    .send()
                    .await;
                let Ok(resp) = sent else {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if resp.status() != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if !streaming {
                    if resp.bytes().await.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                open.fetch_add(1, Ordering::Relaxed);
                let mut reader = EventReader::new(resp);
                if w % 2 == 0 {
                    // Abandon the stream after its first event.
                    reader.next().await;
                } else if reader.rest().await.last().map(String::as_str) != Some("data: [DONE]") {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                open.fetch_sub(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    // The logging phase of the last requests may still be running.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut logged = 0;
    while Instant::now() < deadline {
        logged = requests_total(&gw.metrics().await);
        if logged >= total as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = gw.metrics().await;
    println!(
        "soak: {total} requests in {:.1} s ({:.0}/s), {} logged, {} failures, {} panics",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        logged,
        failures.load(Ordering::Relaxed),
        panics.load(Ordering::Relaxed)
    );
    for line in metrics.lines().filter(|l| {
        l.starts_with("llmgate_requests_total")
            || l.starts_with("llmgate_backend_errors_total")
            || l.starts_with("llmgate_client_cancelled_total")
    }) {
        println!("  {line}");
    }
    assert_eq!(panics.load(Ordering::Relaxed), 0, "no panic");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no dropped or failed request"
    );
    assert_eq!(logged, total as u64, "one access-log record per request");
}
