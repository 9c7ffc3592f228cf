//! `wasi-difffuzz`: the differential fuzzer's command line (run it with
//! `cargo xtask fuzz`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

/// Runs random preview 1 call sequences on our host (wasmtime and wasmi)
/// and on wasmtime-wasi, and reports the first unintended divergence.
#[derive(Debug, Parser)]
#[command(name = "wasi-difffuzz")]
struct Cli {
    /// Start no new sequence after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the first sequence (sequence k uses seed + k); random by
    /// default, and printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Stop after this many sequences (whatever --seconds says).
    #[arg(long)]
    sequences: Option<u64>,
    /// Most calls in one sequence.
    #[arg(long, default_value_t = 40)]
    max_calls: usize,
    /// Where to write the reproducer of a failure (default: the
    /// workspace's target/difffuzz).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds shrinking a failure may take.
    #[arg(long, default_value_t = 120)]
    shrink_seconds: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        now.as_secs() ^ u64::from(now.subsec_nanos()) << 20
    });
    let options = wasi_difffuzz::Options {
        duration: Duration::from_secs(cli.seconds),
        seed,
        sequences: cli.sequences,
        max_calls: cli.max_calls,
        out_dir: cli
            .out
            .unwrap_or_else(|| wasi_difffuzz::default_out_dir(env!("CARGO_MANIFEST_DIR").as_ref())),
        shrink_budget: Duration::from_secs(cli.shrink_seconds),
    };
    match wasi_difffuzz::run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
