//! Token counting for `count_tokens` when the backend cannot count exactly (spec §8.3).

use serde_json::Value;

use super::request::Normalized;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The characters of `v` as compact JSON, counted as it is written (no string built).
fn serialized_chars(v: &Value) -> usize {
    struct CountChars(usize);
    impl std::io::Write for CountChars {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            // UTF-8: every byte that does not continue a character starts one.
            self.0 += bytes.iter().filter(|b| (**b as i8) >= -0x40).count();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = CountChars(0);
    let _ = serde_json::to_writer(&mut counter, v);
    counter.0
}

fn text_len(v: &Value) -> usize {
    v.as_str().map_or(0, chars)
}

/// `max(1, ceil(chars / 4) + 1600 × images)` over system, messages and tools.
pub fn heuristic(req: &Normalized) -> u64 {
    let mut total = req.system.iter().map(|s| chars(s)).sum::<usize>();
    let mut images = 0usize;
    for m in &req.messages {
        for b in &m.blocks {
            let v = &b.value;
            total += match b.kind() {
                "text" => text_len(&v["text"]),
                "thinking" => text_len(&v["thinking"]),
                "tool_use" => text_len(&v["name"]) + serialized_chars(&v["input"]),
                "tool_result" => match &v["content"] {
                    Value::String(s) => chars(s),
                    Value::Array(parts) => parts
                        .iter()
                        .map(|p| {
                            if p["type"] == "image" {
                                images += 1;
                            }
                            if p["type"] == "text" {
                                text_len(&p["text"])
                            } else {
                                0
                            }
                        })
                        .sum(),
                    _ => 0,
                },
                "image" => {
                    images += 1;
                    0
                }
                "document" if v["source"]["type"] == "text" => {
                    text_len(&v["source"]["data"]) + text_len(&v["title"]) + text_len(&v["context"])
                }
                _ => 0,
            };
        }
    }
    for t in req.tools() {
        total += text_len(&t["name"])
            + text_len(&t["description"])
            + serialized_chars(&t["input_schema"]);
    }
    let estimate = total.div_ceil(4) + 1600 * images;
    estimate.max(1) as u64
}

/// Bodies for the exact counters (§8.2), built from the translated OpenAI request so the
/// count covers exactly what the backend would render.
pub mod exact {
    use serde_json::{Map, Value, json};

    /// The chat request's `messages` and `tools` (if any), optionally with its `model`.
    fn messages_and_tools(openai: &Value, with_model: bool) -> Map<String, Value> {
        let mut body = Map::new();
        if with_model {
            body.insert("model".into(), openai["model"].clone());
        }
        body.insert("messages".into(), openai["messages"].clone());
        if let Some(tools) = openai.get("tools") {
            body.insert("tools".into(), tools.clone());
        }
        body
    }

    /// vLLM: `POST {root}/tokenize` → `{"count": N}`.
    pub fn vllm_tokenize(openai: &Value) -> Value {
        let mut body = messages_and_tools(openai, true);
        body.insert("add_generation_prompt".into(), json!(true));
        Value::Object(body)
    }

    /// SGLang: `POST {root}/v1/tokenize` → `{"count": N}`.
    pub fn sglang_tokenize(openai: &Value) -> Value {
        Value::Object(messages_and_tools(openai, true))
    }

    /// llama.cpp step 1: `POST {root}/apply-template` → `{"prompt": P}`.
    pub fn llamacpp_apply_template(openai: &Value) -> Value {
        Value::Object(messages_and_tools(openai, false))
    }

    /// llama.cpp step 2: `POST {root}/tokenize` → `{"tokens": [...]}`. The rendered
    /// template already holds the BOS text, hence no special tokens are added.
    pub fn llamacpp_tokenize(prompt: &str) -> Value {
        json!({"content": prompt, "add_special": false, "parse_special": true})
    }

    /// The server root of an OpenAI base path (`/v1` → ``): the tokenizer routes are
    /// mounted at the root.
    pub fn root_path(base_path: &str) -> &str {
        base_path.strip_suffix("/v1").unwrap_or(base_path)
    }
}

#[cfg(test)]
mod serialized_chars_tests {
    use super::*;

    #[test]
    fn counts_the_characters_of_the_compact_json_without_building_it() {
        for v in [
            serde_json::json!({"path": "tests/ñandú.rs", "n": [1, 2.5, null], "emoji": "🦀"}),
            serde_json::json!("quote \" and \\ backslash"),
            serde_json::json!({}),
        ] {
            assert_eq!(serialized_chars(&v), chars(&v.to_string()), "{v}");
        }
    }
}
