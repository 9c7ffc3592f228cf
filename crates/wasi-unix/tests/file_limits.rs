//! `Builder::max_file_size` bounds what the guest can make of a file
//! (`spec/preview1.md`, "File sizes"). A failed `fd_allocate` is in
//! `full_disk.rs`, alone in its binary: it fills the disk for a moment.

mod common;

use std::io::IoSlice;
use std::os::fd::OwnedFd;

use common::{file_size as size, limited_system as system, open_file as open};
use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::UnixSystem;

fn write(sys: &mut UnixSystem, fd: Fd, bufs: &[&[u8]]) -> Result<Size, Errno> {
    let iovs: Vec<IoSlice<'_>> = bufs.iter().map(|buf| IoSlice::new(buf)).collect();
    sys.fd_write(fd, &iovs)
}

fn pwrite(sys: &mut UnixSystem, fd: Fd, buf: &[u8], offset: u64) -> Result<Size, Errno> {
    sys.fd_pwrite(fd, &[IoSlice::new(buf)], offset)
}

#[test]
fn writes_stop_at_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sys = system(tmp.path(), Some(100));
    let fd = open(&mut sys, "file", Oflags::CREAT, Fdflags::empty());
    assert_eq!(write(&mut sys, fd, &[&[1; 60]]), Ok(60));
    // Crossing the limit: a short write up to it, then `EFBIG`.
    assert_eq!(write(&mut sys, fd, &[&[2; 60]]), Ok(40));
    assert_eq!(write(&mut sys, fd, &[&[3; 1]]), Err(Errno::FBIG));
    assert_eq!(write(&mut sys, fd, &[]), Ok(0));
    assert_eq!(size(tmp.path(), "file"), 100);

    // Several buffers: those wholly below the limit, then the part of the
    // next one below it.
    sys.fd_seek(fd, 50, Whence::SET).unwrap();
    assert_eq!(write(&mut sys, fd, &[&[4; 30], &[5; 30], &[6; 30]]), Ok(30));
    assert_eq!(write(&mut sys, fd, &[&[5; 30], &[6; 30]]), Ok(20));
    assert_eq!(write(&mut sys, fd, &[&[6; 30]]), Err(Errno::FBIG));
    assert_eq!(size(tmp.path(), "file"), 100);

    // Below the limit, a write inside the file is whole.
    sys.fd_seek(fd, 10, Whence::SET).unwrap();
    assert_eq!(write(&mut sys, fd, &[&[7; 20]]), Ok(20));
    let data = std::fs::read(tmp.path().join("file")).unwrap();
    assert_eq!(data.len(), 100);
    assert_eq!(&data[10..30], &[7; 20]);
    assert_eq!(&data[80..100], &[5; 20]);

    // Without a limit, the default, files grow.
    let mut sys = system(tmp.path(), None);
    let fd = open(&mut sys, "file", Oflags::empty(), Fdflags::empty());
    assert_eq!(pwrite(&mut sys, fd, &[1; 10], 1 << 30), Ok(10));
    assert_eq!(sys.fd_filestat_set_size(fd, 1 << 40), Ok(()));
    assert_eq!(size(tmp.path(), "file"), 1 << 40);
}

#[test]
fn pwrites_stop_at_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sys = system(tmp.path(), Some(100));
    let fd = open(&mut sys, "file", Oflags::CREAT, Fdflags::empty());
    assert_eq!(pwrite(&mut sys, fd, &[1; 20], 90), Ok(10));
    assert_eq!(pwrite(&mut sys, fd, &[1; 20], 100), Err(Errno::FBIG));
    assert_eq!(pwrite(&mut sys, fd, &[1; 1], 1 << 40), Err(Errno::FBIG));
    assert_eq!(pwrite(&mut sys, fd, &[2; 5], 10), Ok(5));
    assert_eq!(size(tmp.path(), "file"), 100);
    // The file position is not the offset.
    assert_eq!(sys.fd_tell(fd), Ok(0));
}

#[test]
fn appends_stop_at_the_limit_whatever_the_position() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), [0; 90]).unwrap();
    let mut sys = system(tmp.path(), Some(100));
    let fd = open(&mut sys, "file", Oflags::empty(), Fdflags::APPEND);
    assert_eq!(sys.fd_tell(fd), Ok(0));
    assert_eq!(write(&mut sys, fd, &[&[1; 20]]), Ok(10));
    assert_eq!(write(&mut sys, fd, &[&[1; 20]]), Err(Errno::FBIG));
    // On an append descriptor Linux's `pwrite` appends too.
    assert_eq!(pwrite(&mut sys, fd, &[1; 20], 0), Err(Errno::FBIG));
    assert_eq!(size(tmp.path(), "file"), 100);
}

#[test]
fn allocate_and_set_size_cannot_grow_past_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sys = system(tmp.path(), Some(100));
    let fd = open(&mut sys, "file", Oflags::CREAT, Fdflags::empty());
    assert_eq!(sys.fd_allocate(fd, 0, 101), Err(Errno::FBIG));
    assert_eq!(sys.fd_allocate(fd, 100, 1), Err(Errno::FBIG));
    assert_eq!(size(tmp.path(), "file"), 0);
    assert_eq!(sys.fd_allocate(fd, 0, 100), Ok(()));
    assert_eq!(size(tmp.path(), "file"), 100);
    // Inside the file, nothing grows.
    assert_eq!(sys.fd_allocate(fd, 50, 50), Ok(()));

    assert_eq!(sys.fd_filestat_set_size(fd, 101), Err(Errno::FBIG));
    assert_eq!(sys.fd_filestat_set_size(fd, 1 << 40), Err(Errno::FBIG));
    assert_eq!(size(tmp.path(), "file"), 100);
    assert_eq!(sys.fd_filestat_set_size(fd, 40), Ok(()));
    assert_eq!(sys.fd_filestat_set_size(fd, 100), Ok(()));
    assert_eq!(size(tmp.path(), "file"), 100);

    // Truncating on open is fine.
    let fd = open(&mut sys, "file", Oflags::TRUNC, Fdflags::empty());
    assert_eq!(size(tmp.path(), "file"), 0);
    sys.fd_close(fd).unwrap();
}

#[test]
fn a_file_already_past_the_limit_can_shrink_and_be_written_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("big"), [0; 1000]).unwrap();
    let mut sys = system(tmp.path(), Some(100));
    let fd = open(&mut sys, "big", Oflags::empty(), Fdflags::empty());
    assert_eq!(write(&mut sys, fd, &[&[1; 10]]), Ok(10));
    assert_eq!(pwrite(&mut sys, fd, &[1; 10], 500), Err(Errno::FBIG));
    assert_eq!(sys.fd_allocate(fd, 0, 1000), Ok(()));
    assert_eq!(sys.fd_filestat_set_size(fd, 500), Ok(()));
    assert_eq!(sys.fd_filestat_set_size(fd, 600), Err(Errno::FBIG));
    assert_eq!(size(tmp.path(), "big"), 500);
}

#[test]
fn the_limit_holds_for_a_standard_stream_redirected_to_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out: OwnedFd = std::fs::File::create(tmp.path().join("out"))
        .unwrap()
        .into();
    let null = || -> OwnedFd {
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null");
        null.unwrap().into()
    };
    let mut sys = UnixSystem::builder()
        .max_file_size(Some(10))
        .stdio(null(), out, null())
        .build()
        .unwrap();
    assert_eq!(write(&mut sys, 1, &[b"0123456789abcdef"]), Ok(10));
    assert_eq!(write(&mut sys, 1, &[b"x"]), Err(Errno::FBIG));
    // Not a regular file: no limit.
    assert_eq!(write(&mut sys, 2, &[&[0; 100]]), Ok(100));
    assert_eq!(size(tmp.path(), "out"), 10);
}
