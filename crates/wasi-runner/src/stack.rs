//! The one place a guest is assembled, whatever runs it: a command
//! ([`Runner`](crate::Runner)), an HTTP function, daemon or WAGI module
//! ([`Server`](crate::Server)), or a guest a host instantiates itself, such
//! as a WATER transport module ([`GuestSystems`]). (A Daku program has no
//! WASI system: its engine and limits come from the runner, its options
//! from `daku-host`.)
//!
//! The stack, from the host up (the order is part of the API: an
//! embedder's hooks see what is beneath them, and the tracer sees what the
//! guest sees):
//!
//! 1. [`UnixSystem`]: the guest's arguments, environment and stdio, its
//!    preopened directories (opened once, reopened per guest) and sockets,
//!    its network rules and limits ([`RunOptions`]): among them its cap on
//!    descriptors ([`RunOptions::max_fds`]; its host descriptors counted
//!    with every other guest's of the process, in
//!    [`FdPool::process`](wasi_unix::FdPool::process)) and its budget of
//!    host memory, made here for each guest ([`RunOptions::host_budget`])
//!    and reached by every layer above through the system
//!    ([`VirtualFds::host_budget`]: the mounts' files get it when opened,
//!    WADI charges its drivers' memories, a WATER host its copy buffers).
//! 2. One [`Mounts`] layer, into which every part of the namespace is
//!    mounted, so that listing a directory shows all of them, in this
//!    order (which numbers the virtual preopens they bring): WADI's control
//!    file and device scopes, the mode's own files (`/request` and
//!    `/response` for HTTP functions), the key-value store at `/beta/kv`
//!    ([`RunOptions::kv`]), the embedder's mounts ([`RunOptions::mount`],
//!    in the order given). Without any mount the layer is left out.
//! 3. [`Wadi`](wadi_devices::Wadi), when the guest has devices
//!    ([`RunOptions::devices`]).
//! 4. The embedder's decorators ([`RunOptions::wrap`]), each around the
//!    one before.
//! 5. The [`Tracer`], when the run traces ([`RunOptions::trace`]).
//!
//! The imports are `wasi_snapshot_preview1`, served by that stack, and the
//! embedder's host functions ([`RunOptions::import`]).

use crate::devices::{DRIVER_CONFIG, PreparedDevices};
use crate::engine::EngineError;
use crate::error::RunError;
use crate::options::{GuestSystem, RunOptions};
use crate::trace::SharedTrace;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use wasi_cloud_fs::kv::KvDir;
use wasi_core::mount::Mounts;
use wasi_core::runtime::{Imports, Runtime, RuntimeConfig};
use wasi_core::system::Decorator;
use wasi_core::vfs::VirtualFds;
use wasi_core::{System, Tracer};
use wasi_unix::{Builder, PreopenDir, UnixSystem};

/// Where the key-value store is mounted.
pub(crate) const KV_MOUNT: &str = "/beta/kv";

/// What every guest of a runner or server is built from, set up once: the
/// options, the directories opened, the key-value store opened, the
/// drivers compiled, the imports listed.
pub(crate) struct Stack<R: Runtime> {
    options: Arc<RunOptions>,
    /// The guest's `argv[0]`: the module's path.
    argv0: Arc<Path>,
    /// The `--dir` directories, opened once (so a bad one fails before any
    /// guest runs); each guest gets them reopened.
    dirs: Vec<(PreopenDir, String)>,
    /// The key-value store, shared by every guest.
    kv: Option<Arc<KvDir>>,
    /// The guests' WADI drivers, compiled once on the drivers' runtime,
    /// when they have devices.
    devices: Option<PreparedDevices<R>>,
    imports: Imports<GuestSystem>,
}

impl<R: Runtime> Stack<R> {
    /// Sets up the stack of guests running on `runtime` (whose engine the
    /// drivers share) for the module at `argv0`.
    pub(crate) fn new(
        options: Arc<RunOptions>,
        argv0: &Path,
        runtime: &R,
    ) -> Result<Self, RunError> {
        let kv = match &options.kv {
            Some(config) => Some(Arc::new(config.build().map_err(RunError::Kv)?)),
            None => None,
        };
        Self::with_kv(options, argv0, runtime, kv)
    }

    /// As [`new`](Self::new), the key-value store (if the options have
    /// one) being `kv`, another stack's: a store is opened once per
    /// process (redb refuses a second open).
    pub(crate) fn with_kv(
        options: Arc<RunOptions>,
        argv0: &Path,
        runtime: &R,
        kv: Option<Arc<KvDir>>,
    ) -> Result<Self, RunError> {
        // Once per process, whatever the mode: the guests' share of the
        // descriptors is taken from the raised limit (spec/preview1.md,
        // "File descriptors").
        wasi_unix::raise_nofile_limit();
        let dirs = options.open_dirs()?;
        let devices = if options.devices.is_empty() {
            None
        } else {
            // A driver runs under the application's memory and function
            // limits, with fuel of its own per call (spec/wadi.md §3).
            let config = runtime.config();
            let drivers = runtime
                .with_config(RuntimeConfig {
                    max_memory: config.max_memory,
                    max_functions: config.max_functions,
                    ..DRIVER_CONFIG
                })
                .map_err(|error| EngineError {
                    // The runtime's engine (an embedder's runtime may not
                    // be the options' engine), named as the options name it
                    // when it is neither of ours.
                    engine: runtime.engine_name().parse().unwrap_or(options.engine),
                    source: error.into(),
                })?;
            Some(options.devices.prepare(drivers)?)
        };
        let mut imports = Imports::new();
        imports
            .wasi(|system: &mut GuestSystem| -> &mut dyn System { &mut **system })
            .extend(&options.imports);
        Ok(Self {
            options,
            argv0: argv0.into(),
            dirs,
            kv,
            devices,
            imports,
        })
    }

    /// The imports every guest is linked with.
    pub(crate) fn imports(&self) -> &Imports<GuestSystem> {
        &self.imports
    }

    /// The options the guests are built with.
    pub(crate) fn options(&self) -> &RunOptions {
        &self.options
    }

    /// The guests' `argv[0]`: the module's path.
    pub(crate) fn argv0(&self) -> &Path {
        &self.argv0
    }

    /// The builder of a guest's [`UnixSystem`] (layer 1), with everything
    /// but what its mode adds: stdio, and any arguments or variables after
    /// the options'. The guest's budget of host memory is made here, one
    /// per guest ([`RunOptions::host_budget`]): every layer above reaches
    /// it through the system ([`VirtualFds::host_budget`]).
    pub(crate) fn builder(&self) -> Result<Builder, RunError> {
        self.builder_listening(None)
    }

    /// [`builder`](Self::builder), with `listener` preopened where
    /// `--listen` sockets are ([`RunOptions::listen`]): a server's socket,
    /// given to a module that is a server itself.
    pub(crate) fn builder_listening(&self, listener: Option<OwnedFd>) -> Result<Builder, RunError> {
        let dirs = self
            .dirs
            .iter()
            .map(|(dir, guest)| Ok((dir.reopen()?, guest.as_str())))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(RunError::System)?;
        let mut builder = self.options.builder_with(&self.argv0, dirs, listener)?;
        builder.host_budget(self.options.host_budget());
        Ok(builder)
    }

    /// Builds the layers above `system` (2 to 5); the tracer when `trace`
    /// is given.
    pub(crate) fn assemble(
        &self,
        system: UnixSystem,
        trace: Option<Box<dyn Write + Send>>,
    ) -> Result<GuestSystem, RunError> {
        self.layers(system, None, trace)
    }

    /// [`assemble`](Self::assemble), with `mode_mounts` adding the mode's
    /// own files to the mount layer (after WADI's, before the key-value
    /// store and the embedder's mounts).
    pub(crate) fn assemble_with(
        &self,
        system: UnixSystem,
        mut mode_mounts: impl FnMut(&mut Mounts<UnixSystem>) -> Result<(), RunError>,
        trace: Option<Box<dyn Write + Send>>,
    ) -> Result<GuestSystem, RunError> {
        self.layers(system, Some(&mut mode_mounts), trace)
    }

    fn layers(
        &self,
        system: UnixSystem,
        mode_mounts: Option<ModeMounts<'_>>,
        trace: Option<Box<dyn Write + Send>>,
    ) -> Result<GuestSystem, RunError> {
        let mut system: GuestSystem = self.mounted(system, mode_mounts)?;
        for wrap in &self.options.wrappers {
            system = wrap(system);
        }
        Ok(match trace {
            Some(writer) => Box::new(Tracer::new(system, writer)),
            None => system,
        })
    }

    /// Layers 2 and 3 above `system`: the mounts and WADI, when there are
    /// any; a system extensions can still install descriptors in.
    fn mounted(
        &self,
        system: UnixSystem,
        mode_mounts: Option<ModeMounts<'_>>,
    ) -> Result<Box<dyn VirtualFds + Send>, RunError> {
        let mounted = !self.options.mounts.is_empty()
            || self.kv.is_some()
            || mode_mounts.is_some()
            || self.devices.is_some();
        if !mounted {
            return Ok(Box::new(system));
        }
        let mut mounts = Mounts::new(system);
        Ok(match &self.devices {
            Some(devices) => {
                let mut wadi = devices.mount(mounts)?;
                self.mount_all(Decorator::inner(&mut wadi), mode_mounts)?;
                Box::new(wadi)
            }
            None => {
                self.mount_all(&mut mounts, mode_mounts)?;
                Box::new(mounts)
            }
        })
    }
}

impl<R: Runtime> Stack<R> {
    /// Mounts, after WADI's: the mode's own files, the key-value store,
    /// the embedder's mounts (an order that keeps the preopens' numbers
    /// what they were before embedders could mount).
    fn mount_all(
        &self,
        mounts: &mut Mounts<UnixSystem>,
        mode_mounts: Option<ModeMounts<'_>>,
    ) -> Result<(), RunError> {
        if let Some(mode_mounts) = mode_mounts {
            mode_mounts(mounts)?;
        }
        if let Some(kv) = &self.kv {
            mount(mounts, KV_MOUNT, kv.clone())?;
        }
        for (at, dir) in &self.options.mounts {
            mount(mounts, at, Arc::clone(dir))?;
        }
        Ok(())
    }
}

/// The systems of guests a host instantiates itself, built by the stack
/// every guest of this crate gets: for hosts with imports of their own,
/// which install descriptors while the guest runs (WATER transport
/// modules, whose `host_dial` hands the guest a connection).
///
/// Layers 1 to 3 and 5 of the stack (the crate's documentation) are built
/// as for any guest: the options' preopens, mounts, devices and tracing
/// apply. The embedder's decorators ([`RunOptions::wrap`]) and host
/// functions ([`RunOptions::import`]) are made for [`GuestSystem`]s, and
/// the host calls the guest's exports itself ([`RunOptions::invoke`]):
/// these do not apply, and [`GuestSystems::new`] refuses options that have
/// them.
pub struct GuestSystems<R: Runtime> {
    stack: Stack<R>,
    trace: Option<SharedTrace>,
}

impl<R: Runtime> GuestSystems<R> {
    /// Sets up the stack for guests running on `runtime` (WADI drivers
    /// share its engine), the guests' `argv[0]` being `argv0`. A trace goes
    /// to one log, each line prefixed `[N] ` by guest.
    pub fn new(options: RunOptions, argv0: &Path, runtime: &R) -> Result<Self, RunError> {
        let given = [
            ("RunOptions::wrap", !options.wrappers.is_empty()),
            ("RunOptions::import", !options.imports.funcs().is_empty()),
            ("RunOptions::invoke", options.invoke.is_some()),
        ];
        if let Some((option, _)) = given.into_iter().find(|(_, given)| *given) {
            return Err(RunError::NotInMode {
                option,
                mode: "guests built by GuestSystems",
            });
        }
        let trace = SharedTrace::open(&options.trace)?;
        Ok(Self {
            stack: Stack::new(Arc::new(options), argv0, runtime)?,
            trace,
        })
    }

    /// A guest's system, with `stdin`, `stdout` and `stderr` as its
    /// standard streams.
    pub fn build(
        &self,
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> Result<Box<dyn VirtualFds + Send>, RunError> {
        let mut builder = self.stack.builder()?;
        builder.stdio(stdin, stdout, stderr);
        let system = builder.build().map_err(RunError::System)?;
        let system = self.stack.mounted(system, None)?;
        Ok(match &self.trace {
            Some(trace) => Box::new(Tracer::new(system, trace.guest())),
            None => system,
        })
    }
}

/// What a mode adds to the mount layer.
type ModeMounts<'a> = &'a mut dyn FnMut(&mut Mounts<UnixSystem>) -> Result<(), RunError>;

/// Mounts `dir` at `at`, the error naming the path.
pub(crate) fn mount(
    mounts: &mut Mounts<UnixSystem>,
    at: &str,
    dir: Arc<dyn wasi_core::vfs::VirtualDir>,
) -> Result<(), RunError> {
    mounts.mount(at, dir).map_err(|errno| RunError::Mount {
        path: at.to_owned(),
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Devices;
    use wasi_core::DirentWriter;
    use wasi_core::runtime::RuntimeConfig;
    use wasi_core::system::prelude::*;
    use wasi_core::vfs::{BytesFile, OpenHow, VirtualDir, VirtualFile};
    use wasi_wasmi::WasmiRuntime;

    /// A mount that is one file.
    struct Motd;

    impl VirtualDir for Motd {
        fn filetype(&self) -> Filetype {
            Filetype::REGULAR_FILE
        }

        fn stat(&self, _: &str) -> Result<Filestat> {
            Ok(Filestat::file(3))
        }

        fn open_file(&self, _: &str, _: &OpenHow) -> Result<Box<dyn VirtualFile>> {
            Ok(Box::new(BytesFile::new(b"hi\n")))
        }
    }

    /// The names `fd_readdir` lists in the directory `fd`.
    fn names(system: &mut (dyn System + Send), fd: Fd) -> Vec<String> {
        let mut buf = [0u8; 1024];
        let mut out = DirentWriter::new(&mut buf);
        system.fd_readdir(fd, 0, &mut out).unwrap();
        let len = out.len();
        let (mut names, mut at) = (Vec::new(), 0);
        while at + 24 <= len {
            let n = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
            names.push(String::from_utf8_lossy(&buf[at + 24..at + 24 + n]).into_owned());
            at += 24 + n;
        }
        names.sort();
        names
    }

    #[test]
    fn devices_and_the_embedders_mounts_share_one_layer() {
        let mut options = RunOptions::new();
        let mut devices = Devices::new();
        devices.allow_loading(true);
        options
            .devices(devices)
            .mount("/dev/motd", Arc::new(Motd))
            .wrap(|system| system);
        let runtime = WasmiRuntime::new(RuntimeConfig::new());
        let stack = Stack::new(Arc::new(options), Path::new("m.wasm"), &runtime).unwrap();
        let system = stack.builder().unwrap().build().unwrap();
        let mut system = stack.assemble(system, None).unwrap();
        let system = &mut *system;
        // One virtual preopen, `/dev`, lists WADI's directory and the mount.
        assert_eq!(system.fd_prestat_dir_name(3), Ok("/dev"));
        assert_eq!(system.fd_prestat_dir_name(4), Err(Errno::BADF));
        assert_eq!(names(system, 3), [".", "..", "motd", "wadi"]);
    }

    #[test]
    fn an_overlapping_mount_is_a_clear_error() {
        let mut options = RunOptions::new();
        options
            .mount("/srv/a", Arc::new(Motd))
            .mount("/srv/a/b", Arc::new(Motd));
        let runtime = WasmiRuntime::new(RuntimeConfig::new());
        let stack = Stack::new(Arc::new(options), Path::new("m.wasm"), &runtime).unwrap();
        let system = stack.builder().unwrap().build().unwrap();
        let error = stack.assemble(system, None).err().unwrap();
        assert_eq!(
            error.to_string(),
            "cannot mount /srv/a/b in the guest's namespace: EEXIST"
        );
    }
}
