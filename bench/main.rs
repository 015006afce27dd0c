//! Direct vs. through-gateway, in one run: the same requests against the scripted backend,
//! once straight and once through an in-process llmgate, with the ratios that matter
//! (throughput, p50/p99 latency, time to first SSE event).
//!
//!     make bench            (cargo run --release --example bench -- [requests] [concurrency])

#[path = "../tests/e2e/harness/backend.rs"]
mod backend;
// The bench uses only part of the test harness.
#[allow(dead_code)]
#[path = "../tests/e2e/harness/gateway.rs"]
mod gateway;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::{Kind, MockBackend};
use gateway::TestGateway;

struct Stats {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    body: Arc<String>,
    requests: usize,
    concurrency: usize,
    first_byte: bool,
) -> Stats {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, next) = (
            client.clone(),
            url.to_owned(),
            Arc::clone(&body),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let t = Instant::now();
                let mut resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_owned())
                    .send()
                    .await
                    .expect("request");
                assert!(resp.status().is_success(), "{}", resp.status());
                if first_byte {
                    let _ = resp.chunk().await;
                    times.push(t.elapsed());
                    while resp.chunk().await.ok().flatten().is_some() {}
                } else {
                    let _ = resp.bytes().await;
                    times.push(t.elapsed());
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Stats {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(16);
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "logging: {{level: warn}}\nbackends:\n  - {{name: b, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: b}}\n",
        backend.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let big = "x".repeat(200 * 1024);
    let scenarios: Vec<(&str, &str, String, bool)> = vec![
        (
            "chat JSON",
            "/v1/chat/completions",
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#.to_owned(),
            false,
        ),
        (
            "chat SSE, first event",
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[]}"#.to_owned(),
            true,
        ),
        (
            "200 KiB body",
            "/v1/embeddings",
            format!(r#"{{"model":"m","input":"{big}"}}"#),
            false,
        ),
    ];
    println!("{requests} requests per run, {concurrency} concurrent, loopback, release build\n");
    println!(
        "{:<24} {:>12} {:>12} {:>8} {:>10} {:>10} {:>8}",
        "scenario", "direct/s", "gateway/s", "ratio", "p50 +", "p99 +", "p50 x"
    );
    for (name, path, body, first_byte) in scenarios {
        let body = Arc::new(body);
        let n = if first_byte { requests / 4 } else { requests };
        // Warm both paths (pools, caches) before measuring.
        run(
            &client,
            &format!("{}{path}", backend.url().trim_end_matches("/v1")),
            Arc::clone(&body),
            50,
            4,
            first_byte,
        )
        .await;
        run(&client, &gw.url(path), Arc::clone(&body), 50, 4, first_byte).await;
        let direct = run(
            &client,
            &format!("{}{path}", backend.url().trim_end_matches("/v1")),
            Arc::clone(&body),
            n,
            concurrency,
            first_byte,
        )
        .await;
        let through = run(
            &client,
            &gw.url(path),
            Arc::clone(&body),
            n,
            concurrency,
            first_byte,
        )
        .await;
        println!(
            "{:<24} {:>12.0} {:>12.0} {:>8.2} {:>9.2}ms {:>9.2}ms {:>8.2}",
            name,
            direct.per_second,
            through.per_second,
            through.per_second / direct.per_second,
            through.p50.as_secs_f64() * 1e3 - direct.p50.as_secs_f64() * 1e3,
            through.p99.as_secs_f64() * 1e3 - direct.p99.as_secs_f64() * 1e3,
            through.p50.as_secs_f64() / direct.p50.as_secs_f64(),
        );
    }
}
