//! Every file under conf/ is a valid configuration, and the reference file documents the
//! real defaults.

use std::path::{Path, PathBuf};

use llmgate::config::{Config, ConfigSource};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read conf dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Placeholder values for the variables the examples reference.
fn env(name: &str) -> Option<String> {
    name.ends_with("_KEY")
        .then(|| format!("test-value-for-{name}"))
}

fn load(path: &Path) -> Config {
    Config::load_with_env(&ConfigSource::File(path.to_owned()), Box::new(env))
        .unwrap_or_else(|e| panic!("{} is invalid:\n{e}", path.display()))
}

#[test]
fn every_file_under_conf_loads() {
    let mut files = Vec::new();
    yaml_files(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/conf")),
        &mut files,
    );
    assert!(
        files.len() >= 4,
        "expected the reference and the examples, found {files:?}"
    );
    for file in files {
        load(&file);
    }
}

#[test]
fn reference_file_shows_the_defaults() {
    let reference = load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conf/llmgate.yaml"
    )));
    let minimal = Config::from_yaml_str(
        "backends:\n  - {name: gpu0, kind: vllm, url: 'http://127.0.0.1:8001/v1'}\ndefault_backend: gpu0\n",
        ConfigSource::Environment,
        Box::new(|_| None),
    )
    .expect("minimal config");
    assert_eq!(reference.server, minimal.server);
    assert_eq!(
        format!("{:?}", reference.logging),
        format!("{:?}", minimal.logging)
    );
    assert_eq!(reference.metrics_enabled, minimal.metrics_enabled);
    assert_eq!(reference.keys, minimal.keys);
    assert_eq!(reference.rate_limit, minimal.rate_limit);
    assert_eq!(reference.max_inflight_per_key, minimal.max_inflight_per_key);
    assert_eq!(
        format!("{:?}", reference.cors),
        format!("{:?}", minimal.cors)
    );
    assert_eq!(
        format!("{:?}", reference.backends[0]),
        format!("{:?}", minimal.backends[0]),
        "every backend key in the reference shows its default"
    );
}

#[test]
fn env_example_documents_every_environment_variable() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    for (name, _) in llmgate::config::env::VARIABLES {
        assert!(
            text.contains(&format!("{name}=")),
            ".env.example lacks {name}"
        );
    }
}
