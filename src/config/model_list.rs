//! The `model_list` format of the `docker model gateway` design (LiteLLM style): a list of
//! `model_name` → `params.model: <provider>/<upstream model>` entries plus
//! `general_settings`. It is turned into llmgate's own [`file::File`] and validated as
//! such, so both formats share every rule; problems are reported at `model_list` paths.
//! llmgate's `server`, `logging`, `metrics`, `limits`, `cors` and `anthropic` sections may
//! stand beside it; without `server`, the design's defaults apply (`0.0.0.0:4000`).
//! `general_settings.num_retries` becomes `retries.num_retries`, and each
//! `fallbacks` rule the alias's `fallbacks`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::file;
use super::interpolate;
use super::locate::{KeyPath, Seg};
use super::providers;
use super::validate::Issues;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelListFile {
    pub model_list: Vec<Entry>,
    #[serde(default)]
    pub general_settings: GeneralSettings,
    #[serde(default)]
    pub server: Option<file::Server>,
    #[serde(default)]
    pub logging: file::Logging,
    #[serde(default)]
    pub metrics: file::Metrics,
    #[serde(default)]
    pub limits: file::Limits,
    #[serde(default)]
    pub cors: file::Cors,
    #[serde(default)]
    pub anthropic: file::Anthropic,
}

/// One deployment of an alias; several entries with one `model_name` are balanced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    #[serde(deserialize_with = "interpolate::string")]
    pub model_name: String,
    #[serde(alias = "litellm_params")]
    pub params: Params,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `<provider>/<upstream model>`.
    #[serde(deserialize_with = "interpolate::string")]
    pub model: String,
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub api_base: Option<String>,
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub api_key: Option<String>,
    /// `azure` and `azure_ai`: the `api-version` query parameter.
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneralSettings {
    /// The key clients send (`Authorization: Bearer` or `x-api-key`).
    #[serde(default, deserialize_with = "interpolate::opt_string")]
    pub master_key: Option<String>,
    #[serde(default, deserialize_with = "interpolate::typed")]
    pub num_retries: u32,
    /// `- <alias>: [<fallback alias>, ...]`
    #[serde(default)]
    pub fallbacks: Vec<BTreeMap<String, Vec<String>>>,
}

/// The design's listen address when the file has no `server` section.
pub const DEFAULT_HOST: &str = "0.0.0.0";
pub const DEFAULT_PORT: u16 = 4000;

/// Whether `text` is a `model_list` file (its top level has `model_list`).
pub fn is_model_list(text: &str) -> bool {
    serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|v| v.as_mapping().map(|m| m.contains_key("model_list")))
        .unwrap_or(false)
}

/// Where each generated backend came from, to report its problems at `model_list` paths.
#[derive(Debug, Default)]
pub struct Origins {
    backends: Vec<usize>,
    models: BTreeMap<String, usize>,
}

impl Origins {
    /// Rewrites a path of the generated llmgate file into the `model_list` file's terms.
    pub fn remap(&self, path: KeyPath) -> KeyPath {
        let entry = |i: usize| KeyPath::root("model_list").index(i);
        match path.0.as_slice() {
            [Seg::Key(root), Seg::Index(b), rest @ ..] if root == "backends" => {
                let base = entry(self.backends.get(*b).copied().unwrap_or(0)).key("params");
                match rest.first() {
                    Some(Seg::Key(k)) if k == "url" => base.key("api_base"),
                    Some(Seg::Key(k)) if k == "api_key" => base.key("api_key"),
                    _ => base,
                }
            }
            [Seg::Key(root), Seg::Key(_), Seg::Key(k), ..]
                if root == "models" && k == "fallbacks" =>
            {
                KeyPath::root("general_settings").key("fallbacks")
            }
            [Seg::Key(root), Seg::Key(alias), ..] if root == "models" => {
                entry(self.models.get(alias).copied().unwrap_or(0)).key("model_name")
            }
            [Seg::Key(root), ..] if root == "auth" => {
                KeyPath::root("general_settings").key("master_key")
            }
            _ => path,
        }
    }
}

/// A backend name from an alias: the characters backend names allow, `-` elsewhere.
fn backend_name(alias: &str) -> String {
    let cleaned: String = alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "model".into()
    } else {
        cleaned
    }
}

/// Turns a `model_list` file into llmgate's own format.
///
/// Runs inside the loader's [`interpolate::with_env`]: a provider's key variable is read
/// from the same environment as `${VAR}`.
///
/// # Errors
/// Unknown providers, empty names, fallback rules for unknown aliases, at
/// their `model_list` paths.
pub fn to_file(f: ModelListFile) -> Result<(file::File, Origins), Issues> {
    let mut issues = Issues::new();
    let mut origins = Origins::default();
    let mut backends: Vec<file::Backend> = Vec::new();
    let mut models: BTreeMap<String, file::Model> = BTreeMap::new();
    let mut per_alias: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &f.model_list {
        *per_alias.entry(e.model_name.as_str()).or_default() += 1;
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in f.model_list.iter().enumerate() {
        let path = KeyPath::root("model_list").index(i);
        if e.model_name.trim().is_empty() {
            issues.push((path.key("model_name"), "must not be empty".into()));
            continue;
        }
        let params_path = path.key("params");
        let (provider, upstream) = match providers::split(&e.params.model) {
            Ok(found) => found,
            Err(msg) => {
                issues.push((params_path.key("model"), msg));
                continue;
            }
        };
        let Some(url) = e
            .params
            .api_base
            .clone()
            .or_else(|| provider.base_variable.and_then(interpolate::lookup))
            .or_else(|| provider.default_base.map(str::to_owned))
        else {
            issues.push((
                params_path.key("api_base"),
                format!(
                    "provider `{}` has no default address: set `api_base`",
                    provider.prefix
                ),
            ));
            continue;
        };
        let api_key = e
            .params
            .api_key
            .clone()
            .or_else(|| provider.key_variable.and_then(interpolate::lookup))
            .filter(|k| !k.is_empty());
        let n = seen.entry(e.model_name.as_str()).or_default();
        *n += 1;
        let mut name = backend_name(&e.model_name);
        if per_alias.get(e.model_name.as_str()).copied().unwrap_or(1) > 1 {
            name = format!("{name}-{n}");
        }
        // Built through serde so every other key takes its documented default.
        let mut generated = serde_yaml::Mapping::new();
        generated.insert("name".into(), name.as_str().into());
        generated.insert(
            "kind".into(),
            serde_yaml::to_value(provider.kind).unwrap_or_default(),
        );
        generated.insert("url".into(), url.as_str().into());
        let generated = serde_yaml::Value::Mapping(generated);
        let mut backend: file::Backend = match serde_yaml::from_value(generated) {
            Ok(b) => b,
            Err(err) => {
                issues.push((params_path, err.to_string()));
                continue;
            }
        };
        backend.api_key = api_key;
        backend.api_version = e
            .params
            .api_version
            .clone()
            .or_else(|| provider.version_variable.and_then(interpolate::lookup));
        backend.root_path = provider.root_path;
        origins.backends.push(i);
        origins.models.entry(e.model_name.clone()).or_insert(i);
        models
            .entry(e.model_name.clone())
            .or_default()
            .deployments
            .push(file::Deployment {
                backend: name,
                upstream_model: Some(upstream.to_owned()),
            });
        backends.push(backend);
    }
    // `- alias: [fallback, ...]` entries become each alias's `fallbacks`.
    for (i, rule) in f.general_settings.fallbacks.iter().enumerate() {
        for (alias, chain) in rule {
            match models.get_mut(alias) {
                Some(model) => model.fallbacks.extend(chain.iter().cloned()),
                None => issues.push((
                    KeyPath::root("general_settings")
                        .key("fallbacks")
                        .index(i)
                        .key(alias),
                    format!("`{alias}` is not a model_name of model_list"),
                )),
            }
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let server = f.server.unwrap_or_else(|| file::Server {
        host: DEFAULT_HOST.into(),
        port: DEFAULT_PORT,
        ..file::Server::default()
    });
    let auth = file::Auth {
        keys: f
            .general_settings
            .master_key
            .map(|key| {
                vec![file::ApiKey {
                    id: "master".into(),
                    key,
                }]
            })
            .unwrap_or_default(),
    };
    let converted = file::File {
        server,
        logging: f.logging,
        metrics: f.metrics,
        auth,
        limits: f.limits,
        retries: file::Retries {
            num_retries: f.general_settings.num_retries,
            ..file::Retries::default()
        },
        cors: f.cors,
        anthropic: f.anthropic,
        backends,
        models,
        default_backend: None,
    };
    Ok((converted, origins))
}
