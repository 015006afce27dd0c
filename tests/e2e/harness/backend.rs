//! A scriptable inference runtime on loopback, speaking HTTP/1.1 over a raw socket so each
//! runtime's documented behaviour can be reproduced exactly: health while loading, SSE
//! framing, error shapes (see ../shared/docs/backends.md). It records every request it
//! receives, and notices when a client closes a stream early.
//!
//! Also compiled into `examples/mock_backend.rs` for `make demo`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[path = "anthropic_api.rs"]
pub mod anthropic_api;

/// Which runtime to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vllm,
    Llamacpp,
    Ollama,
    Tgi,
    Sglang,
    Localai,
    Openai,
    /// api.anthropic.com (see `anthropic_api`).
    Anthropic,
}

impl Kind {
    pub fn config_name(self) -> &'static str {
        match self {
            Kind::Vllm => "vllm",
            Kind::Llamacpp => "llamacpp",
            Kind::Ollama => "ollama",
            Kind::Tgi => "tgi",
            Kind::Sglang => "sglang",
            Kind::Localai => "localai",
            Kind::Openai => "openai",
            Kind::Anthropic => "anthropic",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Vllm,
            Kind::Llamacpp,
            Kind::Ollama,
            Kind::Tgi,
            Kind::Sglang,
            Kind::Localai,
            Kind::Openai,
            Kind::Anthropic,
        ]
        .into_iter()
        .find(|k| k.config_name() == s)
    }
}

/// A request as the backend received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A scripted answer, used instead of the runtime's default behaviour.
#[derive(Clone)]
pub enum Reply {
    Json {
        status: u16,
        body: String,
    },
    /// Raw head (`HTTP/1.1 ...` lines without the blank line) and body.
    Raw {
        head: String,
        body: Bytes,
    },
    /// SSE events written as chunks, `delay` apart. With a `gate`, the last event waits
    /// until the gate is notified. With `split`, each event goes out in two writes.
    Sse {
        events: Vec<Bytes>,
        delay: Duration,
        gate: Option<Arc<Notify>>,
        split: bool,
        /// Stop after the events without the terminating chunk, and close (a crash).
        truncate: bool,
    },
    /// Read the request, never answer.
    Hang,
    /// Close the connection without answering.
    Close,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json {
            status,
            body: body.to_string(),
        }
    }

    pub fn sse(events: Vec<Bytes>) -> Reply {
        Reply::Sse {
            events,
            delay: Duration::ZERO,
            gate: None,
            split: false,
            truncate: false,
        }
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    /// Replaces the default for every request to this path, until cleared.
    fixed: Mutex<Vec<(String, Reply)>>,
    loading: AtomicBool,
    native_messages: AtomicBool,
    closed_early: Mutex<Vec<Instant>>,
    closed_notify: Notify,
    received_notify: Notify,
}

pub struct MockBackend {
    pub addr: SocketAddr,
    pub kind: Kind,
    pub model: String,
    state: Arc<State>,
    stop: Arc<Notify>,
}

impl Drop for MockBackend {
    fn drop(&mut self) {
        self.stop.notify_waiters();
    }
}

impl MockBackend {
    /// Starts on an ephemeral loopback port.
    pub async fn start(kind: Kind, model: &str) -> MockBackend {
        Self::start_on(kind, model, "127.0.0.1:0").await
    }

    pub async fn start_on(kind: Kind, model: &str, bind: &str) -> MockBackend {
        let listener = TcpListener::bind(bind).await.expect("bind mock backend");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let stop = Arc::new(Notify::new());
        let (st, stopped, model_name) = (Arc::clone(&state), Arc::clone(&stop), model.to_owned());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        // Replies go out in several writes; without this, Nagle plus
                        // delayed ACKs add ~40 ms to every exchange.
                        let _ = stream.set_nodelay(true);
                        let (st, model) = (Arc::clone(&st), model_name.clone());
                        tokio::spawn(async move { serve_connection(stream, kind, &model, st).await });
                    }
                    _ = stopped.notified() => return,
                }
            }
        });
        MockBackend {
            addr,
            kind,
            model: model.to_owned(),
            state,
            stop,
        }
    }

    /// The OpenAI base URL to put in the gateway config.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The next request (to any path other than health probes) gets `reply`.
    pub fn push(&self, reply: Reply) {
        self.state.script.lock().expect("lock").push_back(reply);
    }

    /// Every request to `path` gets `reply` until [`MockBackend::clear_fixed`].
    pub fn fix(&self, path: &str, reply: Reply) {
        self.state
            .fixed
            .lock()
            .expect("lock")
            .push((path.to_owned(), reply));
    }

    pub fn clear_fixed(&self) {
        self.state.fixed.lock().expect("lock").clear();
    }

    /// While loading, llama.cpp answers 503 "Loading model" everywhere; SGLang's /ready
    /// and LocalAI's /readyz say 503.
    pub fn set_loading(&self, loading: bool) {
        self.state.loading.store(loading, Ordering::SeqCst);
    }

    /// Serve Anthropic's `/v1/messages` natively, as recent vLLM, llama.cpp and Ollama do.
    pub fn set_native_messages(&self, native: bool) {
        self.state.native_messages.store(native, Ordering::SeqCst);
    }

    /// Requests received, health probes excluded.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| !is_probe_request(r))
            .cloned()
            .collect()
    }

    /// All requests, health probes included.
    pub fn all_requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Waits until `n` non-probe requests have arrived.
    pub async fn wait_requests(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.state.received_notify.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Times at which a client closed the connection before a stream ended.
    pub fn closed_early(&self) -> Vec<Instant> {
        self.state.closed_early.lock().expect("lock").clone()
    }

    /// Waits until a client closes a stream early; returns when it happened.
    pub async fn wait_closed_early(&self, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.state.closed_notify.notified();
            if let Some(t) = self.closed_early().first() {
                return *t;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the upstream connection was not closed within {within:?}"
            );
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

fn is_probe(target: &str) -> bool {
    matches!(target, "/health" | "/ready" | "/readyz" | "/api/tags")
}

/// Health probes, the gateway's own reads of the model list (hosted APIs are probed that
/// way; the other runtimes' lists are read for `/v1/models`), and its one-time "do you
/// serve /v1/messages?" question.
fn is_probe_request(r: &Recorded) -> bool {
    let gateways_own = r
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("llmgate/"));
    is_probe(&r.target)
        || (r.target == "/v1/messages" && &r.body[..] == b"{}")
        || (r.method == "GET" && r.target.ends_with("/models") && gateways_own)
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    buf.drain(..head_end);
    while buf.len() < len {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = Bytes::copy_from_slice(&buf[..len]);
    buf.drain(..len);
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}

async fn serve_connection(mut stream: TcpStream, kind: Kind, model: &str, state: Arc<State>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut stream, &mut buf).await {
        state.requests.lock().expect("lock").push(req.clone());
        state.received_notify.notify_waiters();
        let fixed = state
            .fixed
            .lock()
            .expect("lock")
            .iter()
            .find(|(p, _)| *p == req.target)
            .map(|(_, r)| r.clone());
        let reply = match fixed {
            Some(r) => r,
            None if is_probe_request(&req) => default_reply(kind, model, &req, &state),
            None => {
                let scripted = state.script.lock().expect("lock").pop_front();
                scripted.unwrap_or_else(|| default_reply(kind, model, &req, &state))
            }
        };
        if !write_reply(&mut stream, reply, &state).await {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Returns false when the connection must end.
async fn write_reply(stream: &mut TcpStream, reply: Reply, state: &State) -> bool {
    match reply {
        Reply::Json { status, body } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                reason(status),
                body.len()
            );
            stream.write_all(head.as_bytes()).await.is_ok()
                && stream.write_all(body.as_bytes()).await.is_ok()
        }
        Reply::Raw { head, body } => {
            stream
                .write_all(format!("{head}\r\n\r\n").as_bytes())
                .await
                .is_ok()
                && stream.write_all(&body).await.is_ok()
        }
        Reply::Hang => {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            false
        }
        Reply::Close => false,
        Reply::Sse {
            events,
            delay,
            gate,
            split,
            truncate,
        } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            let (mut rd, mut wr) = stream.split();
            let writing = async {
                let last = events.len().saturating_sub(1);
                for (i, event) in events.iter().enumerate() {
                    if i > 0 && !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if i == last
                        && let Some(g) = &gate
                    {
                        g.notified().await;
                    }
                    let parts: Vec<&[u8]> = if split && event.len() > 1 {
                        let mid = event.len() / 2;
                        vec![&event[..mid], &event[mid..]]
                    } else {
                        vec![&event[..]]
                    };
                    for part in parts {
                        let chunk =
                            [format!("{:x}\r\n", part.len()).as_bytes(), part, b"\r\n"].concat();
                        if wr.write_all(&chunk).await.is_err() {
                            return false;
                        }
                        let _ = wr.flush().await;
                        if split {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                if truncate {
                    return false;
                }
                wr.write_all(b"0\r\n\r\n").await.is_ok()
            };
            // A read returning 0 while we still write means the client closed the stream.
            let watching = async {
                let mut probe = [0u8; 1];
                let _ = rd.read(&mut probe).await;
            };
            tokio::select! {
                ok = writing => ok,
                _ = watching => {
                    state.closed_early.lock().expect("lock").push(Instant::now());
                    state.closed_notify.notify_waiters();
                    false
                }
            }
        }
    }
}

/// The canned Anthropic stream a native backend sends.
pub const NATIVE_SSE: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_native\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"native\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":1}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn native_messages(path: &str, req: &Recorded) -> Reply {
    let body = req.json();
    if path == "/v1/messages/count_tokens" {
        return Reply::json(200, json!({"input_tokens": 42}));
    }
    if body.get("messages").is_none() {
        return Reply::json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: Field required"}}),
        );
    }
    if body["stream"] == json!(true) {
        let events = NATIVE_SSE
            .split_inclusive("\n\n")
            .map(|e| Bytes::from(e.to_owned()))
            .collect();
        return Reply::sse(events);
    }
    Reply::json(
        200,
        json!({"id": "msg_native", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": "native"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 1}}),
    )
}

/// One SSE `data:` event.
pub fn data(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// A chat completion stream of `pieces` in the framing of `kind`.
pub fn chat_stream(kind: Kind, model: &str, pieces: &[&str], include_usage: bool) -> Vec<Bytes> {
    let id = match kind {
        Kind::Tgi => String::new(),
        _ => "chatcmpl-mock0001".to_owned(),
    };
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_795_313_458u64, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut out = Vec::new();
    match kind {
        Kind::Llamacpp => out.push(data(&chunk(
            json!({"role": "assistant", "content": null}),
            Value::Null,
        ))),
        Kind::Tgi => {}
        _ => out.push(data(&chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ))),
    }
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let delta = match kind {
            Kind::Tgi => json!({"role": "assistant", "content": piece}),
            _ => json!({"content": piece}),
        };
        // vLLM and TGI put finish_reason on the last content chunk; the others send a
        // separate empty-delta chunk.
        let finish_here = last && matches!(kind, Kind::Vllm | Kind::Tgi | Kind::Openai);
        out.push(data(&chunk(
            delta,
            if finish_here {
                json!("stop")
            } else {
                Value::Null
            },
        )));
    }
    if !matches!(kind, Kind::Vllm | Kind::Tgi | Kind::Openai) {
        out.push(data(&chunk(json!({}), json!("stop"))));
    }
    if include_usage {
        let n = pieces.len() as u64;
        out.push(data(&json!({"id": id, "object": "chat.completion.chunk", "created": 1_795_313_458u64,
            "model": model, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n}})));
    }
    out.push(done());
    out
}

fn chat_json(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-mock0002", "object": "chat.completion", "created": 1_795_313_458u64, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
    })
}

/// Not-found bodies differ per runtime; a gateway must never forward them for its own routes.
fn not_found(kind: Kind) -> Reply {
    match kind {
        Kind::Vllm | Kind::Sglang => Reply::json(404, json!({"detail": "Not Found"})),
        Kind::Tgi => Reply::Raw {
            head: "HTTP/1.1 404 Not Found\r\ncontent-length: 0".into(),
            body: Bytes::new(),
        },
        _ => Reply::json(
            404,
            json!({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}),
        ),
    }
}

fn default_reply(kind: Kind, model: &str, req: &Recorded, state: &State) -> Reply {
    let loading = state.loading.load(Ordering::SeqCst);
    if loading && kind == Kind::Llamacpp {
        return Reply::json(
            503,
            json!({"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}),
        );
    }
    let path = req.target.split('?').next().unwrap_or("");
    if kind == Kind::Anthropic {
        return anthropic_api::reply(model, path, req);
    }
    if state.native_messages.load(Ordering::SeqCst) && path.starts_with("/v1/messages") {
        return native_messages(path, req);
    }
    match (kind, req.method.as_str(), path) {
        (Kind::Vllm | Kind::Tgi, "GET", "/health") => Reply::Raw {
            head: "HTTP/1.1 200 OK\r\ncontent-length: 0".into(),
            body: Bytes::new(),
        },
        (Kind::Llamacpp, "GET", "/health") => Reply::json(200, json!({"status": "ok"})),
        (Kind::Sglang, "GET", "/ready") | (Kind::Localai, "GET", "/readyz") if loading => {
            Reply::json(503, json!({"status": "starting"}))
        }
        (Kind::Sglang, "GET", "/ready") | (Kind::Localai, "GET", "/readyz") => {
            Reply::json(200, json!({"status": "ok"}))
        }
        (Kind::Ollama, "GET", "/api/tags") => {
            Reply::json(200, json!({"models": [{"name": model}]}))
        }
        // vLLM describes each model further (`serving_models.py`: root, max_model_len).
        (Kind::Vllm, "GET", "/v1/models") => Reply::json(
            200,
            json!({"object": "list", "data": [{"id": model, "object": "model", "created": 1, "owned_by": "vllm",
                "root": model, "parent": null, "max_model_len": 8192}]}),
        ),
        (_, "GET", "/v1/models") => Reply::json(
            200,
            json!({"object": "list", "data": [{"id": model, "object": "model", "created": 1, "owned_by": kind.config_name()}]}),
        ),
        // Ollama's OpenAI layer retrieves models; vLLM and llama.cpp have no such route.
        (Kind::Ollama, "GET", p) if p.starts_with("/v1/models/") => {
            if p["/v1/models/".len()..] == *model {
                Reply::json(
                    200,
                    json!({"id": model, "object": "model", "created": 1, "owned_by": "library"}),
                )
            } else {
                Reply::json(
                    404,
                    json!({"error": {"message": format!("model \"{}\" not found", &p[11..]), "type": "api_error", "param": null, "code": null}}),
                )
            }
        }
        (_, "POST", "/v1/chat/completions") => {
            let body = req.json();
            let asked = body["model"].as_str().unwrap_or(model).to_owned();
            if body["stream"] == json!(true) {
                let usage = body["stream_options"]["include_usage"] == json!(true);
                Reply::Sse {
                    events: chat_stream(kind, &asked, &["Hello", " from", " the", " mock"], usage),
                    delay: Duration::from_millis(20),
                    gate: None,
                    split: true,
                    truncate: false,
                }
            } else {
                Reply::json(200, chat_json(&asked, "Hello from the mock"))
            }
        }
        // OpenAI's Responses API (vLLM, llama.cpp, OpenAI serve it).
        (Kind::Vllm | Kind::Llamacpp | Kind::Openai, "POST", "/v1/responses") => {
            let body = req.json();
            let asked = body["model"].as_str().unwrap_or(model).to_owned();
            let usage = json!({"input_tokens": 7, "output_tokens": 3, "total_tokens": 10,
                "input_tokens_details": {"cached_tokens": 2}});
            let done = json!({"id": "resp_1", "object": "response", "model": asked, "status": "completed",
                "output": [{"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi there"}]}], "usage": usage});
            if body["stream"] == json!(true) {
                let event =
                    |name: &str, v: Value| Bytes::from(format!("event: {name}\ndata: {v}\n\n"));
                Reply::sse(vec![
                    event(
                        "response.created",
                        json!({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
                    ),
                    event(
                        "response.output_text.delta",
                        json!({"type": "response.output_text.delta", "delta": "Hi"}),
                    ),
                    event(
                        "response.output_text.delta",
                        json!({"type": "response.output_text.delta", "delta": " there"}),
                    ),
                    event(
                        "response.completed",
                        json!({"type": "response.completed", "response": done}),
                    ),
                ])
            } else {
                Reply::json(200, done)
            }
        }
        // Passthrough targets: echo what arrived, so tests see the bytes and the query.
        (_, _, "/v1/rerank" | "/v1/audio/transcriptions" | "/v1/audio/voices") => Reply::json(
            200,
            json!({"echo": {"method": req.method, "target": req.target, "bytes": req.body.len(),
                "content_type": req.header("content-type")}}),
        ),
        (_, "POST", "/v1/completions") => {
            let body = req.json();
            let asked = body["model"].as_str().unwrap_or(model).to_owned();
            let text = |t: &str, finish: Value| {
                json!({"id": "cmpl-mock", "object": "text_completion", "created": 1, "model": asked,
                       "choices": [{"index": 0, "text": t, "finish_reason": finish, "logprobs": null}]})
            };
            if body["stream"] == json!(true) {
                Reply::sse(vec![
                    data(&text(" once", Value::Null)),
                    data(&text(" upon", json!("length"))),
                    done(),
                ])
            } else {
                Reply::json(200, text(" once upon", json!("length")))
            }
        }
        // vLLM counts chat requests at the server root; llama.cpp renders then tokenizes.
        (Kind::Vllm, "POST", "/tokenize") => {
            let n = req.json()["messages"].to_string().len() as u64 / 4;
            Reply::json(
                200,
                json!({"count": n, "max_model_len": 8192, "tokens": []}),
            )
        }
        (Kind::Llamacpp, "POST", "/apply-template") => {
            let prompt = format!("<|im_start|>{}<|im_end|>", req.json()["messages"]);
            Reply::json(200, json!({"prompt": prompt}))
        }
        (Kind::Llamacpp, "POST", "/tokenize") => {
            let n = req.json()["content"].as_str().map_or(0, |c| c.len() / 4);
            Reply::json(200, json!({"tokens": vec![1; n]}))
        }
        (Kind::Sglang, "POST", "/v1/tokenize") => {
            let n = req.json()["messages"].to_string().len() as u64 / 4;
            Reply::json(
                200,
                json!({"tokens": [], "count": n, "max_model_len": 8192}),
            )
        }
        (Kind::Tgi, "POST", "/chat_tokenize") => {
            let n = req.json()["messages"].to_string().len() / 4;
            let tokens: Vec<Value> = (0..n)
                .map(|i| json!({"id": i, "text": "t", "start": 0, "stop": 1}))
                .collect();
            Reply::json(
                200,
                json!({"tokenize_response": tokens, "templated_text": "..."}),
            )
        }
        (Kind::Tgi, "POST", "/v1/embeddings") => not_found(kind),
        (_, "POST", "/v1/embeddings") => {
            let asked = req.json()["model"].as_str().unwrap_or(model).to_owned();
            Reply::json(
                200,
                json!({"object": "list", "model": asked,
                       "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]}],
                       "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
            )
        }
        _ => not_found(kind),
    }
}
