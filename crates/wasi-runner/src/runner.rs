//! Instantiating a module with its system and running `_start`.

use crate::{DRIVER_CONFIG, Engine, Module, Outcome, RunError, RunOptions};
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use wadi_devices::DriverData;
use wasi_cloud_fs::kv::KvDir;
use wasi_core::mount::Mounts;
use wasi_core::runtime::{CallError, Imports, Instance, LoadError, Runtime};
use wasi_core::vfs::VirtualFds;
use wasi_core::{System, Tracer};
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// The system a guest runs with, whatever decorators wrap it.
type GuestSystem = Box<dyn System + Send>;

/// A module and the options to run it with, set up once: the module checked
/// against the limits that apply before compiling, and the engine (and the
/// WADI drivers' engine) created. Each [`run`](Self::run) builds the guest
/// a fresh system and instance.
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
    options: RunOptions,
    runtimes: Runtimes,
    /// The key-value store mounted at [`KV_MOUNT`], when the options ask.
    kv: Option<Arc<KvDir>>,
}

/// Where the key-value store is mounted.
pub(crate) const KV_MOUNT: &str = "/beta/kv";

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("module", &self.module)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The engine runtimes of a runner: the guest's, and the drivers' when it
/// has devices.
enum Runtimes {
    Wasmtime {
        guest: WasmtimeRuntime,
        drivers: Option<WasmtimeRuntime>,
    },
    Wasmi {
        guest: WasmiRuntime,
        drivers: Option<WasmiRuntime>,
    },
}

impl Runner {
    /// Prepares to run `module` with `options`. Fails when the module is
    /// beyond a limit that applies before compiling
    /// ([`RunOptions::max_functions`]) or the engine cannot be set up.
    pub fn new(module: Module, options: RunOptions) -> Result<Self, RunError> {
        options
            .limits
            .check_module(module.wasm())
            .map_err(|source| RunError::Load {
                path: module.path().to_owned(),
                source,
            })?;
        let devices = !options.devices.is_empty();
        let runtimes = match options.engine {
            Engine::Wasmtime => Runtimes::Wasmtime {
                guest: options.wasmtime(options.limits)?,
                drivers: devices
                    .then(|| options.wasmtime(DRIVER_CONFIG))
                    .transpose()?,
            },
            Engine::Wasmi => Runtimes::Wasmi {
                guest: WasmiRuntime::new(options.limits),
                drivers: devices.then(|| WasmiRuntime::new(DRIVER_CONFIG)),
            },
        };
        let kv = match &options.kv {
            Some(config) => Some(Arc::new(config.build().map_err(RunError::Kv)?)),
            None => None,
        };
        Ok(Self {
            module,
            options,
            runtimes,
            kv,
        })
    }

    /// The module this runner runs.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Runs the module once: builds its system (preopening its directories
    /// and sockets), mounts its devices, instantiates it (running its start
    /// function) and calls `_start`.
    ///
    /// The guest's code ending the run, whether it exited, trapped or ran
    /// out of time, gives an [`Outcome`]; an error means it could not run.
    pub fn run(&self) -> Result<Outcome, RunError> {
        let system = self.options.system(self.module.path())?;
        let trace = self.options.trace.writer()?;
        match &self.runtimes {
            Runtimes::Wasmtime { guest, drivers } => {
                self.run_on(guest, drivers.as_ref(), system, trace)
            }
            Runtimes::Wasmi { guest, drivers } => {
                self.run_on(guest, drivers.as_ref(), system, trace)
            }
        }
    }

    /// Runs the module on `runtime`, with `system` wrapped in WADI (when
    /// the run has `drivers`) and traced (when it has a `trace`).
    fn run_on<R: Runtime + Clone + Send + 'static>(
        &self,
        runtime: &R,
        drivers: Option<&R>,
        system: UnixSystem,
        trace: Option<Box<dyn Write + Send>>,
    ) -> Result<Outcome, RunError>
    where
        R::Instance<DriverData>: Send,
    {
        let system = match drivers {
            Some(drivers) => {
                self.with_kv(self.options.devices.mount(system, drivers.clone())?, trace)?
            }
            None => self.with_kv(system, trace)?,
        };
        self.start(runtime, system)
    }

    /// `system` with the key-value store mounted (when the run has one),
    /// traced (when it has a `trace`).
    fn with_kv<S: VirtualFds + Send + 'static>(
        &self,
        system: S,
        trace: Option<Box<dyn Write + Send>>,
    ) -> Result<GuestSystem, RunError> {
        let Some(kv) = &self.kv else {
            return Ok(traced(system, trace));
        };
        let mut system = Mounts::new(system);
        system
            .mount(KV_MOUNT, kv.clone())
            .map_err(|errno| RunError::Kv(format!("cannot mount {KV_MOUNT}: {errno}")))?;
        Ok(traced(system, trace))
    }

    /// Instantiates the module on `runtime` with `system` serving its WASI
    /// imports, and calls its `_start`.
    fn start<R: Runtime>(&self, runtime: &R, system: GuestSystem) -> Result<Outcome, RunError> {
        let mut imports = Imports::new();
        imports.wasi(|system: &mut GuestSystem| -> &mut dyn System { &mut **system });
        let mut instance = match runtime.instantiate(self.module.wasm(), &imports, system) {
            Ok(instance) => instance,
            // The start function ran the guest's code: it ends the run as `_start` would.
            Err(LoadError::Start(error)) => return Ok(self.outcome(error)),
            Err(source) => {
                return Err(RunError::Load {
                    path: self.module.path().to_owned(),
                    source,
                });
            }
        };
        match instance.call("_start", &[], &mut []) {
            Ok(()) => Ok(Outcome::Exit(0)),
            Err(CallError::NoSuchExport(_) | CallError::Signature(_)) => Err(RunError::NoStart {
                path: self.module.path().to_owned(),
            }),
            Err(error) => Ok(self.outcome(error)),
        }
    }

    /// How a run whose guest code stopped with `error` ended.
    fn outcome(&self, error: CallError) -> Outcome {
        match error {
            CallError::Exit(code) => Outcome::Exit(code),
            CallError::Timeout => Outcome::Timeout(self.options.limits.timeout.unwrap_or_default()),
            error => Outcome::Trap(error),
        }
    }
}

/// `system`, logging every call to `trace` when it is given.
fn traced<S: System + Send + 'static>(
    system: S,
    trace: Option<Box<dyn Write + Send>>,
) -> GuestSystem {
    match trace {
        Some(writer) => Box::new(Tracer::new(system, writer)),
        None => Box::new(system),
    }
}
