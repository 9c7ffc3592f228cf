//! `cargo xtask fuzz [--seconds N] [--seed S] [-- FUZZER ARGS]`: runs the
//! differential fuzzer (`fuzz/`, the `wasi-difffuzz` crate), and writes the
//! reproducer of a failure to `target/difffuzz/`.
//!
//! The fuzzer is built the way `cargo test --workspace` builds it (its
//! binary is part of that build, for its integration tests): the dev
//! profile, with the features the whole workspace resolves to. A plain
//! `cargo run -p wasi-difffuzz` would resolve features for that one package
//! (`serde` without its `default` feature, for one) and so build wasmtime a
//! second time; this way, after CI's test step, nothing is compiled.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Start no new sequence after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the first sequence (random by default, and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Further arguments for the fuzzer: `--sequences N`, `--max-calls N`,
    /// `--shrink-seconds N`, `--out DIR` (`-- --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Builds and runs the fuzzer; returns whether it found no failure.
pub fn run(root: &Path, options: &Options) -> Result<bool> {
    let fuzzer = build(root)?;
    let mut command = Command::new(&fuzzer);
    command
        .current_dir(root)
        .args(["--seconds", &options.seconds.to_string()]);
    if let Some(seed) = options.seed {
        command.args(["--seed", &seed.to_string()]);
    }
    let status = command
        .args(&options.args)
        .status()
        .with_context(|| format!("running {}", fuzzer.display()))?;
    Ok(status.success())
}

/// Builds the fuzzer as `cargo test --workspace` does and returns the path
/// of its binary.
fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["test", "--workspace", "--test", "seeds", "--no-run"])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("building the fuzzer failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|message| {
            let target = &message["target"];
            let is_fuzzer = message["reason"] == "compiler-artifact"
                && target["name"] == "wasi-difffuzz"
                && target["kind"].as_array()?.iter().any(|k| k == "bin");
            let executable = message["executable"].as_str()?;
            is_fuzzer.then(|| PathBuf::from(executable))
        })
        .context("cargo built no wasi-difffuzz binary")
}
