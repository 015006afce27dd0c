//! `limits.backend: redis`: two llmgate processes against one `redis-server` (the Debian
//! package, which `make test` installs) enforce one limit, not two: token budgets within
//! 1%, request rates and concurrency. When Redis goes away they keep serving on their own
//! limits and say so; when it is back, limits are shared again.

#[path = "e2e/harness/backend.rs"]
mod backend;
#[path = "e2e/harness/process.rs"]
mod process;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backend::{Kind, MockBackend, Reply, chat_stream};
use process::{Running, free_port};
use serde_json::Value;

const KEY: &str = "sk-shared-1";

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package `redis-server`; `make test` installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn replica(
    dir: &tempfile::TempDir,
    name: &str,
    redis_port: u16,
    backend: &MockBackend,
    limits: &str,
) -> Running {
    replica_with(dir, name, redis_port, backend, limits, "").await
}

/// A replica whose backend entry gets `backend_extra` (`, key: value` pairs).
async fn replica_with(
    dir: &tempfile::TempDir,
    name: &str,
    redis_port: u16,
    backend: &MockBackend,
    limits: &str,
    backend_extra: &str,
) -> Running {
    let path = dir.path().join(format!("{name}.yaml"));
    let yaml = format!(
        "auth:\n  keys: [{{id: alice, key: {KEY}}}]\nlimits:\n  backend: redis\n  redis_url: redis://127.0.0.1:{redis_port}\n{limits}backends:\n  - {{name: b, kind: vllm, url: '{}'{backend_extra}}}\nmodels:\n  m: {{backend: b}}\n",
        backend.url()
    );
    std::fs::write(&path, yaml).expect("config");
    Running::with_config(&path).await
}

async fn chat(gw: &Running, extra: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(format!(
            r#"{{"model":"m"{extra},"messages":[{{"role":"user","content":"hi"}}]}}"#
        ))
        .send()
        .await
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_enforce_one_token_budget_and_one_rate() {
    let redis = Redis::start(free_port());
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    let limits = "  tokens_per_key: {output: 600}\n";
    let a = replica(&dir, "a", redis.port, &backend, limits).await;
    let b = replica(&dir, "b", redis.port, &backend, limits).await;

    // Alternating between the replicas, the key gets one budget: 600 tokens a minute.
    let started = Instant::now();
    let mut admitted = 0u64;
    loop {
        let gw = if admitted.is_multiple_of(2) { &a } else { &b };
        let r = chat(gw, r#","max_tokens":4"#).await;
        if r.status() == 429 {
            break;
        }
        assert_eq!(r.status(), 200);
        admitted += 1;
        assert!(admitted < 1000, "never refused");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let expected = 600.0 + 10.0 * elapsed;
    let used = (admitted * 4) as f64;
    let error = (used - expected).abs() / 600.0;
    eprintln!(
        "two replicas, one budget: {admitted} requests, {used} tokens admitted in {elapsed:.3} s, expected {expected:.1}: {:.3}% of the limit",
        error * 100.0
    );
    assert!(error <= 0.01, "admitted {used}, expected {expected:.1}");
    let health: Value = reqwest::get(a.url("/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["limits"]["backend"], "redis");
    assert_eq!(health["limits"]["shared"], true);
    let m = reqwest::get(b.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        m.contains("llmgate_limits_shared_up{backend=\"redis\"} 1"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_concurrency_are_shared_and_redis_loss_falls_back() {
    let redis_port = free_port();
    let redis = Redis::start(redis_port);
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    let rate = "  rate_limit: {enabled: true, requests_per_minute: 60, burst: 4}\n";
    let a = replica(&dir, "a", redis.port, &backend, rate).await;
    let b = replica(&dir, "b", redis.port, &backend, rate).await;
    // Concurrency on its own pair: a request's in-flight lease is released just after it
    // ends, which a burst of back-to-back requests would race against.
    let one = "  max_inflight_per_key: 1\n";
    let c = replica(&dir, "c", redis.port, &backend, one).await;
    let d = replica(&dir, "d", redis.port, &backend, one).await;

    // A burst of 4 for the key across both replicas, not 4 each.
    let mut statuses = Vec::new();
    for i in 0u32..6 {
        let gw = if i.is_multiple_of(2) { &a } else { &b };
        statuses.push(chat(gw, "").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "one shared burst");

    // One request in flight for the key, whichever replica holds it.
    let gate = Arc::new(tokio::sync::Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    let held = chat(&c, r#","stream":true"#).await;
    assert_eq!(held.status(), 200);
    let other = chat(&d, "").await;
    assert_eq!(other.status(), 429, "the other replica sees the lease");
    let v: Value = other.json().await.expect("json");
    assert_eq!(v["error"]["code"], "concurrency_limit_exceeded");
    gate.notify_one();
    let _ = held.bytes().await;

    // Redis goes away: both keep serving on their own limits, and say so.
    drop(redis);
    let r = chat(&b, "").await;
    assert!(
        matches!(r.status().as_u16(), 200 | 429),
        "served or limited locally, never an error: {}",
        r.status()
    );
    b.wait_log(|l| l.contains("unreachable") && l.contains("limits fall back"))
        .await;
    let health: Value = reqwest::get(b.url("/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["limits"]["shared"], false);
    let m = reqwest::get(b.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        m.contains("llmgate_limits_shared_up{backend=\"redis\"} 0"),
        "{m}"
    );
    assert!(
        !health.to_string().contains("redis://"),
        "the URL (and a password in it) stays out of /health"
    );

    // Back: shared again.
    let _redis = Redis::start(redis_port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = chat(&b, "").await;
        let health: Value = reqwest::get(b.url("/health"))
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        if health["limits"]["shared"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "Redis not used again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.wait_log(|l| l.contains("limits shared through Redis"))
        .await;
}

/// A deployment's `max_concurrency` counts every replica's requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_max_concurrency_holds_across_replicas() {
    let redis = Redis::start(free_port());
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    let extra = ", max_concurrency: 1, max_queue: 4, queue_timeout_ms: 300";
    let a = replica_with(&dir, "a", redis.port, &backend, "", extra).await;
    let b = replica_with(&dir, "b", redis.port, &backend, "", extra).await;
    let gate = Arc::new(tokio::sync::Notify::new());
    backend.push(Reply::Sse {
        events: chat_stream(Kind::Vllm, "m", &["a"], false),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: false,
        truncate: false,
    });
    let held = chat(&a, r#","stream":true"#).await;
    assert_eq!(held.status(), 200);
    let started = Instant::now();
    let waited = chat(&b, "").await;
    assert_eq!(
        waited.status(),
        503,
        "the one slot is taken on the other replica"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited in the queue first"
    );
    let v: Value = waited.json().await.expect("json");
    assert_eq!(v["error"]["code"], "backend_saturated");
    gate.notify_one();
    let _ = held.bytes().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = chat(&b, "").await.status();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot never came back: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
