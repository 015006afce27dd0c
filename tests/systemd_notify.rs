//! The notify protocol over a real `NOTIFY_SOCKET`, as systemd runs a `Type=notify`
//! unit: `READY=1` only once the listener accepts and the backends were probed,
//! `WATCHDOG=1` at half of `WATCHDOG_USEC`, `RELOADING=1` (with `MONOTONIC_USEC`) and
//! `READY=1` around a SIGHUP, `STOPPING=1` on SIGTERM.

#[path = "e2e/harness/backend.rs"]
mod backend;
#[path = "e2e/harness/process.rs"]
mod process;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use backend::{Kind, MockBackend};
use process::{BIN, Running, free_port, write_config};

/// The next datagram, within `within`.
fn next(socket: &UnixDatagram, within: Duration) -> String {
    socket.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads datagrams until one satisfies `pred`; returns it and those skipped.
fn until(socket: &UnixDatagram, pred: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no matching notification; got {skipped:?}");
        let msg = next(socket, left);
        if pred(&msg) {
            return (msg, skipped);
        }
        skipped.push(msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_watchdog_reload_and_stop_are_told_to_systemd() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind NOTIFY_SOCKET");
    let path = write_config(
        &dir,
        &format!(
            "backends:\n  - {{name: gpu0, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: gpu0}}\n",
            backend.url()
        ),
    );
    let port = free_port();
    let mut gw = Running::start(
        Command::new(BIN)
            .arg("-c")
            .arg(&path)
            .arg("--port")
            .arg(port.to_string())
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "300000"),
        port,
    );
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let ready = match socket.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!("no READY: {e}; logs: {:?}", gw.logs.lock().expect("lock")),
    };
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // READY means ready: the listener answers and the backend was probed already.
    let health: serde_json::Value = reqwest::get(gw.url("/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["backends"][0]["state"], "ready", "{health}");
    let probes = backend
        .all_requests()
        .iter()
        .filter(|r| r.target == "/health")
        .count();
    assert!(probes >= 1);

    let started = Instant::now();
    let (watchdog, _) = until(&socket, |m| m.lines().any(|l| l == "WATCHDOG=1"));
    assert_eq!(watchdog.trim_end(), "WATCHDOG=1");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "every 150 ms"
    );

    gw.signal("-HUP");
    let (reloading, _) = until(&socket, |m| m.contains("RELOADING=1"));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let (again, _) = until(&socket, |m| m.lines().any(|l| l == "READY=1"));
    assert!(again.contains("generation 2"), "{again}");

    gw.signal("-TERM");
    let (stopping, _) = until(&socket, |m| m.contains("STOPPING=1"));
    assert!(stopping.contains("STOPPING=1"));
    assert!(gw.wait_exit(Duration::from_secs(10)).success());
}
