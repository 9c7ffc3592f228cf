//! Daku programs (modules importing `daku.ar`, `spec/daku.md`): run by
//! `daku-host` on the chosen engine, what `wasirun run` does for a module
//! [`is_daku_program`](daku_host::is_daku_program) recognises.

use crate::{Module, RunError, RunOptions, WithRuntime};
use daku_host::{DakuError, DakuOptions};
use wasi_core::outcome::Outcome;
use wasi_core::runtime::Runtime;

/// Runs the Daku program `module` with `options`, on the engine and under
/// the limits of `run` (its [`engine`](RunOptions::engine), the limits of
/// its `RuntimeConfig`, wasmtime caching compiled code, the program's and
/// its child tasks', in its [`cache_dir`](RunOptions::cache_dir)). What
/// else `run` holds (preopens, environment, sockets, devices) a Daku
/// program has no use for: callers refuse it (spec/daku.md §9).
///
/// The run gets one budget of host memory, made here from `run`
/// ([`RunOptions::host_budget`]: its
/// [`max_host_memory`](RunOptions::max_host_memory), else its
/// `max_memory`, else 64 MiB) and shared by the program and all its child
/// tasks (spec/daku.md §1.7); it replaces `options.budget`. Its count of
/// descriptors (§1.8), of `run`'s [`max_fds`](RunOptions::max_fds),
/// replaces `options.fds`.
///
/// Returns how the program ended; a module that is not a Daku program, or
/// cannot be loaded, fails with [`RunError::Daku`] naming it. The run's
/// time limit is the whole run's (spec/daku.md §1.6): at its deadline the
/// run ends with [`Outcome::Timeout`], whatever the program and its child
/// tasks are running or waiting for, and every child is stopped.
pub fn run_daku(
    module: &Module,
    run: &RunOptions,
    mut options: DakuOptions,
) -> Result<Outcome, RunError> {
    let load = |error: String| {
        RunError::Daku(DakuError::Load(format!(
            "{}: {error}",
            module.path().display()
        )))
    };
    // Before the engine is set up: a module beyond the limit is refused
    // without compiling anything.
    let config = run.limits;
    config
        .check_module(module.head())
        .map_err(|error| load(error.to_string()))?;
    options.budget = run.host_budget();
    options.fds = daku_host::FdPool::with_share(run.max_fds);
    run.engine
        .with_runtime(
            config,
            run.cache_dir.as_deref(),
            DakuRun { module, options },
        )?
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
        let wasm = self.module.wasm().map_err(|error| match error {
            RunError::Read { source, .. } => {
                DakuError::Load(format!("cannot read the module: {source}"))
            }
            other => DakuError::Load(other.to_string()),
        })?;
        daku_host::run(&runtime, self.module.path(), wasm, self.options)
    }
}
