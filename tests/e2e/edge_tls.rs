//! The HTTPS edge: the certificate re-read on SIGHUP (new handshakes get the new one,
//! open connections continue), HTTP/2 by ALPN and as h2c, and the HTTP→HTTPS redirect
//! listener.

use std::path::Path;
use std::time::Duration;

use crate::harness::gateway::free_port;
use crate::harness::{EventReader, Kind, MockBackend, TestGateway, backends_yaml};

const RELOAD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/reload");

/// A client that trusts only `ca` (and reuses its connections).
fn client_trusting(ca: &str, http2: bool) -> reqwest::Client {
    let pem = std::fs::read(format!("{RELOAD}/{ca}.pem")).expect("ca");
    let mut b = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .tls_built_in_root_certs(false)
        .pool_idle_timeout(Duration::from_secs(60));
    if !http2 {
        b = b.http1_only();
    }
    b.build().expect("client")
}

fn install(dir: &Path, which: &str) {
    for ext in ["pem", "key"] {
        std::fs::copy(
            format!("{RELOAD}/{which}.{ext}"),
            dir.join(format!("live.{ext}")),
        )
        .expect("copy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_is_reread_on_reload_and_open_connections_continue() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let dir = tempfile::tempdir().expect("dir");
    install(dir.path(), "a");
    let d = dir.path().display();
    let gw = TestGateway::start(&format!(
        "server:\n  tls: {{cert_file: '{d}/live.pem', key_file: '{d}/live.key'}}\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    ))
    .await;
    let url = format!("https://localhost:{}/livez", gw.addr.port());
    let trusts_a = client_trusting("ca_a", false);
    let trusts_b = client_trusting("ca_b", false);
    assert_eq!(trusts_a.get(&url).send().await.expect("a").status(), 200);
    assert!(
        trusts_b.get(&url).send().await.is_err(),
        "b's CA does not sign a"
    );

    install(dir.path(), "b");
    gw.reload_with(&std::fs::read_to_string(&gw.config_path).expect("config"))
        .expect("reload");
    // The connection `trusts_a` opened before the reload carries on...
    assert_eq!(
        trusts_a
            .get(&url)
            .send()
            .await
            .expect("kept connection")
            .status(),
        200
    );
    // ...new handshakes get the new certificate.
    assert_eq!(trusts_b.get(&url).send().await.expect("b").status(), 200);
    assert!(
        client_trusting("ca_a", false)
            .get(&url)
            .send()
            .await
            .is_err()
    );

    // A broken file changes nothing.
    std::fs::write(dir.path().join("live.key"), "not a key").expect("break");
    let refused = gw.reload_with(&std::fs::read_to_string(&gw.config_path).expect("config"));
    assert!(
        refused.is_err(),
        "the configuration names a key file that holds no key"
    );
    assert_eq!(
        client_trusting("ca_b", false)
            .get(&url)
            .send()
            .await
            .expect("still b")
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn_streams_and_plain_http_is_redirected() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let redirect = free_port();
    let gw = TestGateway::start(&format!(
        "server:\n  tls: {{cert_file: '{RELOAD}/a.pem', key_file: '{RELOAD}/a.key'}}\n  redirect_http_port: {redirect}\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    ))
    .await;
    let base = format!("https://localhost:{}", gw.addr.port());
    let h2 = client_trusting("ca_a", true);
    let r = h2
        .post(format!("{base}/v1/chat/completions"))
        .body(r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("h2 request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2, "ALPN chose h2");
    assert_eq!(r.status(), 200);
    let events = EventReader::new(r).rest().await;
    assert_eq!(
        events.last().map(String::as_str),
        Some("data: [DONE]"),
        "{events:?}"
    );

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = plain
        .post(format!("http://127.0.0.1:{redirect}/v1/models?x=1"))
        .send()
        .await
        .expect("redirect");
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{}/v1/models?x=1", gw.addr.port()).as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_serves_http2_without_tls() {
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = TestGateway::start(&format!(
        "server:\n  h2c: true\n{}models:\n  m: {{backend: b}}\n",
        backends_yaml(&[("b", Kind::Vllm, backend.url())])
    ))
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let r = client
        .post(gw.url("/v1/chat/completions"))
        .body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .expect("h2c request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    // HTTP/1.1 clients are still served on the same port.
    assert_eq!(
        reqwest::get(gw.url("/livez")).await.expect("h1").status(),
        200
    );
}

/// Over HTTP/2 too, a client that leaves closes the upstream connection at once, on the
/// proxied path and on the gateway's own (`/v1/messages`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_leaves_closes_the_upstream() {
    use crate::harness::Reply;
    use crate::harness::backend::chat_stream;
    let backend = MockBackend::start(Kind::Vllm, "m").await;
    let gw = TestGateway::start(&format!(
        "server:\n  tls: {{cert_file: '{RELOAD}/a.pem', key_file: '{RELOAD}/a.key'}}\nbackends:\n  - {{name: b, kind: vllm, url: '{}', anthropic: translate}}\nmodels:\n  m: {{backend: b}}\n",
        backend.url()
    ))
    .await;
    let h2 = client_trusting("ca_a", true);
    for (path, body) in [
        (
            "/v1/chat/completions",
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        (
            "/v1/messages",
            r#"{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
    ] {
        backend.push(Reply::Sse {
            events: chat_stream(Kind::Vllm, "m", &["a", "b", "c"], false),
            delay: Duration::ZERO,
            gate: Some(std::sync::Arc::new(tokio::sync::Notify::new())),
            split: false,
            truncate: false,
        });
        let before = backend.closed_early().len();
        let r = h2
            .post(format!("https://localhost:{}{path}", gw.addr.port()))
            .body(body)
            .send()
            .await
            .expect("h2 stream");
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        let mut reader = EventReader::new(r);
        reader.next().await.expect("a first event");
        drop(reader);
        let deadline = std::time::Instant::now() + crate::harness::PROMPTLY;
        while backend.closed_early().len() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: upstream not closed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
