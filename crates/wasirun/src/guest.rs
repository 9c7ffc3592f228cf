//! The options every command that runs WASI guests shares (`run`, `serve`):
//! what the guest is given and the limits it runs under, parsed once and
//! mapped onto `wasi_runner::RunOptions` once. An option that does not apply
//! to a mode is refused in one line naming the mode ([`GuestArgs::refuse`]);
//! README.md has the table.

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wasi_runner::{
    AddrRule, DEFAULT_MAX_FUNCTIONS, Devices, DriverSpec, Engine, IoBackend, KvConfig, Module,
    RunOptions, Trace, default_cache_dir, default_kv_store, split_dir_spec, split_env_pair,
};

/// What a guest is given and the limits it runs under.
#[derive(Debug, Args)]
pub(crate) struct GuestArgs {
    /// Preopen a host directory, as GUEST inside the module (default: the host path as given).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub(crate) dirs: Vec<String>,

    /// Set an environment variable for the guest (applied after --env-inherit).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub(crate) envs: Vec<OsString>,

    /// Pass this process's environment to the guest.
    #[arg(long)]
    pub(crate) env_inherit: bool,

    /// The WebAssembly engine.
    #[arg(long, default_value_t = Engine::Wasmtime, value_parser = engine_parser())]
    pub(crate) runtime: Engine,

    /// Log every WASI call, strace-style, to stderr (or to --trace-file);
    /// under `serve`, each line starts with `[N] `, N numbering the guests.
    #[arg(long)]
    pub(crate) trace: bool,

    /// Write the --trace log to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    pub(crate) trace_file: Option<PathBuf>,

    /// Load a WADI device driver (`.wasm` or `.wat`) into every guest
    /// before it starts, with optional configuration (repeatable; see
    /// spec/wadi.md).
    #[arg(long = "device", value_name = "DRIVER[:KEY=VALUE,...]")]
    pub(crate) devices: Vec<String>,

    /// Let the module load drivers at run time, by writing a driver path
    /// (resolved in its own sandbox) to /dev/wadi/driver.
    #[arg(long)]
    pub(crate) allow_driver_loading: bool,

    /// Compile the module afresh instead of using the cache of compiled
    /// modules ($XDG_CACHE_HOME/wasirun/compiled, wasmtime only).
    #[arg(long)]
    pub(crate) no_cache: bool,

    /// Preopen a TCP socket listening on ADDR (`IP:PORT`, `[IPv6]:PORT`;
    /// port 0 picks a free one), numbered after the --dir directories
    /// (repeatable; see spec/sockets.md).
    #[arg(long = "listen", value_name = "ADDR")]
    pub(crate) listens: Vec<SocketAddr>,

    /// Preopen a TCP connection to ADDR, numbered after the --listen sockets
    /// (repeatable; under `serve`, one per guest).
    #[arg(long = "dial", value_name = "ADDR")]
    pub(crate) dials: Vec<SocketAddr>,

    /// Let the guest bind sockets (WasmEdge `sock_bind`, `tcp+listen://`) to
    /// addresses matching RULE: `*`, `IP:*`, `*:PORT` or `IP:PORT` (repeatable).
    #[arg(long = "allow-bind", value_name = "RULE")]
    pub(crate) allow_bind: Vec<AddrRule>,

    /// Let the guest connect and send (`sock_connect`, `sock_send_to`,
    /// `tcp+dial://`) to addresses matching RULE (repeatable).
    #[arg(long = "allow-connect", value_name = "RULE")]
    pub(crate) allow_connect: Vec<AddrRule>,

    /// Let the guest resolve host names (`sock_getaddrinfo`) with the host's resolver.
    #[arg(long)]
    pub(crate) allow_resolve: bool,

    /// Let the guest read files on kernel pseudo-filesystems (procfs,
    /// sysfs, ...) beneath its preopens, read-only; this process's own
    /// /proc entries stay out of reach (see spec/preview1.md).
    #[arg(long)]
    pub(crate) allow_pseudo_fs: bool,

    /// Do not print a line when the sandbox refuses a call the guest made
    /// (by default the first refusal of each kind is reported on stderr,
    /// naming the option that would allow it).
    #[arg(long)]
    pub(crate) quiet_denials: bool,

    /// The most linear memory the guest may have, in bytes (suffixes K, M,
    /// G: powers of 1024); its tables may hold BYTES/8 elements. A module
    /// declaring more is refused; growing past it fails in the guest.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) max_memory: Option<u64>,

    /// Stop the guest after this much wall-clock time (`500ms`, `10s`,
    /// `2m`, ...): `run` exits with code 124. Under `serve` it is each
    /// request's deadline from the end of its head (default 60s), covering
    /// the queue, the body, the guest and the response's delivery: past it
    /// the client gets 503, 408 or 504, or an aborted response.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Option<Duration>,

    /// Stop the guest (as a trap) once it has executed about N instructions.
    #[arg(long, value_name = "N")]
    pub(crate) fuel: Option<u64>,

    /// Refuse modules that define more than N functions, before compiling
    /// them: compiling costs memory for every function (wasmtime: about 5
    /// KiB each), so this bounds what a module can make wasirun spend.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FUNCTIONS)]
    pub(crate) max_functions: u32,

    /// The largest size, in bytes, any file may reach through the guest's
    /// writes (suffixes K, M, G): writes past it fail with EFBIG.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) max_file_size: Option<u64>,

    /// The host memory each guest may make wasirun keep for it beyond its
    /// linear memory (buffered --kv files, WADI and WATER buffers; a Daku
    /// program's messages, console reads and tables, for the program and
    /// its tasks together), in bytes (suffixes K, M, G): calls past it fail
    /// with ENOSPC or ENOMEM (a Daku record traps). Default: the
    /// --max-memory value, else 64M.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) max_host_memory: Option<u64>,

    /// The most descriptors each guest may have open (files, sockets,
    /// preopens, stdio): opening more fails with EMFILE. Default: 1024.
    /// The guests of one process together hold at most 3/4 of its
    /// RLIMIT_NOFILE (ENFILE past it), the rest being wasirun's own.
    #[arg(long, value_name = "N")]
    pub(crate) max_fds: Option<usize>,

    /// The I/O backend: `sync` (plain system calls), `uring` (io_uring
    /// wherever it serves a call; fails if the kernel refuses io_uring) or
    /// `auto` (the faster one per call). Default: $WASIRUN_IO, else auto.
    #[arg(long, value_name = "sync|uring|auto")]
    pub(crate) io: Option<IoBackend>,

    /// The key-value store at /beta/kv (boxed: most runs have none).
    #[command(flatten)]
    pub(crate) kv: Box<KvArgs>,
}

/// The key-value store mounted at /beta/kv (spec/wasi-cloud.md).
#[derive(Debug, Args)]
pub(crate) struct KvArgs {
    /// Mount the key-value store at /beta/kv: keys are the files of
    /// /beta/kv/local, /beta/kv/region and /beta/kv/global.
    #[arg(long)]
    pub(crate) kv: bool,

    /// The embedded store (redb) of `local`, and of `region` and `global`
    /// when no Redis serves them. Default: wasirun/kv.redb under
    /// $XDG_DATA_HOME, else ~/.local/share.
    #[arg(long, value_name = "PATH", requires = "kv")]
    kv_store: Option<PathBuf>,

    /// Serve `region` and `global` from this Redis server
    /// (redis://HOST:PORT[/DB]; several URLs, comma-separated: the seed
    /// nodes of a Redis Cluster).
    #[arg(long, value_name = "URL", requires = "kv")]
    kv_redis: Option<String>,

    /// Serve `region` from this Redis server (over --kv-redis).
    #[arg(long, value_name = "URL", requires = "kv")]
    kv_region: Option<String>,

    /// Serve `global` from this Redis server (over --kv-redis).
    #[arg(long, value_name = "URL", requires = "kv")]
    kv_global: Option<String>,

    /// The namespace of the keys: other namespaces' are out of reach.
    #[arg(long, value_name = "NAME", requires = "kv", default_value = "default")]
    kv_namespace: String,
}

/// The kinds of guest the options are given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `wasirun run` with a WASI command.
    Command,
    /// `wasirun serve`: HTTP functions, daemons, WAGI modules.
    Serve,
    /// `wasirun run` with a Daku program (it imports `daku.ar`, not WASI).
    Daku,
    /// `wasirun water`: a WATER transport module per connection.
    Water,
}

impl Mode {
    /// How a refusal names the mode.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Command => "a WASI command",
            Mode::Serve => "`wasirun serve`",
            Mode::Daku => "a Daku program (it imports daku.ar, not WASI)",
            Mode::Water => "`wasirun water`",
        }
    }
}

/// `--runtime`: the engines' names, parsed into an [`Engine`] by its one
/// parser, under every command.
pub(crate) fn engine_parser() -> impl TypedValueParser<Value = Engine> {
    PossibleValuesParser::new(Engine::ALL.map(Engine::name)).try_map(|name| name.parse::<Engine>())
}

impl GuestArgs {
    /// The options given that only some modes take: `(option, given,
    /// modes it applies to)`. The one list README's option × mode table
    /// follows; options not listed apply to every mode.
    fn mode_specific(&self) -> [(&'static str, bool, &'static [Mode]); 15] {
        use Mode::{Command, Serve, Water};
        const WASI: &[Mode] = &[Command, Serve, Water];
        [
            ("--dir", !self.dirs.is_empty(), WASI),
            ("--env", !self.envs.is_empty(), WASI),
            ("--env-inherit", self.env_inherit, WASI),
            ("--listen", !self.listens.is_empty(), &[Command]),
            ("--dial", !self.dials.is_empty(), WASI),
            ("--allow-bind", !self.allow_bind.is_empty(), WASI),
            ("--allow-connect", !self.allow_connect.is_empty(), WASI),
            ("--allow-resolve", self.allow_resolve, WASI),
            ("--device", !self.devices.is_empty(), WASI),
            ("--allow-driver-loading", self.allow_driver_loading, WASI),
            ("--trace", self.trace || self.trace_file.is_some(), WASI),
            ("--kv", self.kv.kv, WASI),
            ("--max-file-size", self.max_file_size.is_some(), WASI),
            ("--allow-pseudo-fs", self.allow_pseudo_fs, WASI),
            ("--max-fds", self.max_fds.is_some(), WASI),
        ]
    }

    /// Refuses, in one line naming `mode`, the first option given that
    /// does not apply to it.
    pub(crate) fn refuse(&self, mode: Mode, module: &std::path::Path) -> Result<()> {
        match self
            .mode_specific()
            .into_iter()
            .find(|(_, given, modes)| *given && !modes.contains(&mode))
        {
            Some((option, ..)) => bail!(
                "{}: {option} does not apply to {}",
                module.display(),
                mode.name()
            ),
            None => Ok(()),
        }
    }

    /// `--io`, else `$WASIRUN_IO`, else `auto`.
    pub(crate) fn io_backend(&self) -> Result<IoBackend> {
        Ok(self.io_given()?.unwrap_or(IoBackend::Auto))
    }

    /// `--io`, else `$WASIRUN_IO` (unset or empty: none given).
    pub(crate) fn io_given(&self) -> Result<Option<IoBackend>> {
        match (self.io, std::env::var("WASIRUN_IO")) {
            (Some(io), _) => Ok(Some(io)),
            (None, Ok(name)) if !name.is_empty() => name
                .parse()
                .map(Some)
                .map_err(|err| anyhow!("WASIRUN_IO: {err}")),
            (None, _) => Ok(None),
        }
    }

    /// The cache of compiled modules, unless --no-cache.
    pub(crate) fn cache_dir(&self) -> Option<PathBuf> {
        default_cache_dir().filter(|_| !self.no_cache)
    }

    /// The library's options for these arguments.
    pub(crate) fn options(&self) -> Result<RunOptions> {
        let mut options = RunOptions::new();
        options
            .inherit_env(self.env_inherit)
            .allow_resolve(self.allow_resolve)
            .allow_pseudo_fs(self.allow_pseudo_fs)
            .max_file_size(self.max_file_size)
            .max_host_memory(self.max_host_memory)
            .max_fds(self.max_fds.unwrap_or(RunOptions::DEFAULT_MAX_FDS))
            .io(self.io_backend()?)
            .report_denials(!self.quiet_denials)
            .engine(self.runtime)
            .fuel(self.fuel)
            .max_memory(self.max_memory)
            .timeout(self.timeout)
            .max_functions(Some(self.max_functions))
            .cache_dir(self.cache_dir())
            .devices(self.devices()?)
            .trace(match (&self.trace_file, self.trace) {
                (Some(path), _) => Trace::File(path.clone()),
                (None, true) => Trace::Stderr,
                (None, false) => Trace::Off,
            })
            .kv(self.kv.config()?);
        for pair in &self.envs {
            let Some((key, value)) = split_env_pair(pair) else {
                bail!("--env {} is not KEY=VALUE", pair.to_string_lossy());
            };
            options.env(key, value);
        }
        for dir in &self.dirs {
            let (host, guest) = split_dir_spec(dir);
            options.dir(host, guest);
        }
        for &addr in &self.listens {
            options.listen(addr);
        }
        for &addr in &self.dials {
            options.dial(addr);
        }
        for &rule in &self.allow_bind {
            options.allow_bind(rule);
        }
        for &rule in &self.allow_connect {
            options.allow_connect(rule);
        }
        Ok(options)
    }

    /// The `--device` drivers, read, and `--allow-driver-loading`.
    fn devices(&self) -> Result<Devices> {
        let mut devices = Devices::new();
        devices.allow_loading(self.allow_driver_loading);
        for device in &self.devices {
            let spec = DriverSpec::parse(device)
                .map_err(|_| anyhow!("--device {device} is not DRIVER[:KEY=VALUE,...]"))?;
            let module =
                Module::from_file(&spec.path).with_context(|| format!("--device {device}"))?;
            devices.driver(spec, module);
        }
        Ok(devices)
    }
}

impl KvArgs {
    /// The library's key-value options: `None` without --kv.
    fn config(&self) -> Result<Option<KvConfig>> {
        if !self.kv {
            return Ok(None);
        }
        let store = match &self.kv_store {
            Some(path) => path.clone(),
            None => default_kv_store()
                .context("--kv: neither $XDG_DATA_HOME nor $HOME is set; give --kv-store PATH")?,
        };
        let mut config = KvConfig::new(store);
        config.namespace(&self.kv_namespace);
        if let Some(url) = &self.kv_redis {
            config.redis(url);
        }
        if let Some(url) = &self.kv_region {
            config.region(url);
        }
        if let Some(url) = &self.kv_global {
            config.global(url);
        }
        Ok(Some(config))
    }
}

/// Parses a byte count (`64M`), as `wasi_runner::parse_bytes` does.
pub(crate) use wasi_runner::parse_bytes;
