//! Config loading: defaults, interpolation, and the exact message of each error.

use super::*;

fn load(yaml: &str) -> Result<Config, ConfigError> {
    let env: Box<EnvSource> = Box::new(|k| match k {
        "GPU_KEY" => Some("from-env".into()),
        "PORT" => Some("9100".into()),
        _ => None,
    });
    Config::from_yaml_str(yaml, ConfigSource::File("test.yaml".into()), env)
}

fn errors(yaml: &str) -> Vec<String> {
    load(yaml).expect_err("config must be rejected").lines()
}

const MINIMAL: &str =
    "backends:\n  - {name: a, kind: vllm, url: 'http://127.0.0.1:8001'}\ndefault_backend: a\n";

#[test]
fn minimal_config_gets_the_documented_defaults() {
    let c = load(MINIMAL).expect("valid");
    assert_eq!(c.server.listen_addr(), "127.0.0.1:8000");
    assert_eq!(c.server.max_body_bytes, 32 * 1024 * 1024);
    assert_eq!(c.server.max_header_bytes, 64 * 1024);
    assert!(c.logging.json && !c.logging.log_prompts);
    assert_eq!(c.logging.level, LogLevel::Info);
    assert!(c.metrics_enabled);
    assert!(c.keys.is_empty(), "auth is off without keys");
    assert_eq!(c.rate_limit, None);
    let b = &c.backends[0];
    assert_eq!(b.url.base_path, "/v1");
    assert_eq!(b.connect_timeout, Duration::from_secs(5));
    assert_eq!(b.read_timeout, Duration::from_secs(600));
    assert_eq!(b.idle_timeout, Duration::from_secs(4));
    assert_eq!(b.health.interval, Duration::from_secs(5));
    assert_eq!(c.default_backend, Some(0));
}

#[test]
fn environment_variables_are_interpolated() {
    let c = load(
        "server: {port: '${PORT}'}\nbackends:\n  - name: a\n    kind: openai\n    url: https://api.example.com/v1\n    api_key: os.environ/GPU_KEY\nmodels:\n  m: {backend: a, upstream_model: 'org/${MODEL:-default-model}'}\n",
    )
    .expect("valid");
    assert_eq!(c.server.port, 9100);
    assert_eq!(
        c.backends[0].api_key.as_ref().map(Secret::expose),
        Some("from-env")
    );
    assert_eq!(c.models["m"][0].upstream_model, "org/default-model");
}

#[test]
fn schema_errors_name_path_and_line() {
    assert_eq!(
        errors("backends:\n  - name: a\n    kind: vllm\n    url: http://x\n    retries: 3\n"),
        [
            "test.yaml: backends[0]: unknown field `retries`, expected one of `name`, `kind`, `url`, `api_key`, `connect_timeout_ms`, `read_timeout_ms`, `total_timeout_ms`, `write_timeout_ms`, `idle_timeout_ms`, `health_check`, `capabilities`, `anthropic`, `stream_usage`, `passthrough_paths`, `max_concurrency`, `max_queue`, `queue_timeout_ms`, `tls_ca_file`, `api_version` at line 5 column 5"
        ]
    );
    assert_eq!(
        errors("backends:\n  - {name: a, kind: triton, url: 'http://x'}\n"),
        [
            "test.yaml: backends[0].kind: unknown variant `triton`, expected one of `vllm`, `ollama`, `llamacpp`, `tgi`, `sglang`, `localai`, `lmstudio`, `openai`, `azure`, `azure_ai`, `anthropic` at line 2 column 21"
        ]
    );
    assert_eq!(
        errors("server:\n  max_body_bytes: lots\nbackends: []\n"),
        [
            "test.yaml: server.max_body_bytes: invalid type: string \"lots\", expected u64 at line 2 column 19"
        ]
    );
}

#[test]
fn missing_variables_are_named_with_their_key() {
    assert_eq!(
        errors(
            "backends:\n  - name: a\n    kind: vllm\n    url: http://x\n    api_key: ${VLLM_KEY}\n"
        ),
        [
            "test.yaml: backends[0].api_key: environment variable `VLLM_KEY` is not set at line 5 column 14"
        ]
    );
    assert_eq!(
        errors("server:\n  port: ${NO_PORT}\nbackends: []\n"),
        ["test.yaml: server.port: environment variable `NO_PORT` is not set at line 2 column 9"]
    );
}

#[test]
fn semantic_errors_are_all_listed_with_lines() {
    let yaml = "\
backends:
  - name: a
    kind: vllm
    url: localhost:8000
  - name: a
    kind: tgi
    url: ftp://x/v1
models:
  m:
    backend: nope
  n:
    backend: a
    deployments:
      - backend: a
auth:
  keys:
    - {id: k1, key: 'sha256:beef'}
    - {id: k1, key: plain}
limits:
  rate_limit: {enabled: true, requests_per_minute: 0}
";
    assert_eq!(
        errors(yaml),
        [
            "test.yaml: auth.keys[0].key: `sha256:` must be followed by 64 hex digits at line 17",
            "test.yaml: auth.keys[1].id: duplicate key id `k1` at line 18",
            "test.yaml: limits.rate_limit.requests_per_minute: must be at least 1 at line 20",
            "test.yaml: backends[0].url: `localhost:8000` needs a scheme, e.g. `http://localhost:8000` at line 4",
            "test.yaml: backends[1].name: duplicate backend name `a` at line 5",
            "test.yaml: backends[1].url: `ftp://x/v1`: scheme `ftp` is not http or https at line 7",
            "test.yaml: models.m.backend: unknown backend `nope` (known: a) at line 10",
            "test.yaml: models.n: set either `backend` or `deployments`, not both at line 11",
        ]
    );
}

#[test]
fn nothing_routable_and_no_backends_are_errors() {
    assert_eq!(
        errors("backends: []\n"),
        ["test.yaml: backends: at least one backend is required at line 1"]
    );
    assert_eq!(
        errors("backends:\n  - {name: a, kind: vllm, url: 'http://x'}\n"),
        [
            "test.yaml: models: no model is routable: list models under `models`, or set `default_backend`"
        ]
    );
    assert_eq!(
        errors("backends:\n  - {name: a, kind: vllm, url: 'http://x'}\ndefault_backend: b\n"),
        ["test.yaml: default_backend: unknown backend `b` (known: a) at line 3"]
    );
}

#[test]
fn tls_files_resolve_against_the_config_directory_and_must_hold_pem() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = ConfigSource::File(fixtures.join("llmgate.yaml"));
    let yaml = |cert: &str, key: &str| {
        format!("server:\n  tls: {{cert_file: '{cert}', key_file: '{key}'}}\n{MINIMAL}")
    };
    let ok = Config::from_yaml_str(
        &yaml("tls/server.pem", "tls/server.key"),
        source.clone(),
        Box::new(|_| None),
    )
    .expect("valid TLS config");
    let tls = ok.server.tls.expect("tls");
    assert_eq!(tls.cert, fixtures.join("tls/server.pem"));
    assert_eq!(tls.key, fixtures.join("tls/server.key"));

    let err = Config::from_yaml_str(
        &yaml("tls/missing.pem", "tls/server.pem"),
        source,
        Box::new(|_| None),
    )
    .expect_err("rejected")
    .lines();
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(
        err[0].contains("server.tls.cert_file: cannot read `") && err[0].ends_with("at line 2"),
        "{err:?}"
    );
    assert!(
        err[1].contains("server.tls.key_file: `")
            && err[1].contains("holds no `PRIVATE KEY-----` PEM block"),
        "{err:?}"
    );
}

#[test]
fn backend_ca_files_are_loaded_and_only_for_https() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = ConfigSource::File(fixtures.join("llmgate.yaml"));
    let yaml = |url: &str, ca: &str| {
        format!(
            "backends:\n  - {{name: a, kind: openai, url: '{url}', api_key: k, tls_ca_file: '{ca}'}}\ndefault_backend: a\n"
        )
    };
    let load = |y: String| Config::from_yaml_str(&y, source.clone(), Box::new(|_| None));
    let ok = load(yaml("https://10.0.0.5/v1", "tls/ca.pem")).expect("valid");
    assert_eq!(
        ok.backends[0].tls_ca.as_deref().map(<[Vec<u8>]>::len),
        Some(1)
    );
    for (url, ca, needle) in [
        (
            "http://10.0.0.5/v1",
            "tls/ca.pem",
            "only applies to `https://` backends",
        ),
        ("https://10.0.0.5/v1", "tls/nope.pem", "cannot read `"),
        (
            "https://10.0.0.5/v1",
            "tls/server.key",
            "holds no `CERTIFICATE` PEM block",
        ),
    ] {
        let e = load(yaml(url, ca)).expect_err(ca).lines();
        assert!(
            e.len() == 1 && e[0].contains("backends[0].tls_ca_file: ") && e[0].contains(needle),
            "{e:?}"
        );
    }
}

#[test]
fn credentials_in_urls_and_wildcard_credentials_cors_are_refused() {
    let e = errors(
        "backends:\n  - {name: a, kind: openai, url: 'https://u:p@api.x/v1'}\ndefault_backend: a\ncors: {allow_origins: ['*'], allow_credentials: true}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("cors.allow_credentials"), "{e:?}");
    assert!(e[1].contains("put credentials in `api_key`"), "{e:?}");
}

#[test]
fn a_backend_key_a_header_cannot_carry_is_refused_without_being_quoted() {
    let e = errors(
        "backends:\n  - {name: a, kind: openai, url: 'https://api.x/v1', api_key: \"sk-secret\\n\"}\ndefault_backend: a\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("backends[0].api_key"), "{e:?}");
    assert!(!e[0].contains("sk-secret"), "{e:?}");
}

#[test]
fn secrets_never_show_in_debug_output() {
    let c = load("backends:\n  - {name: a, kind: vllm, url: 'http://x', api_key: sk-very-secret}\ndefault_backend: a\nauth: {keys: [{id: k, key: client-secret}]}\n").expect("valid");
    let dump = format!("{c:?}");
    assert!(
        !dump.contains("sk-very-secret") && !dump.contains("client-secret"),
        "{dump}"
    );
}

mod environment_mode {
    use super::*;

    fn from_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::load_with_env(
            &ConfigSource::Environment,
            Box::new(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())),
        )
    }

    #[test]
    fn previous_gateway_variables_describe_one_backend() {
        let c = from_env(&[
            ("BACKEND_KIND", "llamacpp"),
            ("BACKEND_BASE_URL", "http://127.0.0.1:8080/v1"),
            ("BACKEND_API_KEY", "up"),
            ("MODEL_NAME", "smollm2"),
            ("API_PORT", "9000"),
            ("API_KEYS", "k1, k2"),
            ("RATE_LIMIT_ENABLED", "true"),
            ("RATE_LIMIT_RPM", "120"),
            ("CORS_ORIGINS", "http://localhost:3000"),
            ("REQUEST_TIMEOUT_S", "30"),
            ("CONNECT_TIMEOUT_S", "2.5"),
            ("LOG_JSON", "false"),
            ("LOG_LEVEL", "WARNING"),
        ])
        .expect("valid");
        assert_eq!(c.server.listen_addr(), "127.0.0.1:9000");
        assert_eq!(c.backends.len(), 1);
        assert_eq!(c.backends[0].kind, BackendKind::Llamacpp);
        assert_eq!(
            c.backends[0].total_timeout,
            Some(Duration::from_secs(30)),
            "REQUEST_TIMEOUT_S bounds the whole request"
        );
        assert_eq!(c.backends[0].connect_timeout, Duration::from_millis(2500));
        assert_eq!(
            c.default_backend,
            Some(0),
            "every model name goes to the one backend"
        );
        assert_eq!(c.models.keys().collect::<Vec<_>>(), ["smollm2"]);
        assert_eq!(c.keys.len(), 2);
        assert!(c.keys[0].id.starts_with("key-"));
        assert_eq!(
            c.rate_limit,
            Some(RateLimitSettings {
                requests_per_minute: 120,
                burst: 10
            })
        );
        assert_eq!(c.cors.allow_origins, ["http://localhost:3000"]);
        assert!(!c.logging.json);
        assert_eq!(c.logging.level, LogLevel::Warn);
    }

    #[test]
    fn defaults_match_the_previous_gateway() {
        let c = from_env(&[("BACKEND_BASE_URL", "http://127.0.0.1:8001/v1")]).expect("valid");
        assert_eq!(c.server.listen_addr(), "127.0.0.1:8000");
        assert!(c.keys.is_empty(), "auth off when API_KEYS is empty");
        assert_eq!(c.backends[0].kind, BackendKind::Vllm);
        assert!(c.metrics_enabled && c.logging.json && !c.logging.log_prompts);
    }

    #[test]
    fn errors_name_the_variables() {
        let lines = from_env(&[
            ("BACKEND_KIND", "triton"),
            ("API_PORT", "x"),
            ("LOG_JSON", "maybe"),
        ])
        .expect_err("invalid")
        .lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("environment: BACKEND_KIND: unknown kind `triton`")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("environment: API_PORT:")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("environment: LOG_JSON:")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("environment: BACKEND_BASE_URL: is not set")),
            "{lines:?}"
        );
        let lines = from_env(&[("BACKEND_BASE_URL", "localhost:1234")])
            .expect_err("invalid")
            .lines();
        assert_eq!(
            lines,
            [
                "environment: BACKEND_BASE_URL: `localhost:1234` needs a scheme, e.g. `http://localhost:1234`"
            ]
        );
    }
}

#[test]
fn variables_with_defaults_work_in_typed_keys() {
    // Enums, flags and numbers are typed after interpolation, as if written in place.
    let c = load(
        "logging: {level: '${LOG_LEVEL:-debug}', json: '${LOG_JSON:-false}'}\nserver: {max_body_bytes: '${MAX_BODY:-2048}'}\nbackends:\n  - name: a\n    kind: '${KIND:-vllm}'\n    url: http://127.0.0.1:9/v1\n    anthropic: '${MODE:-translate}'\n    health_check: {enabled: '${HC:-false}', eject_after_failures: '${EJECT:-5}'}\n    capabilities: {tools: '${TOOLS:-false}'}\ndefault_backend: a\n",
    )
    .expect("valid");
    assert_eq!(c.logging.level, crate::config::LogLevel::Debug);
    assert!(!c.logging.json);
    assert_eq!(c.server.max_body_bytes, 2048);
    assert_eq!(c.backends[0].kind, crate::config::BackendKind::Vllm);
    assert_eq!(
        c.backends[0].anthropic,
        crate::config::AnthropicMode::Translate
    );
    assert!(!c.backends[0].health.enabled);
    assert_eq!(c.backends[0].health.eject_after_failures, 5);
    assert_eq!(c.backends[0].capabilities.tools, Some(false));
    // A bad value from a default is reported with its key and line.
    let errs = errors("logging: {level: '${LOG_LEVEL:-loud}'}\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("logging.level") && errs[0].contains("loud") && errs[0].contains("line 1"),
        "{errs:?}"
    );
}

#[test]
fn passthrough_paths_never_shadow_the_gateways_own_routes() {
    let found = errors(
        "backends:\n  - {name: a, kind: vllm, url: 'http://127.0.0.1:8001', passthrough_paths: [/tokenize, /v1/chat/completions, /metrics, tokenize, /v1/models/*]}\ndefault_backend: a\n",
    );
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found[0].contains("passthrough_paths[1]") && found[0].contains("serves itself"));
    assert!(
        found[2].contains("must be a path starting with `/`"),
        "{found:?}"
    );
    let ok = load(
        "backends:\n  - {name: a, kind: vllm, url: 'http://127.0.0.1:8001', passthrough_paths: [/tokenize, /v1/audio/*]}\ndefault_backend: a\n",
    )
    .expect("valid");
    let patterns = &ok.backends[0].passthrough;
    assert!(
        patterns
            .iter()
            .any(|p| p.matches("/v1/audio/transcriptions"))
    );
    assert!(!patterns.iter().any(|p| p.matches("/v1/audio")));
    assert!(patterns.iter().any(|p| p.matches("/tokenize")));
}

#[test]
fn trusted_proxies_are_addresses_or_cidr_blocks() {
    let found = errors(&format!(
        "server:\n  trusted_proxies: [10.0.0.0/8, '::1', not-an-ip]\n{MINIMAL}"
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("server.trusted_proxies[2]"), "{found:?}");
    let ok = load(&format!(
        "server:\n  trusted_proxies: [10.0.0.0/8, 127.0.0.1]\n{MINIMAL}"
    ))
    .expect("valid");
    assert_eq!(ok.server.trusted_proxies.len(), 2);
}
