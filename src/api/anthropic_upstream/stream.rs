//! Anthropic Messages SSE → OpenAI chat completion chunks, event by event.
//!
//! `message_start` gives the first chunk (`role: assistant`); text, thinking and tool
//! input deltas become `content`, `reasoning_content` and `tool_calls[].function.arguments`
//! deltas (a `tool_use` block start carries the call's id and name, with its own
//! `tool_calls` index); `message_delta` holds the stop reason and output usage, which
//! `message_stop` turns into the final chunk, then a usage chunk when the client asked
//! for `stream_options.include_usage`, then `data: [DONE]`. An `error` event becomes an
//! OpenAI error event and ends the stream; so does an upstream that ends without
//! `message_stop`. Chunk boundaries in the input never change the output.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::response::{finish_reason, usage};
use crate::api::anthropic::sse::SseFramer;

pub struct ChunkTranslator {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    framer: SseFramer,
    /// Anthropic block index → OpenAI `tool_calls` index.
    tools: BTreeMap<u64, usize>,
    usage: Value,
    stop_reason: Option<String>,
    finished: bool,
}

impl ChunkTranslator {
    /// `model` is the client's alias; `include_usage` its `stream_options.include_usage`.
    pub fn new(model: &str, created: u64, include_usage: bool) -> ChunkTranslator {
        ChunkTranslator {
            id: "chatcmpl-msg".into(),
            model: model.to_owned(),
            created,
            include_usage,
            framer: SseFramer::default(),
            tools: BTreeMap::new(),
            usage: json!({}),
            stop_reason: None,
            finished: false,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Translates a chunk of upstream bytes into `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut events = Vec::new();
        if self
            .framer
            .feed(chunk, &mut |e| events.push(e.to_owned()))
            .is_err()
        {
            return self.fail("upstream event too large", out);
        }
        for e in events {
            self.on_event(&e, out);
        }
    }

    /// The upstream body ended.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let mut events = Vec::new();
        self.framer.finish(&mut |e| events.push(e.to_owned()));
        for e in events {
            self.on_event(&e, out);
        }
        if !self.finished {
            self.fail("the upstream stream ended before message_stop", out);
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        });
        write(&c, out);
    }

    /// Ends the stream with an OpenAI error event (the upstream failed, or the gateway is
    /// shutting down).
    pub fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        self.fail_with(message, "upstream_error", out);
    }

    /// [`Self::fail`] with `code` (an Anthropic error type, when it sent one).
    fn fail_with(&mut self, message: &str, code: &str, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let e = json!({"error": {"message": message, "type": "server_error", "param": null, "code": code}});
        write(&e, out);
        self.finished = true;
    }

    fn on_event(&mut self, data: &str, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return self.fail("the upstream sent an event that is not JSON", out);
        };
        let delta = &event["delta"];
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let m = &event["message"];
                if let Some(id) = m["id"].as_str() {
                    self.id = format!("chatcmpl-{id}");
                }
                self.usage = m["usage"].clone();
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            "content_block_start" => {
                let block = &event["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tools.len();
                    self.tools
                        .insert(event["index"].as_u64().unwrap_or(0), index);
                    let call = json!({"index": index, "id": block["id"], "type": "function",
                        "function": {"name": block["name"], "arguments": ""}});
                    self.chunk(json!({"tool_calls": [call]}), None, out);
                }
            }
            "content_block_delta" => match delta["type"].as_str().unwrap_or_default() {
                "text_delta" => self.chunk(json!({"content": delta["text"]}), None, out),
                "thinking_delta" => {
                    self.chunk(json!({"reasoning_content": delta["thinking"]}), None, out);
                }
                // Anthropic opens every tool input with an empty fragment: nothing to send.
                "input_json_delta" if delta["partial_json"] == "" => {}
                "input_json_delta" => {
                    let block = event["index"].as_u64().unwrap_or(0);
                    if let Some(index) = self.tools.get(&block) {
                        let call = json!({"index": index, "function": {"arguments": delta["partial_json"]}});
                        self.chunk(json!({"tool_calls": [call]}), None, out);
                    }
                }
                _ => {}
            },
            "message_delta" => {
                if let Some(stop) = delta["stop_reason"].as_str() {
                    self.stop_reason = Some(stop.to_owned());
                }
                if let (Some(u), Some(map)) = (event.get("usage"), self.usage.as_object_mut()) {
                    for (k, v) in u.as_object().into_iter().flatten() {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
            "message_stop" => {
                let finish = finish_reason(self.stop_reason.as_deref());
                self.chunk(json!({}), Some(finish), out);
                if self.include_usage {
                    let c = json!({"id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": usage(&self.usage)});
                    write(&c, out);
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.finished = true;
            }
            "error" => {
                let error = &event["error"];
                let message = error["message"].as_str().unwrap_or("upstream error");
                let code = error["type"].as_str().unwrap_or("upstream_error");
                self.fail_with(message, code, out);
            }
            // `ping`, `content_block_stop`, and event types added later.
            _ => {}
        }
    }
}

fn write(v: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Héllo 😀\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":20}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    fn run(cuts: &[&[u8]], include_usage: bool) -> String {
        let mut t = ChunkTranslator::new("smart", 7, include_usage);
        let mut out = Vec::new();
        for c in cuts {
            t.feed(c, &mut out);
        }
        t.finish(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    fn events(text: &str) -> Vec<Value> {
        text.split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("JSON chunk"))
            .collect()
    }

    #[test]
    fn a_text_and_tool_stream_becomes_openai_chunks() {
        let out = run(&[STREAM.as_bytes()], true);
        assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
        let chunks = events(&out);
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(chunks[0]["id"], "chatcmpl-msg_1");
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "Héllo 😀");
        assert_eq!(
            chunks[2]["choices"][0]["delta"]["tool_calls"][0],
            json!({"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}})
        );
        let args: String = chunks[3..5]
            .iter()
            .map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(args, "{\"city\":\"Paris\"}");
        assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(chunks[6]["choices"], json!([]));
        assert_eq!(chunks[6]["usage"]["prompt_tokens"], 12);
        assert_eq!(chunks[6]["usage"]["completion_tokens"], 20);
        let without = run(&[STREAM.as_bytes()], false);
        assert_eq!(events(&without).len(), 6, "no usage chunk unless asked for");
    }

    #[test]
    fn every_split_gives_the_same_chunks() {
        let bytes = STREAM.as_bytes();
        let whole = run(&[bytes], true);
        for at in 1..bytes.len() {
            assert_eq!(
                run(&[&bytes[..at], &bytes[at..]], true),
                whole,
                "split at {at}"
            );
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&one_by_one, true), whole);
    }

    #[test]
    fn errors_and_early_ends_become_an_openai_error_event() {
        let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let out = run(&[error.as_bytes()], false);
        let chunks = events(&out);
        assert_eq!(chunks.len(), 1, "{out}");
        assert_eq!(chunks[0]["error"]["message"], "Overloaded");
        assert!(!out.contains("[DONE]"));
        let cut = &STREAM[..STREAM.find("event: message_delta").unwrap_or(0)];
        let out = run(&[cut.as_bytes()], false);
        assert!(
            out.contains("ended before message_stop") && !out.contains("[DONE]"),
            "{out}"
        );
    }
}
