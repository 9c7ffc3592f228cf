//! Daku programs (modules importing `daku.ar`, `spec/daku.md`): run by
//! `daku-host` on the chosen engine, what `wasirun run` does for a module
//! [`is_daku_program`](daku_host::is_daku_program) recognises.

use crate::{Engine, Module, RunError, WithRuntime};
use daku_host::{DakuError, DakuOptions};
use std::path::Path;
use wasi_core::outcome::Outcome;
use wasi_core::runtime::{Runtime, RuntimeConfig};

/// Runs the Daku program `module` on `engine` under `config` (wasmtime
/// caching compiled code, the program's and its child tasks', in
/// `cache_dir` when given), with `options`. Returns how it ended; a module
/// that is not a Daku program, or cannot be loaded, fails with
/// [`RunError::Daku`] naming it. `config.timeout` is the whole run's
/// (spec/daku.md §1.6): at its deadline the run ends with
/// [`Outcome::Timeout`], whatever the program and its child tasks are
/// running or waiting for, and every child is stopped.
pub fn run_daku(
    module: &Module,
    engine: Engine,
    config: RuntimeConfig,
    cache_dir: Option<&Path>,
    options: DakuOptions,
) -> Result<Outcome, RunError> {
    let load = |error: String| {
        RunError::Daku(DakuError::Load(format!(
            "{}: {error}",
            module.path().display()
        )))
    };
    // Before the engine is set up: a module beyond the limit is refused
    // without compiling anything.
    config
        .check_module(module.wasm())
        .map_err(|error| load(error.to_string()))?;
    engine
        .with_runtime(config, cache_dir, DakuRun { module, options })?
        .map_err(|error| match error {
            DakuError::Load(msg) => load(msg),
            other => RunError::Daku(other),
        })
}

/// A Daku run, generic over the engine.
struct DakuRun<'m> {
    module: &'m Module,
    options: DakuOptions,
}

impl WithRuntime for DakuRun<'_> {
    type Output = Result<Outcome, DakuError>;

    fn run<R: Runtime>(self, runtime: R) -> Self::Output {
        daku_host::run(
            &runtime,
            self.module.path(),
            self.module.wasm(),
            self.options,
        )
    }
}
