//! `limits.backend: redis`: the limits of several replicas kept in one Redis, so N
//! gateways enforce one limit, not N. Every decision is one Lua script, atomic in Redis,
//! timed by Redis' own clock (`TIME`) so replicas' clocks do not matter:
//!
//! - a token bucket (request rates, token budgets): refill, then take or give back;
//! - a lease set (concurrent requests and streams): expired leases dropped, then one
//!   added if the count allows; a lease is removed when its request ends, and expires by
//!   itself if a replica dies holding it.
//!
//! When Redis cannot be reached (or answers too slowly) the caller falls back to the
//! local limiters: the gateway keeps serving, says so in its log (on each change), in
//! `/health` and in `llmgate_limits_shared_up`. The connection is re-tried at most once a
//! second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::Mutex;

/// Longest wait for Redis before a decision falls back to the local limiters.
const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a concurrency lease lives without being released (a replica that died).
pub const LEASE: Duration = Duration::from_secs(900);

const BUCKET: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
level = math.min(cap, level + math.max(0, now - ts) * rate)
local ok = 1
local retry = 0
if ARGV[4] == 'take' then
  local needed = math.min(amount, cap)
  if level >= needed then level = level - amount else ok = 0; retry = (needed - level) / rate end
else
  level = math.min(cap, level + amount)
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return {ok, tostring(level), tostring(retry)}
";

const LEASE_ADD: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 60)
return 1
";

pub struct SharedLimits {
    url: String,
    /// Where the limits live in Redis: `<prefix>:<kind>:<key>`.
    prefix: String,
    client: Option<redis::Client>,
    connection: Mutex<Option<ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
    up: AtomicBool,
    /// Leases get unique members.
    next_lease: AtomicU64,
    bucket: Script,
    lease_add: Script,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedLimits({})", self.where_())
    }
}

/// A concurrency lease, removed from Redis when dropped.
#[derive(Debug)]
pub struct Lease {
    shared: Arc<SharedLimits>,
    key: String,
    member: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (shared, key, member) = (
            Arc::clone(&self.shared),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.member),
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(mut c) = shared.connection().await {
                    let removed: redis::RedisResult<i64> =
                        tokio::time::timeout(CALL_TIMEOUT, c.zrem(&key, &member))
                            .await
                            .unwrap_or(Ok(0));
                    if removed.is_err() {
                        shared.went_down("releasing a lease");
                    }
                }
            });
        }
    }
}

impl SharedLimits {
    /// For `url` (`redis://[:password@]host:port[/db]`); connects on first use.
    pub fn new(url: &str, prefix: &str) -> SharedLimits {
        let client = redis::Client::open(url)
            .map_err(|e| {
                log::error!(target: "llmgate::limits", "limits.redis_url is not usable ({e}): limits stay local");
            })
            .ok();
        SharedLimits {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            client,
            connection: Mutex::new(None),
            last_attempt: Mutex::new(None),
            up: AtomicBool::new(false),
            next_lease: AtomicU64::new(0),
            bucket: Script::new(BUCKET),
            lease_add: Script::new(LEASE_ADD),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server, for logs and `/health`: host and port, never a password.
    pub fn where_(&self) -> String {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        host.split('/').next().unwrap_or(host).to_owned()
    }

    /// Whether the last call reached Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn went_down(&self, during: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            log::warn!(target: "llmgate::limits",
                "Redis at {} unreachable ({during}): limits fall back to this replica's own until it is back",
                self.where_());
        }
    }

    fn came_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            log::info!(target: "llmgate::limits", "limits shared through Redis at {}", self.where_());
        }
    }

    /// The connection, connecting (at most once a second) when there is none.
    async fn connection(&self) -> Option<ConnectionManager> {
        let client = self.client.as_ref()?;
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        {
            let mut last = self.last_attempt.lock().await;
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(CALL_TIMEOUT)
            .set_response_timeout(CALL_TIMEOUT)
            .set_number_of_retries(0);
        match tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        {
            Ok(Ok(c)) => {
                *slot = Some(c.clone());
                Some(c)
            }
            _ => {
                self.went_down("connecting");
                None
            }
        }
    }

    /// Runs the bucket script; `None` when Redis is not there.
    async fn bucket(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        amount: f64,
        mode: &str,
    ) -> Option<(bool, f64, f64)> {
        let mut c = self.connection().await?;
        let mut call = self.bucket.prepare_invoke();
        call.key(format!("{}:{key}", self.prefix))
            .arg(capacity)
            .arg(per_second)
            .arg(amount)
            .arg(mode);
        let result: redis::RedisResult<(i64, String, String)> =
            match tokio::time::timeout(CALL_TIMEOUT, call.invoke_async(&mut c)).await {
                Ok(r) => r,
                Err(_) => {
                    self.went_down("timed out");
                    return None;
                }
            };
        match result {
            Ok((ok, level, retry)) => {
                self.came_up();
                Some((
                    ok == 1,
                    level.parse().unwrap_or(0.0),
                    retry.parse().unwrap_or(1.0),
                ))
            }
            Err(e) => {
                self.went_down(&e.to_string());
                None
            }
        }
    }

    /// Takes `amount` from the bucket `key` (`capacity`, refilled at `per_second`):
    /// `Some(Ok(level after))`, `Some(Err(seconds to wait))`, or `None` when Redis is not
    /// there.
    pub async fn take(
        &self,
        key: &str,
        capacity: f64,
        per_second: f64,
        amount: f64,
    ) -> Option<Result<f64, u64>> {
        let (ok, level, retry) = self
            .bucket(key, capacity, per_second, amount, "take")
            .await?;
        Some(if ok {
            Ok(level)
        } else {
            Err(retry.ceil().max(1.0) as u64)
        })
    }

    /// Gives `amount` back to the bucket `key` (negative: takes what was used beyond a
    /// reservation).
    pub async fn give(&self, key: &str, capacity: f64, per_second: f64, amount: f64) {
        let _ = self.bucket(key, capacity, per_second, amount, "give").await;
    }

    /// A lease in the set `key` if fewer than `limit` are held: `Some(Ok(lease))`,
    /// `Some(Err(()))` when full, `None` when Redis is not there.
    pub async fn lease(self: &Arc<Self>, key: &str, limit: u32) -> Option<Result<Lease, ()>> {
        let mut c = self.connection().await?;
        let key = format!("{}:{key}", self.prefix);
        let member = format!(
            "{}-{}",
            std::process::id(),
            self.next_lease.fetch_add(1, Ordering::Relaxed)
        );
        let mut call = self.lease_add.prepare_invoke();
        call.key(&key).arg(limit).arg(LEASE.as_secs()).arg(&member);
        let added: redis::RedisResult<i64> =
            match tokio::time::timeout(CALL_TIMEOUT, call.invoke_async(&mut c)).await {
                Ok(r) => r,
                Err(_) => {
                    self.went_down("timed out");
                    return None;
                }
            };
        match added {
            Ok(1) => {
                self.came_up();
                Some(Ok(Lease {
                    shared: Arc::clone(self),
                    key,
                    member,
                }))
            }
            Ok(_) => {
                self.came_up();
                Some(Err(()))
            }
            Err(e) => {
                self.went_down(&e.to_string());
                None
            }
        }
    }
}
