//! The binary at the edges an operator sees: what its logs contain at every level, and
//! how streams end when the shutdown grace period runs out.

#[path = "e2e/harness/backend.rs"]
mod backend;
#[path = "e2e/harness/process.rs"]
mod process;

use std::process::Command;
use std::time::Duration;

use backend::{Kind, MockBackend, Reply, chat_stream};
use process::{BIN, Running, free_port, write_config};
use serde_json::Value;

const CLIENT_KEY: &str = "client-secret-key-777";
const BACKEND_KEY: &str = "sk-backend-key-555";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_level_prints_a_secret() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        &dir,
        &format!(
            "auth:\n  keys: [{{id: alice, key: {CLIENT_KEY}}}]\nbackends:\n  - {{name: gpu0, kind: vllm, url: '{}', api_key: {BACKEND_KEY}, anthropic: translate}}\nmodels:\n  m: {{backend: gpu0}}\n",
            backend.url()
        ),
    );
    let port = free_port();
    let gw = Running::start(
        Command::new(BIN)
            .arg("-c")
            .arg(&path)
            .arg("-v")
            .arg("--port")
            .arg(port.to_string())
            .env("RUST_LOG", "trace"),
        port,
    );
    gw.wait_live().await;
    let client = reqwest::Client::new();
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let sent = [
        client
            .post(gw.url("/v1/chat/completions"))
            .header("authorization", format!("Bearer {CLIENT_KEY}")),
        client
            .post(gw.url("/v1/chat/completions"))
            .header("x-api-key", CLIENT_KEY)
            .header("api-key", CLIENT_KEY),
        client
            .post(gw.url(&format!("/v1/chat/completions?api_key={CLIENT_KEY}&x=1")))
            .header("authorization", format!("Bearer {CLIENT_KEY}"))
            .header("x-request-id", "query-key"),
    ];
    for request in sent {
        let r = request.body(chat).send().await.expect("chat");
        assert_eq!(r.status(), 200);
    }
    let r = client
        .post(gw.url("/v1/messages"))
        .header("x-api-key", CLIENT_KEY)
        .header("anthropic-version", "2023-06-01")
        .body(r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("messages");
    assert_eq!(r.status(), 200);
    let line = gw.wait_log(|l| l.contains("\"query-key\"")).await;
    let v: Value = serde_json::from_str(&line).expect("JSON access line");
    assert_eq!(v["path"], "/v1/chat/completions?api_key=[REDACTED]&x=1");
    let logs = gw.logs.lock().expect("lock").join("\n");
    assert!(
        logs.contains("Sending header to upstream"),
        "trace output is really on"
    );
    for secret in [CLIENT_KEY, BACKEND_KEY] {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} logged:\n{}", leaks.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_still_running_at_the_end_of_the_grace_period_get_a_terminal_error() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let pieces: Vec<String> = (0..40).map(|i| format!("w{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    for _ in 0..2 {
        backend.push(Reply::Sse {
            events: chat_stream(Kind::Vllm, "m", &pieces, false),
            delay: Duration::from_millis(200),
            gate: None,
            split: false,
            truncate: false,
        });
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        &dir,
        &format!(
            "server: {{shutdown_grace_period_s: 1}}\nbackends:\n  - {{name: gpu0, kind: vllm, url: '{}', anthropic: translate}}\nmodels:\n  m: {{backend: gpu0}}\n",
            backend.url()
        ),
    );
    let mut gw = Running::with_config(&path).await;
    let client = reqwest::Client::new();
    let openai = client
        .post(gw.url("/v1/chat/completions"))
        .header("x-request-id", "cut-openai")
        .body(r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("chat");
    let anthropic = client
        .post(gw.url("/v1/messages"))
        .header("x-request-id", "cut-anthropic")
        .body(r#"{"model":"m","max_tokens":99,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("messages");
    assert_eq!(openai.status(), 200);
    assert_eq!(anthropic.status(), 200);
    // Both streams are under way (a first chunk arrived) when SIGTERM comes.
    let (openai, anthropic) = (read_on(openai).await, read_on(anthropic).await);
    gw.signal("-TERM");
    let openai = openai.await.expect("openai body");
    let anthropic = anthropic.await.expect("anthropic body");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");

    let last = openai.trim_end().rsplit("\n\n").next().unwrap_or("");
    assert!(
        last.starts_with("data: {\"error\"") && last.contains("shutting down"),
        "{openai}"
    );
    assert!(
        !openai.contains("[DONE]"),
        "the stream was cut, not finished"
    );
    let last = anthropic.trim_end().rsplit("\n\n").next().unwrap_or("");
    assert!(
        last.starts_with("event: error") && last.contains("overloaded_error"),
        "{anthropic}"
    );
    for id in ["cut-openai", "cut-anthropic"] {
        let line = gw.wait_log(|l| l.contains(&format!("\"{id}\""))).await;
        let v: Value = serde_json::from_str(&line).expect("JSON access line");
        assert_eq!(v["error"], "shutdown", "{line}");
        assert_eq!(v["status"], 200, "{line}");
    }
}

/// Waits for the first chunk, then reads the rest in the background.
async fn read_on(mut r: reqwest::Response) -> tokio::task::JoinHandle<String> {
    let first = r.chunk().await.expect("first chunk").expect("not empty");
    tokio::spawn(async move {
        let mut all = first.to_vec();
        while let Ok(Some(chunk)) = r.chunk().await {
            all.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&all).into_owned()
    })
}
