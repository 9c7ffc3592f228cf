//! The kernel control file `/dev/wadi/driver` (spec/wadi.md §2.2): reading
//! it lists the loaded scopes; writing a driver specification to it loads
//! that driver, which [`Wadi`](crate::Wadi) serves.

use crate::registry::{Owner, Registry};
use std::io::IoSliceMut;
use std::sync::{Arc, Mutex};
use wasi_core::mount::path::hash;
use wasi_core::sync::lock;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::{OpenHow, VirtualDir, VirtualFile, copy_to_iovs};

/// The guest path of the control file.
pub const CONTROL_PATH: &str = "/dev/wadi/driver";

/// The largest control-file write.
pub const MAX_CONTROL_WRITE: usize = 4096;

/// The open control file. Reads list the loaded scopes; writes never
/// reach it ([`Wadi`](crate::Wadi) serves them, as loading a driver needs
/// the application's whole system).
pub struct ControlFile {
    registry: Arc<Mutex<Registry>>,
    pos: u64,
}

impl ControlFile {
    /// The control file listing the scopes of `registry`.
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        Self { registry, pos: 0 }
    }

    /// The control file's attributes.
    pub fn stat() -> Filestat {
        Filestat {
            ino: hash(CONTROL_PATH),
            ..Filestat::new(Filetype::CHARACTER_DEVICE)
        }
    }

    /// The listing: `NAME KIND SCOPE` lines.
    pub fn listing(registry: &Registry) -> String {
        let mut text = String::new();
        for scope in registry.scopes() {
            if let Owner::Driver(driver) = &scope.owner {
                text += &format!("{} {} {}\n", driver.name(), scope.kind.name(), scope.path);
            }
        }
        text
    }
}

impl VirtualFile for ControlFile {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(Self::stat())
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let text = Self::listing(&lock(&self.registry));
        let src = text.as_bytes().get(self.pos as usize..).unwrap_or_default();
        let n = copy_to_iovs(src, iovs);
        self.pos += n as u64;
        Ok(n as Size)
    }
}

/// The control file as a mount.
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
