//! Arbitrary JSON bodies through validation and translation: errors are fine, panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmgate::api::anthropic::request::{self, Endpoint};
use llmgate::api::anthropic::{Flavor, Options, Profile};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = request::parse_body(data) else { return };
    for endpoint in [Endpoint::Messages, Endpoint::CountTokens] {
        if let Ok(req) = request::normalize(raw.clone(), endpoint, &Options::default()) {
            for flavor in [Flavor::Generic, Flavor::Vllm, Flavor::Llamacpp, Flavor::Ollama] {
                let _ = request::to_openai(&req, "m", &Profile::new(flavor), &Options::default());
            }
            let _ = request::to_native(&req, "m");
            let _ = llmgate::api::anthropic::count::heuristic(&req);
        }
    }
});
