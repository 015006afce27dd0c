//! Clients that misbehave: broken framing, bodies that stop, slow or silent connections,
//! pipelining, hostile headers. Each gets a clear answer in its own dialect (or a closed
//! connection where nginx would close it), is counted as a client error, and never as a
//! backend error.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::harness::raw::{self, RawResponse};
use crate::harness::{Kind, MockBackend, TestGateway, backends_yaml};

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str =
    r#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#;

async fn gateway(extra_server: &str) -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "server:\n  client_read_timeout_ms: 500\n  client_header_timeout_ms: 1000\n{extra_server}{}models:\n  m: {{backend: b}}\nanthropic: {{ping_interval_ms: 60000}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    (backend, gw)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn only(responses: Vec<RawResponse>) -> RawResponse {
    assert_eq!(responses.len(), 1, "{responses:?}");
    responses.into_iter().next().expect("one")
}

async fn backend_errors(gw: &TestGateway) -> f64 {
    let text = gw.metrics().await;
    text.lines()
        .filter(|l| l.starts_with("llmgate_backend_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_are_client_errors_in_the_clients_dialect() {
    let (backend, gw) = gateway("").await;
    let bad_chunk = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
        )
    };
    let r = only(
        raw::send(
            gw.addr,
            bad_chunk("/v1/chat/completions").as_bytes(),
            Duration::from_secs(3),
        )
        .await,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "malformed_request");
    let r = only(
        raw::send(
            gw.addr,
            bad_chunk("/v1/messages").as_bytes(),
            Duration::from_secs(3),
        )
        .await,
    );
    assert_eq!(
        r.status, 400,
        "not 529 overloaded, which the SDKs would retry: {r:?}"
    );
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    // A body shorter than its Content-Length, then a half-close: 400.
    let mut s = raw::connect(gw.addr).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        CHAT.len() + 50
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(CHAT.as_bytes()).await.expect("write");
    s.shutdown().await.expect("half-close");
    let (bytes, _) = raw::read_until_close(&mut s, Duration::from_secs(3)).await;
    let r = only(raw::parse_responses(&bytes));
    assert_eq!(r.status, 400, "{r:?}");

    // A client that stalls mid-body: 408 after client_read_timeout_ms.
    let mut s = raw::connect(gw.addr).await;
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(&CHAT.as_bytes()[..10]).await.expect("write");
    let (bytes, closed) = raw::read_until_close(&mut s, Duration::from_secs(3)).await;
    let r = only(raw::parse_responses(&bytes));
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "request_timeout");
    assert!(closed, "a connection with an unread body is not reused");

    let text = gw
        .wait_metric("llmgate_client_errors_total{kind=\"timeout\"} 1")
        .await;
    assert_eq!(
        metric(&text, "llmgate_client_errors_total{kind=\"malformed\"}"),
        3.0
    );
    assert_eq!(
        backend_errors(&gw).await,
        0.0,
        "client faults are not backend errors"
    );
    assert!(
        backend.requests().is_empty(),
        "nothing broken reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_requests_get_a_json_body_and_absolute_form_works() {
    let (_backend, gw) = gateway("").await;
    let many_headers: String = (0..300).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: Vec<(&str, String, u16)> = vec![
        ("300 headers", format!("GET /livez HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n"), 400),
        ("duplicate content-length", format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n{CHAT}"), 400),
        ("invalid content-length", "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5x\r\n\r\nhello".to_owned(), 400),
        ("obfuscated transfer-encoding", "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\ncontent-length: 3\r\n\r\nabc".to_owned(), 400),
        ("malformed header line", "GET /livez HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n".to_owned(), 400),
        ("100 KiB target", format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(100 * 1024)), 400),
        ("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n".to_owned(), 405),
    ];
    for (name, request, status) in cases {
        let got = raw::send(gw.addr, request.as_bytes(), Duration::from_secs(3)).await;
        let r = got
            .first()
            .unwrap_or_else(|| panic!("{name}: no response at all"));
        assert_eq!(r.status, status, "{name}: {r:?}");
        assert!(r.status >= 400, "{name}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        assert!(r.json()["error"]["message"].is_string(), "{name}: {r:?}");
    }

    // RFC 9112 §3.2.2: servers must accept the absolute form.
    let request = format!(
        "POST http://{}/v1/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{CHAT}",
        gw.addr,
        gw.addr,
        CHAT.len()
    );
    let r = only(raw::send(gw.addr, request.as_bytes(), Duration::from_secs(3)).await);
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_in_order() {
    let (backend, gw) = gateway("").await;
    let post = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{CHAT}",
        CHAT.len()
    );
    let request = format!(
        "GET /livez HTTP/1.1\r\nhost: x\r\n\r\n{post}GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    );
    let got = raw::send(gw.addr, request.as_bytes(), Duration::from_secs(5)).await;
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200], "{got:?}");
    assert_eq!(got[0].json()["status"], "ok");
    assert_eq!(got[1].json()["object"], "chat.completion");
    assert_eq!(got[2].json()["object"], "list");
    assert_eq!(backend.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_connections_are_closed_after_the_header_timeout() {
    let (_backend, gw) = gateway("").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let addr = gw.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = raw::connect(addr).await;
            if i % 2 == 0 {
                // Silent: connects and sends nothing.
                let (_, closed) = raw::read_until_close(&mut s, Duration::from_secs(5)).await;
                return closed;
            }
            // Slowloris: one byte every 100 ms, never finishing the header.
            let request = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            for b in request {
                if s.write_all(&[*b]).await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let (_, closed) = raw::read_until_close(&mut s, Duration::from_secs(3)).await;
            closed
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"), "a slow connection was kept open");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed after ~1 s (client_header_timeout_ms), not 60 s"
    );
    // A kept-alive connection may idle past the header timeout (up to its keep-alive
    // time) and still be served.
    let mut s = raw::connect(gw.addr).await;
    for _ in 0..2 {
        s.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let (bytes, closed) = raw::read_until_close(&mut s, Duration::from_millis(1500)).await;
        assert!(!closed);
        assert_eq!(raw::parse_responses(&bytes)[0].status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_any_form_stay_at_the_gateway() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "auth:\n  keys: [{{id: alice, key: client-secret-key-1}}]\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw
        .client()
        .post(gw.url("/v1/chat/completions?api_key=client-secret-key-1&key=k2&beta=true"))
        .header("authorization", "Bearer client-secret-key-1")
        .header("api-key", "client-secret-key-1")
        .header("anthropic-api-key", "client-secret-key-1")
        .header("x-goog-api-key", "client-secret-key-1")
        .body(CHAT)
        .send()
        .await
        .expect("chat");
    assert_eq!(r.status(), 200);
    let got = backend.wait_requests(1, Duration::from_secs(5)).await;
    let seen = format!("{:?} {:?}", got[0].target, got[0].headers);
    assert!(!seen.contains("client-secret-key-1"), "{seen}");
    assert!(!seen.contains("k2"), "{seen}");
    assert_eq!(got[0].target, "/v1/chat/completions?beta=true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_deep_json_are_refused_on_both_dialects() {
    let (backend, gw) = gateway("").await;
    let mut bad_utf8 = CHAT.as_bytes().to_vec();
    let at = bad_utf8.len() - 5;
    bad_utf8.insert(at, 0xff);
    let deep = format!(
        "{{\"model\":\"m\",\"max_tokens\":8,\"messages\":[],\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for path in ["/v1/chat/completions", "/v1/messages"] {
        for body in [bad_utf8.clone(), deep.clone().into_bytes()] {
            let r = gw.post(path, body).await;
            assert_eq!(r.status(), 400, "{path}");
            let v: serde_json::Value = r.json().await.expect("json");
            assert!(v["error"]["message"].is_string(), "{path}: {v}");
        }
    }
    // A well-formed request still goes through on both.
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status(), 200);
    assert_eq!(gw.post("/v1/messages", MESSAGES).await.status(), 200);
    assert_eq!(
        backend.requests().len(),
        2,
        "nothing refused reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_are_shed() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let yaml = format!(
        "server:\n  client_header_timeout_ms: 30000\n  max_idle_connections: 20\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    let mut conns = Vec::new();
    for _ in 0..60 {
        conns.push(raw::connect(gw.addr).await);
    }
    let closed = futures_util::future::join_all(
        conns
            .iter_mut()
            .map(|s| async move { raw::read_until_close(s, Duration::from_secs(4)).await.1 }),
    )
    .await;
    let shed = closed.iter().filter(|c| **c).count();
    assert!(
        shed >= 40,
        "the 40 connections past the cap get 1 s, not 30 s: {shed} closed"
    );
    assert_eq!(gw.post("/v1/chat/completions", CHAT).await.status(), 200);
}

/// Forwarding headers are believed only from `server.trusted_proxies`: anyone else could
/// claim any address (and dodge a per-address rate limit with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_believed_only_from_trusted_proxies() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let base = |trusted: &str| {
        format!(
            "server:\n  trusted_proxies: [{trusted}]\nlimits:\n  rate_limit: {{enabled: true, requests_per_minute: 1, burst: 1}}\nbackends:\n  - {{name: b, kind: vllm, url: '{}'}}\nmodels:\n  m: {{backend: b}}\n",
            backend.url()
        )
    };
    let chat = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let send = |gw: &TestGateway, claimed: &'static str| {
        gw.client()
            .post(gw.url("/v1/chat/completions"))
            .header("x-forwarded-for", claimed)
            .header("forwarded", format!("for={claimed}"))
            .header("x-forwarded-proto", "https")
            .body(chat)
            .send()
    };

    let untrusted = TestGateway::start(&base("")).await;
    assert_eq!(
        send(&untrusted, "6.6.6.6").await.expect("send").status(),
        200
    );
    let seen = backend.requests().pop().expect("request");
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("127.0.0.1"),
        "replaced"
    );
    assert_eq!(seen.header("forwarded"), None);
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    // Another claimed address is still the same client: one bucket.
    assert_eq!(
        send(&untrusted, "7.7.7.7").await.expect("send").status(),
        429
    );

    let trusted = TestGateway::start(&base("127.0.0.0/8")).await;
    assert_eq!(send(&trusted, "6.6.6.6").await.expect("send").status(), 200);
    let seen = backend.requests().pop().expect("request");
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("6.6.6.6, 127.0.0.1"),
        "appended"
    );
    assert_eq!(seen.header("forwarded"), Some("for=6.6.6.6"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    // Behind a trusted proxy, clients are told apart by their forwarded address.
    assert_eq!(send(&trusted, "7.7.7.7").await.expect("send").status(), 200);
    assert_eq!(send(&trusted, "7.7.7.7").await.expect("send").status(), 429);
}
