//! Random bytes, cut into random chunks, through the streaming translator: it must never
//! panic, must end every stream with `message_stop` or `error`, and its output must not
//! depend on the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod pieces;
use llmgate::api::anthropic::request::{self, Endpoint};
use llmgate::api::anthropic::stream::{IdSource, StreamTranslator};
use llmgate::api::anthropic::Options;

fn ids() -> IdSource {
    let mut n = 0u32;
    Box::new(move |prefix| {
        n += 1;
        format!("{prefix}{n:0>24}")
    })
}

fn run(data: &[u8], cuts: &[usize], buffered: bool) -> Vec<u8> {
    let raw = serde_json::json!({
        "model": "m", "max_tokens": 16, "stream": true, "stop_sequences": ["###"],
        "messages": [{"role": "user", "content": "x"}],
    });
    let Some(obj) = raw.as_object().cloned() else { return Vec::new() };
    let Ok(req) = request::normalize(obj, Endpoint::Messages, &Options::default()) else {
        return Vec::new();
    };
    let mut t = StreamTranslator::new(&req, buffered, "req_x".into(), ids());
    let mut out = Vec::new();
    pieces::feed_in_pieces(data, cuts, |piece| t.feed(piece, &mut out));
    t.finish(&mut out);
    out
}

fuzz_target!(|input: &[u8]| {
    let (buffered, cuts, data) = pieces::split_input(input);
    let whole = run(data, &[], buffered);
    let chunked = run(data, &cuts, buffered);
    assert_eq!(whole, chunked, "output depends on chunking");
    let text = String::from_utf8_lossy(&whole);
    assert!(
        text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") || text.contains("event: error\n"),
        "stream not terminated: {text}"
    );
});
