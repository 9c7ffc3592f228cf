//! Builds the executables the tasks run, as `cargo test --workspace` builds
//! them.
//!
//! Cargo enables a dependency's features for the packages a command selects,
//! and dev-dependencies' only when it builds tests. `cargo build -p wasirun`
//! would therefore build wasmtime, Cranelift and most crates under them a
//! second time, with other features than `cargo test --workspace` does
//! (wasmtime-wasi, which the benchmarks and the fuzzer use, turns on
//! wasmtime's `component-model` and `async`; dev-dependencies add features
//! of serde, syn, rustix...): about four minutes on two cores. `cargo test
//! --workspace --no-run` builds the very binaries the tests use, so after
//! `cargo test --workspace` it compiles nothing.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Builds the workspace's tests and returns the paths of the executables
/// (binary targets) named `names`, in that order.
pub fn test_build(names: &[&str]) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building {} (cargo test --workspace --no-run)...",
        names.join(", ")
    );
    let mut child = Command::new(cargo)
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(crate::workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let mut found: Vec<Option<PathBuf>> = vec![None; names.len()];
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        // The executable itself, not the harness of its unit tests.
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != false {
            continue;
        }
        let (Some(name), Some(path)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        if let Some(i) = names.iter().position(|wanted| *wanted == name) {
            found[i] = Some(PathBuf::from(path));
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo test --workspace --no-run failed ({status})");
    }
    names
        .iter()
        .zip(found)
        .map(|(name, path)| path.with_context(|| format!("cargo did not build {name}")))
        .collect()
}
