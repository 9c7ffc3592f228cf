//! `wasmtime-wasi-run`: runs a WASI preview 1 command on wasmtime's own
//! preview 1 host (`wasmtime-wasi`, `p1::add_to_linker_sync`), set up as the
//! benchmarks set it up. `cargo xtask yosys` runs a program on it and on
//! `wasirun` and compares what the two produce.
//!
//! The guest sees the same command line as under `wasirun` (the module path
//! as given, then the arguments), the preopens in the order given, no
//! environment variables, and this process's standard streams. Exit codes
//! follow `wasirun`'s: the guest's own, 134 after a trap, 2 when the module
//! cannot be loaded.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use wasmtime::Result;
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// Run a WASI preview 1 command on wasmtime-wasi.
#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// Preopen a host directory, as GUEST inside the module (default: the
    /// host path as given).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,

    /// The module to run: binary `.wasm` or text `.wat`.
    module: PathBuf,

    /// Arguments passed to the guest after its `argv[0]` (the module path).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Exit code for a trapping guest, as `wasirun`'s.
const TRAP_EXIT: u8 = 134;
/// Exit code when the module cannot be loaded, as `wasirun`'s.
const LOAD_EXIT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (pre, mut store) = match load(&cli) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("wasmtime-wasi-run: {error:#}");
            return ExitCode::from(LOAD_EXIT);
        }
    };
    let run = pre
        .instantiate(&mut store)
        .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
        .and_then(|start| start.call(&mut store, ()));
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<I32Exit>() {
            // The OS keeps the low 8 bits, as for a native process.
            Some(exit) => std::process::exit(exit.0),
            None => {
                eprintln!("wasmtime-wasi-run: {}: {error:#}", cli.module.display());
                ExitCode::from(TRAP_EXIT)
            }
        },
    }
}

/// Compiles and links the module, and sets up its WASI context.
fn load(cli: &Cli) -> Result<(InstancePre<WasiP1Ctx>, Store<WasiP1Ctx>)> {
    let engine = Engine::new(&Config::new())?;
    let module = Module::from_file(&engine, &cli.module)
        .with_context(|| format!("cannot load {}", cli.module.display()))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let pre = linker
        .instantiate_pre(&module)
        .with_context(|| format!("cannot link {}", cli.module.display()))?;
    let mut builder = WasiCtxBuilder::new();
    // Its fastest configuration, as in the benchmarks: file I/O on this
    // thread rather than on a blocking-task pool. Must come before the
    // preopens, which copy it.
    builder.allow_blocking_current_thread(true);
    builder.inherit_stdio();
    builder.arg(cli.module.to_string_lossy());
    builder.args(&cli.args);
    for dir in &cli.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        builder
            .preopened_dir(host, guest, FsPerms::ReadWrite)
            .with_context(|| format!("cannot preopen {host}"))?;
    }
    Ok((pre, Store::new(&engine, builder.build_p1())))
}
