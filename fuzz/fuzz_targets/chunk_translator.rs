//! Random bytes as an Anthropic event stream, cut into random chunks, through the reverse
//! stream translator: it must never panic, its output must not depend on the chunking,
//! and every stream must end with `data: [DONE]` or an OpenAI error object.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod pieces;
use llmgate::api::anthropic_upstream::stream::ChunkTranslator;

fn run(data: &[u8], cuts: &[usize], include_usage: bool) -> Vec<u8> {
    let mut t = ChunkTranslator::new("alias", 1_760_000_000, include_usage);
    let mut out = Vec::new();
    pieces::feed_in_pieces(data, cuts, |piece| t.feed(piece, &mut out));
    t.finish(&mut out);
    out
}

fuzz_target!(|input: &[u8]| {
    let (include_usage, cuts, data) = pieces::split_input(input);
    let whole = run(data, &[], include_usage);
    let chunked = run(data, &cuts, include_usage);
    assert_eq!(whole, chunked, "output depends on chunking");
    let text = String::from_utf8_lossy(&whole);
    let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(
        last == "data: [DONE]" || last.starts_with("data: {\"error\":"),
        "stream not terminated: {text}"
    );
});
