//! Microbenchmarks of the pure protocol code on the hot paths, with throughput in MB/s:
//! the SSE framer, the OpenAI → Anthropic stream translator and the Anthropic → OpenAI
//! request translator. `cargo bench --bench translation`; `cargo test --all-targets` runs
//! each once as a smoke test. Whole-request figures are `make bench`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llmgate::api::anthropic::request::{self, Endpoint};
use llmgate::api::anthropic::sse::SseFramer;
use llmgate::api::anthropic::stream::{IdSource, StreamTranslator};
use llmgate::api::anthropic::{Flavor, Options, Profile};

/// A vLLM stream of `tokens` text chunks, framed as vLLM frames it.
fn openai_stream(tokens: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(br#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#);
    out.extend_from_slice(b"\n\n");
    for i in 0..tokens {
        out.extend_from_slice(format!(r#"data: {{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{{"index":0,"delta":{{"content":" word{i}"}},"logprobs":null,"finish_reason":null}}]}}"#).as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(br#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":64,"total_tokens":88}}"#);
    out.extend_from_slice(b"\n\ndata: [DONE]\n\n");
    out
}

/// The same 4 KiB agent step as `make bench`: system, 5 tools, a tool round trip.
fn agent_request() -> Vec<u8> {
    let tools: Vec<String> = ["read_file", "write_file", "list_directory", "run_command", "search_code"]
        .iter()
        .map(|name| format!(r#"{{"name":"{name}","description":"{name} on the user's workspace. Paths are relative to the repository root; the result is returned as text and truncated past 64 KiB.","input_schema":{{"type":"object","properties":{{"path":{{"type":"string","description":"A path relative to the repository root"}},"pattern":{{"type":"string","description":"An optional pattern that filters the result"}},"limit":{{"type":"integer","description":"At most this many lines"}}}},"required":["path"]}}}}"#))
        .collect();
    let history = "Please look at the failing test in tests/e2e and explain what goes wrong, then propose a fix. ".repeat(12);
    format!(
        r#"{{"model":"m","max_tokens":1024,"system":[{{"type":"text","text":"You are a coding agent working in a Rust repository."}}],"tools":[{}],"tool_choice":{{"type":"auto"}},"messages":[{{"role":"user","content":"{history}"}},{{"role":"assistant","content":[{{"type":"text","text":"I will read the test first."}},{{"type":"tool_use","id":"toolu_01A","name":"read_file","input":{{"path":"tests/e2e/streams.rs"}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_01A","content":"fn a_stream_is_relayed() {{ assert_eq!(events, expected); }}"}}]}}]}}"#,
        tools.join(",")
    )
    .into_bytes()
}

fn ids() -> IdSource {
    let mut n = 0u32;
    Box::new(move |prefix| {
        n += 1;
        format!("{prefix}{n:0>24}")
    })
}

/// Feeds `bytes` in pieces the size upstream reads usually have (one event each).
fn events(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| {
            let start = pair[0].as_ptr() as usize - bytes.as_ptr() as usize;
            let len: usize = pair.iter().map(|p| p.len()).sum();
            &bytes[start..start + len]
        })
        .collect()
}

fn sse_framer(c: &mut Criterion) {
    let stream = openai_stream(256);
    let pieces = events(&stream);
    let mut group = c.benchmark_group("sse_framer");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("vllm_stream_256_tokens", |b| {
        b.iter(|| {
            let mut framer = SseFramer::default();
            let mut n = 0usize;
            for piece in &pieces {
                let _ = framer.feed(piece, &mut |data| n += data.len());
            }
            black_box(n)
        })
    });
    group.finish();
}

fn stream_translator(c: &mut Criterion) {
    let stream = openai_stream(256);
    let pieces = events(&stream);
    let body = br#"{"model":"m","max_tokens":512,"stream":true,"messages":[{"role":"user","content":"Tell me a story."}]}"#;
    let raw = request::parse_body(body).expect("request");
    let req = request::normalize(raw, Endpoint::Messages, &Options::default()).expect("normalize");
    let mut group = c.benchmark_group("stream_translator");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("openai_to_anthropic_256_tokens", |b| {
        let mut out = Vec::with_capacity(64 * 1024);
        b.iter(|| {
            let mut t = StreamTranslator::new(&req, false, "req_1".into(), ids());
            out.clear();
            t.start(&mut out);
            for piece in &pieces {
                t.feed(piece, &mut out);
            }
            t.finish(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

fn request_translator(c: &mut Criterion) {
    let body = agent_request();
    let opts = Options::default();
    let profile = Profile::new(Flavor::Vllm);
    let mut group = c.benchmark_group("request_translator");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("agent_step_4k_5_tools", |b| {
        b.iter(|| {
            let raw = request::parse_body(black_box(&body)).expect("parse");
            let req = request::normalize(raw, Endpoint::Messages, &opts).expect("normalize");
            let openai = request::to_openai(&req, "m", &profile, &opts).expect("translate");
            black_box(request::compact_bytes(&openai).len())
        })
    });
    group.finish();
}

criterion_group!(benches, sse_framer, stream_translator, request_translator);
criterion_main!(benches);
