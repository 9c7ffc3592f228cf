//! `wasirun serve`: the options mapped onto `wasi_runner::ServeOptions`.

use crate::run::{KvArgs, engine_parser, kv_config, parse_bytes};
use anyhow::{Result, bail};
use clap::Args;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wasi_runner::{
    ERROR_EXIT_CODE, Engine, Module, RunOptions, ServeConfig, ServeMode, ServeOptions, Server,
    default_cache_dir, report,
};

/// The options and arguments of `wasirun serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free one, printed on stderr).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// The WebAssembly engine.
    #[arg(long, default_value_t = Engine::Wasmtime, value_parser = engine_parser())]
    runtime: Engine,

    /// Run N long-lived instances that serve request after request (see
    /// spec/wasi-cloud.md, "Daemons") instead of one per request.
    #[arg(long, value_name = "N", conflicts_with = "wagi")]
    daemon: Option<usize>,

    /// Run a WAGI module: CGI variables in the environment, the body on
    /// stdin, a CGI response on stdout.
    #[arg(long)]
    wagi: bool,

    /// Instances running at once; further requests wait (default: twice
    /// the number of CPUs).
    #[arg(long, value_name = "N")]
    max_concurrency: Option<usize>,

    /// Time a request's instance has (`500ms`, `10s`, ...): past it the
    /// client gets 504, or an aborted response.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,

    /// The most linear memory an instance may have, in bytes (suffixes K,
    /// M, G); growing past it fails in the guest.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_memory: Option<u64>,

    /// The largest request body, in bytes (suffixes K, M, G): 413 past it.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, default_value = "128M")]
    max_body: u64,

    /// Time a client has to send a request head before its connection is
    /// closed.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    header_timeout: Duration,

    /// Do not log a line per request (method, path, status, µs) on stderr.
    #[arg(long)]
    quiet: bool,

    /// Preopen a host directory, as GUEST inside the module (default: the
    /// host path as given).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    envs: Vec<OsString>,

    /// Compile the module afresh instead of using wasmtime's cache of
    /// compiled modules.
    #[arg(long)]
    no_cache: bool,

    /// The key-value store at /beta/kv, shared by every instance.
    #[command(flatten)]
    kv: KvArgs,

    /// The handler module: binary `.wasm` or text `.wat`.
    module: PathBuf,
}

/// Serves until SIGTERM or SIGINT; exits 0 once the requests in flight
/// are answered.
pub fn main(args: ServeArgs) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&format!("{error:#}"));
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    let module = Module::from_file(&args.module)?;
    let mut options = RunOptions::new();
    options
        .engine(args.runtime)
        .max_memory(args.max_memory)
        .timeout(args.timeout)
        .report_denials(true)
        .cache_dir(default_cache_dir().filter(|_| !args.no_cache))
        .kv(kv_config(&args.kv)?);
    for pair in &args.envs {
        let pair = pair.as_bytes();
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            bail!("--env {} is not KEY=VALUE", String::from_utf8_lossy(pair));
        };
        options.env(
            std::ffi::OsStr::from_bytes(&pair[..eq]),
            std::ffi::OsStr::from_bytes(&pair[eq + 1..]),
        );
    }
    for dir in &args.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        options.dir(host, guest);
    }
    let mut http = ServeConfig {
        timeout: args.timeout,
        max_body: args.max_body,
        header_timeout: args.header_timeout,
        quiet: args.quiet,
        ..ServeConfig::default()
    };
    if let Some(n) = args.max_concurrency {
        http.max_concurrency = n.max(1);
    }
    let mode = match (args.daemon, args.wagi) {
        (Some(n), _) => ServeMode::Daemons(n.max(1)),
        (None, true) => ServeMode::Wagi,
        (None, false) => ServeMode::Functions,
    };
    let server = Server::bind(
        module,
        options,
        ServeOptions {
            addr: args.addr,
            mode,
            http,
        },
    )?;
    report(&format!(
        "serving {} on http://{}",
        args.module.display(),
        server.local_addr()
    ));
    server.run_until_signal()?;
    Ok(())
}
