//! `fd_allocate` leaves nothing behind when it fails (`spec/preview1.md`,
//! "File sizes"). This test is alone in its binary: on ext4 the kernel fills
//! the disk before the allocation fails, and any test writing beside it in
//! the same process would get `ENOSPC` (`cargo test` runs one test binary at
//! a time).

mod common;

use std::os::unix::fs::MetadataExt;

use common::{file_size as size, limited_system as system, open_file as open};
use wasi_core::System;
use wasi_core::types::*;

/// Asking for far more than the disk holds fails, and the file is as it
/// was: its size, and its blocks but for one block of the filesystem's own
/// metadata (ext4 keeps the index block its extent tree grew). On ext4 the
/// kernel fills the disk before it fails: this test does too, for a
/// moment, on the filesystem of `TMPDIR`.
#[test]
fn a_failed_allocation_leaves_the_file_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("file");
    std::fs::write(&path, b"hello\n").unwrap();
    let before = std::fs::metadata(&path).unwrap();
    let mut sys = system(tmp.path(), None);
    let fd = open(&mut sys, "file", Oflags::empty(), Fdflags::empty());

    let check = |err: Errno| {
        assert!(
            matches!(err, Errno::NOSPC | Errno::DQUOT | Errno::FBIG),
            "{err:?}"
        );
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.len(), before.len());
        let metadata_block = after.blksize() / 512;
        assert!(
            after.blocks() <= before.blocks() + metadata_block,
            "{} blocks of 512 bytes, {} before",
            after.blocks(),
            before.blocks()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
    };
    check(sys.fd_allocate(fd, 0, 1 << 40).unwrap_err());
    // From an offset past the end.
    check(sys.fd_allocate(fd, 1 << 20, 1 << 40).unwrap_err());

    // What fits is allocated as before.
    sys.fd_allocate(fd, 0, 1 << 16).unwrap();
    assert_eq!(size(tmp.path(), "file"), 1 << 16);
}
