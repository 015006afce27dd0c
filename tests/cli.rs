//! The `llmgate` binary: --check, hash-key, env-only mode, JSON access logs, SIGHUP reload
//! and SIGTERM, each driven as a user would.

#[path = "e2e/harness/backend.rs"]
mod backend;
#[path = "e2e/harness/process.rs"]
mod process;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backend::{Kind, MockBackend};
use process::{BIN, Running, free_port, write_config};
use serde_json::Value;

#[test]
fn check_accepts_a_valid_file() {
    let out = Command::new(BIN)
        .args([
            "-c",
            concat!(env!("CARGO_MANIFEST_DIR"), "/conf/llmgate.yaml"),
            "--check",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configuration OK (llmgate format)"
    );
}

#[test]
fn check_lists_every_error_and_exits_64() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        &dir,
        "backends:\n  - name: a\n    kind: vllm\n    url: nowhere\nmodels:\n  m:\n    backend: b\n",
    );
    let out = Command::new(BIN)
        .args(["-t", "-c"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backends[0].url: `nowhere` needs a scheme") && err.contains("at line 4"),
        "{err}"
    );
    assert!(
        err.contains("models.m.backend: unknown backend `b` (known: a) at line 7"),
        "{err}"
    );
}

#[test]
fn hash_key_prints_the_sha256_form() {
    let mut child = Command::new(BIN)
        .arg("hash-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"demo-key\n")
        .expect("write");
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sha256:c48a01f49fd0f2cc404bc3cbbc80e91457a3d41bb429a695243de4c61794155c"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_only_mode_serves_one_backend_and_warns_without_keys() {
    let backend = MockBackend::start(Kind::Vllm, "served").await;
    let port = free_port();
    let gw = Running::start(
        Command::new(BIN)
            .env_clear()
            .env("BACKEND_BASE_URL", backend.url())
            .env("MODEL_NAME", "smollm2")
            .env("API_PORT", port.to_string()),
        port,
    );
    gw.wait_live().await;
    gw.wait_log(|l| l.contains("NO API KEYS CONFIGURED")).await;
    let models: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(models["data"][0]["id"], "smollm2");
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"any-name:7b","messages":[]}"#)
        .send()
        .await
        .expect("chat");
    assert_eq!(resp.status(), 200);
    let got = backend.wait_requests(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["model"], "any-name:7b", "forwarded unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_logs_are_json_lines_without_keys_or_prompts() {
    let backend = MockBackend::start(Kind::Vllm, "served").await;
    let dir = tempfile::tempdir().expect("dir");
    let path = write_config(
        &dir,
        &format!(
            "auth:\n  keys: [{{id: alice, key: very-secret-key}}]\nbackends:\n  - {{name: gpu0, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: gpu0}}\n",
            backend.url()
        ),
    );
    let gw = Running::with_config(&path).await;
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer very-secret-key")
        .header("x-request-id", "trace-me-1")
        .body(r#"{"model":"m","messages":[{"role":"user","content":"PRIVATE PROMPT"}]}"#)
        .send()
        .await
        .expect("chat");
    assert_eq!(resp.status(), 200);
    let line = gw.wait_log(|l| l.contains("trace-me-1")).await;
    let v: Value = serde_json::from_str(&line).expect("a JSON log line");
    for (field, expected) in [
        ("request_id", Value::from("trace-me-1")),
        ("method", Value::from("POST")),
        ("path", Value::from("/v1/chat/completions")),
        ("status", Value::from(200)),
        ("backend", Value::from("gpu0")),
        ("model", Value::from("m")),
        ("key_id", Value::from("alice")),
        ("level", Value::from("INFO")),
    ] {
        assert_eq!(v[field], expected, "{field} in {line}");
    }
    assert!(
        v["ts"].is_string() && v["duration_ms"].is_number(),
        "{line}"
    );
    let all = gw.logs.lock().expect("lock").join("\n");
    assert!(!all.contains("very-secret-key"), "keys are never logged");
    assert!(
        !all.contains("PRIVATE PROMPT"),
        "prompts are not logged by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_sigterm_exits() {
    let backend = MockBackend::start(Kind::Vllm, "served").await;
    let dir = tempfile::tempdir().expect("dir");
    let config = |model: &str| {
        format!(
            "backends:\n  - {{name: gpu0, kind: vllm, url: '{}'}}\nmodels:\n  {model}: {{backend: gpu0}}\n",
            backend.url()
        )
    };
    let path = write_config(&dir, &config("first"));
    let mut gw = Running::with_config(&path).await;
    let chat = |model: &'static str| {
        let url = gw.url("/v1/chat/completions");
        async move {
            reqwest::Client::new()
                .post(url)
                .body(format!(r#"{{"model":"{model}","messages":[]}}"#))
                .send()
                .await
                .expect("chat")
                .status()
                .as_u16()
        }
    };
    assert_eq!(chat("second").await, 404);
    std::fs::write(&path, config("second")).expect("rewrite");
    gw.signal("-HUP");
    gw.wait_log(|l| l.contains("generation 2")).await;
    assert_eq!(chat("second").await, 200);

    std::fs::write(&path, "backends: [").expect("break the file");
    gw.signal("-HUP");
    gw.wait_log(|l| l.contains("reload failed")).await;
    assert_eq!(chat("second").await, 200, "a bad file changes nothing");

    let asked = Instant::now();
    gw.signal("-TERM");
    let status = gw.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "an idle gateway exits without sleeping the grace period"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_list_file_runs_with_the_designs_flags_and_says_where_it_listens() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conf/examples/model-list-docker-model-runner.yaml"
    );
    let out = Command::new(BIN)
        .args(["-c", example, "--check"])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configuration OK (model_list format)"
    );
    let port = free_port();
    let gw = Running::start(
        Command::new(BIN).args(["-c", example, "-p", &port.to_string()]),
        port,
    );
    gw.wait_live().await;
    let line = gw.wait_log(|l| l.contains("listening on")).await;
    for needle in [
        format!("listening on http://0.0.0.0:{port}"),
        "client key not required".to_owned(),
        "model_list format".to_owned(),
    ] {
        assert!(line.contains(&needle), "{needle} in {line}");
    }
}
