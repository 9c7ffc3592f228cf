//! The shared backend: a Redis server (`spec/wasi-cloud.md`, "Redis key
//! layout").
//!
//! Every key of one namespace and scope shares the hash tag
//! `{NAMESPACE/SCOPE}`, so that they live in one slot of a Redis Cluster and
//! the Lua scripts that update several of them at once (the value, the
//! index, the version counter, the expiry index) run atomically there too:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `wasi-kv{NS/SCOPE}:v:KEY` | hash | `d` the value, `g` its version, `t` its mtime (ms) |
//! | `wasi-kv{NS/SCOPE}:i` | sorted set, all scores 0 | the keys, in byte order (listing) |
//! | `wasi-kv{NS/SCOPE}:g` | string | the last version given |
//! | `wasi-kv{NS/SCOPE}:x` | sorted set | keys with an expiry, scored by it (ms) |

use super::{Cond, Entry, KvError, KvStore, Listed, Meta, Scope};
use ::redis::cluster::{ClusterClient, ClusterConnection};
use ::redis::{Client, Connection, ConnectionLike, Script, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasi_core::sync::lock;

/// Common Lua: the server's clock in ms, and removal of expired keys from
/// the index (a few at a time, by each write).
const PRELUDE: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function sweep(prefix, index, expiry, now)
  local names = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 32)
  for _, name in ipairs(names) do
    if redis.call('EXISTS', prefix .. name) == 0 then
      redis.call('ZREM', index, name)
    end
    redis.call('ZREM', expiry, name)
  end
end
"#;

/// KEYS: value, index, counter, expiry. ARGV: prefix, name, data, cond
/// (`any`, `absent` or a version), ttl in ms (0: none).
/// Returns {0, version, mtime} or {1} (exists) or {2} (conflict).
const PUT: &str = r#"
local now = now_ms()
sweep(ARGV[1], KEYS[2], KEYS[4], now)
local cur = redis.call('HGET', KEYS[1], 'g')
local cond = ARGV[4]
if cond == 'absent' then
  if cur then return {1} end
elseif cond ~= 'any' then
  if cur ~= cond then return {2} end
end
local g = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'g', g, 't', now)
redis.call('ZADD', KEYS[2], 0, ARGV[2])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[4], now + ttl, ARGV[2])
else
  redis.call('PERSIST', KEYS[1])
  redis.call('ZREM', KEYS[4], ARGV[2])
end
return {0, g, now}
"#;

/// KEYS and ARGV as PUT's, with ARGV[4] the largest size.
/// Returns {0, version, mtime, size} or {3} (too big).
const APPEND: &str = r#"
local now = now_ms()
sweep(ARGV[1], KEYS[2], KEYS[4], now)
local old = redis.call('HGET', KEYS[1], 'd') or ''
local size = #old + #ARGV[3]
if size > tonumber(ARGV[4]) then return {3} end
local g = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'd', old .. ARGV[3], 'g', g, 't', now)
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return {0, g, now, size}
"#;

/// KEYS: value, index, counter, expiry. ARGV: prefix, name.
/// Returns {0} or {4} (not found).
const DELETE: &str = r#"
sweep(ARGV[1], KEYS[2], KEYS[4], now_ms())
if redis.call('DEL', KEYS[1]) == 0 then return {4} end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
return {0}
"#;

/// KEYS: from's value, index, counter, expiry, to's value. ARGV: prefix,
/// from, to. Returns {0} or {4} (not found).
const RENAME: &str = r#"
sweep(ARGV[1], KEYS[2], KEYS[4], now_ms())
if redis.call('EXISTS', KEYS[1]) == 0 then return {4} end
if KEYS[1] == KEYS[5] then return {0} end
redis.call('RENAME', KEYS[1], KEYS[5])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
local expiry = redis.call('ZSCORE', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
if expiry then
  redis.call('ZADD', KEYS[4], expiry, ARGV[3])
else
  redis.call('ZREM', KEYS[4], ARGV[3])
end
return {0}
"#;

/// KEYS: value. Returns {} (missing) or {size, version, mtime}.
const META: &str = r#"
local m = redis.call('HMGET', KEYS[1], 'g', 't')
if not m[1] then return {} end
return {redis.call('HSTRLEN', KEYS[1], 'd'), tonumber(m[1]), tonumber(m[2])}
"#;

/// KEYS: index. ARGV: prefix, first position, count. Returns the number of
/// index entries read, then position, name, size, version, mtime for each
/// that exists.
const LIST: &str = r#"
local first = tonumber(ARGV[2])
local names = redis.call('ZRANGE', KEYS[1], first, first + tonumber(ARGV[3]) - 1)
local out = {#names}
for i, name in ipairs(names) do
  local key = ARGV[1] .. name
  local m = redis.call('HMGET', key, 'g', 't')
  if m[1] then
    table.insert(out, first + i)
    table.insert(out, name)
    table.insert(out, redis.call('HSTRLEN', key, 'd'))
    table.insert(out, tonumber(m[1]))
    table.insert(out, tonumber(m[2]))
  end
end
return out
"#;

/// The scripts, each with the prelude.
struct Scripts {
    put: Script,
    append: Script,
    delete: Script,
    rename: Script,
    list: Script,
    meta: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            put: script(PUT),
            append: script(APPEND),
            delete: script(DELETE),
            rename: script(RENAME),
            list: Script::new(LIST),
            meta: Script::new(META),
        }
    }
}

/// A Redis server (or Cluster) serving key-value scopes: one connection,
/// made on first use and made again after a failure.
///
/// A URL is one server (`redis://host:port/db`); several, separated by
/// commas, are the seed nodes of a Redis Cluster.
///
/// Every call is bounded by the timeout (connecting, sending, reading): a
/// server that is down or unreachable fails the call with
/// [`KvError::Unavailable`] (`EIO`), and one line on stderr says so, once
/// per outage. A write is acknowledged only after the server replied.
pub struct RedisStore {
    client: Clients,
    url: String,
    timeout: Duration,
    connection: Mutex<Option<Connected>>,
    /// Whether the last call failed (the outage was reported).
    down: AtomicBool,
    scripts: Scripts,
}

impl RedisStore {
    /// The timeout of a call by default: 3 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// A store on the server at `url` (`redis://host:port/db`), not yet
    /// connected. Fails only for a URL that cannot be parsed.
    pub fn new(url: &str, timeout: Duration) -> Result<Arc<Self>, String> {
        let client = if url.contains(',') {
            let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
            let client = ClusterClient::builder(nodes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1)
                .build()
                .map_err(|e| e.to_string())?;
            Clients::Cluster(client)
        } else {
            Clients::Single(Client::open(url).map_err(|e| e.to_string())?)
        };
        Ok(Arc::new(Self {
            client,
            url: url.to_string(),
            timeout,
            connection: Mutex::new(None),
            down: AtomicBool::new(false),
            scripts: Scripts::new(),
        }))
    }

    /// The store of `scope` in `namespace` (checked with
    /// [`check_namespace`](super::check_namespace): it contains no `{` or
    /// `}`).
    pub fn scope(self: &Arc<Self>, namespace: &str, scope: Scope) -> Arc<dyn KvStore> {
        let tag = format!("wasi-kv{{{namespace}/{}}}:", scope.name());
        Arc::new(RedisScope {
            server: self.clone(),
            value_prefix: format!("{tag}v:"),
            index: format!("{tag}i"),
            counter: format!("{tag}g"),
            expiry: format!("{tag}x"),
        })
    }

    /// Runs `f` on the connection, connecting first if needed. Any error
    /// drops the connection (the next call reconnects) and is reported once
    /// per outage.
    fn call<T>(
        &self,
        f: impl FnOnce(&mut dyn ConnectionLike, &Scripts) -> ::redis::RedisResult<T>,
    ) -> Result<T, KvError> {
        let mut slot = lock(&self.connection);
        let result = match &mut *slot {
            Some(connection) => f(connection.as_dyn(), &self.scripts),
            None => self.connect().and_then(|mut connection| {
                let result = f(connection.as_dyn(), &self.scripts);
                *slot = Some(connection);
                result
            }),
        };
        match result {
            Ok(value) => {
                self.down.store(false, Ordering::Relaxed);
                Ok(value)
            }
            Err(error) => {
                *slot = None;
                let why = error.to_string();
                if !self.down.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "wasi-cloud-fs: kv: Redis at {} failed ({why}); calls fail with EIO until it is back",
                        self.url
                    );
                }
                Err(KvError::Unavailable(why))
            }
        }
    }

    fn connect(&self) -> ::redis::RedisResult<Connected> {
        match &self.client {
            Clients::Single(client) => {
                let connection = client.get_connection_with_timeout(self.timeout)?;
                connection.set_read_timeout(Some(self.timeout))?;
                connection.set_write_timeout(Some(self.timeout))?;
                Ok(Connected::Single(connection))
            }
            Clients::Cluster(client) => {
                let connection = client.get_connection()?;
                connection.set_read_timeout(Some(self.timeout))?;
                connection.set_write_timeout(Some(self.timeout))?;
                Ok(Connected::Cluster(Box::new(connection)))
            }
        }
    }
}

/// The client of a server or of a cluster.
enum Clients {
    Single(Client),
    Cluster(ClusterClient),
}

/// A connection to a server or to a cluster.
enum Connected {
    Single(Connection),
    Cluster(Box<ClusterConnection>),
}

impl Connected {
    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Connected::Single(connection) => connection,
            Connected::Cluster(connection) => &mut **connection,
        }
    }
}

/// One namespace and scope of a [`RedisStore`].
struct RedisScope {
    server: Arc<RedisStore>,
    value_prefix: String,
    index: String,
    counter: String,
    expiry: String,
}

/// The integers of a script's reply.
fn ints(value: &Value) -> Vec<i64> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Int(n) => *n,
                _ => -1,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn unexpected(value: &Value) -> KvError {
    KvError::Unavailable(format!("unexpected reply from Redis: {value:?}"))
}

/// Milliseconds (Redis's clock) to nanoseconds.
fn ms_to_ns(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

impl RedisScope {
    fn value_key(&self, key: &str) -> String {
        format!("{}{key}", self.value_prefix)
    }

    /// Runs a write script on `key` with the usual four keys (and any
    /// `more`), after `args`.
    fn write(
        &self,
        pick: impl Fn(&Scripts) -> &Script,
        key: &str,
        more: Option<&str>,
        args: &[&[u8]],
    ) -> Result<Value, KvError> {
        self.server.call(|connection, scripts| {
            let script = pick(scripts);
            let mut invocation = script.prepare_invoke();
            invocation
                .key(self.value_key(key))
                .key(&self.index)
                .key(&self.counter)
                .key(&self.expiry);
            if let Some(more) = more {
                invocation.key(self.value_key(more));
            }
            invocation.arg(&self.value_prefix);
            for arg in args {
                invocation.arg(*arg);
            }
            invocation.invoke(connection)
        })
    }

    fn meta_of(reply: &Value, size: u64) -> Result<Meta, KvError> {
        match ints(reply)[..] {
            [0, version, mtime, ..] => Ok(Meta {
                size,
                mtime_ns: ms_to_ns(mtime),
                version: version as u64,
            }),
            [1] => Err(KvError::Exists),
            [2] => Err(KvError::Conflict),
            [3] => Err(KvError::TooBig),
            [4] => Err(KvError::NotFound),
            _ => Err(unexpected(reply)),
        }
    }
}

impl KvStore for RedisScope {
    fn get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let key = self.value_key(key);
        let (value, version, mtime): (Option<Vec<u8>>, Option<u64>, Option<i64>) =
            self.server.call(|connection, _| {
                ::redis::cmd("HMGET")
                    .arg(&key)
                    .arg("d")
                    .arg("g")
                    .arg("t")
                    .query(connection)
            })?;
        Ok(match (value, version, mtime) {
            (Some(value), Some(version), Some(mtime)) => Some(Entry {
                meta: Meta {
                    size: value.len() as u64,
                    mtime_ns: ms_to_ns(mtime),
                    version,
                },
                value,
            }),
            _ => None,
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Meta>, KvError> {
        let key = self.value_key(key);
        let reply: Vec<i64> = self
            .server
            .call(|connection, scripts| scripts.meta.key(&key).invoke(connection))?;
        Ok(match reply[..] {
            [size, version, mtime] => Some(Meta {
                size: size as u64,
                mtime_ns: ms_to_ns(mtime),
                version: version as u64,
            }),
            _ => None,
        })
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        cond: Cond,
        ttl: Option<Duration>,
    ) -> Result<Meta, KvError> {
        let cond = match cond {
            Cond::Any => "any".to_string(),
            Cond::Absent => "absent".to_string(),
            Cond::Version(version) => version.to_string(),
        };
        // Redis expires in whole milliseconds; at least one.
        let ttl = ttl.map_or(0, |ttl| ttl.as_millis().clamp(1, u64::MAX as u128) as u64);
        let reply = self.write(
            |s| &s.put,
            key,
            None,
            &[
                key.as_bytes(),
                value,
                cond.as_bytes(),
                ttl.to_string().as_bytes(),
            ],
        )?;
        Self::meta_of(&reply, value.len() as u64)
    }

    fn append(&self, key: &str, data: &[u8], max: u64) -> Result<Meta, KvError> {
        let reply = self.write(
            |s| &s.append,
            key,
            None,
            &[key.as_bytes(), data, max.to_string().as_bytes()],
        )?;
        let size = match ints(&reply)[..] {
            [0, _, _, size] => size as u64,
            _ => 0,
        };
        Self::meta_of(&reply, size)
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        let reply = self.write(|s| &s.delete, key, None, &[key.as_bytes()])?;
        match ints(&reply)[..] {
            [0] => Ok(()),
            _ => Self::meta_of(&reply, 0).map(drop),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), KvError> {
        let reply = self.write(
            |s| &s.rename,
            from,
            Some(to),
            &[from.as_bytes(), to.as_bytes()],
        )?;
        match ints(&reply)[..] {
            [0] => Ok(()),
            _ => Self::meta_of(&reply, 0).map(drop),
        }
    }

    fn list(&self, cookie: u64, max: usize) -> Result<Vec<Listed>, KvError> {
        let mut first = cookie;
        loop {
            let reply: Value = self.server.call(|connection, scripts| {
                scripts
                    .list
                    .key(&self.index)
                    .arg(&self.value_prefix)
                    .arg(first)
                    .arg(max.max(1))
                    .invoke(connection)
            })?;
            let Value::Array(items) = &reply else {
                return Err(unexpected(&reply));
            };
            let Some(Value::Int(read)) = items.first() else {
                return Err(unexpected(&reply));
            };
            if *read == 0 {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            for entry in items[1..].chunks(5) {
                match entry {
                    [
                        Value::Int(next),
                        Value::BulkString(name),
                        Value::Int(size),
                        Value::Int(version),
                        Value::Int(mtime),
                    ] => out.push(Listed {
                        next: *next as u64,
                        key: String::from_utf8_lossy(name).into_owned(),
                        meta: Meta {
                            size: *size as u64,
                            mtime_ns: ms_to_ns(*mtime),
                            version: *version as u64,
                        },
                    }),
                    _ => return Err(unexpected(&reply)),
                }
            }
            if !out.is_empty() {
                return Ok(out);
            }
            // A page of keys that all expired: the next page.
            first += *read as u64;
        }
    }
}
