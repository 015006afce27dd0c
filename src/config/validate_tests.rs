use super::*;

#[test]
fn keys_accept_plain_and_sha256_forms() {
    let plain = parse_key("demo-key").expect("plain");
    let hashed =
        parse_key(&format!("sha256:{}", hex::encode(key_digest(b"demo-key")))).expect("hash");
    assert_eq!(plain, hashed);
    assert!(parse_key("sha256:abcd").is_err());
    assert!(parse_key("").is_err());
}
