//! Open device files: what WADI installs in the application's descriptor
//! table when it opens a driver's file (spec/wadi.md §3.2).

use crate::driver::DriverHandle;
use crate::driver_abi::{Kind, MAX_TRANSFER};
use std::io::{IoSlice, IoSliceMut};
use std::sync::Arc;
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
