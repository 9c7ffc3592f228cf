//! Instantiating a module with its system and running `_start`.

use crate::options::GuestSystem;
use crate::stack::Stack;
use crate::{Module, Outcome, RunError, RunOptions, WithRuntime};
use std::fmt;
use std::sync::Arc;
use wasi_core::runtime::{CallError, Instance, LoadError, Prepared, Runtime};

/// A module and the options to run it with, set up once: the module checked
/// against the limits that apply before compiling, the engine chosen and
/// the module compiled and linked, the guest's stack set up
/// (directories opened, the key-value store opened, the drivers' engine
/// made). Each [`run`](Self::run) builds the guest a fresh system and
/// instance.
///
/// ```no_run
/// use wasi_runner::{Module, RunOptions, Runner};
///
/// # fn main() -> Result<(), wasi_runner::RunError> {
/// let mut options = RunOptions::new();
/// options.arg("--verbose").dir(".", "/work");
/// let runner = Runner::new(Module::from_file("app.wasm")?, options)?;
/// let outcome = runner.run()?;
/// std::process::exit(outcome.exit_code().into());
/// # }
/// ```
pub struct Runner {
    module: Module,
    /// The module prepared on the chosen engine, with its stack.
    command: Box<dyn RunCommand>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Prepares to run `module` with `options`: fails when the module is
    /// beyond a limit that applies before compiling
    /// ([`RunOptions::max_functions`]), cannot be compiled or linked, or
    /// what the options ask for cannot be set up.
    pub fn new(module: Module, options: RunOptions) -> Result<Self, RunError> {
        let load = |source| RunError::Load {
            path: module.path().to_owned(),
            source,
        };
        options.limits.check_module(module.wasm()).map_err(load)?;
        let (engine, limits, cache_dir) =
            (options.engine, options.limits, options.cache_dir.clone());
        let setup = Setup {
            module: &module,
            options: Arc::new(options),
        };
        let command = engine.with_runtime(limits, cache_dir.as_deref(), setup)??;
        Ok(Self { module, command })
    }

    /// The module this runner runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Runs the module once: builds its system (the stack of the crate's
    /// documentation), instantiates it (running its start function) and
    /// calls `_start`.
    ///
    /// The guest's code ending the run, whether it exited, trapped or ran
    /// out of time, gives an [`Outcome`]; an error means it could not run.
    pub fn run(&self) -> Result<Outcome, RunError> {
        self.command.run(&self.module)
    }
}

/// Preparing a command on the chosen engine ([`WithRuntime`]).
struct Setup<'a> {
    module: &'a Module,
    options: Arc<RunOptions>,
}

impl WithRuntime for Setup<'_> {
    type Output = Result<Box<dyn RunCommand>, RunError>;

    fn run<R: Runtime>(self, runtime: R) -> Self::Output {
        let stack = Stack::new(self.options, self.module.path(), &runtime)?;
        let prepared = runtime
            .prepare(self.module.wasm(), stack.imports())
            .map_err(|source| RunError::Load {
                path: self.module.path().to_owned(),
                source,
            })?;
        Ok(Box::new(Command::<R> { stack, prepared }))
    }
}

/// A command prepared on some engine: what [`Runner`] keeps, the engine
/// erased.
trait RunCommand: Send + Sync {
    fn run(&self, module: &Module) -> Result<Outcome, RunError>;
}

/// A command prepared on the runtime `R`, with the stack its guests get.
struct Command<R: Runtime> {
    stack: Stack<R>,
    prepared: R::Prepared<GuestSystem>,
}

impl<R: Runtime> RunCommand for Command<R> {
    fn run(&self, module: &Module) -> Result<Outcome, RunError> {
        let options = self.stack.options();
        let system = self.stack.builder()?.build().map_err(RunError::System)?;
        let system = self.stack.assemble(system, options.trace.writer()?)?;
        let outcome = |error| Outcome::from_call(error, options.limits.timeout);
        let mut instance = match self.prepared.instantiate(system) {
            Ok(instance) => instance,
            // The start function ran the guest's code: it ends the run as `_start` would.
            Err(LoadError::Start(error)) => return Ok(outcome(error)),
            Err(source) => {
                return Err(RunError::Load {
                    path: module.path().to_owned(),
                    source,
                });
            }
        };
        match instance.call("_start", &[], &mut []) {
            Ok(()) => Ok(Outcome::Exit(0)),
            Err(CallError::NoSuchExport(_) | CallError::Signature(_)) => Err(RunError::NoStart {
                path: module.path().to_owned(),
            }),
            Err(error) => Ok(outcome(error)),
        }
    }
}
