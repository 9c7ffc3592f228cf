//! A driver's scope as the application sees it: a [`VirtualDir`] mounted
//! at the scope's path (spec/wadi.md §3.1). The mount layer
//! (`wasi_core::mount`) resolves paths, synthesizes the directories above
//! scopes and hides the host's there.

use crate::driver::DriverHandle;
use crate::driver_abi::{Kind, Stat};
use crate::files::DeviceFile;
use std::sync::Arc;
use wasi_core::mount::path::hash;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::{Listing, OpenHow, VirtualDir, VirtualFile};

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
