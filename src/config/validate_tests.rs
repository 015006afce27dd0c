use super::*;

#[test]
fn backend_urls_default_to_v1_and_keep_provider_paths() {
    let u = parse_backend_url("http://127.0.0.1:8001").expect("ok");
    assert_eq!((u.tls, u.port, u.base_path.as_str()), (false, 8001, "/v1"));
    let u = parse_backend_url("https://api.example.com/openai/v1/").expect("ok");
    assert_eq!(
        (u.tls, u.port, u.base_path.as_str()),
        (true, 443, "/openai/v1")
    );
    assert_eq!(u.authority(), "api.example.com");
    assert_eq!(u.to_string(), "https://api.example.com/openai/v1");
    let u = parse_backend_url("http://[::1]:9000/v1").expect("ok");
    assert_eq!(u.host_port(), "[::1]:9000");
}

#[test]
fn bad_backend_urls_say_why() {
    for (raw, needle) in [
        ("localhost:8000", "scheme"),
        ("ftp://x/v1", "not http or https"),
        ("http://u:p@x/v1", "api_key"),
        ("http://x/v1?a=b", "query"),
        ("http://", "not a valid URL"),
    ] {
        let err = parse_backend_url(raw).expect_err(raw);
        assert!(err.contains(needle), "{raw}: {err}");
    }
}

#[test]
fn keys_accept_plain_and_sha256_forms() {
    let plain = parse_key("demo-key").expect("plain");
    let hashed =
        parse_key(&format!("sha256:{}", hex::encode(key_digest(b"demo-key")))).expect("hash");
    assert_eq!(plain, hashed);
    assert!(parse_key("sha256:abcd").is_err());
    assert!(parse_key("").is_err());
}
