//! Model routing: which deployments may serve a request, and which one to try next.

mod attempts;
pub use attempts::{Attempts, Pick};

use crate::api::Capability;
use crate::api::error::ApiError;
use crate::runtime::Runtime;

/// A deployment that can serve the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Index into `Runtime::backends`.
    pub backend: usize,
    /// The model name to send upstream; `None` keeps the client's body unchanged.
    pub upstream_model: Option<String>,
    /// 0 for the alias asked for, then 1, 2, ... for its fallback aliases in order.
    pub tier: usize,
}

/// The deployments for `model` that have every capability in `needs`.
///
/// # Errors
/// 400 without a model (and no default backend), 404 for an unknown model, 501 when no
/// deployment of the model has a needed capability.
pub fn resolve(
    rt: &Runtime,
    model: Option<&str>,
    needs: &[Capability],
) -> Result<Vec<Candidate>, ApiError> {
    let listed = model.and_then(|m| rt.config.models.get(m));
    let candidates: Vec<Candidate> = match (listed, rt.config.default_backend) {
        (Some(deployments), _) => {
            let chain = model.and_then(|m| rt.config.fallbacks.get(m));
            let tiers = std::iter::once(deployments).chain(
                chain
                    .into_iter()
                    .flatten()
                    .filter_map(|alias| rt.config.models.get(alias)),
            );
            tiers
                .enumerate()
                .flat_map(|(tier, deployments)| {
                    deployments.iter().map(move |d| Candidate {
                        backend: d.backend,
                        upstream_model: Some(d.upstream_model.clone()),
                        tier,
                    })
                })
                .collect()
        }
        (None, Some(default)) => vec![Candidate {
            backend: default,
            upstream_model: None,
            tier: 0,
        }],
        (None, None) => {
            return Err(match model {
                None => ApiError::InvalidRequest {
                    message: "you must provide a model parameter".into(),
                    param: Some("model"),
                },
                Some(m) => ApiError::ModelNotFound {
                    model: m.to_owned(),
                    served: rt.served_models(),
                },
            });
        }
    };
    let mut missing = None;
    let capable: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| {
            let backend = &rt.backends[c.backend];
            match needs.iter().find(|n| !backend.capabilities.supports(**n)) {
                Some(need) => {
                    missing.get_or_insert((c.backend, *need));
                    false
                }
                None => true,
            }
        })
        .collect();
    match (capable.is_empty(), missing) {
        (true, Some((backend, need))) => {
            let b = &rt.backends[backend];
            Err(ApiError::NotImplemented {
                backend: b.config.name.clone(),
                display: b.profile.display_name,
                capability: need.as_str(),
            })
        }
        _ => Ok(capable),
    }
}

/// Picks the next candidate to try among those not in `tried` (candidate indices):
/// healthy (and not ejected) before the rest, then the one with the fewest requests in
/// flight, rotating among equals. Returns an index into `candidates`.
pub fn choose(rt: &Runtime, candidates: &[Candidate], tried: &[usize]) -> Option<usize> {
    choose_where(rt, candidates, |i| !tried.contains(&i))
}

/// [`choose`] among the candidates `eligible` accepts.
pub(crate) fn choose_where(
    rt: &Runtime,
    candidates: &[Candidate],
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    // One snapshot of every score: in-flight counts change under us, and comparing a
    // minimum taken from one reading against scores from another could leave no equal
    // candidate at all.
    let scored: Vec<(usize, (bool, usize))> = candidates
        .iter()
        .enumerate()
        .filter(|(i, _)| eligible(*i))
        .map(|(i, c)| (i, rt.backends[c.backend].shared.routing_score()))
        .collect();
    let best = scored.iter().map(|(_, score)| *score).min()?;
    let equals = scored.iter().filter(|(_, score)| *score == best).count();
    let nth = rt.next_round_robin() % equals.max(1);
    scored
        .iter()
        .filter(|(_, score)| *score == best)
        .nth(nth)
        .map(|(i, _)| *i)
}

/// A runtime from YAML, for the routing tests.
#[cfg(test)]
fn test_runtime(yaml: &str) -> Runtime {
    use crate::config::{Config, ConfigSource};
    let cfg = Config::from_yaml_str(yaml, ConfigSource::Environment, Box::new(|_| None))
        .expect("valid config");
    Runtime::build(cfg, 1, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::HealthState;

    fn runtime(yaml: &str) -> Runtime {
        test_runtime(yaml)
    }

    const TWO: &str = "
backends:
  - {name: a, kind: vllm, url: 'http://127.0.0.1:1/v1'}
  - {name: t, kind: tgi, url: 'http://127.0.0.1:2/v1'}
models:
  chat:
    deployments:
      - {backend: a, upstream_model: org/Chat-7B}
      - {backend: t}
  embed: {backend: t}
";

    #[test]
    fn aliases_map_to_deployments_with_upstream_names() {
        let rt = runtime(TWO);
        let c = resolve(&rt, Some("chat"), &[Capability::Chat]).expect("routable");
        assert_eq!(
            c,
            vec![
                Candidate {
                    backend: 0,
                    upstream_model: Some("org/Chat-7B".into()),
                    tier: 0,
                },
                Candidate {
                    backend: 1,
                    upstream_model: Some("chat".into()),
                    tier: 0,
                },
            ]
        );
    }

    #[test]
    fn unknown_model_lists_served_models() {
        let rt = runtime(TWO);
        let err = resolve(&rt, Some("gpt-4"), &[Capability::Chat]).expect_err("unknown");
        assert_eq!(
            err,
            ApiError::ModelNotFound {
                model: "gpt-4".into(),
                served: vec!["chat".into(), "embed".into()]
            }
        );
        let err = resolve(&rt, None, &[Capability::Chat]).expect_err("no model");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn missing_capability_is_501_naming_backend() {
        let rt = runtime(TWO);
        let err = resolve(&rt, Some("embed"), &[Capability::Embeddings])
            .expect_err("tgi has no embeddings");
        assert_eq!(
            err.to_string(),
            "backend `t` (Hugging Face TGI) does not support embeddings"
        );
        // A model with one capable deployment keeps only that one.
        let c = resolve(&rt, Some("chat"), &[Capability::Embeddings]).expect("vllm can");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].backend, 0);
    }

    #[test]
    fn default_backend_takes_unknown_models_unchanged() {
        let rt = runtime(
            "backends: [{name: d, kind: ollama, url: 'http://127.0.0.1:3'}]\ndefault_backend: d\n",
        );
        let c = resolve(&rt, Some("anything:7b"), &[Capability::Chat]).expect("default");
        assert_eq!(
            c,
            vec![Candidate {
                backend: 0,
                upstream_model: None,
                tier: 0,
            }]
        );
    }

    #[test]
    fn choose_prefers_healthy_then_untried() {
        let rt = runtime(TWO);
        let c = resolve(&rt, Some("chat"), &[Capability::Chat]).expect("routable");
        rt.backends[0]
            .shared
            .set_state(HealthState::Down, Some("refused".into()));
        rt.backends[1].shared.set_state(HealthState::Ready, None);
        assert_eq!(choose(&rt, &c, &[]), Some(1));
        assert_eq!(
            choose(&rt, &c, &[1]),
            Some(0),
            "a down backend is still tried last"
        );
        assert_eq!(choose(&rt, &c, &[0, 1]), None);
    }

    #[test]
    fn choose_never_panics_while_inflight_counts_move() {
        // Two threads start and finish requests on both deployments while a third
        // chooses; scoring each candidate twice used to find no equal candidate and
        // divide by zero (seen after ~100k requests under load).
        let rt = std::sync::Arc::new(runtime(TWO));
        let c = resolve(&rt, Some("chat"), &[Capability::Chat]).expect("routable");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn: Vec<_> = (0..2)
            .map(|t| {
                let (rt, stop) = (std::sync::Arc::clone(&rt), std::sync::Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _g = rt.backends[t].track_inflight();
                    }
                })
            })
            .collect();
        for _ in 0..200_000 {
            assert!(choose(&rt, &c, &[]).is_some());
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in churn {
            t.join().expect("churn thread");
        }
    }

    #[test]
    fn choose_prefers_fewer_inflight() {
        let rt = runtime(TWO);
        let c = resolve(&rt, Some("chat"), &[Capability::Chat]).expect("routable");
        let _busy = rt.backends[0].track_inflight();
        for _ in 0..4 {
            assert_eq!(choose(&rt, &c, &[]), Some(1));
        }
    }
}
