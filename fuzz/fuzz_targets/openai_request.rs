//! Random bytes as an OpenAI chat completion request, translated for an Anthropic
//! upstream: never a panic; a translated request always has a model, a max_tokens and
//! user/assistant turns that alternate, as Messages requires.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmgate::api::anthropic_upstream::request::to_messages;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(out) = to_messages(&body, "claude-x") else {
        return;
    };
    assert_eq!(out["model"], "claude-x");
    assert!(out["max_tokens"].is_u64(), "{out}");
    let roles: Vec<&str> = out["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|t| t["role"].as_str()).collect())
        .unwrap_or_default();
    for pair in roles.windows(2) {
        assert_ne!(pair[0], pair[1], "turns must alternate: {out}");
    }
    for turn in out["messages"].as_array().into_iter().flatten() {
        assert!(
            turn["content"].as_array().is_some_and(|c| !c.is_empty()),
            "no empty turn: {out}"
        );
    }
});
