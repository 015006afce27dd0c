//! Drives the `llmgate` binary as a user would: a process with its own config file and
//! port, whose logs (stderr) are collected line by line, stopped by signals.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_llmgate");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

pub fn write_config(dir: &tempfile::TempDir, yaml: &str) -> std::path::PathBuf {
    let path = dir.path().join("llmgate.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// A running gateway process whose stderr (the logs) is collected line by line.
pub struct Running {
    pub child: Child,
    pub logs: Arc<Mutex<Vec<String>>>,
    pub port: u16,
}

impl Running {
    pub fn start(cmd: &mut Command, port: u16) -> Running {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn llmgate");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        Running { child, logs, port }
    }

    /// `llmgate -c path --port <free>`, started and live.
    pub async fn with_config(path: &std::path::Path) -> Running {
        let port = free_port();
        let gw = Running::start(
            Command::new(BIN)
                .arg("-c")
                .arg(path)
                .arg("--port")
                .arg(port.to_string()),
            port,
        );
        gw.wait_live().await;
        gw
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub async fn wait_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(self.url("/livez")).await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "llmgate did not start; logs:\n{}",
            self.logs.lock().expect("lock").join("\n")
        );
    }

    pub async fn wait_log(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(l) = self.logs.lock().expect("lock").iter().find(|l| pred(l)) {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "log line not found; logs:\n{}",
            self.logs.lock().expect("lock").join("\n")
        );
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "llmgate did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
