//! The key-value store mounted as files (`spec/wasi-cloud.md`, "Key-value
//! store").
//!
//! [`KvDir`] is the [`VirtualDir`](wasi_core::vfs::VirtualDir) mounted at
//! `/beta/kv`: three scope directories, `local`, `region` and `global`,
//! whose file names are keys and whose contents are values. Each scope is
//! served by a [`KvStore`]: [`RedbStore`] (embedded, one file) or
//! [`RedisStore`] (shared by every host configured with the same server
//! and namespace). [`KvConfig`] builds the usual arrangement: redb for
//! everything, or redb for `local` and Redis for `region` and `global`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wasi_cloud_fs::kv::KvConfig;
//! use wasi_core::mount::Mounts;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = KvConfig::new("/var/lib/app/kv.redb");
//! config.redis("redis://127.0.0.1:6379").namespace("tenant-a");
//! let dir = config.build()?;
//! let mut system = Mounts::new(wasi_unix::UnixSystem::builder().build()?);
//! system.mount("/beta/kv", Arc::new(dir))?;
//! # Ok(()) }
//! ```

mod dir;
mod redb;
mod redis;

pub use dir::KvDir;
pub use redb::RedbStore;
pub use redis::RedisStore;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasi_core::Errno;

/// The largest value by default: 64 MiB. Writing past it gives `EFBIG`.
pub const DEFAULT_MAX_VALUE: u64 = 64 << 20;

/// The longest key, in bytes of UTF-8 (as `NAME_MAX`): `ENAMETOOLONG`
/// beyond.
pub const MAX_KEY_LEN: usize = 255;

/// The longest namespace name, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The most keys a backend is asked for at once while listing a scope
/// (`fd_readdir` may return fewer: as many as fit the guest's buffer).
pub const LIST_PAGE: usize = 1000;

/// The longest expiry a `.ttl/SECONDS/` path may set: ten years.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The namespace used when none is configured.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The three scopes, each a directory under `/beta/kv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// This host's own store.
    Local,
    /// Shared by the hosts configured with the same region backend.
    Region,
    /// Shared by the hosts configured with the same global backend.
    Global,
}

impl Scope {
    /// Every scope, in listing order.
    pub const ALL: [Scope; 3] = [Scope::Local, Scope::Region, Scope::Global];

    /// The directory name: `local`, `region` or `global`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Region => "region",
            Scope::Global => "global",
        }
    }

    /// The scope named `name`.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What a store knows about a value besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    /// The value's length in bytes.
    pub size: u64,
    /// When it was last written, in nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
    /// A number that changes with every write of the key (never reused in
    /// the store): what compare-and-swap compares.
    pub version: u64,
}

/// A value and its [`Meta`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The bytes.
    pub value: Vec<u8>,
    /// Its size, time and version.
    pub meta: Meta,
}

/// A key as listed by [`KvStore::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The cookie of the entry after this one.
    pub next: u64,
    /// The key.
    pub key: String,
    /// Its size, time and version.
    pub meta: Meta,
}

/// The condition a [`KvStore::put`] commits under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    /// Always: the last committed value wins.
    Any,
    /// Only if the key does not exist ([`KvError::Exists`] otherwise).
    Absent,
    /// Only if the key exists with this version ([`KvError::Conflict`]
    /// otherwise).
    Version(u64),
}

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    /// No such key (`ENOENT`).
    NotFound,
    /// The key exists (`EEXIST`).
    Exists,
    /// The key changed since it was read (`EAGAIN`: read again and retry).
    Conflict,
    /// The value would pass the size limit (`EFBIG`).
    TooBig,
    /// The backend could not be reached or failed (`EIO`); the message says
    /// why.
    Unavailable(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NotFound => f.write_str("no such key"),
            KvError::Exists => f.write_str("key exists"),
            KvError::Conflict => f.write_str("key changed since it was read"),
            KvError::TooBig => f.write_str("value too large"),
            KvError::Unavailable(why) => write!(f, "store unavailable: {why}"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<KvError> for Errno {
    fn from(error: KvError) -> Errno {
        match error {
            KvError::NotFound => Errno::NOENT,
            KvError::Exists => Errno::EXIST,
            KvError::Conflict => Errno::AGAIN,
            KvError::TooBig => Errno::FBIG,
            KvError::Unavailable(_) => Errno::IO,
        }
    }
}

/// A flat store of keys (valid UTF-8, no `/` or NUL, at most
/// [`MAX_KEY_LEN`] bytes: [`KvDir`] checks them) and byte values: one scope
/// of one namespace. Every method is atomic; a successful write is durable
/// as far as the backend makes it (`spec/wasi-cloud.md`, "Durability").
///
/// Expired keys (written with a time to live) do not exist for any method.
pub trait KvStore: Send + Sync {
    /// The value of `key`, `None` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<Entry>, KvError>;

    /// The [`Meta`] of `key`, `None` when it does not exist.
    fn meta(&self, key: &str) -> Result<Option<Meta>, KvError>;

    /// Sets `key` to `value` if `cond` holds, expiring after `ttl` (`None`:
    /// never, removing an expiry the key had). Returns the new [`Meta`].
    fn put(
        &self,
        key: &str,
        value: &[u8],
        cond: Cond,
        ttl: Option<Duration>,
    ) -> Result<Meta, KvError>;

    /// Appends `data` to the value of `key` (created empty if missing; an
    /// expiry is kept), unless the result would be longer than `max`
    /// ([`KvError::TooBig`]).
    fn append(&self, key: &str, data: &[u8], max: u64) -> Result<Meta, KvError>;

    /// Removes `key` ([`KvError::NotFound`] when it does not exist).
    fn delete(&self, key: &str) -> Result<(), KvError>;

    /// Moves the value (and expiry) of `from` to `to`, replacing `to`, in
    /// one step ([`KvError::NotFound`] when `from` does not exist).
    fn rename(&self, from: &str, to: &str) -> Result<(), KvError>;

    /// Up to `max` keys in byte order, starting at position `cookie` (0:
    /// the first). Each carries the cookie of the next. Fewer than `max`
    /// keys does not mean the end: an empty page does.
    fn list(&self, cookie: u64, max: usize) -> Result<Vec<Listed>, KvError>;

    /// How many keys a listing asks for first (then twice as many each
    /// time they all fit the guest's buffer, up to [`LIST_PAGE`]): few for
    /// a store across the network, where what does not fit is fetched for
    /// nothing; [`LIST_PAGE`] for one whose listing restarts from the first
    /// key at each request.
    fn first_page(&self) -> usize {
        32
    }
}

/// Checks a namespace name: 1 to [`MAX_NAMESPACE_LEN`] ASCII letters,
/// digits, `-`, `_` or `.`.
pub fn check_namespace(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAMESPACE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid namespace `{name}`: 1 to {MAX_NAMESPACE_LEN} ASCII letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// The default embedded store: `wasirun/kv.redb` under `$XDG_DATA_HOME`,
/// or `~/.local/share`; `None` when neither variable is set.
pub fn default_store_path() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".local").join("share"))
        })
        .map(|dir| dir.join("wasirun").join("kv.redb"))
}

/// How `/beta/kv` is served: the embedded store, optional Redis servers for
/// `region` and `global`, the namespace and the value limit (`wasirun run
/// --kv`'s options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvConfig {
    store: PathBuf,
    region: Option<String>,
    global: Option<String>,
    namespace: String,
    max_value: u64,
    timeout: Duration,
}

impl KvConfig {
    /// redb at `store` for every scope, namespace [`DEFAULT_NAMESPACE`],
    /// values up to [`DEFAULT_MAX_VALUE`], Redis timeout
    /// [`RedisStore::DEFAULT_TIMEOUT`].
    pub fn new(store: impl Into<PathBuf>) -> Self {
        Self {
            store: store.into(),
            region: None,
            global: None,
            namespace: DEFAULT_NAMESPACE.into(),
            max_value: DEFAULT_MAX_VALUE,
            timeout: RedisStore::DEFAULT_TIMEOUT,
        }
    }

    /// Serves `region` and `global` from the Redis server at `url`.
    pub fn redis(&mut self, url: impl Into<String>) -> &mut Self {
        let url = url.into();
        self.region = Some(url.clone());
        self.global = Some(url);
        self
    }

    /// Serves `region` from the Redis server at `url`.
    pub fn region(&mut self, url: impl Into<String>) -> &mut Self {
        self.region = Some(url.into());
        self
    }

    /// Serves `global` from the Redis server at `url`.
    pub fn global(&mut self, url: impl Into<String>) -> &mut Self {
        self.global = Some(url.into());
        self
    }

    /// The namespace: keys of other namespaces are out of reach.
    pub fn namespace(&mut self, name: impl Into<String>) -> &mut Self {
        self.namespace = name.into();
        self
    }

    /// The largest value, in bytes.
    pub fn max_value(&mut self, bytes: u64) -> &mut Self {
        self.max_value = bytes;
        self
    }

    /// How long a Redis call may take before it fails with `EIO`.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Opens the stores (creating the redb file and its directory) and
    /// builds the mount. Redis servers are connected to on first use, so a
    /// server that is down does not stop the guest from starting.
    pub fn build(&self) -> Result<KvDir, String> {
        check_namespace(&self.namespace)?;
        let redb = RedbStore::open(&self.store)
            .map_err(|e| format!("cannot open kv store {}: {e}", self.store.display()))?;
        // One connection per server, whichever scopes it serves.
        let mut servers: Vec<(String, Arc<RedisStore>)> = Vec::new();
        let mut store = |scope: Scope, url: Option<&str>| -> Result<Arc<dyn KvStore>, String> {
            let Some(url) = url else {
                return Ok(redb.scope(&self.namespace, scope));
            };
            let server = match servers.iter().find(|(u, _)| *u == url) {
                Some((_, server)) => server.clone(),
                None => {
                    let server = RedisStore::new(url, self.timeout)
                        .map_err(|e| format!("invalid Redis URL {url}: {e}"))?;
                    servers.push((url.to_string(), server.clone()));
                    server
                }
            };
            Ok(server.scope(&self.namespace, scope))
        };
        let local = store(Scope::Local, None)?;
        let region = store(Scope::Region, self.region.as_deref())?;
        let global = store(Scope::Global, self.global.as_deref())?;
        Ok(KvDir::new([local, region, global]).max_value(self.max_value))
    }
}
