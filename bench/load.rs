//! The load generator: closed loop (N connections, back to back), open loop (a fixed
//! rate, whatever the answers do), streams (time to first token and between tokens), and
//! held streams (thousands open at once, for memory per stream).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http1::{Conn, find};
use crate::upstream::TOKEN_MARK;

/// A request as bytes on the wire, built once per scenario.
pub fn request(path: &str, body: &str, key: Option<&str>) -> Arc<Vec<u8>> {
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    Arc::new(
        format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[derive(Default)]
pub struct Run {
    pub count: usize,
    pub elapsed: Duration,
    /// Microseconds, sorted.
    pub latency_us: Vec<u32>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latency_us, q) as f64 / 1000.0
    }
}

pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// Token arrival times of one answer.
#[derive(Default)]
struct Tokens {
    ttft_us: Option<u32>,
    last: Option<Instant>,
    gaps_us: Vec<u32>,
    count: usize,
}

/// Sends `req` on `conn` and reads the whole answer, timing tokens when it streams.
async fn exchange(conn: &mut Conn, req: &[u8], sent: Instant, tokens: &mut Tokens) -> bool {
    if conn.write_all(req).await.is_err() {
        return false;
    }
    let Ok(Some(head)) = conn.read_head().await else {
        return false;
    };
    let ok = conn
        .read_body(head.framing, |piece| {
            let marks = memchr::memmem::find_iter(piece, TOKEN_MARK).count();
            if marks == 0 {
                return;
            }
            let now = Instant::now();
            match tokens.last {
                None => tokens.ttft_us = Some(micros(now - sent)),
                Some(prev) => tokens.gaps_us.push(micros(now - prev)),
            }
            tokens.gaps_us.extend(std::iter::repeat_n(0, marks - 1));
            tokens.last = Some(now);
            tokens.count += marks;
        })
        .await
        .is_ok();
    ok && head.status == 200
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

/// `concurrency` connections, each sending `req` back to back for `secs`.
pub async fn closed_loop(addr: &str, req: Arc<Vec<u8>>, concurrency: usize, secs: f64) -> Run {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, req) = (addr.to_owned(), Arc::clone(&req));
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let Ok(mut conn) = Conn::connect(&addr).await else {
                return times;
            };
            while Instant::now() < deadline {
                let t = Instant::now();
                if !exchange(&mut conn, &req, t, &mut Tokens::default()).await {
                    eprintln!("closed loop: a request to {addr} failed");
                    break;
                }
                times.push(micros(t.elapsed()));
            }
            times
        }));
    }
    collect(tasks, started).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<u32>>>, started: Instant) -> Run {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    Run {
        count: all.len(),
        elapsed,
        latency_us: all,
    }
}

/// `rate` requests per second for `secs`, each sent when its time comes on an idle
/// connection (a new one if none is idle), whether or not earlier answers are back.
pub async fn open_loop(addr: &str, req: Arc<Vec<u8>>, rate: f64, secs: f64) -> Run {
    let idle: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..16 {
        if let Ok(c) = Conn::connect(addr).await {
            idle.lock().expect("pool").push(c);
        }
    }
    let total = (rate * secs) as usize;
    let period = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + period * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (addr, req, idle) = (addr.to_owned(), Arc::clone(&req), Arc::clone(&idle));
        tasks.push(tokio::spawn(async move {
            let pooled = idle.lock().ok().and_then(|mut p| p.pop());
            let mut conn = match pooled {
                Some(c) => c,
                None => match Conn::connect(&addr).await {
                    Ok(c) => c,
                    Err(_) => return Vec::new(),
                },
            };
            let t = Instant::now();
            if !exchange(&mut conn, &req, t, &mut Tokens::default()).await {
                eprintln!("open loop: a request to {addr} failed");
                return Vec::new();
            }
            let took = micros(t.elapsed());
            if let Ok(mut p) = idle.lock() {
                p.push(conn);
            }
            vec![took]
        }));
    }
    collect(tasks, started).await
}

pub struct StreamRun {
    pub streams: usize,
    pub tokens: usize,
    pub ttft_us: Vec<u32>,
    pub itl_us: Vec<u32>,
}

/// `concurrency` connections streaming back to back for `secs`.
pub async fn streams(addr: &str, req: Arc<Vec<u8>>, concurrency: usize, secs: f64) -> StreamRun {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (addr, req) = (addr.to_owned(), Arc::clone(&req));
        tasks.push(tokio::spawn(async move {
            let mut all = Vec::new();
            let Ok(mut conn) = Conn::connect(&addr).await else {
                return all;
            };
            while Instant::now() < deadline {
                let mut tokens = Tokens::default();
                if !exchange(&mut conn, &req, Instant::now(), &mut tokens).await {
                    eprintln!("streams: a stream from {addr} failed");
                    break;
                }
                all.push(tokens);
            }
            all
        }));
    }
    let mut run = StreamRun {
        streams: 0,
        tokens: 0,
        ttft_us: Vec::new(),
        itl_us: Vec::new(),
    };
    for t in tasks {
        for tokens in t.await.unwrap_or_default() {
            run.streams += 1;
            run.tokens += tokens.count;
            run.ttft_us.extend(tokens.ttft_us);
            run.itl_us.extend(tokens.gaps_us);
        }
    }
    run.ttft_us.sort_unstable();
    run.itl_us.sort_unstable();
    run
}

/// Opens `n` streams and returns once each has delivered its first token (the upstream
/// holds them there); the connections stay open until the returned tasks are awaited.
pub async fn hold_streams(
    addr: &str,
    req: Arc<Vec<u8>>,
    n: usize,
) -> (usize, Vec<tokio::task::JoinHandle<bool>>) {
    let (first, mut firsts) = tokio::sync::mpsc::channel::<()>(n.max(1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (addr, req, first) = (addr.to_owned(), Arc::clone(&req), first.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = Conn::connect(&addr).await else {
                return false;
            };
            if conn.write_all(&req).await.is_err() {
                return false;
            }
            let Ok(Some(head)) = conn.read_head().await else {
                return false;
            };
            let mut signalled = false;
            conn.read_body(head.framing, |piece| {
                if !signalled && find(piece, TOKEN_MARK).is_some() {
                    signalled = true;
                    let _ = first.try_send(());
                }
            })
            .await
            .is_ok()
        }));
    }
    drop(first);
    let mut open = 0;
    let wait = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(wait);
    while open < n {
        tokio::select! {
            got = firsts.recv() => match got { Some(()) => open += 1, None => break },
            _ = &mut wait => break,
        }
    }
    (open, tasks)
}
