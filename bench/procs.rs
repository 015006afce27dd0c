//! The proxies under test, each its own process with one worker, and what the kernel
//! says each one used: CPU time (per-thread `schedstat`, nanoseconds) and resident memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    child: Child,
}

impl Drop for Proxy {
    /// SIGTERM first, so a profiler wrapping the proxy (massif, dhat) writes its report.
    fn drop(&mut self) {
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The process and its children (nginx's worker).
    fn pids(&self) -> Vec<u32> {
        let root = self.child.id();
        let mut pids = vec![root];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // pid (comm) state ppid ...
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(root) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    /// CPU time used so far by every thread of the process (and its children), in ns.
    pub fn cpu_ns(&self) -> u64 {
        let mut total = 0;
        for pid in self.pids() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }

    /// Resident memory of the process (and its children), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.pids()
            .iter()
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("allocate a port")
}

fn wait_listening(port: u16, name: &str) {
    for _ in 0..3000 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{name} did not start listening on {port}");
}

/// Where cargo put the release binaries (next to this bench's `examples/` directory).
pub fn release_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target/release")
}

pub const CLIENT_KEY: &str = "sk-bench-0123456789abcdef";

/// llmgate as it would run in production: auth on, metrics on, JSON access log to a
/// file, one worker thread.
pub fn llmgate(dir: &Path, upstream_port: u16, binary: &Path, tag: &str) -> Proxy {
    let port = free_port();
    let config = dir.join(format!("{tag}.yaml"));
    std::fs::write(
        &config,
        format!(
            "server: {{host: 127.0.0.1, port: {port}, threads: 1, shutdown_grace_period_s: 0}}
logging: {{level: info, json: true}}
metrics: {{enabled: true}}
auth:
  keys: [{{id: bench, key: {CLIENT_KEY}}}]
backends:
  - {{name: gpu0, kind: vllm, url: 'http://127.0.0.1:{upstream_port}/v1', anthropic: translate}}
models:
  m: {{backend: gpu0}}
"
        ),
    )
    .expect("write config");
    let log = std::fs::File::create(dir.join(format!("{tag}.log"))).expect("log file");
    let err = log.try_clone().expect("log file");
    let child = wrapped(binary, "BENCH_LLMGATE_WRAPPER")
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start llmgate");
    wait_listening(port, tag);
    Proxy { port, child }
}

/// The llmgate binary to measure: this build, or the one `BENCH_LLMGATE_BIN` names.
pub fn llmgate_binary() -> std::path::PathBuf {
    std::env::var_os("BENCH_LLMGATE_BIN")
        .map_or_else(|| release_dir().join("llmgate"), std::path::PathBuf::from)
}

/// `binary`, run under the profiler that the environment variable `wrapper_var` names
/// (e.g. `BENCH_LLMGATE_WRAPPER="valgrind --tool=callgrind"`), when it is set.
fn wrapped(binary: &Path, wrapper_var: &str) -> Command {
    let wrapper = std::env::var(wrapper_var).unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(binary);
            c
        }
        None => Command::new(binary),
    }
}

/// The 40-line Pingora pass-through in `bench/bare_pingora.rs`.
pub fn bare_pingora(upstream_port: u16) -> Proxy {
    let port = free_port();
    let child = wrapped(
        &release_dir().join("examples/bare_pingora"),
        "BENCH_PINGORA_WRAPPER",
    )
    .arg(port.to_string())
    .arg(format!("127.0.0.1:{upstream_port}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("start target/release/examples/bare_pingora");
    wait_listening(port, "bare_pingora");
    Proxy { port, child }
}

/// nginx as a GPU host runs it in front of a model server (unbuffered, keep-alive
/// upstream, no access log), one worker; `None` when nginx is not installed.
pub fn nginx(dir: &Path, upstream_port: u16) -> Option<Proxy> {
    let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port();
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("tmp")).ok()?;
    let conf = format!(
        "worker_processes 1; pid nginx.pid; error_log stderr error;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;
  uwsgi_temp_path tmp; scgi_temp_path tmp;
  client_max_body_size 32m; client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 256; keepalive_requests 1000000; }}
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
    std::fs::write(root.join("nginx.conf"), conf).ok()?;
    let child = Command::new(binary)
        .arg("-p")
        .arg(&root)
        .args(["-c", "nginx.conf", "-g", "daemon off;"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    wait_listening(port, "nginx");
    Some(Proxy { port, child })
}

/// Lets every child open thousands of connections (the memory-per-stream run).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max.min(1 << 20);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
