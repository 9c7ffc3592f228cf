//! The virtual files WADI installs in the application's descriptor table
//! (spec/wadi.md §3.2).

use crate::abi::{Kind, MAX_TRANSFER};
use crate::driver::DriverHandle;
use crate::namespace::Registry;
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Mutex};
use wasi_core::mount::path::hash;
use wasi_core::system::Result;
use wasi_core::types::*;
use wasi_core::vfs::VirtualFile;

/// The largest offset a driver may be given.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// An open device file: every call goes to the driver by path.
pub struct DeviceFile {
    driver: Arc<DriverHandle>,
    path: String,
    kind: Kind,
    /// The position (seekable files) or stream position (character devices).
    pos: u64,
    append: bool,
}

impl DeviceFile {
    /// The file at `path` of `driver`, of kind `kind` (not `Dir`).
    pub fn new(driver: Arc<DriverHandle>, path: String, kind: Kind, append: bool) -> Self {
        Self {
            driver,
            path,
            kind,
            pos: 0,
            append,
        }
    }

    fn size(&self) -> Result<u64> {
        Ok(self.driver.query(&self.path)?.size)
    }
}

fn offset_ok(offset: Filesize) -> Result<u64> {
    if offset > MAX_OFFSET {
        Err(Errno::INVAL)
    } else {
        Ok(offset)
    }
}

/// Checks that a write of `iovs` at `offset` ends at or below 2^63 - 1.
fn end_ok(offset: u64, iovs: &[IoSlice<'_>]) -> Result<()> {
    let len: u64 = iovs
        .iter()
        .map(|b| b.len() as u64)
        .sum::<u64>()
        .min(MAX_TRANSFER.into());
    match offset.checked_add(len) {
        Some(end) if end <= MAX_OFFSET => Ok(()),
        _ => Err(Errno::FBIG),
    }
}

impl VirtualFile for DeviceFile {
    fn filetype(&self) -> Filetype {
        self.kind.filetype()
    }

    fn filestat(&mut self) -> Result<Filestat> {
        let stat = self.driver.query(&self.path)?;
        Ok(stat.filestat(self.driver.dev(), &self.path))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let n = self.driver.read(&self.path, self.pos, iovs)?;
        self.pos += u64::from(n);
        Ok(n)
    }

    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        if self.append && self.kind.seekable() {
            self.pos = self.size()?;
        }
        end_ok(self.pos, iovs)?;
        let n = self.driver.write(&self.path, self.pos, iovs)?;
        self.pos += u64::from(n);
        Ok(n)
    }

    fn pread(&mut self, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        if !self.kind.seekable() {
            return Err(Errno::SPIPE);
        }
        self.driver.read(&self.path, offset_ok(offset)?, iovs)
    }

    fn pwrite(&mut self, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        if !self.kind.seekable() {
            return Err(Errno::SPIPE);
        }
        let offset = offset_ok(offset)?;
        end_ok(offset, iovs)?;
        self.driver.write(&self.path, offset, iovs)
    }

    fn seek(&mut self, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        if !self.kind.seekable() {
            return Err(Errno::SPIPE);
        }
        let base = match whence {
            Whence::SET => 0,
            Whence::CUR => self.pos,
            Whence::END => self.size()?,
            _ => return Err(Errno::INVAL),
        };
        let pos = base
            .checked_add_signed(offset)
            .filter(|&p| p <= MAX_OFFSET)
            .ok_or(Errno::INVAL)?;
        self.pos = pos;
        Ok(pos)
    }

    fn set_size(&mut self, size: Filesize) -> Result<()> {
        match self.driver.truncate(&self.path, offset_ok(size)?) {
            Some(result) => result,
            None => Err(Errno::INVAL),
        }
    }
}

/// The control file `/dev/wadi/driver` (spec/wadi.md §2.2). Reads list the
/// loaded scopes; writes never reach it ([`Wadi`](crate::Wadi) serves them,
/// as loading a driver needs the application's whole system).
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
            ino: hash(crate::abi::CONTROL_PATH),
            filetype: Filetype::CHARACTER_DEVICE,
            nlink: 1,
            ..Filestat::default()
        }
    }

    /// The listing: `NAME KIND SCOPE` lines.
    pub fn listing(registry: &Registry) -> String {
        let mut text = String::new();
        for scope in registry.scopes() {
            if let crate::namespace::Owner::Driver(driver) = &scope.owner {
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
        let text = Self::listing(&crate::lock(&self.registry));
        let mut src = text.as_bytes().get(self.pos as usize..).unwrap_or_default();
        let mut n = 0;
        for iov in iovs.iter_mut() {
            let k = iov.len().min(src.len());
            iov[..k].copy_from_slice(&src[..k]);
            src = &src[k..];
            n += k;
        }
        self.pos += n as u64;
        Ok(n as Size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(offset_ok(MAX_OFFSET), Ok(MAX_OFFSET));
        assert_eq!(offset_ok(MAX_OFFSET + 1), Err(Errno::INVAL));
        let data = [IoSlice::new(b"ab")];
        assert_eq!(end_ok(MAX_OFFSET - 2, &data), Ok(()));
        assert_eq!(end_ok(MAX_OFFSET - 1, &data), Err(Errno::FBIG));
    }
}
