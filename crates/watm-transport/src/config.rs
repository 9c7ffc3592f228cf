//! What every connection of a [`Dialer`](crate::Dialer),
//! [`Listener`](crate::Listener) or [`Relay`](crate::Relay) runs.

use crate::Error;
use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasi_core::runtime::RuntimeConfig;
use wasi_core::vfs::VirtualFds;

/// Builds the system of a connection's instance from its standard streams
/// (stdin, stdout, stderr): see [`Config::system`]. The error is shown to
/// the user.
pub type SystemFactory = Arc<
    dyn Fn(OwnedFd, OwnedFd, OwnedFd) -> Result<Box<dyn VirtualFds + Send>, String> + Send + Sync,
>;

/// A [`SystemFactory`], shown by name only.
#[derive(Clone)]
pub(crate) struct Systems(pub(crate) SystemFactory);

impl fmt::Debug for Systems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SystemFactory")
    }
}

/// The default for [`Config::max_memory`]: 256 MiB of linear memory per
/// connection.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;

/// The default for [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// A WATM and how to run it: the module, its configuration file, the
/// limits of every instance and the host's timeouts.
///
/// The engine is not part of it: a role is made from a `Config` and a
/// runtime of the embedder's chosen engine ([`Dialer::new`](crate::Dialer::new)
/// and the others), which loads the module under
/// [`runtime_config`](Self::runtime_config).
///
/// Cloning is cheap: the module's bytes are shared.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) wasm: Arc<[u8]>,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) limits: RuntimeConfig,
    pub(crate) setup_timeout: Duration,
    pub(crate) dial_timeout: Duration,
    pub(crate) cancel_grace: Duration,
    pub(crate) log_prefix: Option<String>,
    pub(crate) max_connections: usize,
    pub(crate) system: Option<Systems>,
}

impl Config {
    /// A configuration for the module `wasm`, binary or text (`.wat`), with
    /// the defaults: [`DEFAULT_MAX_MEMORY`], no fuel or time
    /// limit, no configuration file, 10 s to set up a connection and to
    /// dial, 1 s of grace after a cancellation, the module's output to the
    /// host's stderr, at most [`DEFAULT_MAX_CONNECTIONS`] live connections.
    /// Text that does not parse is [`Error::Invalid`]; the
    /// module itself is checked when a role is made from it.
    pub fn new(wasm: impl AsRef<[u8]>) -> Result<Self, Error> {
        let wasm = wat::parse_bytes(wasm.as_ref())
            .map_err(|e| Error::Invalid(format!("cannot parse the module text: {e}")))?;
        let limits = RuntimeConfig {
            max_memory: Some(DEFAULT_MAX_MEMORY),
            // A module that ignores its cancellation is stopped after the
            // grace period, not left spinning on its thread.
            interruptible: true,
            ..RuntimeConfig::new()
        };
        Ok(Self {
            wasm: wasm.into_owned().into(),
            config_file: None,
            limits,
            setup_timeout: Duration::from_secs(10),
            dial_timeout: Duration::from_secs(10),
            cancel_grace: Duration::from_secs(1),
            log_prefix: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            system: None,
        })
    }

    /// Reads the module from `path` (`.wasm` or `.wat`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Invalid(format!("cannot read the WATM {}: {e}", path.display())))?;
        Self::new(bytes)
    }

    /// The module's bytes (binary, after translating text).
    pub fn wasm(&self) -> &[u8] {
        &self.wasm
    }

    /// The file `pull_config` gives the module (read-only); without one,
    /// `pull_config` returns `-EACCES`.
    pub fn config_file(&mut self, path: Option<PathBuf>) -> &mut Self {
        self.config_file = path;
        self
    }

    /// How each connection's instance gets its WASI system: `factory` is
    /// given its standard streams (stdin reads nothing; stdout and stderr
    /// go to the log) and builds the rest. The default is a bare system:
    /// those streams, no preopens, no network access beyond the
    /// connections the host hands over. An embedder gives WATMs what its
    /// other guests get through this (`wasi_runner::GuestSystems` builds
    /// `wasirun`'s stack: preopens, mounts, devices, tracing).
    pub fn system(&mut self, factory: Option<SystemFactory>) -> &mut Self {
        self.system = factory.map(Systems);
        self
    }

    /// The limits every connection's instance runs under, which a role
    /// loads the module with: [`max_memory`](Self::max_memory),
    /// [`fuel`](Self::fuel) and [`timeout`](Self::timeout) as set, and
    /// [`interruptible`](RuntimeConfig::interruptible) always (a module
    /// that ignores its cancellation is stopped after the
    /// [`cancel_grace`](Self::cancel_grace), not left spinning on its
    /// thread).
    ///
    /// A role given a runtime created with other limits derives one under
    /// these ([`Runtime::with_config`](wasi_core::runtime::Runtime::with_config):
    /// same engine and cache); a runtime created with exactly these, as
    /// `wasi_runner::Engine::with_runtime(config.runtime_config(), ..)`
    /// creates it, is used as it is.
    pub fn runtime_config(&self) -> RuntimeConfig {
        self.limits
    }

    /// The most linear memory one connection's instance may have, in bytes
    /// (`None`: no limit).
    pub fn max_memory(&mut self, bytes: Option<u64>) -> &mut Self {
        self.limits.max_memory = bytes;
        self
    }

    /// Refuses modules defining more than `max` functions, before they are
    /// compiled (`None`: no limit; see
    /// [`RuntimeConfig::max_functions`]).
    pub fn max_functions(&mut self, max: Option<u32>) -> &mut Self {
        self.limits.max_functions = max;
        self
    }

    /// Fuel for one connection's instance over its whole life (about one
    /// unit per instruction; `None`: no limit). Running out ends the
    /// connection: the way to stop modules that loop.
    pub fn fuel(&mut self, fuel: Option<u64>) -> &mut Self {
        self.limits.fuel = fuel;
        self
    }

    /// The longest a connection may live, from its instantiation (`None`:
    /// no limit). Past it the module is stopped and the connection ends.
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.limits.timeout = timeout;
        self
    }

    /// How long the module may take to set up a connection (`_start`,
    /// `_water_init`, the role's call and `_water_cancel_with`).
    pub fn setup_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.setup_timeout = timeout;
        self
    }

    /// How long `host_dial` waits for a TCP connection.
    pub fn dial_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.dial_timeout = timeout;
        self
    }

    /// How long closing a connection waits for its worker to return after
    /// the cancellation byte, before shutting its sockets down.
    pub fn cancel_grace(&mut self, grace: Duration) -> &mut Self {
        self.cancel_grace = grace;
        self
    }

    /// The most connections (instances, each with its thread) alive at
    /// once for one `Dialer`, `Listener` or `Relay`
    /// ([`DEFAULT_MAX_CONNECTIONS`] by default). Past it, `dial` and
    /// `accept` fail with [`std::io::ErrorKind::QuotaExceeded`], and a relay
    /// closes the connections it accepts, logging why.
    pub fn max_connections(&mut self, max: usize) -> &mut Self {
        self.max_connections = max;
        self
    }

    /// Where the module's stdout and stderr go: `None` (the default), the
    /// host's stderr as written; `Some(prefix)`, the host's stderr with
    /// every line prefixed.
    pub fn log_prefix(&mut self, prefix: Option<String>) -> &mut Self {
        self.log_prefix = prefix;
        self
    }
}
