//! `wasirun`: run WebAssembly modules that use WASI preview 1.
//!
//! The command line is `clap`'s; what a command does is `wasi-runner`'s.
//! Each command is a module with its arguments and the function that runs
//! it.

mod guest;
mod info;
mod run;
mod serve;
mod water;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Run WebAssembly modules that use WASI preview 1, on wasmtime or wasmi.
///
/// Without a command, `wasirun [OPTIONS] MODULE [ARGS]...` is `wasirun run
/// [OPTIONS] MODULE [ARGS]...`.
#[derive(Debug, Parser)]
#[command(
    version,
    // Options before any command make it `run`'s, and `run`'s module
    // argument is only required when no command is given.
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: run::RunArgs,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a WASI command or reactor module (`.wasm` or `.wat`): the
    /// default command.
    ///
    /// The module's `_initialize` runs first if it exports one, then its
    /// default export `""`, else its `_start`, or the function --invoke
    /// names, as wasmtime runs them (spec/preview1.md, "Entry points").
    /// The guest's exit code becomes this process's exit code. A trap
    /// (running out of --fuel included) exits with code 134 after printing
    /// the trap to stderr; running past --timeout exits with code 124, as
    /// timeout(1); a module that cannot be loaded exits with code 2.
    Run(run::RunArgs),

    /// Serve TCP connections through a WATER v0 transport module
    /// (spec/watm-v0.md): `relay`, `dial` or `listen`.
    ///
    /// Runs until SIGINT or SIGTERM, then cancels the connections' workers
    /// and exits 0. A module that fails validation exits with code 2 and
    /// the reason; the module's stdout and stderr go to stderr, each line
    /// prefixed with `watm: `.
    Water(water::WaterArgs),

    /// Serve HTTP with a handler module (spec/wasi-cloud.md, "HTTP
    /// functions"): a fresh instance per request reads /request/txt or
    /// /request/json and writes /response/txt or /response/json; --daemon N
    /// keeps N instances serving request after request; --wagi runs WAGI
    /// (CGI) modules.
    ///
    /// Runs until SIGTERM or SIGINT, then answers the requests in flight and
    /// exits 0. A module that cannot be loaded exits with code 2.
    Serve(serve::ServeArgs),

    /// Print what this host will use on this machine: the kernel, whether
    /// guest paths are resolved by openat2 or walked in user space, whether
    /// io_uring is used, the descriptor limit. Worth pasting into a bug
    /// report.
    Info(info::InfoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => run::main(args),
        Command::Water(args) => water::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Info(args) => info::main(args),
    }
}
