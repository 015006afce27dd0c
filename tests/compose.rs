//! The compose workflow without Docker: docker-compose.yml, deploy/env/*.env, the Makefile
//! targets and the Dockerfile must line up. Every runtime profile has its service, its
//! env file names it by service name and a port it exposes, each env file is a valid
//! environment-mode configuration, and the image is multi-stage, non-root and checks
//! `/livez`.

use std::collections::BTreeMap;
use std::path::Path;

use llmgate::config::{Config, ConfigSource};
use serde_yaml::Value;

const RUNTIMES: [(&str, &str); 6] = [
    ("vllm", "vllm"),
    ("ollama", "ollama"),
    ("llamacpp", "llamacpp"),
    ("tgi", "tgi"),
    ("sglang", "sglang"),
    ("localai", "localai"),
];

fn root(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root("docker-compose.yml")).expect("read"))
        .expect("docker-compose.yml is YAML")
}

fn env_file(name: &str) -> BTreeMap<String, String> {
    let path = root(&format!("deploy/env/{name}.env"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn profiles(service: &Value) -> Vec<&str> {
    service["profiles"]
        .as_sequence()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_runtime_profile_has_its_service_and_env_file() {
    let c = compose();
    let services = c["services"].as_mapping().expect("services");
    let gateway = &c["services"]["llmgate"];
    assert!(
        profiles(gateway).is_empty(),
        "the gateway runs with every profile"
    );
    assert_eq!(gateway["env_file"][0]["path"], ".env");
    assert_eq!(gateway["ports"][0], "${API_PORT:-8000}:${API_PORT:-8000}");
    for (runtime, kind) in RUNTIMES {
        let (name, service) = services
            .iter()
            .find(|(_, s)| profiles(s).contains(&runtime))
            .unwrap_or_else(|| panic!("no service in profile {runtime}"));
        let name = name.as_str().expect("service name");
        let env = env_file(runtime);
        assert_eq!(env["BACKEND"], runtime);
        assert_eq!(env["BACKEND_KIND"], kind, "{runtime}");
        let url = &env["BACKEND_BASE_URL"];
        let host_port = url
            .strip_prefix("http://")
            .and_then(|u| u.split('/').next())
            .expect("http URL");
        let (host, port) = host_port.split_once(':').expect("host:port");
        assert_eq!(host, name, "{runtime}: reached by its service name");
        let exposed: Vec<&str> = service["expose"]
            .as_sequence()
            .map(|e| e.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            exposed.contains(&port),
            "{runtime}: port {port} not in expose {exposed:?}"
        );
    }
    // `none`: the gateway alone; `demo`: the scripted backend.
    assert_eq!(env_file("none")["BACKEND"], "none");
    assert!(env_file("none")["BACKEND_BASE_URL"].starts_with("https://"));
    let demo = env_file("demo");
    assert!(demo["BACKEND_BASE_URL"].starts_with("http://mock:"));
    assert_eq!(profiles(&c["services"]["mock"]), ["demo"]);
}

#[test]
fn every_env_file_is_a_valid_environment_mode_configuration() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/env");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("deploy/env") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_owned();
        let vars = env_file(&name);
        let config = Config::load_with_env(
            &ConfigSource::Environment,
            Box::new(move |k| vars.get(k).cloned()),
        )
        .unwrap_or_else(|e| panic!("deploy/env/{name}.env: {e}"));
        assert_eq!(config.server.port, 8000, "{name}");
        seen += 1;
    }
    assert_eq!(seen, RUNTIMES.len() + 2);
}

#[test]
fn the_makefile_has_the_workflow_targets() {
    let makefile = std::fs::read_to_string(root("Makefile")).expect("Makefile");
    let runtimes = makefile
        .lines()
        .find_map(|l| l.strip_prefix("RUNTIMES := "))
        .expect("RUNTIMES in the Makefile");
    for (runtime, _) in RUNTIMES {
        assert!(runtimes.split(' ').any(|r| r == runtime), "env-{runtime}");
    }
    for target in [
        "up:",
        "down:",
        "ps:",
        "logs:",
        "health:",
        "$(addprefix env-,$(RUNTIMES)): env-%:",
    ] {
        assert!(makefile.lines().any(|l| l.starts_with(target)), "{target}");
    }
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_and_checks_livez() {
    let dockerfile = std::fs::read_to_string(root("Dockerfile")).expect("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage");
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    let check = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("HEALTHCHECK");
    assert!(check.contains("/livez"), "{check}");
}
