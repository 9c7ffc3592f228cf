//! Running a Daku program on the runtime an embedder hands in: [`run`] to
//! its end, or [`Program`] to call its exports.

use crate::children;
use crate::error::DakuError;
use crate::family::TaskParts;
use crate::loader::{TaskEnd, check_imports, daku_imports, run_task};
use crate::options::DakuOptions;
use crate::run_state::RunState;
use crate::task::Task;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use wasi_core::outcome::Outcome;
use wasi_core::runtime::{CallError, Instance, Prepared, Runtime, Val};

/// Runs the Daku program `wasm` (binary) on `runtime`, under its limits
/// ([`Runtime::config`]); `module` names it (for its default profile
/// path). Child tasks run on a runtime derived from `runtime`
/// ([`Runtime::with_config`], made interruptible) at the first spawn,
/// each distinct child module compiled once per run. Returns how the
/// program ended; child tasks it leaves running are stopped (spec §5,
/// command 17). The runtime's time limit is the run's (spec §1.6): at
/// its deadline the run ends with [`Outcome::Timeout`], whatever its
/// tasks are doing or waiting for.
pub fn run<R: Runtime>(
    runtime: &R,
    module: &Path,
    wasm: &[u8],
    options: DakuOptions,
) -> Result<Outcome, DakuError> {
    let task = checked_main_task(runtime, module, wasm, options)?;
    match run_task(runtime, wasm, task).map_err(DakuError::Load)? {
        TaskEnd::Exit(code) => Ok(Outcome::Exit(code)),
        TaskEnd::Trap(error) => Ok(Outcome::from_call(error, runtime.config().timeout)),
        TaskEnd::Stopped => Ok(Outcome::Exit(0)),
    }
}

/// The main task of a run of the Daku program `wasm` (its imports checked
/// first) on `runtime`, with `options`, named by `module`.
fn checked_main_task<R: Runtime>(
    runtime: &R,
    module: &Path,
    wasm: &[u8],
    options: DakuOptions,
) -> Result<Task, DakuError> {
    check_imports(wasm).map_err(DakuError::Load)?;
    let log = open_log(&options)?;
    let run = RunState::new(
        runtime.engine_name(),
        runtime.config().timeout,
        module,
        options,
        log,
    );
    Ok(main_task(runtime, run))
}

/// The main task of `run` on `runtime`, its children spawned on a runtime
/// derived from it.
pub(crate) fn main_task<R: Runtime>(runtime: &R, run: Arc<RunState>) -> Task {
    Task::new(TaskParts::main(run, children::spawner(runtime)))
}

/// Where the log of a run with `options` goes: its file, created or
/// truncated, or stderr.
fn open_log(options: &DakuOptions) -> Result<Box<dyn Write + Send>, DakuError> {
    Ok(match &options.log {
        Some(path) => Box::new(File::create(path).map_err(|source| DakuError::Io {
            what: format!("--daku-log {}", path.display()),
            source,
        })?),
        None => Box::new(io::stderr()),
    })
}

/// A Daku program instantiated (its start function run) but not started:
/// for embedders and benchmarks that call its exports themselves rather
/// than its entry point. Its `ar` calls behave as in a run.
pub struct Program {
    instance: Box<dyn Instance<Task> + Send>,
}

impl Program {
    /// Instantiates the Daku program `wasm` on `runtime` (its child tasks
    /// run under the same limits, as in [`run`]), with `options`; `module`
    /// names it as in [`run`].
    pub fn instantiate<R: Runtime>(
        runtime: &R,
        module: &Path,
        wasm: &[u8],
        options: DakuOptions,
    ) -> Result<Self, DakuError> {
        let task = checked_main_task(runtime, module, wasm, options)?;
        let prepared = runtime
            .prepare(wasm, &daku_imports())
            .map_err(|e| DakuError::Load(e.to_string()))?;
        task.start_clock();
        let instance = prepared
            .instantiate(task)
            .map_err(|e| DakuError::Load(e.to_string()))?;
        Ok(Program {
            instance: Box::new(instance),
        })
    }

    /// Calls the export `name`; `results` has one slot per result. A call
    /// that exits through `ar` fails with [`CallError::Exit`], one that
    /// `ar` ended at the run's deadline (spec §1.6) with
    /// [`CallError::Timeout`].
    pub fn call(&mut self, name: &str, args: &[Val], results: &mut [Val]) -> Result<(), CallError> {
        let result = self.instance.call(name, args, results);
        let task = self.instance.data();
        match task.exit_code() {
            Some(code) if result.is_err() => Err(CallError::Exit(code)),
            _ if result.is_err() && task.timed_out() => Err(CallError::Timeout),
            _ => result,
        }
    }
}
