//! Helpers shared by the integration tests: a sandbox in a temporary
//! directory and thin wrappers over the `System` calls.

#![allow(dead_code)]

use std::io::{IoSlice, IoSliceMut};
use std::path::{Path, PathBuf};

use wasi_core::types::*;
use wasi_core::{DirentWriter, System};
use wasi_unix::UnixSystem;

/// The preopened directory's descriptor.
pub const ROOT: Fd = 3;

/// A system whose only preopen is `root/inside`, with `root/outside/secret`
/// next to it as bait for escapes.
pub struct Sandbox {
    pub sys: UnixSystem,
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("inside")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret"), b"secret").unwrap();
        let sys = UnixSystem::builder()
            .arg("test")
            .preopen_dir(tmp.path().join("inside"), "/sandbox")
            .unwrap()
            .build()
            .unwrap();
        Self { sys, tmp }
    }

    /// The host path of `path` inside the preopen.
    pub fn host(&self, path: &str) -> PathBuf {
        self.tmp.path().join("inside").join(path)
    }

    pub fn outside(&self) -> &Path {
        self.tmp.path()
    }

    /// Opens `path` beneath the preopen.
    pub fn open(&mut self, path: &str, oflags: Oflags, rights: Rights) -> Result<Fd, Errno> {
        self.open_with(
            ROOT,
            Lookupflags::empty(),
            path,
            oflags,
            rights,
            Fdflags::empty(),
        )
    }

    pub fn open_with(
        &mut self,
        dir: Fd,
        lookup: Lookupflags,
        path: &str,
        oflags: Oflags,
        rights: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd, Errno> {
        self.sys
            .path_open(dir, lookup, path, oflags, rights, Rights::all(), fdflags)
    }

    pub fn create(&mut self, path: &str, contents: &[u8]) {
        let fd = self
            .open(path, Oflags::CREAT | Oflags::TRUNC, Rights::FD_WRITE)
            .unwrap();
        assert_eq!(self.write(fd, contents), Ok(contents.len() as Size));
        self.sys.fd_close(fd).unwrap();
    }

    pub fn write(&mut self, fd: Fd, data: &[u8]) -> Result<Size, Errno> {
        self.sys.fd_write(fd, &[IoSlice::new(data)])
    }

    pub fn read(&mut self, fd: Fd, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0; len];
        let n = self.sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)])?;
        buf.truncate(n as usize);
        Ok(buf)
    }

    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, Errno> {
        let fd = self.open(path, Oflags::empty(), Rights::FD_READ)?;
        let data = self.read(fd, 1 << 16);
        self.sys.fd_close(fd).unwrap();
        data
    }

    pub fn stat(&mut self, path: &str, follow: bool) -> Result<Filestat, Errno> {
        let flags = if follow {
            Lookupflags::SYMLINK_FOLLOW
        } else {
            Lookupflags::empty()
        };
        self.sys.path_filestat_get(ROOT, flags, path)
    }

    pub fn readlink(&mut self, path: &str) -> Result<Vec<u8>, Errno> {
        let mut buf = [0u8; 256];
        let n = self.sys.path_readlink(ROOT, path, &mut buf)?;
        Ok(buf[..n as usize].to_vec())
    }
}

/// One decoded `fd_readdir` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub next: Dircookie,
    pub ino: Inode,
    pub filetype: Filetype,
    pub name: String,
}

/// Calls `fd_readdir` once and decodes the complete entries in the buffer;
/// also returns whether the buffer was filled.
pub fn readdir_once(
    sys: &mut UnixSystem,
    fd: Fd,
    cookie: Dircookie,
    buf_len: usize,
) -> Result<(Vec<Entry>, bool), Errno> {
    let mut buf = vec![0u8; buf_len];
    let mut out = DirentWriter::new(&mut buf);
    sys.fd_readdir(fd, cookie, &mut out)?;
    let used = out.len();
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 24 <= used {
        let d: Dirent = bytemuck_read(&buf[at..at + 24]);
        let end = at + 24 + d.d_namlen as usize;
        if end > used {
            break;
        }
        entries.push(Entry {
            next: d.d_next,
            ino: d.d_ino,
            filetype: d.d_type,
            name: String::from_utf8(buf[at + 24..end].to_vec()).unwrap(),
        });
        at = end;
    }
    Ok((entries, used == buf_len))
}

fn bytemuck_read(bytes: &[u8]) -> Dirent {
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    Dirent {
        d_next: u64_at(0),
        d_ino: u64_at(8),
        d_namlen: u32::from_le_bytes(bytes[16..20].try_into().unwrap()),
        d_type: Filetype(bytes[20]),
        ..Dirent::default()
    }
}

/// Lists a directory completely, `buf_len` bytes per call, resuming from the
/// last complete entry's cookie.
pub fn readdir_all(sys: &mut UnixSystem, fd: Fd, buf_len: usize) -> Vec<Entry> {
    let mut all = Vec::new();
    let mut cookie = 0;
    loop {
        let (entries, full) = readdir_once(sys, fd, cookie, buf_len).unwrap();
        if let Some(last) = entries.last() {
            cookie = last.next;
        }
        all.extend(entries);
        if !full {
            return all;
        }
    }
}

/// A system whose only preopen is `dir`, with files bounded by
/// `max_file_size`.
pub fn limited_system(dir: &Path, max_file_size: Option<u64>) -> UnixSystem {
    UnixSystem::builder()
        .max_file_size(max_file_size)
        .preopen_dir(dir, "/dir")
        .unwrap()
        .build()
        .unwrap()
}

/// Opens `path` under the preopen for reading, writing and resizing.
pub fn open_file(sys: &mut UnixSystem, path: &str, oflags: Oflags, fdflags: Fdflags) -> Fd {
    let rights = Rights::FD_READ
        | Rights::FD_WRITE
        | Rights::FD_SEEK
        | Rights::FD_TELL
        | Rights::FD_ALLOCATE
        | Rights::FD_FILESTAT_SET_SIZE;
    sys.path_open(
        ROOT,
        Lookupflags::empty(),
        path,
        oflags,
        rights,
        Rights::empty(),
        fdflags,
    )
    .unwrap()
}

/// The size of `dir/name` on the host.
pub fn file_size(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).unwrap().len()
}
