#![doc = include_str!("../README.md")]

pub mod abi;
pub mod driver;
pub mod files;
pub mod namespace;
pub mod path;
pub mod restricted;

use crate::abi::{CONTROL_PATH, DriverSpec, Kind, MAX_CONTROL_WRITE};
use crate::driver::{DriverHandle, LoadFailure};
use crate::files::{ControlFile, DeviceFile, DirFile, DirSource};
use crate::namespace::{Node, Owner, Registry, Scope};
use crate::path::Joined;
use std::collections::{HashMap, HashSet};
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Mutex, MutexGuard};
use wasi_core::System;
use wasi_core::runtime::Runtime;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::{VirtualFds, VirtualFile};

pub use crate::driver::DriverData;

/// Builds the host system whose allowed part a driver may use (spec/wadi.md
/// §1.4): clocks, randomness, stderr, and the directories its `dir=`
/// configuration names. The embedder decides what a driver's host is
/// (`wasirun` builds a `UnixSystem`); the error is shown to the user.
pub type HostFactory =
    Box<dyn Fn(&DriverSpec) -> std::result::Result<Box<dyn System + Send>, String> + Send>;

/// Locks a mutex, ignoring poisoning (a panic while holding one of ours
/// leaves the data consistent: every update is a single assignment).
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A WADI directory descriptor: its path and the lowest path `..` may reach.
#[derive(Clone, Debug)]
struct DirRef {
    path: String,
    floor: String,
}

/// A path call that WADI serves.
struct Target {
    joined: Joined,
    node: Node,
    /// The directory's inheriting rights.
    inheriting: Rights,
    floor: String,
}

/// A [`System`] decorator that mounts WADI devices into the application's
/// namespace (spec/wadi.md).
///
/// Path calls that lead into a registered scope, or a synthesized directory
/// above one, are served here; everything else goes to the inner system.
/// Open device files and directories are [`VirtualFile`]s installed in the
/// inner system's descriptor table, so descriptor calls on them reach them
/// through it. Drivers run on the runtime `R` (give it fuel: see
/// [`abi::DRIVER_FUEL`]).
pub struct Wadi<S, R> {
    inner: S,
    runtime: R,
    registry: Arc<Mutex<Registry>>,
    host: HostFactory,
    allow_loading: bool,
    /// The inner system's preopens when WADI started, normalized.
    preopens: Vec<String>,
    dirs: HashMap<Fd, DirRef>,
    controls: HashSet<Fd>,
}

impl<S: VirtualFds, R: Runtime + 'static> Wadi<S, R>
where
    R::Instance<DriverData>: Send,
{
    /// Wraps `inner`, whose preopens must all be installed already; loads
    /// drivers on `runtime`, giving each the host system `host` builds.
    /// Mounts the control file `/dev/wadi/driver` (a virtual `/dev`
    /// preopen unless one of `inner`'s preopens covers it).
    pub fn new(mut inner: S, runtime: R, host: HostFactory) -> Result<Self> {
        let mut preopens = Vec::new();
        for fd in 3.. {
            match inner.fd_prestat_dir_name(fd) {
                Ok(name) => preopens.push(path::normalize_preopen(name)),
                Err(_) => break,
            }
        }
        let mut wadi = Self {
            inner,
            runtime,
            registry: Arc::default(),
            host,
            allow_loading: false,
            preopens,
            dirs: HashMap::new(),
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
        let name = spec.name();
        let host = (self.host)(spec)
            .map_err(|e| LoadFailure::new(Errno::INVAL, format!("driver {name}: {e}")))?;
        let taken = lock(&self.registry).taken();
        let loaded = driver::load(&self.runtime, wasm, spec, host, taken)?;
        let registry = Arc::downgrade(&self.registry);
        let handle = DriverHandle::new(
            name.clone(),
            Box::new(loaded.driver),
            Box::new(move |driver| {
                if let Some(registry) = registry.upgrade() {
                    lock(&registry).remove_driver(driver);
                }
            }),
        );
        for (scope, kind) in loaded.scopes {
            self.add_scope(scope.clone(), kind, Owner::Driver(handle.clone()))
                .map_err(|errno| {
                    lock(&self.registry).remove_driver(&handle);
                    LoadFailure::new(
                        errno,
                        format!("driver {name}: cannot mount {scope}: {errno}"),
                    )
                })?;
        }
        Ok(())
    }

    /// Adds a scope, installing a virtual preopen for its mount if needed.
    fn add_scope(&mut self, scope: String, kind: Kind, owner: Owner) -> Result<()> {
        let (mount, virtual_mount) = namespace::mount_for(&scope, &self.preopens);
        if virtual_mount && !lock(&self.registry).has_virtual_mount(&mount) {
            let dir = DirFile::new(DirSource::Synth(self.registry.clone()), mount.clone());
            let fd = self.inner.insert_virtual(
                Box::new(dir),
                Rights::DIRECTORY,
                Rights::DIRECTORY_INHERITING,
                Some(&mount),
            )?;
            self.dirs.insert(
                fd,
                DirRef {
                    path: mount.clone(),
                    floor: mount.clone(),
                },
            );
        }
        lock(&self.registry).add(Scope {
            path: scope,
            kind,
            owner,
            mount,
            virtual_mount,
        });
        Ok(())
    }
}

impl<S, R> Wadi<S, R> {
    /// The wrapped system.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped system, mutably.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
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

/// The most rights a WADI descriptor of kind `kind` may hold.
fn kind_rights(kind: Kind) -> Rights {
    match kind {
        Kind::Block | Kind::File => Rights::REGULAR_FILE,
        Kind::Char => Rights::CHARACTER_DEVICE,
        Kind::Dir => Rights::DIRECTORY,
    }
}

/// The largest driver file read through the control file.
const MAX_DRIVER_FILE: usize = 64 << 20;

impl<S: VirtualFds, R: Runtime + 'static> Wadi<S, R>
where
    R::Instance<DriverData>: Send,
{
    /// Resolves a path call: `None` when the inner system serves it. Checks
    /// that `fd` holds `needed` when WADI serves it.
    fn resolve(&mut self, fd: Fd, path: &str, needed: Rights) -> Result<Option<Target>> {
        if let Some(dir) = self.dirs.get(&fd) {
            let DirRef { path: base, floor } = dir.clone();
            let stat = self.inner.fd_fdstat_get(fd)?;
            if !stat.fs_rights_base.contains(needed) {
                return Err(Errno::NOTCAPABLE);
            }
            let joined = path::join(&floor, &base, path).ok_or(Errno::NOTCAPABLE)?;
            let node = lock(&self.registry).lookup(&joined.path);
            if matches!(node, Node::Outside) {
                return Err(Errno::NOTCAPABLE);
            }
            return Ok(Some(Target {
                joined,
                node,
                inheriting: stat.fs_rights_inheriting,
                floor,
            }));
        }
        if !lock(&self.registry).has_host_mounts() {
            return Ok(None);
        }
        let Ok(name) = self.inner.fd_prestat_dir_name(fd) else {
            return Ok(None);
        };
        let base = path::normalize_preopen(name);
        let Some(joined) = path::join(&base, &base, path) else {
            return Ok(None);
        };
        let node = lock(&self.registry).lookup(&joined.path);
        if matches!(node, Node::Outside) {
            return Ok(None);
        }
        let stat = self.inner.fd_fdstat_get(fd)?;
        if !stat.fs_rights_base.contains(needed) {
            return Err(Errno::NOTCAPABLE);
        }
        Ok(Some(Target {
            joined,
            node,
            inheriting: stat.fs_rights_inheriting,
            floor: base,
        }))
    }

    /// Installs an open WADI file.
    fn install(
        &mut self,
        file: Box<dyn VirtualFile>,
        kind: Kind,
        rights: Rights,
        inheriting: Rights,
    ) -> Result<Fd> {
        let inheriting = if kind == Kind::Dir {
            inheriting
        } else {
            Rights::empty()
        };
        self.inner
            .insert_virtual(file, rights & kind_rights(kind), inheriting, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_target(
        &mut self,
        target: Target,
        oflags: Oflags,
        rights_base: Rights,
        rights_inheriting: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd> {
        let Target {
            joined,
            node,
            inheriting: allowed,
            floor,
        } = target;
        let path = joined.path;
        let creat = oflags.contains(Oflags::CREAT);
        let excl = creat && oflags.contains(Oflags::EXCL);
        let trunc = oflags.contains(Oflags::TRUNC);
        let want_dir = oflags.contains(Oflags::DIRECTORY) || joined.trailing_slash;
        let base = rights_base & allowed;
        let inheriting = rights_inheriting & allowed;
        let append = fdflags.contains(Fdflags::APPEND);
        let open_file = |driver: Arc<DriverHandle>, kind: Kind, path: String| -> Result<_> {
            if want_dir {
                return Err(Errno::NOTDIR);
            }
            if excl {
                return Err(Errno::EXIST);
            }
            if trunc && let Some(result) = driver.truncate(&path, 0) {
                result?;
            }
            Ok(DeviceFile::new(driver, path, kind, append))
        };
        let (file, kind): (Box<dyn VirtualFile>, Kind) = match node {
            Node::Outside => return Err(Errno::NOTCAPABLE),
            Node::Missing if creat => return Err(Errno::NOTSUP),
            Node::Missing => return Err(Errno::NOENT),
            Node::Control => {
                if want_dir {
                    return Err(Errno::NOTDIR);
                }
                if excl {
                    return Err(Errno::EXIST);
                }
                let fd = self.install(
                    Box::new(ControlFile::new(self.registry.clone())),
                    Kind::Char,
                    base,
                    inheriting,
                )?;
                self.controls.insert(fd);
                return Ok(fd);
            }
            Node::Synth => (
                Box::new(DirFile::new(
                    DirSource::Synth(self.registry.clone()),
                    path.clone(),
                )),
                Kind::Dir,
            ),
            Node::Device { driver, kind } => {
                (Box::new(open_file(driver, kind, path.clone())?), kind)
            }
            Node::Tree { driver } => match driver.query(&path) {
                Ok(stat) if stat.kind == Kind::Dir => (
                    Box::new(DirFile::new(DirSource::Tree(driver), path.clone())),
                    Kind::Dir,
                ),
                Ok(stat) => (
                    Box::new(open_file(driver, stat.kind, path.clone())?),
                    stat.kind,
                ),
                Err(Errno::NOENT) if creat && !want_dir => {
                    driver.write(&path, 0, &[])?;
                    let kind = driver.query(&path)?.kind;
                    if kind == Kind::Dir {
                        return Err(Errno::IO);
                    }
                    (
                        Box::new(DeviceFile::new(driver, path.clone(), kind, append)),
                        kind,
                    )
                }
                Err(errno) => return Err(errno),
            },
        };
        if kind == Kind::Dir {
            if excl {
                return Err(Errno::EXIST);
            }
            if creat || trunc {
                return Err(Errno::ISDIR);
            }
        }
        let fd = self.install(file, kind, base, inheriting)?;
        if kind == Kind::Dir {
            self.dirs.insert(fd, DirRef { path, floor });
        }
        Ok(fd)
    }

    /// Whether the WADI path of `target` exists, giving its filestat.
    fn stat_target(&self, target: &Target) -> Result<Filestat> {
        let path = &target.joined.path;
        let (stat, is_dir) = match &target.node {
            Node::Outside | Node::Missing => return Err(Errno::NOENT),
            Node::Synth => (files::synth_stat(path), true),
            Node::Control => (ControlFile::new(self.registry.clone()).filestat()?, false),
            Node::Device { driver, .. } | Node::Tree { driver } => {
                let stat = driver.query(path)?;
                (stat.filestat(driver.dev(), path), stat.kind == Kind::Dir)
            }
        };
        if target.joined.trailing_slash && !is_dir {
            return Err(Errno::NOTDIR);
        }
        Ok(stat)
    }

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
        let wasm = self.read_guest_file(&spec.path)?;
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
    /// prefix, as wasi-libc does.
    fn read_guest_file(&mut self, guest: &str) -> Result<Vec<u8>> {
        let wanted = path::normalize_preopen(guest);
        let mut best: Option<(Fd, String)> = None;
        for fd in 3..1024 {
            let Ok(name) = self.fd_prestat_dir_name(fd) else {
                continue;
            };
            let base = path::normalize_preopen(name);
            if path::is_prefix(&base, &wanted)
                && best.as_ref().is_none_or(|(_, b)| base.len() > b.len())
            {
                best = Some((fd, base));
            }
        }
        let (dir, base) = best.ok_or(Errno::NOTCAPABLE)?;
        let relative = path::strip_ancestor(&base, &wanted)
            .unwrap_or(".")
            .to_string();
        let fd = self.path_open(
            dir,
            Lookupflags::SYMLINK_FOLLOW,
            &relative,
            Oflags::empty(),
            Rights::FD_READ,
            Rights::empty(),
            Fdflags::empty(),
        )?;
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        let result = loop {
            match self.fd_read(fd, &mut [IoSliceMut::new(&mut chunk)]) {
                Ok(0) => break Ok(()),
                Ok(n) if bytes.len() + n as usize > MAX_DRIVER_FILE => break Err(Errno::FBIG),
                Ok(n) => bytes.extend_from_slice(&chunk[..n as usize]),
                Err(errno) => break Err(errno),
            }
        };
        let _ = self.fd_close(fd);
        result.map(|()| bytes)
    }

    /// Serves a mutating path call WADI does not support: `ENOTSUP` for a
    /// WADI path, the inner system otherwise.
    fn unsupported(
        &mut self,
        fd: Fd,
        path: &str,
        needed: Rights,
        forward: impl FnOnce(&mut S) -> Result<()>,
    ) -> Result<()> {
        match self.resolve(fd, path, needed)? {
            Some(_) => Err(Errno::NOTSUP),
            None => forward(&mut self.inner),
        }
    }
}

impl<S: VirtualFds, R: Runtime + 'static> wasi_core::system::Decorator for Wadi<S, R>
where
    R::Instance<DriverData>: Send,
{
    type Inner = S;

    fn inner(&mut self) -> &mut S {
        &mut self.inner
    }

    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        self.inner.fd_close(fd)?;
        self.dirs.remove(&fd);
        self.controls.remove(&fd);
        Ok(())
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        self.inner.fd_renumber(from, to)?;
        if from != to {
            self.dirs.remove(&to);
            self.controls.remove(&to);
            if let Some(dir) = self.dirs.remove(&from) {
                self.dirs.insert(to, dir);
            }
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
        self.inner.fd_write(fd, iovs)
    }

    fn path_create_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.unsupported(fd, path, Rights::PATH_CREATE_DIRECTORY, |s| {
            s.path_create_directory(fd, path)
        })
    }

    fn path_filestat_get(&mut self, fd: Fd, flags: Lookupflags, path: &str) -> Result<Filestat> {
        match self.resolve(fd, path, Rights::PATH_FILESTAT_GET)? {
            Some(target) => self.stat_target(&target),
            None => self.inner.path_filestat_get(fd, flags, path),
        }
    }

    fn path_filestat_set_times(
        &mut self,
        fd: Fd,
        flags: Lookupflags,
        path: &str,
        atim: Timestamp,
        mtim: Timestamp,
        fst_flags: Fstflags,
    ) -> Result<()> {
        self.unsupported(fd, path, Rights::PATH_FILESTAT_SET_TIMES, |s| {
            s.path_filestat_set_times(fd, flags, path, atim, mtim, fst_flags)
        })
    }

    fn path_link(
        &mut self,
        old_fd: Fd,
        old_flags: Lookupflags,
        old_path: &str,
        new_fd: Fd,
        new_path: &str,
    ) -> Result<()> {
        let old = self.resolve(old_fd, old_path, Rights::PATH_LINK_SOURCE)?;
        let new = self.resolve(new_fd, new_path, Rights::PATH_LINK_TARGET)?;
        match (old, new) {
            (None, None) => self
                .inner
                .path_link(old_fd, old_flags, old_path, new_fd, new_path),
            (Some(_), Some(_)) => Err(Errno::NOTSUP),
            _ => Err(Errno::XDEV),
        }
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
        let mut needed = Rights::PATH_OPEN;
        if oflags.contains(Oflags::CREAT) {
            needed |= Rights::PATH_CREATE_FILE;
        }
        if oflags.contains(Oflags::TRUNC) {
            needed |= Rights::PATH_FILESTAT_SET_SIZE;
        }
        match self.resolve(fd, path, needed)? {
            Some(target) => {
                self.open_target(target, oflags, rights_base, rights_inheriting, fdflags)
            }
            None => self.inner.path_open(
                fd,
                dirflags,
                path,
                oflags,
                rights_base,
                rights_inheriting,
                fdflags,
            ),
        }
    }

    fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size> {
        match self.resolve(fd, path, Rights::PATH_READLINK)? {
            Some(target) => {
                self.stat_target(&target)?;
                Err(Errno::INVAL)
            }
            None => self.inner.path_readlink(fd, path, buf),
        }
    }

    fn path_remove_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.unsupported(fd, path, Rights::PATH_REMOVE_DIRECTORY, |s| {
            s.path_remove_directory(fd, path)
        })
    }

    fn path_rename(&mut self, fd: Fd, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()> {
        let old = self.resolve(fd, old_path, Rights::PATH_RENAME_SOURCE)?;
        let new = self.resolve(new_fd, new_path, Rights::PATH_RENAME_TARGET)?;
        match (old, new) {
            (None, None) => self.inner.path_rename(fd, old_path, new_fd, new_path),
            (Some(_), Some(_)) => Err(Errno::NOTSUP),
            _ => Err(Errno::XDEV),
        }
    }

    fn path_symlink(&mut self, old_path: &str, fd: Fd, new_path: &str) -> Result<()> {
        self.unsupported(fd, new_path, Rights::PATH_SYMLINK, |s| {
            s.path_symlink(old_path, fd, new_path)
        })
    }

    fn path_unlink_file(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.unsupported(fd, path, Rights::PATH_UNLINK_FILE, |s| {
            s.path_unlink_file(fd, path)
        })
    }
}

/// Descriptors installed through WADI go to the inner system's table, where
/// WADI's own files live, so that numbers stay unique: an extension that
/// pushes a host socket or a virtual file into a running guest reaches the
/// table through the whole stack.
impl<S: VirtualFds, R: Runtime + 'static> VirtualFds for Wadi<S, R>
where
    R::Instance<DriverData>: Send,
{
    fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
        preopen: Option<&str>,
    ) -> Result<Fd> {
        self.inner.insert_virtual(file, rights, inheriting, preopen)
    }

    fn insert_host(
        &mut self,
        fd: std::os::fd::OwnedFd,
        rights: Rights,
        inheriting: Rights,
    ) -> Result<Fd> {
        self.inner.insert_host(fd, rights, inheriting)
    }
}

#[cfg(test)]
mod tests;
