//! A stand-in inference server for demos and manual testing: the test suite's scripted
//! backend (tests/e2e/harness/backend.rs), run on a fixed port.
//!
//!     cargo run --example mock_backend -- --kind vllm --port 8001 --model smollm2-135m-instruct

#[path = "../tests/e2e/harness/backend.rs"]
mod backend;

use backend::{Kind, MockBackend};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind_name = arg(&args, "--kind", "vllm");
    let Some(kind) = Kind::parse(&kind_name) else {
        eprintln!(
            "unknown --kind {kind_name} (vllm, llamacpp, ollama, tgi, sglang, localai, openai)"
        );
        std::process::exit(64);
    };
    let port = arg(&args, "--port", "8001");
    let model = arg(&args, "--model", "smollm2-135m-instruct");
    // 0.0.0.0 inside a container, where the gateway reaches it by service name.
    let host = arg(&args, "--host", "127.0.0.1");
    let server = MockBackend::start_on(kind, &model, &format!("{host}:{port}")).await;
    println!(
        "mock {kind_name} backend serving `{model}` on {}",
        server.url()
    );
    let _ = tokio::signal::ctrl_c().await;
}
