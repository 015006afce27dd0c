//! The golden vectors of the reverse translation (OpenAI clients in front of Anthropic,
//! docs/anthropic-upstream.md) in tests/fixtures/reverse_vectors, against the pure
//! translators. Streams are also fed one byte at a time and split at every position, and
//! must give byte-identical output each way.
//!
//! `LLMGATE_BLESS_VECTORS=1` writes each vector's `expected` from the current output, for
//! a new vector; the diff is then reviewed against the contract like any other change.

use std::path::{Path, PathBuf};

use llmgate::api::anthropic_upstream::{request, response, stream};
use serde_json::{Value, json};

fn vectors(prefix: &str) -> Vec<(PathBuf, Value)> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reverse_vectors"
    ));
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(dir)
        .expect("vectors dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("JSON");
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no vectors with prefix {prefix}");
    out
}

/// Compares `actual` with the vector's `expected`, or records it when blessing.
fn check(path: &Path, mut vector: Value, actual: Value) {
    if std::env::var_os("LLMGATE_BLESS_VECTORS").is_some() {
        vector["expected"] = actual;
        let text = serde_json::to_string_pretty(&vector).expect("serialise") + "\n";
        std::fs::write(path, text).expect("write vector");
        return;
    }
    assert_eq!(
        actual, vector["expected"],
        "{}: {}",
        vector["id"], vector["description"]
    );
}

#[test]
fn request_vectors() {
    for (path, v) in vectors("rreq_") {
        let input = &v["input"];
        let model = input["upstream_model"].as_str().expect("upstream_model");
        let actual = match request::to_messages(&input["openai_request"], model) {
            Ok(messages) => json!({"anthropic_request": messages}),
            Err(e) => {
                let body: Value = serde_json::from_slice(&e.to_openai_body()).expect("json");
                json!({"error": {"status": e.status(), "body": body}})
            }
        };
        check(&path, v, actual);
    }
}

#[test]
fn response_vectors() {
    for (path, v) in vectors("rresp_") {
        let input = &v["input"];
        let actual = response::to_chat_completion(
            &input["anthropic_response"],
            input["alias"].as_str().expect("alias"),
            input["created"].as_u64().expect("created"),
        );
        check(&path, v, json!({"openai_response": actual}));
    }
}

fn translate(input: &Value, chunks: &[&[u8]]) -> Vec<u8> {
    let mut t = stream::ChunkTranslator::new(
        input["alias"].as_str().expect("alias"),
        input["created"].as_u64().expect("created"),
        input["include_usage"].as_bool().expect("include_usage"),
    );
    let mut out = Vec::new();
    for c in chunks {
        t.feed(c, &mut out);
    }
    t.finish(&mut out);
    out
}

#[test]
fn stream_vectors_at_every_split() {
    for (path, v) in vectors("rstream_") {
        let input = &v["input"];
        let sse = input["anthropic_sse"].as_str().expect("sse").as_bytes();
        let whole = translate(input, &[sse]);
        let bytewise: Vec<&[u8]> = sse.chunks(1).collect();
        assert_eq!(
            translate(input, &bytewise),
            whole,
            "{}: one byte at a time",
            v["id"]
        );
        for cut in 0..=sse.len() {
            let (a, b) = sse.split_at(cut);
            assert_eq!(
                translate(input, &[a, b]),
                whole,
                "{}: split at {cut}",
                v["id"]
            );
        }
        // Expected as the list of `data:` payloads, parsed where they are JSON, so the
        // vector reads as the chunks a client gets.
        let text = String::from_utf8(whole).expect("utf-8");
        assert!(text.ends_with("\n\n"), "{}: whole events only", v["id"]);
        let events: Vec<Value> = text
            .split_terminator("\n\n")
            .map(|e| {
                let data = e.strip_prefix("data: ").expect("data events only");
                serde_json::from_str(data).unwrap_or_else(|_| Value::from(data))
            })
            .collect();
        check(&path, v, json!({"openai_sse_data": events}));
    }
}

#[test]
fn upstream_error_vectors() {
    for (path, v) in vectors("rerr_") {
        let input = &v["input"];
        let status = u16::try_from(input["status"].as_u64().expect("status")).expect("u16");
        let body = input["body"].as_str().expect("body");
        let (out_status, out) = response::error_to_openai(status, body.as_bytes());
        let out: Value = serde_json::from_slice(&out).expect("json");
        check(&path, v, json!({"status": out_status, "body": out}));
    }
}
