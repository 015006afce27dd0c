//! Streamed tool calls: which delta belongs to which call (spec §6.5 `resolve_key`).
//!
//! OpenAI keys deltas by `index`; real servers deviate. vLLM and OpenAI send id and name
//! first and bare argument fragments after; TGI repeats the id on every delta; SGLang
//! sends explicit `null`s; Ollama sends every call whole at `index: 0` without an id;
//! some send the name after the first arguments. A new call starts when no call has the
//! index yet, when a different id arrives, or when a complete call at the same index is
//! followed by another name.

use std::ops::{Deref, DerefMut};

use serde_json::Value;

#[derive(Debug, Default)]
pub(super) struct ToolCall {
    pub up_index: i64,
    pub up_id: Option<String>,
    /// The id sent to the client (the upstream's, or a generated `toolu_…`).
    pub id: Option<String>,
    pub name: String,
    /// Argument text received but not yet emitted.
    pub pending: String,
    pub emitted: String,
    pub started: bool,
}

#[derive(Debug, Default)]
pub(super) struct ToolCalls(Vec<ToolCall>);

impl Deref for ToolCalls {
    type Target = Vec<ToolCall>;
    fn deref(&self) -> &Vec<ToolCall> {
        &self.0
    }
}

impl DerefMut for ToolCalls {
    fn deref_mut(&mut self) -> &mut Vec<ToolCall> {
        &mut self.0
    }
}

impl ToolCalls {
    /// The call a delta belongs to, creating it if the delta starts a new one.
    pub fn resolve(&mut self, tc: &Value, id: Option<&str>, name: Option<&str>) -> usize {
        let index = tc["index"]
            .as_i64()
            .unwrap_or_else(|| self.0.last().map_or(0, |t| t.up_index));
        let newest = self.0.iter().rposition(|t| t.up_index == index);
        let fresh = match newest {
            None => true,
            Some(k) => {
                let t = &self.0[k];
                let other_id = matches!((id, &t.up_id), (Some(a), Some(b)) if a != b);
                let has_args = !(t.emitted.is_empty() && t.pending.is_empty());
                let complete_again = !t.name.is_empty() && has_args && name.is_some();
                other_id || complete_again
            }
        };
        match newest {
            Some(k) if !fresh => k,
            _ => {
                self.0.push(ToolCall {
                    up_index: index,
                    ..ToolCall::default()
                });
                self.0.len() - 1
            }
        }
    }
}
