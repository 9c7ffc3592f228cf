//! WADI device drivers: the guest's system wrapped in a [`Wadi`] decorator
//! whose drivers run on the guest's engine (spec/wadi.md).

use crate::error::RunError;
use crate::module::Module;
use crate::syntax::split_dir_spec;
use wadi_devices::driver_abi::DRIVER_FUEL;
use wadi_devices::driver_spec::DriverSpec;
use wadi_devices::{DriverData, HostFactory, Wadi, driver};
use wasi_core::mount::Mounts;
use wasi_core::runtime::{Runtime, RuntimeConfig};
use wasi_core::vfs::VirtualFds;
use wasi_unix::UnixSystem;

/// The limits drivers run under: [`DRIVER_FUEL`] per call, so that a
/// looping driver is stopped. Give the runtime passed to
/// [`Devices::mount`] this configuration.
pub const DRIVER_CONFIG: RuntimeConfig = RuntimeConfig {
    fuel_per_call: Some(DRIVER_FUEL),
    ..RuntimeConfig::new()
};

/// The WADI devices of a run: drivers to load before the guest starts, and
/// whether the guest may load more at run time by writing a driver path
/// (resolved in its own sandbox) to `/dev/wadi/driver`. Each driver is read
/// once, when added, and loaded afresh into every run.
#[derive(Clone, Debug, Default)]
pub struct Devices {
    drivers: Vec<(DriverSpec, Module)>,
    allow_loading: bool,
}

impl Devices {
    /// No drivers, and no loading at run time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a driver: `module`, configured by `spec` (whose path is only
    /// its name here: the module is already read).
    pub fn driver(&mut self, spec: DriverSpec, module: Module) -> &mut Self {
        self.drivers.push((spec, module));
        self
    }

    /// Lets the guest load drivers at run time (off by default).
    pub fn allow_loading(&mut self, allow: bool) -> &mut Self {
        self.allow_loading = allow;
        self
    }

    /// Whether there is nothing to mount: no driver, and no loading.
    pub(crate) fn is_empty(&self) -> bool {
        self.drivers.is_empty() && !self.allow_loading
    }

    /// Wraps `system`, the guest's mount layer, in WADI (whose scopes join
    /// its mounts) and loads the drivers on `runtime` (give it
    /// [`DRIVER_CONFIG`]). Each driver's host system is a [`UnixSystem`]
    /// with the driver's name as its argument, its configuration as its
    /// environment, and the directories its `dir=HOST[::GUEST]` entries
    /// name preopened. To load the same drivers into many guests, compile
    /// them once with [`prepare`](Self::prepare).
    pub fn mount<S: VirtualFds, R: Runtime>(
        &self,
        system: Mounts<S>,
        runtime: R,
    ) -> Result<Wadi<S, R>, RunError> {
        self.prepare(runtime)?.mount(system)
    }

    /// Compiles and links the drivers on `runtime` (give it
    /// [`DRIVER_CONFIG`]), once, for [`PreparedDevices::mount`].
    pub fn prepare<R: Runtime>(&self, runtime: R) -> Result<PreparedDevices<R>, RunError> {
        let drivers = self
            .drivers
            .iter()
            .map(|(spec, module)| {
                let prepared = driver::prepare(&runtime, module.wasm()?, spec);
                Ok((spec.clone(), prepared.map_err(RunError::Driver)?))
            })
            .collect::<Result<_, RunError>>()?;
        Ok(PreparedDevices {
            drivers,
            allow_loading: self.allow_loading,
            runtime,
        })
    }
}

/// [`Devices`] whose drivers are compiled and linked on the runtime `R`
/// ([`Devices::prepare`]): what a host loading them into many guests keeps.
pub struct PreparedDevices<R: Runtime> {
    drivers: Vec<(DriverSpec, R::Prepared<DriverData>)>,
    allow_loading: bool,
    runtime: R,
}

impl<R: Runtime> PreparedDevices<R> {
    /// [`Devices::mount`], with the drivers compiled before.
    pub fn mount<S: VirtualFds>(&self, system: Mounts<S>) -> Result<Wadi<S, R>, RunError> {
        let mut wadi = Wadi::new(system, self.runtime.clone(), driver_host())
            .map_err(RunError::WadiControl)?;
        wadi.allow_loading(self.allow_loading);
        for (spec, prepared) in &self.drivers {
            wadi.load_prepared_driver(spec, prepared)
                .map_err(RunError::Driver)?;
        }
        Ok(wadi)
    }
}

/// Builds the host system a driver's allowed WASI calls reach: the
/// process's clocks, randomness and stderr, and the directories its `dir=`
/// configuration names (preopened from descriptor 3).
fn driver_host() -> HostFactory {
    Box::new(|spec: &DriverSpec| {
        let mut builder = UnixSystem::builder();
        builder.arg(spec.name());
        for (key, value) in &spec.config {
            builder.env(key, value);
        }
        for dir in spec.values("dir") {
            let (host, guest) = split_dir_spec(dir);
            builder
                .preopen_dir(host, guest)
                .map_err(|e| format!("cannot preopen directory {host}: {e}"))?;
        }
        let system = builder.build().map_err(|e| e.to_string())?;
        Ok(Box::new(system) as Box<dyn wasi_core::System + Send>)
    })
}
