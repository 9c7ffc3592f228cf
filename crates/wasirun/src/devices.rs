//! WADI device drivers (`--device`, `--allow-driver-loading`): wraps the
//! guest's system in a [`Wadi`] decorator whose drivers run on the same
//! engine as the guest (spec/wadi.md).

use anyhow::{Context, Result, anyhow};
use wadi_devices::abi::DriverSpec;
use wadi_devices::{DriverData, HostFactory, Wadi};
use wasi_core::runtime::Runtime;
use wasi_unix::UnixSystem;

/// Builds the host system a driver's allowed WASI calls reach: the
/// process's clocks, randomness and stderr, and the directories its `dir=`
/// configuration names (preopened from descriptor 3, as `--dir`).
fn driver_host() -> HostFactory {
    Box::new(|spec: &DriverSpec| {
        let mut builder = UnixSystem::builder();
        builder.arg(spec.name());
        for (key, value) in &spec.config {
            builder.env(key, value);
        }
        for dir in spec.values("dir") {
            let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
            builder
                .preopen_dir(host, guest)
                .map_err(|e| format!("cannot preopen directory {host}: {e}"))?;
        }
        let system = builder.build().map_err(|e| e.to_string())?;
        Ok(Box::new(system) as Box<dyn wasi_core::System + Send>)
    })
}

/// Wraps `system` in WADI, loading the `--device` drivers on `runtime`
/// (which should have fuel: see `wadi_devices::abi::DRIVER_FUEL`).
pub fn wrap<R: Runtime + 'static>(
    system: UnixSystem,
    runtime: R,
    devices: &[String],
    allow_loading: bool,
) -> Result<Wadi<UnixSystem, R>>
where
    R::Instance<DriverData>: Send,
{
    let mut wadi = Wadi::new(system, runtime, driver_host())
        .map_err(|errno| anyhow!("cannot mount the WADI control file: {errno}"))?;
    wadi.allow_loading(allow_loading);
    for device in devices {
        let spec = DriverSpec::parse(device)
            .map_err(|_| anyhow!("--device {device} is not DRIVER[:KEY=VALUE,...]"))?;
        let wasm =
            crate::load_module(spec.path.as_ref()).with_context(|| format!("--device {device}"))?;
        wadi.load_driver(&spec, &wasm)
            .map_err(|failure| anyhow!("wadi: {failure}"))?;
    }
    Ok(wadi)
}
