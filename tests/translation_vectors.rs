//! Every golden vector in tests/fixtures/vectors (copied from ../shared/vectors) against the
//! pure translation functions. Streams are also fed one byte at a time and split at every
//! position, and must produce byte-identical output each way.

use std::collections::HashMap;
use std::path::Path;

use llmgate::api::anthropic::error::from_upstream;
use llmgate::api::anthropic::request::{self, Endpoint, Normalized};
use llmgate::api::anthropic::stream::{IdSource, StreamTranslator};
use llmgate::api::anthropic::{
    AnthropicError, Flavor, Options, Profile, Unsupported, count, response,
};
use serde_json::{Value, json};

struct Vector {
    id: String,
    v: Value,
}

fn vectors(prefix: &str) -> Vec<Vector> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vectors"
    ));
    let mut out: Vec<Vector> = std::fs::read_dir(dir)
        .expect("vectors dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(|p| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("vector JSON");
            Vector {
                id: v["id"].as_str().expect("id").to_owned(),
                v,
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(!out.is_empty(), "no vectors with prefix {prefix}");
    out
}

fn profile(v: &Value) -> Profile {
    Profile::new(match v["profile"].as_str().unwrap_or("generic") {
        "vllm" => Flavor::Vllm,
        "llamacpp" => Flavor::Llamacpp,
        "ollama" => Flavor::Ollama,
        _ => Flavor::Generic,
    })
}

fn options(v: &Value) -> Options {
    let c = &v["config"];
    Options {
        strip_billing_header: c["strip_billing_header"].as_bool().unwrap_or(true),
        unsupported_tools: if c["unsupported_tools"] == "drop" {
            Unsupported::Drop
        } else {
            Unsupported::Reject
        },
        pdf_as_file_part: c["pdf_mode"] == "file_part",
        history_thinking: c["history_thinking"] != "drop",
        buffered_tool_args: c["tool_args_streaming"] == "buffered",
    }
}

fn upstream_model(v: &Value, model: &str) -> String {
    v["config"]["model_map"][model]
        .as_str()
        .unwrap_or(model)
        .to_owned()
}

/// Structural comparison with the README's placeholders.
fn matches(
    expected: &Value,
    actual: &Value,
    binds: &mut HashMap<String, String>,
    path: &str,
) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) if e.starts_with("{{") && e.ends_with("}}") => {
            let name = &e[2..e.len() - 2];
            let shape = |prefix: &str| {
                a.strip_prefix(prefix)
                    .is_some_and(|r| r.len() == 24 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
            };
            let ok = match name.split(':').next().unwrap_or("") {
                "msg_id" => shape("msg_"),
                "toolu_id" => shape("toolu_"),
                "request_id" => shape("req_"),
                "signature" => !a.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(format!("{path}: `{a}` does not match {e}"));
            }
            match binds.get(name) {
                Some(prev) if prev != a => Err(format!("{path}: {e} was `{prev}`, now `{a}`")),
                _ => {
                    if name.starts_with("toolu_id")
                        && binds.iter().any(|(k, v)| k != name && v == a)
                    {
                        return Err(format!("{path}: {e} reuses another placeholder's value"));
                    }
                    binds.insert(name.to_owned(), a.clone());
                    Ok(())
                }
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<&String> = e.keys().collect();
            let mut ak: Vec<&String> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: keys {ek:?} != {ak:?}"));
            }
            for (k, ev) in e {
                matches(ev, &a[k], binds, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} items expected, got {}: {}",
                    e.len(),
                    a.len(),
                    actual
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, binds, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => Ok(()),
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

fn assert_matches(id: &str, expected: &Value, actual: &Value) {
    let mut binds = HashMap::new();
    if let Err(e) = matches(expected, actual, &mut binds, "$") {
        panic!("{id}: {e}\nexpected: {expected}\nactual:   {actual}");
    }
}

fn normalize(v: &Value, endpoint: Endpoint) -> Result<Normalized, AnthropicError> {
    let raw = v["input"]["anthropic_request"]
        .as_object()
        .or_else(|| v["input"]["count_request"].as_object())
        .cloned()
        .expect("request object");
    request::normalize(raw, endpoint, &options(v))
}

fn error_value(e: &AnthropicError) -> Value {
    json!({"status": e.status, "body": e.to_value("req_AAAAAAAAAAAAAAAAAAAAAAAA")})
}

fn assert_error(id: &str, expected: &Value, e: &AnthropicError) {
    let mut exp = expected.clone();
    if let Some(h) = exp.as_object_mut() {
        h.remove("headers");
    }
    assert_matches(id, &exp, &error_value(e));
    if expected["headers"]["x-should-retry"] == "false" {
        assert!(!e.should_retry(), "{id}: must carry x-should-retry: false");
    }
}

#[test]
fn request_vectors() {
    for Vector { id, v } in vectors("req_") {
        let result = normalize(&v, Endpoint::Messages).and_then(|n| {
            let model = upstream_model(&v, &n.model);
            request::to_openai(&n, &model, &profile(&v), &options(&v))
        });
        match (&v["expected"]["openai_request"], result) {
            (Value::Null, Err(e)) => assert_error(&id, &v["expected"]["error"], &e),
            (Value::Null, Ok(r)) => panic!("{id}: expected an error, got {r}"),
            (expected, Ok(r)) => assert_matches(&id, expected, &r),
            (_, Err(e)) => panic!("{id}: unexpected error {e:?}"),
        }
    }
}

#[test]
fn response_vectors() {
    for Vector { id, v } in vectors("resp_") {
        let n = normalize(&v, Endpoint::Messages).expect("valid request");
        if v["kind"] == "shortcut" {
            assert_eq!(v["expected"]["upstream_calls"], 0);
            assert_matches(
                &id,
                &v["expected"]["anthropic_response"],
                &response::zero_max_tokens(&n),
            );
            continue;
        }
        let body = v["input"]["openai_response"].to_string();
        match (
            &v["expected"]["anthropic_response"],
            response::to_anthropic(&n, body.as_bytes()),
        ) {
            (Value::Null, Err(e)) => assert_error(&id, &v["expected"]["error"], &e),
            (expected, Ok(r)) => assert_matches(&id, expected, &r),
            (_, other) => panic!("{id}: unexpected {other:?}"),
        }
    }
}

#[test]
fn upstream_error_vectors() {
    for Vector { id, v } in vectors("err_") {
        let expected = &v["expected"];
        if v["kind"] == "gateway_error" {
            // The proxy answers a bad key with this constructor (tests/e2e/anthropic.rs
            // checks the wire form).
            let e = AnthropicError::new(401, "authentication_error", "invalid x-api-key");
            assert_error(&id, expected, &e);
            continue;
        }
        let status = v["input"]["upstream_status"].as_u64().expect("status") as u16;
        let body = v["input"]["upstream_body"].as_str().expect("body");
        let e = from_upstream(status, body.as_bytes());
        assert_error(&id, expected, &e);
    }
}

/// Deterministic ids, so outputs from different chunkings can be compared byte for byte.
fn counting_ids() -> IdSource {
    let mut n = 0u32;
    Box::new(move |prefix| {
        n += 1;
        format!("{prefix}{:0>24}", n)
    })
}

fn translate(n: &Normalized, v: &Value, input: &[u8], split: usize) -> Vec<u8> {
    let mut t = StreamTranslator::new(
        n,
        options(v).buffered_tool_args,
        "req_AAAAAAAAAAAAAAAAAAAAAAAA".into(),
        counting_ids(),
    );
    let mut out = Vec::new();
    t.start(&mut out);
    for chunk in input.chunks(split.max(1)) {
        t.feed(chunk, &mut out);
    }
    t.finish(&mut out);
    out
}

fn parse_events(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).expect("utf8 output");
    text.split_terminator("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("two lines");
            let event = event.strip_prefix("event: ").expect("event line");
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").expect("data line"))
                .expect("JSON data");
            assert_eq!(data["type"], event, "event name equals data.type");
            json!({"event": event, "data": data})
        })
        .collect()
}

fn random_ids_shape(id: &str, v: &Value, n: &Normalized, input: &[u8]) {
    // With the production id source, ids must have the Anthropic shapes.
    let mut t = StreamTranslator::new(
        n,
        options(v).buffered_tool_args,
        "req_AAAAAAAAAAAAAAAAAAAAAAAA".into(),
        llmgate::api::anthropic::stream::random_ids(),
    );
    let mut out = Vec::new();
    t.feed(input, &mut out);
    t.finish(&mut out);
    assert_matches(
        id,
        &v["expected"]["events"],
        &Value::Array(parse_events(&out)),
    );
}

#[test]
fn stream_vectors_at_every_split() {
    for Vector { id, v } in vectors("stream_") {
        let n = normalize(&v, Endpoint::Messages).expect("valid request");
        let input = v["input"]["upstream_sse"].as_str().expect("sse").as_bytes();
        let whole = translate(&n, &v, input, input.len());
        random_ids_shape(&id, &v, &n, input);
        assert_eq!(
            translate(&n, &v, input, 1),
            whole,
            "{id}: one byte at a time"
        );
        for split in 1..input.len() {
            let mut t = StreamTranslator::new(
                &n,
                options(&v).buffered_tool_args,
                "req_AAAAAAAAAAAAAAAAAAAAAAAA".into(),
                counting_ids(),
            );
            let mut out = Vec::new();
            t.feed(&input[..split], &mut out);
            t.feed(&input[split..], &mut out);
            t.finish(&mut out);
            assert_eq!(out, whole, "{id}: split at {split}");
        }
    }
}

#[test]
fn count_vectors() {
    for Vector { id, v } in vectors("count_") {
        let n = match normalize(&v, Endpoint::CountTokens) {
            Ok(n) => n,
            Err(e) => {
                assert_error(&id, &v["expected"]["error"], &e);
                continue;
            }
        };
        let mode = v["input"]["mode"].as_str().unwrap_or("heuristic");
        let answer = match mode {
            "heuristic" => count::heuristic(&n),
            _ => {
                let model = upstream_model(&v, &n.model);
                let openai =
                    request::to_openai(&n, &model, &profile(&v), &options(&v)).expect("translates");
                let base = v["input"]["upstream_base_url"].as_str().expect("base url");
                let root = count::exact::root_path(base);
                let replies = v["input"]["upstream_responses"]
                    .as_array()
                    .expect("replies");
                let (requests, tokens) = if mode == "vllm" {
                    let req = json!({"method": "POST", "url": format!("{root}/tokenize"), "body": count::exact::vllm_tokenize(&openai)});
                    (
                        vec![req],
                        replies[0]["body"]["count"].as_u64().expect("count"),
                    )
                } else {
                    let prompt = replies[0]["body"]["prompt"].as_str().expect("prompt");
                    let reqs = vec![
                        json!({"method": "POST", "url": format!("{root}/apply-template"), "body": count::exact::llamacpp_apply_template(&openai)}),
                        json!({"method": "POST", "url": format!("{root}/tokenize"), "body": count::exact::llamacpp_tokenize(prompt)}),
                    ];
                    (
                        reqs,
                        replies[1]["body"]["tokens"]
                            .as_array()
                            .expect("tokens")
                            .len() as u64,
                    )
                };
                assert_matches(
                    &id,
                    &v["expected"]["upstream_requests"],
                    &Value::Array(requests),
                );
                tokens
            }
        };
        assert_matches(
            &id,
            &v["expected"]["response"],
            &json!({"input_tokens": answer}),
        );
    }
}
