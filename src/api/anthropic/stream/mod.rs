//! The streaming translator (spec §6): OpenAI chat-completion SSE bytes in, Anthropic
//! Messages SSE bytes out, one upstream chunk at a time.
//!
//! It is a pure state machine. Its output does not depend on how the input is chunked: the
//! framer emits whole events only, and every decision is made per event. Ids come from an
//! injectable source so tests can check that byte for byte.
//!
//! Output grammar (§6.3): `message_start ping (block | ping)* (message_delta message_stop |
//! error)`, blocks strictly sequential with contiguous indices, one block open at a time,
//! no empty deltas, thinking blocks closed by a `signature_delta`, tool blocks carrying at
//! least one `input_json_delta`, exactly one `message_delta` with the full usage.

use serde_json::{Value, json};

use super::error::from_stream_error;
use super::request::Normalized;
use super::response::{parse_args, stop_reason, usage};
use super::sse::{PING, SseFramer, write_event};
use super::tool_calls::ToolCalls;
use super::{AnthropicError, count};

pub use super::ids::{IdSource, random_ids};

mod tool_use;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    Tool(usize),
}

/// Where the translator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing written yet.
    Idle,
    Streaming,
    /// `message_stop` or `error` written; nothing follows.
    Finished,
}

pub struct StreamTranslator {
    model: String,
    stop_sequences: Vec<String>,
    input_estimate: Value,
    buffered_tool_args: bool,
    request_id: String,
    ids: IdSource,
    framer: SseFramer,
    phase: Phase,
    next_index: usize,
    open: Open,
    pending_text: String,
    pending_thinking: String,
    tools: ToolCalls,
    finish_reason: Option<String>,
    matched_stop: Option<Value>,
    usage: Option<Value>,
    out_chars: usize,
    error: Option<AnthropicError>,
    done: bool,
}

impl std::fmt::Debug for StreamTranslator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamTranslator({:?})", self.phase)
    }
}

impl StreamTranslator {
    pub fn new(
        req: &Normalized,
        buffered_tool_args: bool,
        request_id: String,
        ids: IdSource,
    ) -> StreamTranslator {
        StreamTranslator {
            model: req.model.clone(),
            stop_sequences: req.stop_sequences.clone(),
            input_estimate: json!(count::heuristic(req)),
            buffered_tool_args,
            request_id,
            ids,
            framer: SseFramer::default(),
            phase: Phase::Idle,
            next_index: 0,
            open: Open::None,
            pending_text: String::new(),
            pending_thinking: String::new(),
            tools: ToolCalls::default(),
            finish_reason: None,
            matched_stop: None,
            usage: None,
            out_chars: 0,
            error: None,
            done: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `message_start` and the first `ping`; written as soon as the upstream said 200.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Streaming;
        let id = (self.ids)("msg_");
        let message = json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            }
        });
        write_event(out, "message_start", &message);
        out.extend_from_slice(PING);
    }

    /// Translates a chunk of upstream bytes.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.phase == Phase::Finished {
            return;
        }
        self.start(out);
        let mut events = Vec::new();
        let fed = self.framer.feed(chunk, &mut |e| events.push(e.to_owned()));
        for e in events {
            self.on_event(&e, out);
        }
        if let Err(too_large) = fed {
            self.fail(
                AnthropicError::api(format!(
                    "upstream sent an event larger than {} bytes",
                    too_large.limit
                )),
                out,
            );
        }
    }

    /// Bounds one upstream event (an unterminated line grows it) to `limit` bytes.
    #[must_use]
    pub fn with_event_limit(mut self, limit: usize) -> StreamTranslator {
        self.framer = SseFramer::with_limit(limit);
        self
    }

    /// The upstream body ended (with or without `[DONE]`).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.phase == Phase::Finished {
            return;
        }
        self.start(out);
        let mut events = Vec::new();
        self.framer.finish(&mut |e| events.push(e.to_owned()));
        for e in events {
            self.on_event(&e, out);
        }
        if self.phase != Phase::Finished {
            self.end(out);
        }
    }

    /// The transport failed mid-stream (timeout, reset): end with an `error` event.
    pub fn fail(&mut self, err: AnthropicError, out: &mut Vec<u8>) {
        if self.phase == Phase::Finished {
            return;
        }
        self.start(out);
        self.emit_error(err, out);
    }

    fn emit_error(&mut self, err: AnthropicError, out: &mut Vec<u8>) {
        out.extend_from_slice(&err.to_event(&self.request_id));
        self.error = Some(err);
        self.phase = Phase::Finished;
    }

    /// The error the stream ended with, if any.
    pub fn error(&self) -> Option<&AnthropicError> {
        self.error.as_ref()
    }

    fn on_event(&mut self, data: &str, out: &mut Vec<u8>) {
        if self.phase == Phase::Finished || self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            self.end(out);
            return;
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) => {
                return self.emit_error(AnthropicError::api("upstream sent invalid JSON"), out);
            }
        };
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            return self.emit_error(from_stream_error(err, self.input_estimate.as_u64()), out);
        }
        if chunk["object"] == "error" {
            return self.emit_error(from_stream_error(&chunk, self.input_estimate.as_u64()), out);
        }
        if let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) {
            let delta = &choice["delta"];
            let reasoning = [&delta["reasoning_content"], &delta["reasoning"]]
                .into_iter()
                .filter_map(Value::as_str)
                .find(|s| !s.is_empty());
            if let Some(r) = reasoning {
                self.on_reasoning(r, out);
            }
            if let Some(c) = delta["content"].as_str().filter(|c| !c.is_empty()) {
                self.on_content(c, out);
            }
            for tc in delta["tool_calls"].as_array().into_iter().flatten() {
                if let Err(e) = self.on_tool_call(tc, out) {
                    return self.emit_error(e, out);
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(f.to_owned());
                if choice["stop_reason"].is_string() {
                    self.matched_stop = Some(choice["stop_reason"].clone());
                } else if choice["matched_stop"].is_string() {
                    self.matched_stop = Some(choice["matched_stop"].clone());
                }
            }
        }
        if chunk["usage"].is_object() {
            self.usage = Some(chunk["usage"].clone());
        }
    }

    fn on_reasoning(&mut self, r: &str, out: &mut Vec<u8>) {
        if self.open == Open::Thinking {
            self.delta(out, json!({"type": "thinking_delta", "thinking": r}));
            return;
        }
        self.pending_thinking.push_str(r);
        if self.pending_thinking.chars().any(|c| !c.is_whitespace()) {
            self.close(out);
            self.open_block(
                out,
                Open::Thinking,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
            );
            let text = std::mem::take(&mut self.pending_thinking);
            self.delta(out, json!({"type": "thinking_delta", "thinking": text}));
        }
    }

    fn on_content(&mut self, c: &str, out: &mut Vec<u8>) {
        self.pending_thinking.clear();
        if self.open == Open::Text {
            self.delta(out, json!({"type": "text_delta", "text": c}));
            return;
        }
        self.pending_text.push_str(c);
        if self.pending_text.chars().any(|c| !c.is_whitespace()) {
            self.close(out);
            self.open_block(out, Open::Text, json!({"type": "text", "text": ""}));
            let text = std::mem::take(&mut self.pending_text);
            self.delta(out, json!({"type": "text_delta", "text": text}));
        }
    }

    fn open_block(&mut self, out: &mut Vec<u8>, open: Open, block: Value) {
        self.open = open;
        write_event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.next_index, "content_block": block}),
        );
    }

    fn delta(&mut self, out: &mut Vec<u8>, delta: Value) {
        if let Some(s) = delta["text"]
            .as_str()
            .or_else(|| delta["thinking"].as_str())
        {
            self.out_chars += s.chars().count();
        }
        write_event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.next_index, "delta": delta}),
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        match self.open {
            Open::None => return,
            Open::Thinking => {
                let sig = (self.ids)("sig_");
                write_event(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": self.next_index, "delta": {"type": "signature_delta", "signature": sig}}),
                );
            }
            Open::Tool(key) => {
                let buffered = self.buffered_tool_args;
                let t = &mut self.tools[key];
                let json = if buffered {
                    let raw = std::mem::take(&mut t.pending);
                    t.emitted.push_str(&raw);
                    match serde_json::from_str::<Value>(&raw) {
                        Ok(Value::Object(_)) => raw,
                        _ => parse_args(&Value::String(raw)).to_string(),
                    }
                } else if t.emitted.is_empty() {
                    "{}".to_owned()
                } else {
                    String::new()
                };
                if !json.is_empty() {
                    let fragment = if json.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        json
                    };
                    self.out_chars += fragment.chars().count();
                    self.delta(
                        out,
                        json!({"type": "input_json_delta", "partial_json": fragment}),
                    );
                }
            }
            Open::Text => {}
        }
        write_event(
            out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": self.next_index}),
        );
        self.open = Open::None;
        self.next_index += 1;
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        if !self.done && self.finish_reason.is_none() {
            return self.emit_error(
                AnthropicError::api("upstream stream ended unexpectedly"),
                out,
            );
        }
        if self.tools.iter().any(|t| t.name.is_empty()) {
            return self.emit_error(
                AnthropicError::api("upstream returned a tool call without a function name"),
                out,
            );
        }
        if let Some(f @ ("abort" | "error" | "load" | "unload")) = self.finish_reason.as_deref() {
            let msg = format!("upstream generation failed (finish_reason={f})");
            return self.emit_error(AnthropicError::api(msg), out);
        }
        self.close(out);
        let has_tools = !self.tools.is_empty();
        let (stop, sequence) = stop_reason(
            self.finish_reason.as_deref(),
            self.matched_stop.as_ref(),
            has_tools,
            false,
            &self.stop_sequences,
        );
        let usage = match &self.usage {
            Some(u) => usage(u),
            None => {
                let mut u = estimated_usage_from(self.out_chars);
                u["input_tokens"] = self.input_estimate.clone();
                u
            }
        };
        write_event(
            out,
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": sequence}, "usage": usage}),
        );
        write_event(out, "message_stop", &json!({"type": "message_stop"}));
        self.phase = Phase::Finished;
    }
}

fn estimated_usage_from(out_chars: usize) -> Value {
    json!({
        "input_tokens": 0,
        "output_tokens": out_chars.div_ceil(4),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

#[cfg(test)]
mod tests;
