//! The mock inference server behind every proxy in the bench: vLLM's answer shapes, cheap
//! enough to answer far faster than any proxy in front of it. Streams send a role chunk at
//! once, then `tokens` token chunks `itl` apart (each token's text carries the marker
//! [`TOKEN_MARK`], which the load generator times), then the finish chunk, the usage chunk
//! when asked for, and `[DONE]`. While `hold` is set, streams stop after their first token
//! until it is cleared: that is how thousands of streams are kept open at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::http1::{Conn, Framing, find};

/// Appears once in every streamed token, in either dialect, and nowhere else.
pub const TOKEN_MARK: &[u8] = b"zqx";

pub struct Upstream {
    pub port: u16,
    pub tokens: AtomicUsize,
    pub itl_us: AtomicU64,
    hold: AtomicBool,
    released: Notify,
}

impl Upstream {
    pub async fn start() -> Arc<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(Upstream {
            port,
            tokens: AtomicUsize::new(32),
            itl_us: AtomicU64::new(5_000),
            hold: AtomicBool::new(false),
            released: Notify::new(),
        });
        let serving = Arc::clone(&up);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let up = Arc::clone(&serving);
                tokio::spawn(async move {
                    let _ = up.serve(Conn::new(stream)).await;
                });
            }
        });
        up
    }

    pub fn set_hold(&self, hold: bool) {
        self.hold.store(hold, Ordering::SeqCst);
        if !hold {
            self.released.notify_waiters();
        }
    }

    async fn serve(&self, mut conn: Conn) -> std::io::Result<()> {
        let mut body = Vec::with_capacity(8 * 1024);
        while let Some(head) = conn.read_head().await? {
            body.clear();
            if let Framing::Length(_) | Framing::Chunked = head.framing {
                conn.read_body(head.framing, |b| body.extend_from_slice(b))
                    .await?;
            }
            if body.is_empty() {
                conn.write_all(&json_response(MODELS)).await?;
            } else if find(&body, b"\"stream\":true").is_some() {
                self.stream(&mut conn, find(&body, b"include_usage").is_some())
                    .await?;
            } else if head.path_is_messages {
                conn.write_all(&json_response(ANTHROPIC_MESSAGE)).await?;
            } else {
                conn.write_all(&json_response(CHAT_COMPLETION)).await?;
            }
        }
        Ok(())
    }

    async fn stream(&self, conn: &mut Conn, usage: bool) -> std::io::Result<()> {
        let tokens = self.tokens.load(Ordering::Relaxed);
        let itl = Duration::from_micros(self.itl_us.load(Ordering::Relaxed));
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        chunk(&mut out, ROLE_CHUNK);
        conn.write_all(&out).await?;
        for i in 0..tokens {
            tokio::time::sleep(itl).await;
            if i == 1 && self.hold.load(Ordering::SeqCst) {
                let released = self.released.notified();
                if self.hold.load(Ordering::SeqCst) {
                    released.await;
                }
            }
            out.clear();
            chunk(&mut out, TOKEN_CHUNK);
            conn.write_all(&out).await?;
        }
        out.clear();
        chunk(&mut out, FINISH_CHUNK);
        if usage {
            chunk(&mut out, USAGE_CHUNK);
        }
        chunk(&mut out, b"data: [DONE]\n\n");
        out.extend_from_slice(b"0\r\n\r\n");
        conn.write_all(&out).await
    }
}

fn chunk(out: &mut Vec<u8>, event: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", event.len()).as_bytes());
    out.extend_from_slice(event);
    out.extend_from_slice(b"\r\n");
}

fn json_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const MODELS: &str = r#"{"object":"list","data":[{"id":"m","object":"model","created":1733000000,"owned_by":"vllm","max_model_len":8192}]}"#;

const CHAT_COMPLETION: &str = r#"{"id":"chatcmpl-b7c6a1e2f0d94c3a","object":"chat.completion","created":1733000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris. It has been the country's capital since the 10th century.","tool_calls":[]},"logprobs":null,"finish_reason":"stop","stop_reason":null}],"usage":{"prompt_tokens":24,"total_tokens":45,"completion_tokens":21,"prompt_tokens_details":null},"prompt_logprobs":null}"#;

const ANTHROPIC_MESSAGE: &str = r#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"The capital of France is Paris. It has been the country's capital since the 10th century."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":24,"output_tokens":21}}"#;

const ROLE_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-b7c6a1e2f0d94c3a","object":"chat.completion.chunk","created":1733000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

"#;

const TOKEN_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-b7c6a1e2f0d94c3a","object":"chat.completion.chunk","created":1733000000,"model":"m","choices":[{"index":0,"delta":{"content":" zqx"},"logprobs":null,"finish_reason":null}]}

"#;

const FINISH_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-b7c6a1e2f0d94c3a","object":"chat.completion.chunk","created":1733000000,"model":"m","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}

"#;

const USAGE_CHUNK: &[u8] = br#"data: {"id":"chatcmpl-b7c6a1e2f0d94c3a","object":"chat.completion.chunk","created":1733000000,"model":"m","choices":[],"usage":{"prompt_tokens":24,"total_tokens":56,"completion_tokens":32}}

"#;
