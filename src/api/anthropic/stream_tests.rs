use super::*;
use crate::api::anthropic::Options;
use crate::api::anthropic::request::{Endpoint, normalize};

fn translator() -> StreamTranslator {
    let raw = json!({"model": "m", "max_tokens": 9, "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let req = normalize(
        raw.as_object().cloned().unwrap_or_default(),
        Endpoint::Messages,
        &Options::default(),
    )
    .expect("valid request");
    let mut n = 0;
    StreamTranslator::new(
        &req,
        false,
        "req_x".into(),
        Box::new(move |p| {
            n += 1;
            format!("{p}{n}")
        }),
    )
}

#[test]
fn multibyte_text_split_anywhere_comes_out_the_same() {
    let input = "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"思考…\"}}]}\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"héllo 😀 世界\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let bytes = input.as_bytes();
    let run = |cuts: &[usize]| {
        let mut t = translator();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts {
            t.feed(&bytes[at..c], &mut out);
            at = c;
        }
        t.feed(&bytes[at..], &mut out);
        t.finish(&mut out);
        out
    };
    let whole = run(&[]);
    let text = String::from_utf8(whole.clone()).expect("valid UTF-8 out");
    assert!(
        text.contains("\"thinking\":\"思考…\"") && text.contains("\"text\":\"héllo 😀 世界\""),
        "{text}"
    );
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    for split in 1..bytes.len() {
        assert_eq!(run(&[split]), whole, "split at byte {split}");
    }
    let every_byte: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(run(&every_byte), whole, "one byte at a time");
}

#[test]
fn nothing_follows_the_end() {
    let mut t = translator();
    let mut out = Vec::new();
    t.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", &mut out);
    let len = out.len();
    t.feed(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n\n",
        &mut out,
    );
    t.finish(&mut out);
    t.fail(AnthropicError::api("x"), &mut out);
    assert_eq!(out.len(), len, "message_stop is final");
    assert_eq!(t.phase(), Phase::Finished);
}
