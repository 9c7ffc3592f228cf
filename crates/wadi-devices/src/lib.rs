#![doc = include_str!("../README.md")]

pub mod control;
pub mod driver;
pub mod driver_abi;
pub mod driver_spec;
pub mod files;
pub mod namespace;
pub mod path;
pub mod registry;
pub mod restricted;

use crate::control::{CONTROL_PATH, ControlDir, MAX_CONTROL_WRITE};
use crate::driver::{DriverHandle, LoadFailure};
use crate::driver_abi::Kind;
use crate::driver_spec::DriverSpec;
use crate::namespace::DriverDir;
use crate::registry::{Owner, Registry, Scope};
use std::collections::HashSet;
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Mutex};
use wasi_core::System;
use wasi_core::budget::Reservation;
use wasi_core::mount::Mounts;
use wasi_core::mount::path::{is_prefix, normalize_preopen, strip_ancestor};
use wasi_core::runtime::Runtime;
use wasi_core::sync::lock;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::{VirtualDir, VirtualFds};

pub use crate::driver::DriverData;

/// Builds the host system whose allowed part a driver may use (spec/wadi.md
/// §1.4): clocks, randomness, stderr, and the directories its `dir=`
/// configuration names. The embedder decides what a driver's host is
/// (`wasirun` builds a `UnixSystem`); the error is shown to the user.
pub type HostFactory =
    Box<dyn Fn(&DriverSpec) -> std::result::Result<Box<dyn System + Send>, String> + Send>;

/// A [`System`] decorator that mounts WADI devices into the application's
/// namespace (spec/wadi.md).
///
/// Each scope is mounted at its path through the mount layer
/// ([`wasi_core::mount::Mounts`]), which serves every path call leading
/// into it or into a directory synthesized above it and forwards the rest
/// to the inner system. Open device files and directories are
/// [`VirtualFile`](wasi_core::vfs::VirtualFile)s installed in the inner system's descriptor table, so
/// descriptor calls on them reach them through it. Drivers run on the
/// runtime `R` (give it fuel: see [`driver_abi::DRIVER_FUEL`]).
pub struct Wadi<S, R> {
    inner: Mounts<S>,
    runtime: R,
    registry: Arc<Mutex<Registry>>,
    host: HostFactory,
    allow_loading: bool,
    /// Descriptors open on the control file: writes to them load drivers.
    controls: HashSet<Fd>,
}

impl<S: VirtualFds, R: Runtime + 'static> Wadi<S, R> {
    /// Wraps `inner`, the guest's one mount layer, which WADI's scopes
    /// join beside every other mount (so `/dev` lists them all); loads
    /// drivers on `runtime`, giving each the host system `host` builds.
    /// Mounts the control file `/dev/wadi/driver` (a virtual `/dev`
    /// preopen unless one of the inner system's preopens covers it).
    pub fn new(inner: Mounts<S>, runtime: R, host: HostFactory) -> Result<Self> {
        let mut wadi = Self {
            inner,
            runtime,
            registry: Arc::default(),
            host,
            allow_loading: false,
            controls: HashSet::new(),
        };
        wadi.add_scope(CONTROL_PATH.into(), Kind::Char, Owner::Control)?;
        Ok(wadi)
    }

    /// Turns run-time loading through the control file on or off (off by
    /// default).
    pub fn allow_loading(&mut self, allow: bool) -> &mut Self {
        self.allow_loading = allow;
        self
    }

    /// Loads a driver: instantiates `wasm` (binary), runs its `init` and
    /// mounts the scopes it registers.
    pub fn load_driver(
        &mut self,
        spec: &DriverSpec,
        wasm: &[u8],
    ) -> std::result::Result<(), LoadFailure> {
        let prepared = driver::prepare(&self.runtime, wasm, spec)?;
        self.load_prepared_driver(spec, &prepared)
    }

    /// [`load_driver`](Self::load_driver), from a driver module
    /// [`driver::prepare`]d once on this runtime (a server loading the
    /// same drivers into every guest compiles them once).
    pub fn load_prepared_driver(
        &mut self,
        spec: &DriverSpec,
        prepared: &R::Prepared<DriverData>,
    ) -> std::result::Result<(), LoadFailure> {
        let name = spec.name();
        let host = (self.host)(spec)
            .map_err(|e| LoadFailure::new(Errno::INVAL, format!("driver {name}: {e}")))?;
        let taken = lock(&self.registry).taken();
        let mut loaded = driver::load_prepared::<R>(prepared, spec, host, taken)?;
        loaded
            .driver
            .charge_to(self.inner.host_budget())
            .map_err(|errno| {
                LoadFailure::new(
                    errno,
                    format!(
                        "driver {name}: its memory does not fit the application's \
                         host-memory budget"
                    ),
                )
            })?;
        // Weak: the mounts hold the driver, which must not hold them back
        // (it would outlive the application's system, instance and all).
        let registry = Arc::downgrade(&self.registry);
        let mounts = self.inner.table().downgrade();
        let handle = DriverHandle::new(
            name.clone(),
            Box::new(loaded.driver),
            Box::new(move |driver| {
                if let (Some(registry), Some(mounts)) = (registry.upgrade(), mounts.upgrade()) {
                    for scope in lock(&registry).remove_driver(driver) {
                        mounts.unmount(&scope);
                    }
                }
            }),
        );
        for (scope, kind) in loaded.scopes {
            self.add_scope(scope.clone(), kind, Owner::Driver(handle.clone()))
                .map_err(|errno| {
                    for scope in lock(&self.registry).remove_driver(&handle) {
                        self.inner.table().unmount(&scope);
                    }
                    LoadFailure::new(
                        errno,
                        format!("driver {name}: cannot mount {scope}: {errno}"),
                    )
                })?;
        }
        Ok(())
    }

    /// Adds a scope and mounts it.
    fn add_scope(&mut self, scope: String, kind: Kind, owner: Owner) -> Result<()> {
        let dir: Arc<dyn VirtualDir> = match &owner {
            Owner::Control => Arc::new(ControlDir::new(self.registry.clone())),
            Owner::Driver(driver) => Arc::new(DriverDir::new(driver.clone(), scope.clone(), kind)),
        };
        self.inner.mount(&scope, dir)?;
        lock(&self.registry).add(Scope {
            path: scope,
            kind,
            owner,
        });
        Ok(())
    }
}

impl<S, R> Wadi<S, R> {
    /// The wrapped system.
    pub fn inner(&self) -> &S {
        self.inner.inner()
    }

    /// The wrapped system, mutably.
    pub fn inner_mut(&mut self) -> &mut S {
        self.inner.inner_mut()
    }

    /// The loaded scopes as `(driver, kind, scope)`, in registration order
    /// (the control file excluded).
    pub fn scopes(&self) -> Vec<(String, Kind, String)> {
        lock(&self.registry)
            .scopes()
            .iter()
            .filter_map(|s| match &s.owner {
                Owner::Driver(d) => Some((d.name().to_string(), s.kind, s.path.clone())),
                Owner::Control => None,
            })
            .collect()
    }
}

/// The largest driver file read through the control file.
const MAX_DRIVER_FILE: usize = 64 << 20;

impl<S: VirtualFds, R: Runtime + 'static> Wadi<S, R> {
    /// A control-file write: load the driver it names (spec/wadi.md §2.2).
    fn control_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let stat = self.inner.fd_fdstat_get(fd)?;
        if !stat.fs_rights_base.contains(Rights::FD_WRITE) {
            return Err(Errno::NOTCAPABLE);
        }
        if !self.allow_loading {
            return Err(Errno::PERM);
        }
        let mut text = Vec::new();
        for iov in iovs {
            if text.len() + iov.len() > MAX_CONTROL_WRITE {
                return Err(Errno::INVAL);
            }
            text.extend_from_slice(iov);
        }
        let written = text.len() as Size;
        let text = core::str::from_utf8(&text).map_err(|_| Errno::INVAL)?;
        let spec = DriverSpec::parse(text.strip_suffix('\n').unwrap_or(text))?;
        if spec.values("dir").next().is_some() {
            return Err(Errno::NOTCAPABLE);
        }
        // The file's bytes are charged to the application until the driver
        // is compiled and loaded (`_charged` dropped at the end).
        let (wasm, _charged) = self.read_guest_file(&spec.path)?;
        if !wasm.starts_with(b"\0asm") {
            // Only binary modules, whatever text support an engine has.
            return Err(Errno::NOEXEC);
        }
        self.load_driver(&spec, &wasm).map_err(|failure| {
            eprintln!("wadi: {failure}");
            failure.errno
        })?;
        Ok(written)
    }

    /// Reads a guest file through the application's own system, resolving
    /// an absolute path through the preopen with the longest matching
    /// prefix, as wasi-libc does. The bytes (and the read buffer) are
    /// charged to the application's host-memory budget as they are read
    /// (`ENOMEM` past it), until the reservation returned is dropped.
    fn read_guest_file(&mut self, guest: &str) -> Result<(Vec<u8>, Reservation)> {
        let wanted = normalize_preopen(guest);
        let mut best: Option<(Fd, String)> = None;
        for fd in 3..1024 {
            let Ok(name) = self.fd_prestat_dir_name(fd) else {
                continue;
            };
            let base = normalize_preopen(name);
            if is_prefix(&base, &wanted) && best.as_ref().is_none_or(|(_, b)| base.len() > b.len())
            {
                best = Some((fd, base));
            }
        }
        let (dir, base) = best.ok_or(Errno::NOTCAPABLE)?;
        let relative = strip_ancestor(&base, &wanted).unwrap_or(".").to_string();
        let fd = self.path_open(
            dir,
            Lookupflags::SYMLINK_FOLLOW,
            &relative,
            Oflags::empty(),
            Rights::FD_READ,
            Rights::empty(),
            Fdflags::empty(),
        )?;
        const CHUNK: usize = 64 << 10;
        let mut charged = self.inner.host_budget().reservation();
        let mut bytes = Vec::new();
        let result = charged.try_resize(CHUNK as u64).and_then(|()| {
            let mut chunk = vec![0u8; CHUNK];
            loop {
                match self.fd_read(fd, &mut [IoSliceMut::new(&mut chunk)]) {
                    Ok(0) => break Ok(()),
                    Ok(n) if bytes.len() + n as usize > MAX_DRIVER_FILE => {
                        break Err(Errno::FBIG);
                    }
                    Ok(n) => {
                        let len = bytes.len() + n as usize;
                        // Charged before `bytes` grows, with the chunk.
                        charged.try_resize((CHUNK + len) as u64)?;
                        bytes.reserve_exact(n as usize);
                        bytes.extend_from_slice(&chunk[..n as usize]);
                    }
                    Err(errno) => break Err(errno),
                }
            }
        });
        let _ = self.fd_close(fd);
        result?;
        // The chunk is gone; the bytes stay charged.
        charged.try_resize(bytes.capacity() as u64)?;
        Ok((bytes, charged))
    }
}

impl<S: VirtualFds, R: Runtime + 'static> wasi_core::system::Decorator for Wadi<S, R> {
    type Inner = Mounts<S>;

    fn inner(&mut self) -> &mut Mounts<S> {
        &mut self.inner
    }

    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        System::fd_close(&mut self.inner, fd)?;
        self.controls.remove(&fd);
        Ok(())
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        System::fd_renumber(&mut self.inner, from, to)?;
        if from != to {
            self.controls.remove(&to);
            if self.controls.remove(&from) {
                self.controls.insert(to);
            }
        }
        Ok(())
    }

    #[inline]
    fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
        if !self.controls.is_empty() && self.controls.contains(&fd) {
            return self.control_write(fd, iovs);
        }
        System::fd_write(&mut self.inner, fd, iovs)
    }

    fn path_open(
        &mut self,
        fd: Fd,
        dirflags: Lookupflags,
        path: &str,
        oflags: Oflags,
        rights_base: Rights,
        rights_inheriting: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd> {
        let opened = System::path_open(
            &mut self.inner,
            fd,
            dirflags,
            path,
            oflags,
            rights_base,
            rights_inheriting,
            fdflags,
        )?;
        if self.inner.opened_path(opened) == Some(CONTROL_PATH) {
            self.controls.insert(opened);
        }
        Ok(opened)
    }
}

/// Descriptors installed through WADI go to the inner system's table, where
/// WADI's own files live, so that numbers stay unique: an extension that
/// pushes a host socket or a virtual file into a running guest reaches the
/// table through the whole stack.
impl<S: VirtualFds, R: Runtime + 'static> VirtualFds for Wadi<S, R> {
    wasi_core::forward_virtual_fds!(self => self.inner);
}

#[cfg(test)]
mod tests;
