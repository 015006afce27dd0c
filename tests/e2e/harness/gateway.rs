//! Boots the real gateway in-process on a port the harness allocated, from YAML loaded by
//! the production config loader, and stops it when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llmgate::config::{Config, ConfigSource, Overrides};
use llmgate::{BuildOptions, GatewayHandle};
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use tokio::sync::Notify;

struct TestShutdown(Arc<Notify>);

#[async_trait]
impl ShutdownSignalWatch for TestShutdown {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

pub struct TestGateway {
    pub addr: SocketAddr,
    pub handle: GatewayHandle,
    pub config_path: PathBuf,
    /// The listener serves HTTPS (`server.tls`), with the test CA's certificate.
    https: bool,
    _dir: tempfile::TempDir,
    stop: Arc<Notify>,
    thread: Option<JoinHandle<()>>,
}

/// A free loopback port. The listener is dropped just before the gateway binds it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("allocate a port")
}

impl TestGateway {
    /// Starts a gateway for `yaml` and waits until `/livez` answers.
    pub async fn start(yaml: &str) -> TestGateway {
        if std::env::var_os("LLMGATE_TEST_LOG").is_some() {
            let _ = llmgate::logging::init(log::LevelFilter::Debug, false);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("llmgate.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        let port = free_port();
        let overrides = Overrides {
            host: Some("127.0.0.1".into()),
            port: Some(port),
        };
        let source = ConfigSource::File(config_path.clone());
        let mut config =
            Config::load(&source).unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        overrides.apply(&mut config);
        let https = config.server.tls.is_some();
        let (server, handle) = llmgate::build_server(
            config,
            BuildOptions {
                reload_on_sighup: false,
                overrides,
                ..BuildOptions::default()
            },
        )
        .expect("server builds");
        let stop = Arc::new(Notify::new());
        let watch = TestShutdown(Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(watch),
            })
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let gw = TestGateway {
            addr,
            handle,
            config_path,
            https,
            _dir: dir,
            stop,
            thread: Some(thread),
        };
        gw.wait_until_live().await;
        gw
    }

    async fn wait_until_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = self.client();
        loop {
            if let Ok(r) = client.get(self.url("/livez")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not come up on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, path)
    }

    /// `POST` to the gateway with a plain client.
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client()
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// `POST /v1/chat/completions` asking `model` one short question.
    pub async fn chat(&self, model: &str) -> reqwest::Response {
        let body =
            serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        self.post("/v1/chat/completions", body.to_string()).await
    }

    /// A client for this gateway; it trusts the test CAs of `tests/fixtures/tls` and
    /// nothing else.
    pub fn client(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        for ca in ["ca.pem", "reload/ca_a.pem", "reload/ca_b.pem"] {
            let pem = std::fs::read(format!(
                "{}/tests/fixtures/tls/{ca}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("test CA");
            builder =
                builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"));
        }
        builder.build().expect("client")
    }

    /// Rewrites the config file and reloads it, as SIGHUP would.
    pub fn reload_with(&self, yaml: &str) -> Result<u64, llmgate::ConfigError> {
        std::fs::write(&self.config_path, yaml).expect("write config");
        self.handle.reload()
    }

    /// The Prometheus text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Waits until the metrics contain `needle` (the logging phase runs after the response).
    pub async fn wait_metric(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.metrics().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "metric `{needle}` never appeared in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `/health`'s entry for `backend` (`Null` if it is not listed).
    pub async fn backend_health(&self, backend: &str) -> serde_json::Value {
        let health: serde_json::Value = reqwest::get(self.url("/health"))
            .await
            .expect("GET /health")
            .json()
            .await
            .expect("health json");
        health["backends"]
            .as_array()
            .and_then(|bs| bs.iter().find(|b| b["name"] == backend).cloned())
            .unwrap_or_default()
    }

    /// Waits until `/health` reports `state` for `backend`.
    pub async fn wait_backend_state(&self, backend: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let health = self.backend_health(backend).await;
            if health["state"].as_str() == Some(state) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "backend {backend} never became {state}: {health}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
