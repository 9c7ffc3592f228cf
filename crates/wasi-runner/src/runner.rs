//! Instantiating a module with its system and calling its entry points.

use crate::entry::EntryPoints;
use crate::options::GuestSystem;
use crate::stack::Stack;
use crate::{Module, Outcome, RunError, RunOptions, WithRuntime};
use std::fmt;
use std::sync::Arc;
use wasi_core::runtime::{LoadError, Prepared, Runtime, Val};

/// A module and the options to run it with, set up once: the module checked
/// against the limits that apply before compiling, the engine chosen and
/// the module compiled and linked, its entry points checked against its
/// exports (`spec/preview1.md`, "Entry points"), the guest's stack set up
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
    /// ([`RunOptions::max_functions`]), cannot be compiled or linked, has
    /// no entry point or one that cannot be called with the arguments
    /// given ([`RunError::NoEntryPoint`], [`RunError::Entry`]), or what the
    /// options ask for cannot be set up.
    pub fn new(module: Module, options: RunOptions) -> Result<Self, RunError> {
        let load = |source| RunError::Load {
            path: module.path().to_owned(),
            source,
        };
        options.limits.check_module(module.head()).map_err(load)?;
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
    /// calls its entry points: `_initialize` if exported, then the main
    /// function (`_start`, the default export, or the function
    /// [`RunOptions::invoke`] names).
    ///
    /// The guest's code ending the run, whether it exited, returned,
    /// trapped or ran out of time, gives an [`Outcome`]; an error means it
    /// could not run. What the main function returned is dropped:
    /// [`run_with_results`](Self::run_with_results) returns it.
    pub fn run(&self) -> Result<Outcome, RunError> {
        Ok(self.run_with_results()?.0)
    }

    /// [`run`](Self::run), and the main function's results: empty unless
    /// it returned values (a `_start` returns none), which `wasirun`
    /// prints one per line (`Val`'s `Display`).
    pub fn run_with_results(&self) -> Result<(Outcome, Vec<Val>), RunError> {
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
        let prepared = self
            .module
            .prepare(&runtime, stack.imports())
            .map_err(|source| RunError::Load {
                path: self.module.path().to_owned(),
                source,
            })?;
        let options = stack.options();
        let entry = EntryPoints::new(
            self.module.path(),
            |name| prepared.export(name),
            options.invoke.as_deref(),
            &options.args,
        )?;
        Ok(Box::new(Command::<R> {
            stack,
            prepared,
            entry,
        }))
    }
}

/// A command prepared on some engine: what [`Runner`] keeps, the engine
/// erased.
trait RunCommand: Send + Sync {
    fn run(&self, module: &Module) -> Result<(Outcome, Vec<Val>), RunError>;
}

/// A command prepared on the runtime `R`, with the stack its guests get and
/// the entry points it calls.
struct Command<R: Runtime> {
    stack: Stack<R>,
    prepared: R::Prepared<GuestSystem>,
    entry: EntryPoints,
}

impl<R: Runtime> RunCommand for Command<R> {
    fn run(&self, module: &Module) -> Result<(Outcome, Vec<Val>), RunError> {
        let options = self.stack.options();
        let system = self.stack.builder()?.build().map_err(RunError::System)?;
        let system = self.stack.assemble(system, options.trace.writer()?)?;
        let outcome = |error| Outcome::from_call(error, options.limits.timeout);
        let mut instance = match self.prepared.instantiate(system) {
            Ok(instance) => instance,
            // The start function ran the guest's code: it ends the run as the
            // main function would.
            Err(LoadError::Start(error)) => return Ok((outcome(error), Vec::new())),
            Err(source) => {
                return Err(RunError::Load {
                    path: module.path().to_owned(),
                    source,
                });
            }
        };
        // The entry points were checked against the module's exports: a
        // call fails only as the guest's code ends it.
        Ok(match self.entry.call(&mut instance) {
            Ok(results) => (Outcome::Exit(0), results),
            Err(error) => (outcome(error), Vec::new()),
        })
    }
}
