//! Token budgets: input and output tokens per minute, per key and per model alias.
//!
//! Each budget is a bucket holding up to a minute's tokens, refilled continuously. A
//! request reserves an estimate up front (its prompt, by the usual four-bytes-a-token
//! rule, and its `max_tokens` or the configured default for output); when it ends, the
//! reservation is settled against the usage the backend reported, so the budget counts
//! real tokens. A bucket may go below zero when a request used more than it reserved;
//! the next requests then wait for the refill. A request larger than a whole minute's
//! budget is admitted once the bucket is full, rather than never. The mutex guards a few
//! arithmetic operations and is never held across an `.await`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Beyond this many tracked keys, full buckets are forgotten (they equal a new one).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    level: f64,
    updated: Instant,
}

/// One budget: a bucket of `capacity` tokens for each key, refilled at `per_second`.
#[derive(Debug)]
pub struct TokenBudget {
    capacity: u64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// What a budget looks like for one key after a decision (for `x-ratelimit-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
}

impl TokenBudget {
    /// `per_minute` tokens a minute, a minute's worth at once.
    pub fn new(per_minute: u64) -> TokenBudget {
        let per_minute = per_minute.max(1);
        TokenBudget::with_rate(per_minute, per_minute as f64 / 60.0)
    }

    /// `capacity` at once, refilled at `per_second`.
    pub fn with_rate(capacity: u64, per_second: f64) -> TokenBudget {
        TokenBudget {
            capacity: capacity.max(1),
            per_second: per_second.max(f64::MIN_POSITIVE),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The tokens a minute brings (the capacity, for a token budget).
    pub fn per_minute(&self) -> u64 {
        (self.per_second * 60.0).round() as u64
    }

    fn rate(&self) -> f64 {
        self.per_second
    }

    fn with_bucket<T>(
        &self,
        key: &str,
        now: Instant,
        f: impl FnOnce(&mut Bucket, f64, f64) -> T,
    ) -> T {
        let capacity = self.capacity as f64;
        let rate = self.rate();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.level + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            level: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.level = (bucket.level + elapsed * rate).min(capacity);
        bucket.updated = now;
        f(bucket, capacity, rate)
    }

    fn standing(level: f64, capacity: f64, rate: f64) -> Standing {
        Standing {
            limit: capacity as u64,
            remaining: level.max(0.0) as u64,
            reset_s: ((capacity - level) / rate).ceil().max(0.0) as u64,
        }
    }

    /// Takes `tokens` for `key`, or says in how many seconds they will be there.
    pub fn reserve(&self, key: &str, tokens: u64, now: Instant) -> Result<Standing, u64> {
        self.with_bucket(key, now, |b, capacity, rate| {
            // More than a minute's budget: admitted when the bucket is full.
            let needed = (tokens as f64).min(capacity);
            if b.level >= needed {
                b.level -= tokens as f64;
                Ok(Self::standing(b.level, capacity, rate))
            } else {
                Err(((needed - b.level) / rate).ceil().max(1.0) as u64)
            }
        })
    }

    /// Gives back a reservation that was not used (another budget refused the request).
    pub fn release(&self, key: &str, tokens: u64, now: Instant) {
        self.with_bucket(key, now, |b, capacity, _| {
            b.level = (b.level + tokens as f64).min(capacity);
        });
    }

    /// Replaces a reservation by what was really used.
    pub fn settle(&self, key: &str, reserved: u64, used: u64, now: Instant) {
        self.with_bucket(key, now, |b, capacity, _| {
            b.level = (b.level + reserved as f64 - used as f64).min(capacity);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reservations_refill_and_settle_to_what_was_used() {
        let budget = TokenBudget::new(600); // 10 a second
        let t0 = Instant::now();
        assert_eq!(budget.reserve("k", 500, t0).map(|s| s.remaining), Ok(100));
        assert_eq!(budget.reserve("k", 200, t0), Err(10), "100 short at 10/s");
        // Only 50 of the 500 were used: 450 come back.
        budget.settle("k", 500, 50, t0);
        assert!(budget.reserve("k", 200, t0).is_ok());
        // A request bigger than the minute: admitted once full, then the bucket is negative.
        let big = TokenBudget::new(60);
        assert!(big.reserve("k", 1000, t0).is_ok());
        assert_eq!(big.reserve("k", 1, t0 + Duration::from_secs(60)), Err(881));
        assert!(big.reserve("other", 1, t0).is_ok(), "keys are independent");
    }
}

/// Why a reservation was refused: which budget, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// `API key` or `model`.
    pub scope: &'static str,
    /// `input` or `output`.
    pub kind: &'static str,
    pub per_minute: u64,
    pub retry_after_s: u64,
}

/// Tokens a request holds until it ends, and how the key's budgets stand after it.
#[derive(Debug, Clone, Default)]
pub struct Reservation {
    key: String,
    model: Option<String>,
    input: u64,
    output: u64,
    /// The key's (or else the model's) input and output budgets after the reservation.
    pub input_standing: Option<Standing>,
    pub output_standing: Option<Standing>,
    /// Made in Redis (`limits.backend: redis`), so settled there.
    pub shared: bool,
}

impl Reservation {
    /// Records how a budget stands after the reservation; the key's standing wins over the
    /// model's for the headers.
    fn note(&mut self, kind: &str, scope: &str, standing: Standing) {
        let slot = if kind == "input" {
            &mut self.input_standing
        } else {
            &mut self.output_standing
        };
        if slot.is_none() || scope == "API key" {
            *slot = Some(standing);
        }
    }
}

/// Every token budget of one configuration.
#[derive(Debug)]
pub struct TokenBudgets {
    settings: crate::config::TokenLimits,
    key_input: Option<TokenBudget>,
    key_output: Option<TokenBudget>,
    /// Per alias; one shared bucket each (keyed by the empty string).
    model: HashMap<String, (Option<TokenBudget>, Option<TokenBudget>)>,
}

impl TokenBudgets {
    pub fn new(settings: &crate::config::TokenLimits) -> TokenBudgets {
        TokenBudgets {
            settings: settings.clone(),
            key_input: settings.per_key.input.map(TokenBudget::new),
            key_output: settings.per_key.output.map(TokenBudget::new),
            model: settings
                .per_model
                .iter()
                .map(|(alias, t)| {
                    (
                        alias.clone(),
                        (
                            t.input.map(TokenBudget::new),
                            t.output.map(TokenBudget::new),
                        ),
                    )
                })
                .collect(),
        }
    }

    pub fn settings(&self) -> &crate::config::TokenLimits {
        &self.settings
    }

    /// The budgets a request of `key` for `model` draws from, with the bucket key each.
    fn budgets<'a>(
        &'a self,
        key: &'a str,
        model: Option<&'a str>,
    ) -> Vec<(&'a TokenBudget, &'a str, &'static str, &'static str)> {
        let mut out = Vec::with_capacity(4);
        if let Some(b) = &self.key_input {
            out.push((b, key, "API key", "input"));
        }
        if let Some(b) = &self.key_output {
            out.push((b, key, "API key", "output"));
        }
        if let Some(model) = model
            && let Some((input, output)) = self.model.get(model)
        {
            if let Some(b) = input {
                out.push((b, model, "model", "input"));
            }
            if let Some(b) = output {
                out.push((b, model, "model", "output"));
            }
        }
        out
    }

    /// The Redis bucket of one budget (`limits.backend: redis`).
    fn shared_key(bucket: &str, scope: &str, kind: &str) -> String {
        let scope = if scope == "model" { "model" } else { "key" };
        format!("tokens:{scope}:{kind}:{bucket}")
    }

    /// [`Self::reserve`] in Redis, shared by every replica; `None` when Redis is not
    /// there (the caller then reserves locally).
    pub async fn reserve_shared(
        &self,
        shared: &super::shared::SharedLimits,
        key: &str,
        model: Option<&str>,
        input: u64,
        output: u64,
    ) -> Option<Result<Reservation, Refused>> {
        let mut r = Reservation {
            key: key.to_owned(),
            model: model.map(str::to_owned),
            input,
            output,
            shared: true,
            ..Reservation::default()
        };
        let mut taken: Vec<(String, f64, f64, u64)> = Vec::new();
        for (budget, bucket, scope, kind) in self.budgets(key, model) {
            let amount = if kind == "input" { input } else { output };
            let capacity = budget.per_minute() as f64;
            let rate = capacity / 60.0;
            let name = Self::shared_key(bucket, scope, kind);
            let outcome = shared.take(&name, capacity, rate, amount as f64).await;
            match outcome {
                Some(Ok(level)) => {
                    taken.push((name, capacity, rate, amount));
                    r.note(kind, scope, TokenBudget::standing(level, capacity, rate));
                }
                // Redis went away half-way (`None`), or a budget refused: give back what
                // was taken there.
                None | Some(Err(_)) => {
                    for (n, c, rt, a) in taken {
                        shared.give(&n, c, rt, a as f64).await;
                    }
                    let retry_after_s = outcome?.err()?;
                    return Some(Err(Refused {
                        scope,
                        kind,
                        per_minute: budget.per_minute(),
                        retry_after_s,
                    }));
                }
            }
        }
        Some(Ok(r))
    }

    /// [`Self::settle`] for a reservation made in Redis.
    pub async fn settle_shared(
        &self,
        shared: &super::shared::SharedLimits,
        r: &Reservation,
        input: u64,
        output: u64,
    ) {
        for (budget, bucket, scope, kind) in self.budgets(&r.key, r.model.as_deref()) {
            let (reserved, used) = if kind == "input" {
                (r.input, input)
            } else {
                (r.output, output)
            };
            let capacity = budget.per_minute() as f64;
            let name = Self::shared_key(bucket, scope, kind);
            shared
                .give(
                    &name,
                    capacity,
                    capacity / 60.0,
                    reserved as f64 - used as f64,
                )
                .await;
        }
    }

    /// Reserves `input` and `output` tokens in every budget that applies, or none.
    ///
    /// # Errors
    /// The first budget that cannot cover its part, and when it will.
    pub fn reserve(
        &self,
        key: &str,
        model: Option<&str>,
        input: u64,
        output: u64,
        now: Instant,
    ) -> Result<Reservation, Refused> {
        let mut taken = Vec::new();
        let mut r = Reservation {
            key: key.to_owned(),
            model: model.map(str::to_owned),
            input,
            output,
            ..Reservation::default()
        };
        for (budget, bucket, scope, kind) in self.budgets(key, model) {
            let amount = if kind == "input" { input } else { output };
            match budget.reserve(bucket, amount, now) {
                Ok(standing) => {
                    taken.push((budget, bucket, amount));
                    r.note(kind, scope, standing);
                }
                Err(retry_after_s) => {
                    for (b, k, a) in taken {
                        b.release(k, a, now);
                    }
                    return Err(Refused {
                        scope,
                        kind,
                        per_minute: budget.per_minute(),
                        retry_after_s,
                    });
                }
            }
        }
        Ok(r)
    }

    /// Settles `r` against the tokens really used.
    pub fn settle(&self, r: &Reservation, input: u64, output: u64, now: Instant) {
        for (budget, bucket, _, kind) in self.budgets(&r.key, r.model.as_deref()) {
            if kind == "input" {
                budget.settle(bucket, r.input, input, now);
            } else {
                budget.settle(bucket, r.output, output, now);
            }
        }
    }
}
