//! Token usage and the first generated token, read from answers as they pass, without
//! parsing them whole or holding them back: the metrics' view of an answer.
//!
//! - [`Scanner`] keeps the first and last few KiB of an answer (JSON or SSE). Usage is the
//!   last `"usage":{...}` in the tail: OpenAI's final usage chunk or the `usage` of a JSON
//!   answer, Anthropic's `message_delta`; Anthropic's input count, when only
//!   `message_start` (the head) has it, comes from the head.
//! - [`carries_token`] tells whether an SSE chunk holds generated output, for the time to
//!   first token.
//! - [`UsageChunkDropper`] removes the usage-only chunk (`"choices":[]`) from an OpenAI
//!   stream whose client did not ask for it (the gateway asked upstream, for the metrics).

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use serde_json::Value;

/// Tokens one request used, as its backend reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input: u64,
    pub output: u64,
    /// Prompt tokens served from the backend's prefix cache.
    pub cached: u64,
}

const HEAD: usize = 2 * 1024;
const TAIL: usize = 4 * 1024;

/// The first and last bytes of an answer, enough to find its usage. The last bytes are
/// a ring: a streamed token costs a copy of its own bytes, not a shift of the whole tail.
#[derive(Debug, Default)]
pub struct Scanner {
    head: Vec<u8>,
    /// The last `TAIL` bytes; once full, `ring_start` is where the oldest byte is.
    ring: Vec<u8>,
    ring_start: usize,
    /// Whether more than `HEAD` bytes went by (the head is then not the whole answer).
    beyond_head: bool,
}

impl Scanner {
    /// Notes a chunk of the answer: at most a few KiB copied, no allocation once full.
    pub fn push(&mut self, chunk: &[u8]) {
        let room = HEAD - self.head.len();
        if room > 0 {
            self.head.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        self.beyond_head |= chunk.len() > room;
        let mut chunk = chunk;
        if chunk.len() >= TAIL {
            self.ring.clear();
            self.ring_start = 0;
            chunk = &chunk[chunk.len() - TAIL..];
        }
        if self.ring.len() < TAIL {
            let fits = chunk.len().min(TAIL - self.ring.len());
            self.ring.extend_from_slice(&chunk[..fits]);
            chunk = &chunk[fits..];
        }
        // Full: overwrite the oldest bytes, wrapping at the end.
        let first = chunk.len().min(TAIL - self.ring_start);
        self.ring[self.ring_start..self.ring_start + first].copy_from_slice(&chunk[..first]);
        self.ring[..chunk.len() - first].copy_from_slice(&chunk[first..]);
        self.ring_start = (self.ring_start + chunk.len()) % TAIL;
    }

    /// The last bytes, oldest first.
    fn tail(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.ring_start == 0 {
            std::borrow::Cow::Borrowed(&self.ring)
        } else {
            let (newer, older) = self.ring.split_at(self.ring_start);
            std::borrow::Cow::Owned([older, newer].concat())
        }
    }

    /// The usage the answer reported, if it did.
    pub fn usage(&self) -> Option<Usage> {
        let last = last_usage(&self.tail())?;
        // A short answer is all in the head, and its last usage object is `last` again.
        let head = || match self.beyond_head {
            true => last_usage(&self.head).unwrap_or_default(),
            false => Found::default(),
        };
        Some(Usage {
            input: last.input.or_else(|| head().input).unwrap_or(0),
            output: last.output.unwrap_or(0),
            cached: last.cached.or_else(|| head().cached).unwrap_or(0),
        })
    }
}

/// The counts of one usage object, where it has them.
#[derive(Debug, Default)]
struct Found {
    input: Option<u64>,
    output: Option<u64>,
    cached: Option<u64>,
}

/// The usage fields of either dialect, read straight off the bytes (other fields are
/// skipped without being built). A field of an unexpected type reads as absent rather
/// than failing the whole object, as a lenient reader of many runtimes must.
#[derive(serde::Deserialize)]
struct UsageFields {
    #[serde(default, deserialize_with = "lenient_count")]
    prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "cached_tokens")]
    prompt_tokens_details: Option<u64>,
    #[serde(default, deserialize_with = "cached_tokens")]
    input_tokens_details: Option<u64>,
}

fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value: Value = serde::Deserialize::deserialize(d)?;
    Ok(value.as_u64())
}

/// `{"cached_tokens": n, ...}` → n.
fn cached_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let details: Value = serde::Deserialize::deserialize(d)?;
    Ok(details.get("cached_tokens").and_then(Value::as_u64))
}

/// The last usage object in `bytes`, read with OpenAI's or Anthropic's field names.
fn last_usage(bytes: &[u8]) -> Option<Found> {
    static USAGE_KEY: LazyLock<memmem::FinderRev<'static>> =
        LazyLock::new(|| memmem::FinderRev::new(b"\"usage\":"));
    let mut end = bytes.len();
    // Streams carry `"usage":null` on most chunks (vLLM, TGI): look further back.
    while let Some(at) = USAGE_KEY.rfind(&bytes[..end]) {
        let rest = &bytes[at + 8..];
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        if rest[start] == b'{' {
            let mut values =
                serde_json::Deserializer::from_slice(&rest[start..]).into_iter::<UsageFields>();
            if let Some(Ok(u)) = values.next() {
                let anthropic_input = u.input_tokens.map(|i| {
                    i + u.cache_read_input_tokens.unwrap_or(0)
                        + u.cache_creation_input_tokens.unwrap_or(0)
                });
                // Chat's `prompt_tokens_details`, the Responses API's `input_tokens_details`.
                let openai_cached = u.prompt_tokens_details.or(u.input_tokens_details);
                return Some(Found {
                    input: u.prompt_tokens.or(anthropic_input),
                    output: u.completion_tokens.or(u.output_tokens),
                    cached: openai_cached.or(u.cache_read_input_tokens),
                });
            }
        }
        end = at;
    }
    None
}

/// Whether an SSE chunk holds generated output: text, reasoning or a tool call (OpenAI
/// chunks), a content block delta (Anthropic events) or an output text delta (the
/// Responses API). A role-only first chunk
/// (`"content":""`) does not.
pub fn carries_token(chunk: &[u8]) -> bool {
    if memmem::find(chunk, b"\"content_block_delta\"").is_some()
        || memmem::find(chunk, b"\"tool_calls\":[").is_some()
        || memmem::find(chunk, b"response.output_text.delta").is_some()
    {
        return true;
    }
    [b"\"content\":\"".as_slice(), b"\"reasoning_content\":\""]
        .iter()
        .any(|needle| {
            memmem::find_iter(chunk, needle)
                .any(|at| chunk.get(at + needle.len()).is_some_and(|b| *b != b'"'))
        })
}

/// Removes usage-only chunks (`"choices":[]` with a `usage`) from an OpenAI stream. A
/// chunk made of whole events without one passes as it is (no copy); an event split
/// across chunks is completed before it goes on, so it can be judged whole.
#[derive(Debug, Default)]
pub struct UsageChunkDropper {
    pending: BytesMut,
}

fn is_usage_only(event: &[u8]) -> bool {
    memmem::find(event, b"\"choices\":[]").is_some()
        && memmem::find(event, b"\"usage\":{").is_some()
}

/// The end of the last complete event in `bytes` (after its blank line).
fn complete_up_to(bytes: &[u8]) -> usize {
    let lf = memmem::rfind(bytes, b"\n\n").map(|i| i + 2);
    let crlf = memmem::rfind(bytes, b"\r\n\r\n").map(|i| i + 4);
    lf.max(crlf).unwrap_or(0)
}

impl UsageChunkDropper {
    /// What to forward for `chunk`.
    pub fn filter(&mut self, chunk: Bytes) -> Bytes {
        if self.pending.is_empty()
            && complete_up_to(&chunk) == chunk.len()
            && memmem::find(&chunk, b"\"choices\":[]").is_none()
        {
            return chunk;
        }
        self.pending.extend_from_slice(&chunk);
        let whole = complete_up_to(&self.pending);
        let ready = self.pending.split_to(whole);
        let mut out = BytesMut::with_capacity(ready.len());
        for event in split_events(&ready) {
            if !is_usage_only(event) {
                out.extend_from_slice(event);
            }
        }
        out.freeze()
    }

    /// The stream ended: whatever is left goes out as it is.
    pub fn finish(&mut self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| self.pending.split().freeze())
    }
}

/// Whole events, each with its terminating blank line.
fn split_events(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let lf = memmem::find(rest, b"\n\n").map(|i| i + 2);
        let crlf = memmem::find(rest, b"\r\n\r\n").map(|i| i + 4);
        let end = match (lf, crlf) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(rest.len()),
        };
        let (event, tail) = rest.split_at(end);
        rest = tail;
        Some(event)
    })
}

/// Whether a request body says nothing about `stream_options` (a byte search: a prompt
/// quoting the word only means the gateway does not ask).
pub fn lacks_stream_options(body: &[u8]) -> bool {
    memmem::find(body, b"\"stream_options\"").is_none()
}

/// `body` with `"stream_options":{"include_usage":true}` added at the top level, for an
/// OpenAI streaming request that did not set `stream_options` (the splice keeps every
/// other byte as the client sent it). `None` when the body already has it.
pub fn with_stream_usage(body: &Bytes) -> Option<Bytes> {
    if !lacks_stream_options(body) {
        return None;
    }
    let open = body.iter().position(|b| *b == b'{')?;
    let rest = &body[open + 1..];
    let empty =
        rest.iter().all(u8::is_ascii_whitespace) || rest.trim_ascii_start().first() == Some(&b'}');
    let insert: &[u8] = if empty {
        b"\"stream_options\":{\"include_usage\":true}"
    } else {
        b"\"stream_options\":{\"include_usage\":true},"
    };
    let mut out = BytesMut::with_capacity(body.len() + insert.len());
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(insert);
    out.extend_from_slice(rest);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tail_ring_holds_the_last_bytes_in_order_whatever_the_chunk_sizes() {
        let mut all = Vec::new();
        let mut scanner = super::Scanner::default();
        for (i, size) in [1usize, 7, 300, 4095, 4096, 5000, 13, 2048, 1, 999]
            .iter()
            .enumerate()
        {
            let chunk: Vec<u8> = (0..*size)
                .map(|k| b'a' + ((i * 31 + k) % 26) as u8)
                .collect();
            scanner.push(&chunk);
            all.extend_from_slice(&chunk);
            let expected = &all[all.len().saturating_sub(super::TAIL)..];
            assert_eq!(
                scanner.tail().as_ref(),
                expected,
                "after chunk {i} ({size} bytes)"
            );
        }
    }

    use super::*;

    fn scanned(parts: &[&[u8]]) -> Option<Usage> {
        let mut s = Scanner::default();
        for p in parts {
            s.push(p);
        }
        s.usage()
    }

    #[test]
    fn usage_comes_from_the_last_usage_object_of_any_shape() {
        let openai_json = br#"{"id":"x","choices":[{"message":{"content":"usage: none"}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":8}},"timings":{"n":1}}"#;
        assert_eq!(
            scanned(&[openai_json]),
            Some(Usage {
                input: 12,
                output: 5,
                cached: 8
            })
        );
        // A vLLM stream: `usage: null` on chunks, the usage chunk split across reads.
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n";
        let (a, b) = stream.as_bytes().split_at(90);
        assert_eq!(
            scanned(&[a, b]),
            Some(Usage {
                input: 9,
                output: 4,
                cached: 0
            })
        );
        // Anthropic: input in message_start (head), output in message_delta (tail).
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":90,\"output_tokens\":1}}}\n\n";
        let filler = format!("data: {}\n\n", "x".repeat(5000));
        let end = "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":33}}\n\n";
        assert_eq!(
            scanned(&[start.as_bytes(), filler.as_bytes(), end.as_bytes()]),
            Some(Usage {
                input: 100,
                output: 33,
                cached: 90
            })
        );
        assert_eq!(scanned(&[b"data: {\"usage\":null}\n\n"]), None);
        assert_eq!(scanned(&[]), None);
    }

    #[test]
    fn the_first_token_is_content_not_the_role_chunk() {
        assert!(!carries_token(
            br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#
        ));
        assert!(!carries_token(
            br#"data: {"choices":[{"delta":{"role":"assistant","content":null}}]}"#
        ));
        assert!(carries_token(
            br#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#
        ));
        assert!(carries_token(
            br#"data: {"choices":[{"delta":{"reasoning_content":"Hm"}}]}"#
        ));
        assert!(carries_token(
            br#"data: {"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#
        ));
        assert!(carries_token(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}"
        ));
        assert!(!carries_token(b"event: message_start\ndata: {}"));
    }

    #[test]
    fn usage_chunks_are_dropped_and_everything_else_passes_untouched() {
        let mut d = UsageChunkDropper::default();
        let token =
            Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
        let out = d.filter(token.clone());
        assert_eq!(
            out.as_ptr(),
            token.as_ptr(),
            "whole events pass without a copy"
        );
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n";
        let (a, b) = usage.split_at(20);
        assert_eq!(&d.filter(Bytes::from(a)), "");
        assert_eq!(&d.filter(Bytes::from(b)), "data: [DONE]\n\n");
        assert_eq!(d.finish(), None);
        let mut d = UsageChunkDropper::default();
        assert_eq!(&d.filter(Bytes::from_static(b"data: {\"cho")), "");
        assert_eq!(d.finish().as_deref(), Some(&b"data: {\"cho"[..]));
    }

    #[test]
    fn stream_usage_is_spliced_in_once() {
        let body = Bytes::from_static(br#"{"model":"m","stream":true}"#);
        let out = with_stream_usage(&body).expect("added");
        let v: Value = serde_json::from_slice(&out).expect("still JSON");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["model"], "m");
        assert!(
            with_stream_usage(&out).is_none(),
            "the client's own setting wins"
        );
    }
}
