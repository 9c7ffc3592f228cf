//! Runs a WASI command module on both engines, from one read of the module,
//! with a time limit, and tells whether the two runs ended the same way.
//!
//! ```text
//! cargo run -p wasi-runner --example both_engines -- examples/hello.wat [ARGS]...
//! ```

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;
use wasi_runner::{ERROR_EXIT_CODE, Engine, Module, Outcome, RunError, RunOptions, Runner};

fn main() -> ExitCode {
    let mut argv = std::env::args_os().skip(1);
    let Some(path) = argv.next() else {
        eprintln!("usage: both_engines MODULE [ARGS]...");
        return ExitCode::from(ERROR_EXIT_CODE);
    };
    let guest_args: Vec<_> = argv.collect();
    match Module::from_file(path).and_then(|module| run_both(&module, &guest_args)) {
        Ok([wasmtime, wasmi]) if wasmtime == wasmi => ExitCode::from(wasmtime.exit_code()),
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(ERROR_EXIT_CODE)
        }
    }
}

/// Runs `module` on each engine in turn, printing how each run ended.
fn run_both(module: &Module, args: &[OsString]) -> Result<[Outcome; 2], RunError> {
    let [wasmtime, wasmi] = Engine::ALL.map(|engine| {
        let mut options = RunOptions::new();
        options
            .engine(engine)
            .args(args)
            .timeout(Some(Duration::from_secs(10)));
        // The module's bytes are shared, not read again.
        let outcome = Runner::new(module.clone(), options)?.run()?;
        eprintln!("{engine}: {outcome}");
        Ok::<_, RunError>(outcome)
    });
    Ok([wasmtime?, wasmi?])
}
