//! `wasirun run`: the options mapped onto `wasi_runner::RunOptions`, and
//! the watchdog that ends a guest blocked past its --timeout.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use wasi_runner::{
    AddrRule, DEFAULT_MAX_FUNCTIONS, Devices, DriverSpec, ERROR_EXIT_CODE, Engine, IoBackend,
    KvConfig, Module, Outcome, RunOptions, Runner, TIMEOUT_EXIT_CODE, Trace, default_cache_dir,
    default_kv_store, report,
};

/// How long past --timeout the watchdog waits for the engine to stop the
/// guest before it ends the process itself (a guest blocked in a host call
/// cannot be interrupted).
const WATCHDOG_GRACE: Duration = Duration::from_millis(250);

/// The options and arguments of `wasirun run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Preopen a host directory, as GUEST inside the module (default: the host path as given).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// Set an environment variable for the guest (applied after --env-inherit).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<OsString>,

    /// Pass this process's environment to the guest.
    #[arg(long)]
    env_inherit: bool,

    /// The WebAssembly engine.
    #[arg(long, default_value_t = Engine::Wasmtime, value_parser = engine_parser())]
    runtime: Engine,

    /// Log every WASI call, strace-style, to stderr (or to --trace-file).
    #[arg(long)]
    trace: bool,

    /// Write the --trace log to this file instead of stderr.
    #[arg(long, value_name = "PATH")]
    trace_file: Option<PathBuf>,

    /// Load a WADI device driver (`.wasm` or `.wat`) before the module
    /// starts, with optional configuration (repeatable; see spec/wadi.md).
    #[arg(long = "device", value_name = "DRIVER[:KEY=VALUE,...]")]
    devices: Vec<String>,

    /// Let the module load drivers at run time, by writing a driver path
    /// (resolved in its own sandbox) to /dev/wadi/driver.
    #[arg(long)]
    allow_driver_loading: bool,

    /// Compile the module afresh instead of using wasmtime's cache of
    /// compiled modules.
    #[arg(long)]
    no_cache: bool,

    /// Preopen a TCP socket listening on ADDR (`IP:PORT`, `[IPv6]:PORT`;
    /// port 0 picks a free one), numbered after the --dir directories
    /// (repeatable; see spec/sockets.md).
    #[arg(long = "listen", value_name = "ADDR")]
    listens: Vec<SocketAddr>,

    /// Preopen a TCP connection to ADDR, numbered after the --listen sockets
    /// (repeatable).
    #[arg(long = "dial", value_name = "ADDR")]
    dials: Vec<SocketAddr>,

    /// Let the guest bind sockets (WasmEdge `sock_bind`, `tcp+listen://`) to
    /// addresses matching RULE: `*`, `IP:*`, `*:PORT` or `IP:PORT` (repeatable).
    #[arg(long = "allow-bind", value_name = "RULE")]
    allow_bind: Vec<AddrRule>,

    /// Let the guest connect and send (`sock_connect`, `sock_send_to`,
    /// `tcp+dial://`) to addresses matching RULE (repeatable).
    #[arg(long = "allow-connect", value_name = "RULE")]
    allow_connect: Vec<AddrRule>,

    /// Let the guest resolve host names (`sock_getaddrinfo`) with the host's resolver.
    #[arg(long)]
    allow_resolve: bool,

    /// Let the guest read files on kernel pseudo-filesystems (procfs,
    /// sysfs, ...) beneath its preopens, read-only; this process's own
    /// /proc entries stay out of reach (see spec/preview1.md).
    #[arg(long)]
    allow_pseudo_fs: bool,

    /// Do not print a line when the sandbox refuses a call the guest made
    /// (by default the first refusal of each kind is reported on stderr,
    /// naming the option that would allow it).
    #[arg(long)]
    quiet_denials: bool,

    /// The most linear memory the guest may have, in bytes (suffixes K, M,
    /// G: powers of 1024); its tables may hold BYTES/8 elements. A module
    /// declaring more is refused; growing past it fails in the guest.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_memory: Option<u64>,

    /// Stop the guest after this much wall-clock time (`500ms`, `10s`,
    /// `2m`, ...), with exit code 124.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// Stop the guest (as a trap) once it has executed about N instructions.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// Refuse modules that define more than N functions, before compiling
    /// them: compiling costs memory for every function (wasmtime: about 5
    /// KiB each), so this bounds what a module can make wasirun spend.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_FUNCTIONS)]
    max_functions: u32,

    /// The largest size, in bytes, any file may reach through the guest's
    /// writes (suffixes K, M, G): writes past it fail with EFBIG.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_file_size: Option<u64>,

    /// The I/O backend: `sync` (plain system calls), `uring` (io_uring
    /// wherever it serves a call; fails if the kernel refuses io_uring) or
    /// `auto` (the faster one per call). Default: $WASIRUN_IO, else auto.
    #[arg(long, value_name = "sync|uring|auto")]
    io: Option<IoBackend>,

    /// The options of Daku programs (boxed: most runs are not Daku's).
    #[command(flatten)]
    daku: Box<DakuArgs>,

    /// The key-value store at /beta/kv (boxed: most runs have none).
    #[command(flatten)]
    kv: Box<KvArgs>,

    /// The module to run: binary `.wasm` or text `.wat`.
    // An `Option` only for `wasirun COMMAND`, where the top level's copy of
    // these arguments is left empty: clap requires it wherever it is parsed.
    #[arg(required = true)]
    module: Option<PathBuf>,

    /// Arguments passed to the guest after its argv[0] (the module path).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// The key-value store mounted at /beta/kv (spec/wasi-cloud.md).
#[derive(Debug, Args)]
pub(crate) struct KvArgs {
    /// Mount the key-value store at /beta/kv: keys are the files of
    /// /beta/kv/local, /beta/kv/region and /beta/kv/global.
    #[arg(long)]
    kv: bool,

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

/// The library's key-value options for `args`: `None` without --kv.
pub(crate) fn kv_config(args: &KvArgs) -> Result<Option<KvConfig>> {
    if !args.kv {
        return Ok(None);
    }
    let store = match &args.kv_store {
        Some(path) => path.clone(),
        None => default_kv_store()
            .context("--kv: neither $XDG_DATA_HOME nor $HOME is set; give --kv-store PATH")?,
    };
    let mut config = KvConfig::new(store);
    config.namespace(&args.kv_namespace);
    if let Some(url) = &args.kv_redis {
        config.redis(url);
    }
    if let Some(url) = &args.kv_region {
        config.region(url);
    }
    if let Some(url) = &args.kv_global {
        config.global(url);
    }
    Ok(Some(config))
}

/// The options of Daku programs: modules importing `daku.ar` (spec/daku.md).
#[derive(Debug, Args)]
struct DakuArgs {
    /// Daku programs (modules importing `daku.ar`, see spec/daku.md):
    /// write their log (command 19) to this file instead of stderr.
    #[arg(long, value_name = "FILE")]
    daku_log: Option<PathBuf>,

    /// Daku programs: the directory their storage files (commands 40, 41)
    /// live in; without it storage is unsupported.
    #[arg(long, value_name = "DIR")]
    daku_storage: Option<PathBuf>,

    /// Daku programs: the directory their audio (WAV), framebuffer (PNG)
    /// and shared files go to; without it those are unsupported.
    #[arg(long, value_name = "DIR")]
    daku_output: Option<PathBuf>,

    /// Daku programs: the profile file their user setters write (default:
    /// $XDG_CONFIG_HOME/daku/profiles/MODULE.profile).
    #[arg(long, value_name = "FILE")]
    daku_profile: Option<PathBuf>,

    /// Daku programs: grant commands, comma-separated: `user` (user name,
    /// full name, languages), `spawn` (child tasks), `storage`, or `all`.
    #[arg(long, value_name = "LIST", default_value = "")]
    daku_allow: daku_abi::Grants,
}

/// `--runtime`: the engines' names, parsed into an [`Engine`].
pub(crate) fn engine_parser() -> impl TypedValueParser<Value = Engine> {
    PossibleValuesParser::new(Engine::ALL.map(Engine::name)).try_map(|name| name.parse::<Engine>())
}

/// Runs the module as `args` say, reports how it ended on stderr unless the
/// guest exited, and returns the exit code.
pub fn main(args: RunArgs) -> ExitCode {
    let module = args.module.clone().expect("clap requires MODULE");
    if let Some(timeout) = args.timeout {
        start_watchdog(module.clone(), timeout);
    }
    match run(&module, &args) {
        Ok(outcome) => {
            if !matches!(outcome, Outcome::Exit(_)) {
                report(&format!("{}: {outcome}", module.display()));
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(error) => {
            report(&format!("{error:#}"));
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

fn run(module: &Path, args: &RunArgs) -> Result<Outcome> {
    let module = Module::from_file(module)?;
    if daku_abi::is_daku_program(module.wasm()) {
        return daku(&module, args);
    }
    let runner = Runner::new(module, options(args)?)?;
    Ok(runner.run()?)
}

/// Runs a Daku program: the engine and limits of `args`, and its Daku options.
fn daku(module: &Module, args: &RunArgs) -> Result<Outcome> {
    // A Daku program has no arguments, environment, preopens or devices
    // (spec/daku.md §1): options giving it some are mistakes, not no-ops.
    let wasi_only = [
        ("--dir", !args.dirs.is_empty()),
        ("--env", !args.envs.is_empty()),
        ("--env-inherit", args.env_inherit),
        ("--listen", !args.listens.is_empty()),
        ("--dial", !args.dials.is_empty()),
        ("--device", !args.devices.is_empty()),
        ("--trace", args.trace || args.trace_file.is_some()),
        ("--kv", args.kv.kv),
        ("arguments after the module", !args.args.is_empty()),
    ];
    if let Some((option, _)) = wasi_only.iter().find(|(_, given)| *given) {
        anyhow::bail!(
            "{}: {option} does not apply to a Daku program (it imports daku.ar, not WASI)",
            module.path().display()
        );
    }
    let config = daku_abi::RuntimeConfig {
        fuel: args.fuel,
        max_memory: args.max_memory,
        timeout: args.timeout,
        max_functions: Some(args.max_functions),
        ..Default::default()
    };
    let daku = &args.daku;
    let options = daku_abi::DakuOptions {
        log: daku.daku_log.clone(),
        storage: daku.daku_storage.clone(),
        output: daku.daku_output.clone(),
        profile: daku.daku_profile.clone(),
        grants: daku.daku_allow,
        io: io_backend(args.io)?,
    };
    let cache = default_cache_dir().filter(|_| !args.no_cache);
    Ok(daku_abi::run_module(
        module,
        args.runtime,
        config,
        cache.as_deref(),
        options,
    )?)
}

/// The library's options for `args`.
fn options(args: &RunArgs) -> Result<RunOptions> {
    let mut options = RunOptions::new();
    options
        .args(&args.args)
        .inherit_env(args.env_inherit)
        .allow_resolve(args.allow_resolve)
        .allow_pseudo_fs(args.allow_pseudo_fs)
        .max_file_size(args.max_file_size)
        .io(io_backend(args.io)?)
        .report_denials(!args.quiet_denials)
        .engine(args.runtime)
        .fuel(args.fuel)
        .max_memory(args.max_memory)
        .timeout(args.timeout)
        .max_functions(Some(args.max_functions))
        .cache_dir(default_cache_dir().filter(|_| !args.no_cache))
        .devices(devices(args)?)
        .trace(match (&args.trace_file, args.trace) {
            (Some(path), _) => Trace::File(path.clone()),
            (None, true) => Trace::Stderr,
            (None, false) => Trace::Off,
        })
        .kv(kv_config(&args.kv)?);
    for pair in &args.envs {
        let pair = pair.as_bytes();
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            anyhow::bail!("--env {} is not KEY=VALUE", String::from_utf8_lossy(pair));
        };
        options.env(
            OsStr::from_bytes(&pair[..eq]),
            OsStr::from_bytes(&pair[eq + 1..]),
        );
    }
    for dir in &args.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        options.dir(host, guest);
    }
    for &addr in &args.listens {
        options.listen(addr);
    }
    for &addr in &args.dials {
        options.dial(addr);
    }
    for &rule in &args.allow_bind {
        options.allow_bind(rule);
    }
    for &rule in &args.allow_connect {
        options.allow_connect(rule);
    }
    Ok(options)
}

/// `--io`, else `$WASIRUN_IO`, else `auto`.
fn io_backend(flag: Option<IoBackend>) -> Result<IoBackend> {
    match (flag, std::env::var("WASIRUN_IO")) {
        (Some(io), _) => Ok(io),
        (None, Ok(name)) if !name.is_empty() => {
            name.parse().map_err(|err| anyhow!("WASIRUN_IO: {err}"))
        }
        (None, _) => Ok(IoBackend::Auto),
    }
}

/// The `--device` drivers, read, and `--allow-driver-loading`.
fn devices(args: &RunArgs) -> Result<Devices> {
    let mut devices = Devices::new();
    devices.allow_loading(args.allow_driver_loading);
    for device in &args.devices {
        let spec = DriverSpec::parse(device)
            .map_err(|_| anyhow!("--device {device} is not DRIVER[:KEY=VALUE,...]"))?;
        let module = Module::from_file(&spec.path).with_context(|| format!("--device {device}"))?;
        devices.driver(spec, module);
    }
    Ok(devices)
}

/// Ends the process with [`TIMEOUT_EXIT_CODE`] if the guest is still running
/// [`WATCHDOG_GRACE`] after `timeout`: the engines stop running guest code,
/// not a guest blocked in a host call (a read from a terminal, a long
/// `poll_oneoff`). The guest's standard streams are never left changed
/// (`spec/preview1.md`), so exiting from here loses nothing of ours.
fn start_watchdog(module: PathBuf, timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout + WATCHDOG_GRACE);
        report(&format!(
            "{}: {}",
            module.display(),
            Outcome::Timeout(timeout)
        ));
        std::process::exit(i32::from(TIMEOUT_EXIT_CODE));
    });
}

/// Parses a byte count: digits, optionally followed by `K`, `M`, `G` or
/// `T` (powers of 1024, with an optional `i`, `B` or `iB`).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let shift = match unit.trim_end_matches('B').trim_end_matches('i') {
        "" => 0,
        "K" | "k" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit `{unit}` (expected K, M, G or T)")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}
