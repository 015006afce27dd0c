//! Tool calls in the streaming translator: OpenAI's `tool_calls` deltas (ids, names and
//! argument fragments, possibly split, late or repeated; spec §6.4) become `tool_use`
//! blocks with `input_json_delta`s.

use serde_json::{Value, json};

use super::{Open, StreamTranslator};
use crate::api::anthropic::AnthropicError;

impl StreamTranslator {
    pub(super) fn on_tool_call(
        &mut self,
        tc: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), AnthropicError> {
        let id = tc["id"].as_str().map(str::trim).filter(|s| !s.is_empty());
        let name = tc["function"]["name"].as_str().filter(|s| !s.is_empty());
        let arguments = match &tc["function"]["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let key = self.tools.resolve(tc, id, name);
        let newest = key + 1 == self.tools.len();
        let t = &mut self.tools[key];
        if let Some(id) = id
            && t.up_id.is_none()
        {
            t.up_id = Some(id.to_owned());
            t.id = Some(id.to_owned());
        }
        if let Some(name) = name
            && !t.started
        {
            t.name.push_str(name);
        }
        t.pending.push_str(&arguments);
        if !t.started && !t.name.is_empty() {
            if !newest {
                return Err(AnthropicError::api("upstream interleaved tool calls"));
            }
            self.pending_text.clear();
            self.pending_thinking.clear();
            self.close(out);
            let t = &mut self.tools[key];
            let id = match &t.id {
                Some(id) => id.clone(),
                None => {
                    let id = (self.ids)("toolu_");
                    t.id = Some(id.clone());
                    id
                }
            };
            t.started = true;
            let block = json!({"type": "tool_use", "id": id, "name": t.name, "input": {}});
            self.open_block(out, Open::Tool(key), block);
        }
        let t = &self.tools[key];
        if t.started && !t.pending.is_empty() && !self.buffered_tool_args {
            if self.open != Open::Tool(key) {
                return Err(AnthropicError::api("upstream interleaved tool calls"));
            }
            let t = &mut self.tools[key];
            let fragment = std::mem::take(&mut t.pending);
            t.emitted.push_str(&fragment);
            self.out_chars += fragment.chars().count();
            self.delta(
                out,
                json!({"type": "input_json_delta", "partial_json": fragment}),
            );
        }
        Ok(())
    }
}
