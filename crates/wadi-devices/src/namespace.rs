//! The registered scopes, and how each is served to the application: a
//! [`VirtualDir`] mounted at the scope's path (spec/wadi.md §3.1). The
//! mount layer (`wasi_core::mount`) resolves paths, synthesizes the
//! directories above scopes and hides the host's there.

use crate::abi::{Kind, Stat};
use crate::driver::DriverHandle;
use crate::files::{ControlFile, DeviceFile};
use std::sync::{Arc, Mutex};
use wasi_core::mount::path::hash;
use wasi_core::mount::{Listing, OpenHow, VirtualDir};
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::VirtualFile;

/// Who serves a scope.
#[derive(Clone, Debug)]
pub enum Owner {
    /// The host's control file.
    Control,
    /// A driver.
    Driver(Arc<DriverHandle>),
}

impl Owner {
    fn name(&self) -> &str {
        match self {
            Owner::Control => "host",
            Owner::Driver(d) => d.name(),
        }
    }
}

/// A registered scope.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Its normalized path.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Who serves it.
    pub owner: Owner,
}

/// Every live scope.
#[derive(Debug, Default)]
pub struct Registry {
    scopes: Vec<Scope>,
}

impl Registry {
    /// The scopes, in registration order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// `(scope, owner name)` of every scope, for overlap checks.
    pub fn taken(&self) -> Vec<(String, String)> {
        self.scopes
            .iter()
            .map(|s| (s.path.clone(), s.owner.name().to_string()))
            .collect()
    }

    /// Adds a scope (already checked for overlaps).
    pub fn add(&mut self, scope: Scope) {
        self.scopes.push(scope);
    }

    /// Removes the scopes of `driver`, returning their paths.
    pub fn remove_driver(&mut self, driver: &DriverHandle) -> Vec<String> {
        let mut removed = Vec::new();
        self.scopes.retain(|s| match &s.owner {
            Owner::Driver(d) if std::ptr::eq(&**d, driver) => {
                removed.push(s.path.clone());
                false
            }
            _ => true,
        });
        removed
    }
}

/// A driver's scope as a mount: one device file, or a hierarchy whose
/// every path the driver answers (spec/wadi.md §3.2).
pub struct DriverDir {
    driver: Arc<DriverHandle>,
    scope: String,
    kind: Kind,
}

impl DriverDir {
    /// The scope `scope` of kind `kind`, served by `driver`.
    pub fn new(driver: Arc<DriverHandle>, scope: String, kind: Kind) -> Self {
        Self {
            driver,
            scope,
            kind,
        }
    }

    /// The driver's path for `rel` below the scope.
    fn path(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.scope.clone()
        } else {
            format!("{}/{rel}", self.scope)
        }
    }

    /// The kind of the existing path `path`: a device scope's own, or what
    /// `query` says in a hierarchy.
    fn kind_of(&self, path: &str) -> Result<Kind> {
        match self.kind {
            Kind::Dir => self.driver.query(path).map(|stat| stat.kind),
            kind => Ok(kind),
        }
    }
}

impl VirtualDir for DriverDir {
    fn filetype(&self) -> Filetype {
        self.kind.filetype()
    }

    fn stat(&self, rel: &str) -> Result<Filestat> {
        let path = self.path(rel);
        let stat = self.driver.query(&path)?;
        Ok(stat.filestat(self.driver.dev(), &path))
    }

    fn open_file(&self, rel: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        let path = self.path(rel);
        let kind = match self.kind_of(&path) {
            Ok(Kind::Dir) => return Err(Errno::ISDIR),
            Ok(kind) => {
                if how.oflags.contains(Oflags::TRUNC)
                    && let Some(result) = self.driver.truncate(&path, 0)
                {
                    result?;
                }
                kind
            }
            // Creating in a hierarchy is a zero-length write (§1.1).
            Err(Errno::NOENT) if how.oflags.contains(Oflags::CREAT) => {
                self.driver.write(&path, 0, &[])?;
                match self.driver.query(&path)?.kind {
                    Kind::Dir => return Err(Errno::IO),
                    kind => kind,
                }
            }
            Err(errno) => return Err(errno),
        };
        let append = how.fdflags.contains(Fdflags::APPEND);
        Ok(Box::new(DeviceFile::new(
            self.driver.clone(),
            path,
            kind,
            append,
        )))
    }

    fn readdir(&self, rel: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        let path = self.path(rel);
        let Stat { kind, entries, .. } = self.driver.query(&path)?;
        if kind != Kind::Dir {
            return Err(Errno::NOTDIR);
        }
        let skip = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (i, entry) in entries.iter().enumerate().skip(skip) {
            let ino = hash(&format!("{path}/{}", entry.name));
            if !out.push(i as u64 + 1, ino, entry.kind.filetype(), &entry.name) {
                break;
            }
        }
        Ok(())
    }
}

/// The control file `/dev/wadi/driver` as a mount (spec/wadi.md §2.2).
pub struct ControlDir {
    registry: Arc<Mutex<Registry>>,
}

impl ControlDir {
    /// The control file listing the scopes of `registry`.
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        Self { registry }
    }
}

impl VirtualDir for ControlDir {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }

    fn stat(&self, _: &str) -> Result<Filestat> {
        Ok(ControlFile::stat())
    }

    fn open_file(&self, _: &str, _: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        Ok(Box::new(ControlFile::new(self.registry.clone())))
    }
}
