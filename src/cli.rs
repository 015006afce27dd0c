//! Command-line arguments (clap) and the `hash-key` helper.

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// LLM API gateway: OpenAI passthrough in front of vLLM, llama.cpp, Ollama, TGI, SGLang,
/// LocalAI, LM Studio or any OpenAI-compatible API.
#[derive(Debug, Parser)]
#[command(name = "llmgate", version, about)]
pub struct Cli {
    /// YAML configuration file: llmgate's own format, or a `model_list` file (the
    /// `docker model gateway` format). Without it, the environment variables of the
    /// previous gateway are read (BACKEND_BASE_URL, API_KEYS, ...; see .env.example).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Validate the configuration, print `configuration OK` or every error, and exit
    /// (0 when valid, 64 when not).
    #[arg(short = 't', long = "check")]
    pub check: bool,

    /// Listen on this address instead of `server.host`.
    #[arg(long)]
    pub host: Option<String>,

    /// Listen on this port instead of `server.port`.
    #[arg(short = 'p', long)]
    pub port: Option<u16>,

    /// Debug logging (same as `logging.level: debug`).
    #[arg(short = 'v', long)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read an API key on stdin and print its `sha256:` form for `auth.keys[].key`.
    HashKey,
}

/// The `sha256:<hex>` form of the key read from `input` (one trailing newline ignored).
///
/// # Errors
/// When the input is unreadable or the key is empty.
pub fn hash_key(mut input: impl Read) -> Result<String, String> {
    let mut raw = String::new();
    input
        .read_to_string(&mut raw)
        .map_err(|e| format!("cannot read the key from stdin: {e}"))?;
    let key = raw.strip_suffix('\n').unwrap_or(&raw);
    let key = key.strip_suffix('\r').unwrap_or(key);
    if key.is_empty() {
        return Err("no key on stdin (try: printf %s \"$KEY\" | llmgate hash-key)".into());
    }
    Ok(format!(
        "sha256:{}",
        hex::encode(crate::config::key_digest(key.as_bytes()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_key_ignores_one_trailing_newline() {
        let a = hash_key("demo-key\n".as_bytes()).expect("ok");
        let b = hash_key("demo-key".as_bytes()).expect("ok");
        assert_eq!(a, b);
        assert_eq!(
            a,
            "sha256:c48a01f49fd0f2cc404bc3cbbc80e91457a3d41bb429a695243de4c61794155c"
        );
        assert!(hash_key("\n".as_bytes()).is_err());
    }
}
