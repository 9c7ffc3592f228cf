//! A differential fuzzer for the preview 1 host.
//!
//! It generates random sequences of preview 1 calls ([`generate`]) and runs each
//! on three hosts ([`hosts`]): our `UnixSystem` on wasmtime, the same on
//! wasmi, and wasmtime-wasi's preview 1 host, each in a fresh copy of the
//! same scratch tree ([`tree`]). One guest module ([`guest`]) serves every
//! sequence: it exports a trampoline per import, and the fuzzer calls them
//! one by one, writing each call's arguments into guest memory before it and
//! reading back after it what the call wrote ([`exec`]).
//!
//! The runs are compared call by call and at the end ([`compare`]): our two
//! engines must agree on everything; wasmtime-wasi must agree but for the
//! divergences listed in [`intended`]. Any host panic, any disagreement of
//! our engines, any change outside the sandbox and any unlisted divergence
//! from wasmtime-wasi is a failure: the sequence is shrunk ([`shrink`]) and
//! printed as a list of calls and as a WAT module that makes them.
//!
//! `cargo xtask fuzz [--seconds N] [--seed S]` runs it.

pub mod calls;
pub mod compare;
pub mod exec;
pub mod generate;
pub mod guest;
pub mod hosts;
pub mod intended;
pub mod model;
pub mod shrink;
pub mod tree;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use calls::Call;
use compare::{Failure, Verdict, view};
use exec::Run;
use hosts::{Engines, Kind};
use tree::Tree;

/// Runs sequences on the three hosts and compares them.
pub struct Fuzzer {
    engines: Engines,
    scratch: tempfile::TempDir,
    initial: Tree,
}

/// A sequence's runs and their comparison.
pub struct Checked {
    /// The runs, in [`Kind::ALL`] order.
    pub runs: [Run; 3],
    /// The comparison.
    pub verdict: Verdict,
}

impl Fuzzer {
    /// Compiles the guest and makes a scratch directory.
    pub fn new() -> Result<Self> {
        let scratch = tempfile::Builder::new()
            .prefix("wasi-difffuzz")
            .tempdir()
            .context("cannot create the scratch directory")?;
        let initial_dir = scratch.path().join("initial");
        std::fs::create_dir(&initial_dir)?;
        tree::create(&initial_dir)?;
        let initial = tree::snapshot(&initial_dir)?;
        std::fs::remove_dir_all(&initial_dir)?;
        Ok(Self {
            engines: Engines::new()?,
            scratch,
            initial,
        })
    }

    /// Runs `calls` on every host and compares the runs.
    pub fn check(&self, calls: &[Call]) -> Result<Checked> {
        let mut runs = Vec::with_capacity(3);
        for kind in Kind::ALL {
            let dir = self.scratch.path().join(kind.dir_name());
            runs.push(exec::run(&self.engines, kind, calls, &dir)?);
        }
        let runs: [Run; 3] = runs.try_into().expect("three runs");
        let verdict = compare::compare(calls, &runs, &self.initial);
        Ok(Checked { runs, verdict })
    }

    /// The failure of `calls`, if they fail (an error running them counts as
    /// a failure too, so that shrinking keeps such sequences).
    fn failure(&self, calls: &[Call]) -> Option<Failure> {
        match self.check(calls) {
            Ok(checked) => checked.verdict.failure,
            Err(err) => Some(Failure {
                signature: "error".to_owned(),
                call: None,
                message: format!("{err:#}"),
            }),
        }
    }
}

/// The sequence generated from `seed`: up to `max_calls` calls.
pub fn sequence(seed: u64, max_calls: usize) -> Vec<Call> {
    let mut rng = generate::Rng::new(seed);
    let len = rng.range(1, max_calls.max(1) as u64) as usize;
    generate::sequence(&mut rng, len)
}

/// How to fuzz.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stop starting sequences after this long.
    pub duration: Duration,
    /// Seed of the first sequence; sequence `k` uses `seed + k`.
    pub seed: u64,
    /// Stop after this many sequences.
    pub sequences: Option<u64>,
    /// Most calls in a sequence.
    pub max_calls: usize,
    /// Where to write the reproducer of a failure.
    pub out_dir: PathBuf,
    /// How long shrinking may take.
    pub shrink_budget: Duration,
}

/// Totals of a fuzzing run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Sequences run.
    pub sequences: u64,
    /// Calls made on each host.
    pub calls: u64,
    /// Calls compared with wasmtime-wasi (before any desynchronisation).
    pub compared: u64,
    /// Hits of each intended divergence.
    pub intended: BTreeMap<&'static str, u64>,
}

impl Stats {
    fn add(&mut self, calls: usize, verdict: &Verdict) {
        self.sequences += 1;
        self.calls += calls as u64;
        self.compared += verdict.desynced_at.map_or(calls, |i| i + 1) as u64;
        for (name, _) in &verdict.intended {
            *self.intended.entry(name).or_default() += 1;
        }
    }

    /// A summary for the end of a run.
    pub fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let mut text = format!(
            "{} sequences, {} calls on each of 3 hosts in {:.1} s ({:.0} sequences/s, {:.0} calls/s); \
             {} calls ({:.0}%) compared with wasmtime-wasi before a divergence that may leave it \
             in another state\n",
            self.sequences,
            self.calls,
            secs,
            self.sequences as f64 / secs,
            self.calls as f64 / secs,
            self.compared,
            100.0 * self.compared as f64 / self.calls.max(1) as f64,
        );
        for (name, count) in &self.intended {
            let _ = writeln!(text, "  intended divergence \"{name}\": {count}");
        }
        text
    }
}

/// Fuzzes as `options` say, printing progress and, on a failure, the shrunk
/// reproducer. Returns whether no failure was found.
pub fn run(options: &Options) -> Result<bool> {
    let fuzzer = Fuzzer::new()?;
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut last_report = start;
    println!(
        "difffuzz: seed {}, up to {} calls per sequence, for {} s",
        options.seed,
        options.max_calls,
        options.duration.as_secs()
    );
    for k in 0.. {
        if options.sequences.is_some_and(|n| k >= n)
            || (options.sequences.is_none() && start.elapsed() >= options.duration)
        {
            break;
        }
        let seed = options.seed.wrapping_add(k);
        let calls = sequence(seed, options.max_calls);
        let checked = fuzzer.check(&calls)?;
        stats.add(calls.len(), &checked.verdict);
        if let Some(failure) = checked.verdict.failure {
            println!("{}", stats.summary(start.elapsed()));
            report(&fuzzer, options, seed, calls, &failure)?;
            return Ok(false);
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            println!(
                "  {:>4.0} s: {} sequences, {} calls",
                start.elapsed().as_secs_f64(),
                stats.sequences,
                stats.calls
            );
        }
    }
    println!("{}", stats.summary(start.elapsed()));
    println!("no failure");
    Ok(true)
}

/// Shrinks a failing sequence and prints it.
fn report(
    fuzzer: &Fuzzer,
    options: &Options,
    seed: u64,
    calls: Vec<Call>,
    failure: &Failure,
) -> Result<()> {
    println!(
        "FAILURE in the sequence of seed {seed} ({} calls): {}",
        calls.len(),
        failure.message
    );
    let total = calls.len();
    let shrunk = shrink::shrink(calls, &failure.signature, options.shrink_budget, |c| {
        fuzzer.failure(c)
    });
    let checked = fuzzer.check(&shrunk)?;
    let failure = checked.verdict.failure.as_ref().unwrap_or(failure);
    println!("\nShrunk from {total} to {} calls:", shrunk.len());
    println!("{}\n", failure.message);
    let notes = describe(&shrunk, &checked);
    for (i, (call, note)) in shrunk.iter().zip(&notes).enumerate() {
        let marker = if failure.call == Some(i) { ">" } else { " " };
        println!("{marker}{:>3}. {call}", i + 1);
        for line in note.lines() {
            println!("        {line}");
        }
    }
    let wat = guest::reproducer(&shrunk, &notes);
    std::fs::create_dir_all(&options.out_dir)?;
    let base = options.out_dir.join(format!("failure-{seed}"));
    let wat_path = base.with_extension("wat");
    let tree_path = base.with_extension("sh");
    std::fs::write(&wat_path, &wat)?;
    std::fs::write(&tree_path, tree_script())?;
    println!("\nAs a module ({}):\n\n{wat}", wat_path.display());
    println!(
        "Run it on our host: sh {} DIR && wasirun --trace --dir DIR/root::/sandbox \
         --dir DIR/root/dir::/sandbox/dir {}",
        tree_path.display(),
        wat_path.display()
    );
    println!("Reproduce and shrink again: cargo xtask fuzz --seed {seed} -- --sequences 1");
    Ok(())
}

/// Each call's result on the hosts, one line per different result.
fn describe(calls: &[Call], checked: &Checked) -> Vec<String> {
    (0..calls.len())
        .map(|i| {
            let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
            for (kind, run) in Kind::ALL.iter().zip(&checked.runs) {
                let text = match run.results.get(i) {
                    Some(result) => match &result.outcome {
                        hosts::Outcome::Trap(message) => {
                            format!("{} ({message})", view(result, false))
                        }
                        _ => view(result, false).to_string(),
                    },
                    None => "not run".to_owned(),
                };
                match lines.iter_mut().find(|(t, _)| *t == text) {
                    Some((_, kinds)) => kinds.push(kind.name()),
                    None => lines.push((text, vec![kind.name()])),
                }
            }
            lines
                .into_iter()
                .map(|(text, kinds)| format!("{}: {text}", kinds.join(", ")))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// A shell script making the initial tree in the directory given as `$1`.
fn tree_script() -> String {
    format!(
        "#!/bin/sh\n# The difffuzz initial tree, in the directory given as argument.\n\
         set -e\nmkdir -p \"$1\"\ncd \"$1\"\n{}",
        tree::script()
    )
}

/// The default directory for reproducers: `difffuzz` in the target
/// directory (`$CARGO_TARGET_DIR`, relative to the workspace, or the
/// workspace's `target`) of the workspace holding `manifest_dir`.
pub fn default_out_dir(manifest_dir: &Path) -> PathBuf {
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("difffuzz")
}
