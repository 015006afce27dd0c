//! Direct vs. through-gateway, in one run: the same requests against the scripted backend,
//! once straight and once through an in-process llmgate, with the ratios that matter
//! (throughput, p50/p99 latency, time to first SSE event). When `nginx` is installed, the
//! same requests also go through an nginx reverse proxy (unbuffered, keep-alive upstream) -
//! the proxy llmgate replaces - so the ratio has a reference point on the same machine.
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

/// nginx in front of `backend_port`, as a GPU host would run it; `None` without nginx.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(backend_port: u16) -> Option<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let dir = tempfile::tempdir().ok()?;
        let port = gateway::free_port();
        let conf = format!(
            "worker_processes auto; pid nginx.pid; error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;
  uwsgi_temp_path tmp; scgi_temp_path tmp;
  client_max_body_size 32m; client_body_buffer_size 1m;
  upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";
      proxy_buffering off;
    }}
  }}
}}
"
        );
        std::fs::create_dir(dir.path().join("tmp")).ok()?;
        std::fs::write(dir.path().join("nginx.conf"), conf).ok()?;
        let child = std::process::Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .args(["-c", "nginx.conf", "-g", "daemon off;"])
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Nginx {
                    child,
                    port,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let backend_port: u16 = backend
        .url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches("/v1").parse().ok())
        .expect("backend port");
    let nginx = Nginx::start(backend_port);
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
    println!("{requests} requests per run, {concurrency} concurrent, loopback, release build");
    println!(
        "ratio = through the proxy / direct; p50 +, p99 + = added latency{}\n",
        if nginx.is_some() {
            ""
        } else {
            " (nginx not installed: no reference column)"
        }
    );
    println!(
        "{:<22} {:>9} {:>10} {:>6} {:>9} {:>9} {:>9} {:>6} {:>9}",
        "scenario", "direct/s", "llmgate/s", "ratio", "p50 +", "p99 +", "nginx/s", "ratio", "p50 +"
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
        let nginx_url = nginx
            .as_ref()
            .map(|n| format!("http://127.0.0.1:{}{path}", n.port));
        if let Some(url) = &nginx_url {
            run(&client, url, Arc::clone(&body), 50, 4, first_byte).await;
        }
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
        let reference = match &nginx_url {
            Some(url) => {
                let via = run(&client, url, Arc::clone(&body), n, concurrency, first_byte).await;
                format!(
                    "{:>9.0} {:>6.2} {:>7.2}ms",
                    via.per_second,
                    via.per_second / direct.per_second,
                    added_ms(via.p50, direct.p50)
                )
            }
            None => format!("{:>9} {:>6} {:>9}", "-", "-", "-"),
        };
        println!(
            "{:<22} {:>9.0} {:>10.0} {:>6.2} {:>7.2}ms {:>7.2}ms {reference}",
            name,
            direct.per_second,
            through.per_second,
            through.per_second / direct.per_second,
            added_ms(through.p50, direct.p50),
            added_ms(through.p99, direct.p99),
        );
    }
}

fn added_ms(via: Duration, direct: Duration) -> f64 {
    via.as_secs_f64() * 1e3 - direct.as_secs_f64() * 1e3
}
