//! The end-to-end harness: real gateway, real sockets, scripted backends.

pub mod backend;
pub mod gateway;
pub mod raw;

use std::time::Duration;

pub use backend::{Kind, MockBackend, Reply};
pub use gateway::TestGateway;

/// Generous bound for anything that should happen "promptly" on loopback.
pub const PROMPTLY: Duration = Duration::from_secs(5);

/// A gateway config with one backend per `(name, kind, url)`, health checks every 100 ms.
pub fn backends_yaml(backends: &[(&str, Kind, String)]) -> String {
    let mut y = String::from("backends:\n");
    for (name, kind, url) in backends {
        y.push_str(&format!(
            "  - name: {name}\n    kind: {}\n    url: {url}\n    connect_timeout_ms: 1000\n    health_check: {{interval_ms: 100, timeout_ms: 500}}\n",
            kind.config_name()
        ));
    }
    y
}

/// Reads an SSE response body as it arrives, one event at a time.
pub struct EventReader {
    response: reqwest::Response,
    buf: Vec<u8>,
    /// Everything received, byte for byte.
    pub raw: Vec<u8>,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> EventReader {
        EventReader {
            response,
            buf: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// The next complete event (without its blank line), or `None` at the end.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Some(String::from_utf8_lossy(&event[..pos]).into_owned());
            }
            let chunk = tokio::time::timeout(PROMPTLY, self.response.chunk())
                .await
                .expect("no SSE data within the deadline")
                .expect("read SSE chunk")?;
            self.raw.extend_from_slice(&chunk);
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Reads to the end; returns every remaining event.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}
