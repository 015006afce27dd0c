//! OpenAI routes: bytes in, bytes out, streamed as they arrive, with header hygiene.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::Notify;

use crate::harness::backend::{chat_stream, data, done};
use crate::harness::{EventReader, Kind, MockBackend, PROMPTLY, Reply, TestGateway, backends_yaml};

async fn one_backend(kind: Kind, extra: &str) -> (MockBackend, TestGateway) {
    let backend = MockBackend::start(kind, "served-model").await;
    let yaml = format!(
        "{}    api_key: backend-secret\nmodels:\n  small:\n    backend: gpu0\n    upstream_model: served-model\n  same:\n    backend: gpu0\n{extra}",
        backends_yaml(&[("gpu0", kind, backend.url())])
    );
    let gw = TestGateway::start(&yaml).await;
    (backend, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_json_is_forwarded_byte_for_byte_both_ways() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    // Odd spacing, key order and unknown fields must all survive.
    let sent = "{ \"messages\" : [{\"role\":\"user\",\"content\":\"hi \\u00e9\"}],\n \"model\":\"same\", \"temperature\": 0.50, \"x_vendor\": {\"a\": [1,2]} }";
    let upstream_body =
        "{\"id\":\"x\",  \"object\":\"chat.completion\",\"choices\":[],\"weird\":1.0e3}";
    backend.push(Reply::Raw {
        head: format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-backend-header: kept\r\ncontent-length: {}",
            upstream_body.len()
        ),
        body: Bytes::from(upstream_body),
    });
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(sent)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-backend-header"], "kept");
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(
        resp.text().await.expect("body"),
        upstream_body,
        "response bytes unchanged"
    );
    let got = backend.wait_requests(1, PROMPTLY).await;
    assert_eq!(got[0].target, "/v1/chat/completions");
    assert_eq!(
        got[0].body,
        Bytes::from(sent),
        "request bytes unchanged when the alias is the upstream name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_rewrites_only_the_model_field() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    let sent = "{\"model\":\"small\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":1}";
    let resp = gw.post("/v1/chat/completions", sent).await;
    assert_eq!(resp.status(), 200);
    let got = backend.wait_requests(1, PROMPTLY).await;
    assert_eq!(
        std::str::from_utf8(&got[0].body).expect("utf8"),
        "{\"model\":\"served-model\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":1}"
    );
    assert_eq!(
        got[0].header("content-length"),
        Some(got[0].body.len().to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_and_hop_by_hop_headers_stay_at_the_edge() {
    let (backend, gw) = one_backend(Kind::Llamacpp, "").await;
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", "Bearer client-key")
        .header("x-api-key", "client-key-2")
        .header("proxy-authorization", "Basic abc")
        .header("connection", "keep-alive, x-private-hop")
        .header("x-private-hop", "1")
        .header("te", "trailers")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "req-from-client-42")
        .header("x-custom", "passes")
        .body(r#"{"model":"small","messages":[]}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-request-id"],
        "req-from-client-42",
        "client request id echoed"
    );
    let got = backend.wait_requests(1, PROMPTLY).await;
    let r = &got[0];
    assert_eq!(
        r.header("authorization"),
        Some("Bearer backend-secret"),
        "the backend's own key"
    );
    for name in [
        "x-api-key",
        "proxy-authorization",
        "x-private-hop",
        "te",
        "connection",
    ] {
        assert_eq!(
            r.header(name),
            None,
            "{name} must not reach the backend: {:?}",
            r.headers
        );
    }
    // The client is no trusted proxy: its claimed address is replaced by the real one
    // (hostile_clients.rs covers server.trusted_proxies).
    assert_eq!(r.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(r.header("x-forwarded-proto"), Some("http"));
    assert_eq!(r.header("x-request-id"), Some("req-from-client-42"));
    assert_eq!(r.header("x-custom"), Some("passes"));
    assert_eq!(r.header("host"), Some(backend.addr.to_string().as_str()));
    let raw = format!("{:?}", r.headers);
    assert!(
        !raw.contains("client-key"),
        "no client key anywhere upstream: {raw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_event_arrives_before_the_backend_sends_its_last() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    let gate = Arc::new(Notify::new());
    let events = chat_stream(Kind::Vllm, "served-model", &["a", "b", "c"], false);
    backend.push(Reply::Sse {
        events: events.clone(),
        delay: Duration::ZERO,
        gate: Some(Arc::clone(&gate)),
        split: true,
        truncate: false,
    });
    let resp = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"small","stream":true,"messages":[]}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut reader = EventReader::new(resp);
    // The backend holds its last event until we release the gate: every event before it
    // must already be here, or the gateway is buffering.
    for expected in &events[..events.len() - 1] {
        let got = reader.next().await.expect("event before the last");
        assert_eq!(format!("{got}\n\n").as_bytes(), &expected[..]);
    }
    gate.notify_one();
    let rest = reader.rest().await;
    assert_eq!(rest, vec!["data: [DONE]".to_owned()]);
    assert_eq!(reader.raw, events.concat(), "stream bytes unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_embeddings_pass_through() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    let client = reqwest::Client::new();
    let c: serde_json::Value = client
        .post(gw.url("/v1/completions"))
        .body(r#"{"model":"small","prompt":"once","max_tokens":2}"#)
        .send()
        .await
        .expect("completions")
        .json()
        .await
        .expect("json");
    assert_eq!(c["choices"][0]["text"], " once upon");
    let e = client
        .post(gw.url("/v1/embeddings"))
        .body(r#"{"model":"small","input":"hello"}"#)
        .send()
        .await
        .expect("embeddings");
    assert_eq!(e.status(), 200);
    let e: serde_json::Value = e.json().await.expect("json");
    assert_eq!(e["data"][0]["embedding"], json!([0.25, -0.5, 0.125]));
    let s = client
        .post(gw.url("/v1/completions"))
        .body(r#"{"model":"small","prompt":"once","stream":true}"#)
        .send()
        .await
        .expect("stream");
    let events = EventReader::new(s).rest().await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], "data: [DONE]");
    let paths: Vec<String> = backend.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        paths,
        ["/v1/completions", "/v1/embeddings", "/v1/completions"]
    );
}

/// Pingora replays a pre-read body from a 64 KiB buffer; bigger bodies must still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_reach_the_backend_on_every_route() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    let client = reqwest::Client::new();
    let routes = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];
    let mut expected = 0;
    for size in [200 * 1024, 5 * 1024 * 1024] {
        for route in routes {
            let filler = "x".repeat(size);
            // The model comes last, as the OpenAI SDKs serialise it, so no prefix peek works.
            let body = format!(
                r#"{{"messages":[{{"role":"user","content":"{filler}"}}],"prompt":"p","input":"i","model":"small"}}"#
            );
            let resp = tokio::time::timeout(
                PROMPTLY * 2,
                client.post(gw.url(route)).body(body.clone()).send(),
            )
            .await
            .expect("large body must not hang")
            .expect("request");
            assert_eq!(resp.status(), 200, "{route} with {size} bytes");
            expected += 1;
            let got = backend.wait_requests(expected, PROMPTLY).await;
            let last = got.last().expect("recorded");
            assert_eq!(last.target, route);
            assert_eq!(
                last.body.len(),
                body.len() - "small".len() + "served-model".len(),
                "{route} {size}"
            );
            assert!(last.body.ends_with(b"\"model\":\"served-model\"}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_closes_the_upstream_stream() {
    let (backend, gw) = one_backend(Kind::Llamacpp, "").await;
    let gate = Arc::new(Notify::new()); // never released: the backend would stream forever
    let mut events = vec![data(&json!({"choices":[{"index":0,"delta":{"content":"tok"}}]})); 3];
    events.push(done());
    backend.push(Reply::Sse {
        events,
        delay: Duration::ZERO,
        gate: Some(gate),
        split: false,
        truncate: false,
    });
    let resp = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"small","stream":true,"messages":[]}"#,
        )
        .await;
    let mut reader = EventReader::new(resp);
    reader.next().await.expect("first event");
    let dropped_at = std::time::Instant::now();
    drop(reader);
    let closed_at = backend.wait_closed_early(PROMPTLY).await;
    assert!(
        closed_at.duration_since(dropped_at) < Duration::from_secs(2),
        "upstream closed {:?} after the client left",
        closed_at.duration_since(dropped_at)
    );
    gw.wait_metric("llmgate_inflight_requests 0").await;
}

/// Backend errors already in OpenAI's envelope (vLLM, llama.cpp, Ollama) arrive byte for
/// byte; the other runtimes' shapes (backends.md §8.4) are put into the envelope with the
/// backend's message and status; a backend refusing the gateway's own key is a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_errors_reach_openai_clients_in_openai_shape() {
    let (backend, gw) = one_backend(Kind::Vllm, "").await;
    let call = || async {
        let resp = gw
            .post("/v1/chat/completions", r#"{"model":"small","messages":[]}"#)
            .await;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().expect("ascii").to_owned());
        (status, content_type, resp.bytes().await.expect("body"))
    };
    let error_of = |body: &Bytes| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        for field in ["message", "type", "param", "code"] {
            assert!(v["error"].get(field).is_some(), "{field} missing: {v}");
        }
        v["error"].clone()
    };

    let vllm = r#"{"error": {"message": "This model's maximum context length is 8192 tokens", "type": "BadRequestError", "param": null, "code": 400}}"#;
    backend.push(Reply::Json {
        status: 400,
        body: vllm.to_owned(),
    });
    let (status, _, body) = call().await;
    assert_eq!((status, &body[..]), (400, vllm.as_bytes()), "untouched");

    backend.push(Reply::json(
        422,
        json!({"error": "Input validation error: `inputs` must have less than 4096 tokens", "error_type": "validation"}),
    ));
    let (status, content_type, body) = call().await;
    assert_eq!(status, 422);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let e = error_of(&body);
    assert_eq!(
        e["message"],
        "Input validation error: `inputs` must have less than 4096 tokens"
    );
    assert_eq!(
        (&e["type"], &e["code"]),
        (&json!("invalid_request_error"), &json!("validation"))
    );

    backend.push(Reply::json(
        400,
        json!({"object": "error", "message": "Requested token count exceeds the model's maximum context length", "type": "BadRequestError", "param": null, "code": 400}),
    ));
    let (status, _, body) = call().await;
    assert_eq!(status, 400);
    assert!(
        error_of(&body)["message"]
            .as_str()
            .expect("message")
            .starts_with("Requested token count")
    );

    backend.push(Reply::Raw {
        head: "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked".into(),
        body: Bytes::from_static(b"d\r\nCUDA error: o\r\n13\r\nut of memory (oom)\n\r\n0\r\n\r\n"),
    });
    let (status, _, body) = call().await;
    assert_eq!(status, 500);
    let e = error_of(&body);
    assert_eq!(
        (&e["message"], &e["type"]),
        (
            &json!("CUDA error: out of memory (oom)"),
            &json!("server_error")
        )
    );

    backend.push(Reply::json(401, json!({"error": "Unauthorized"})));
    let (status, _, body) = call().await;
    assert_eq!(
        status, 502,
        "the client's key was fine; the gateway's was not"
    );
    assert_eq!(
        error_of(&body)["message"],
        "upstream authentication failed (HTTP 401): Unauthorized"
    );

    // The connection is still good for the next request.
    let (status, _, _) = call().await;
    assert_eq!(status, 200);
}

const TLS_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// A gateway serving HTTPS with the fixture certificate, model `m` on `backend`.
async fn https_gateway_for(backend: &MockBackend) -> TestGateway {
    let f = TLS_FIXTURES;
    TestGateway::start(&format!(
        "server:\n  tls: {{cert_file: '{f}/server.pem', key_file: '{f}/server.key'}}\n{}models:\n  m: {{backend: a}}\n",
        backends_yaml(&[("a", Kind::Vllm, backend.url())])
    ))
    .await
}

/// `server.tls`: the same gateway over HTTPS, streaming included; the backend learns the
/// client came over TLS; a plain-HTTP client on that port gets no HTTP answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_serves_streams_and_says_so_upstream() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = https_gateway_for(&backend).await;
    assert!(gw.url("/").starts_with("https://"));
    let client = gw.client();

    let resp = client
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"m","stream":true,"messages":[]}"#)
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(resp.status(), 200);
    let events = EventReader::new(resp).rest().await;
    assert!(events.len() >= 3, "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    let seen = backend.wait_requests(1, PROMPTLY).await;
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("https"));

    let plain = reqwest::get(format!("http://{}/livez", gw.addr)).await;
    assert!(plain.is_err(), "plain HTTP must not be answered: {plain:?}");
}

/// An `https://` backend: verified against `tls_ca_file` (here the fixture CA; a hosted
/// provider is verified against the system store the same way). The HTTPS server is a
/// second llmgate with `server.tls`, in front of the scripted backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_are_verified_against_their_ca() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let fixtures = TLS_FIXTURES;
    let tls_front = https_gateway_for(&backend).await;
    let https_url = format!("https://127.0.0.1:{}/v1", tls_front.addr.port());
    let gw = TestGateway::start(&format!(
        "backends:\n  - {{name: trusted, kind: vllm, url: '{https_url}', tls_ca_file: '{fixtures}/ca.pem'}}\n  - {{name: untrusted, kind: vllm, url: '{https_url}'}}\nmodels:\n  m: {{backend: trusted}}\n  m2: {{backend: untrusted, upstream_model: m}}\n"
    ))
    .await;

    let resp = gw
        .post(
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[]}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let events = EventReader::new(resp).rest().await;
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    assert_eq!(backend.wait_requests(1, PROMPTLY).await.len(), 1);

    // The system store does not know the fixture CA: the handshake must fail, as a 502.
    let resp = gw
        .post("/v1/chat/completions", r#"{"model":"m2","messages":[]}"#)
        .await;
    assert_eq!(resp.status(), 502);
    let v: serde_json::Value = resp.json().await.expect("JSON error");
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    assert_eq!(
        backend.requests().len(),
        1,
        "nothing got through unverified"
    );
}
