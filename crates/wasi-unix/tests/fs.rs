//! Files and directories through `UnixSystem`, without a wasm engine.

mod common;

use std::io::{IoSlice, IoSliceMut};

use common::{ROOT, Sandbox, readdir_all, readdir_once};
use wasi_core::System;
use wasi_core::types::*;

const RW: Rights = Rights::FD_READ.union(Rights::FD_WRITE);

#[test]
fn create_write_read_seek() {
    let mut sb = Sandbox::new();
    let fd = sb
        .open("f", Oflags::CREAT, RW | Rights::FD_SEEK | Rights::FD_TELL)
        .unwrap();
    assert_eq!(sb.write(fd, b"hello world"), Ok(11));
    assert_eq!(sb.sys.fd_tell(fd), Ok(11));
    assert_eq!(sb.sys.fd_seek(fd, 6, Whence::SET), Ok(6));
    assert_eq!(sb.read(fd, 100).unwrap(), b"world");
    assert_eq!(sb.sys.fd_seek(fd, -5, Whence::END), Ok(6));
    assert_eq!(sb.sys.fd_seek(fd, -1, Whence::CUR), Ok(5));
    assert_eq!(sb.sys.fd_seek(fd, -100, Whence::CUR), Err(Errno::INVAL));
    sb.sys.fd_close(fd).unwrap();
    assert_eq!(std::fs::read(sb.host("f")).unwrap(), b"hello world");
    assert_eq!(sb.sys.fd_close(fd), Err(Errno::BADF));
}

#[test]
fn vectored_and_positional_io() {
    let mut sb = Sandbox::new();
    let fd = sb
        .open("f", Oflags::CREAT, RW | Rights::FD_SEEK | Rights::FD_TELL)
        .unwrap();
    let n = sb
        .sys
        .fd_write(fd, &[IoSlice::new(b"abc"), IoSlice::new(b"def")])
        .unwrap();
    assert_eq!(n, 6);
    assert_eq!(sb.sys.fd_pwrite(fd, &[IoSlice::new(b"XY")], 1), Ok(2));
    let (mut a, mut b) = ([0u8; 2], [0u8; 10]);
    let n = sb
        .sys
        .fd_pread(
            fd,
            &mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)],
            0,
        )
        .unwrap();
    assert_eq!((n, &a, &b[..4]), (6, b"aX", &b"Ydef"[..]));
    // Positional calls leave the position alone.
    assert_eq!(sb.sys.fd_tell(fd), Ok(6));
}

#[test]
fn append_mode_and_pwrite_on_append() {
    let mut sb = Sandbox::new();
    sb.create("log", b"one\n");
    let fd = sb
        .open_with(
            ROOT,
            Lookupflags::empty(),
            "log",
            Oflags::empty(),
            RW | Rights::FD_SEEK | Rights::FD_FDSTAT_SET_FLAGS,
            Fdflags::APPEND,
        )
        .unwrap();
    assert_eq!(sb.sys.fd_seek(fd, 0, Whence::SET), Ok(0));
    sb.write(fd, b"two\n").unwrap();
    // Linux: pwrite on an O_APPEND descriptor appends.
    sb.sys
        .fd_pwrite(fd, &[IoSlice::new(b"three\n")], 0)
        .unwrap();
    assert_eq!(std::fs::read(sb.host("log")).unwrap(), b"one\ntwo\nthree\n");
    let stat = sb.sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_flags, Fdflags::APPEND);
    sb.sys.fd_fdstat_set_flags(fd, Fdflags::empty()).unwrap();
    assert_eq!(sb.sys.fd_fdstat_get(fd).unwrap().fs_flags, Fdflags::empty());
    assert_eq!(
        sb.sys.fd_fdstat_set_flags(fd, Fdflags::SYNC),
        Err(Errno::NOTSUP)
    );
    sb.sys
        .fd_fdstat_set_flags(fd, Fdflags::NONBLOCK | Fdflags::APPEND)
        .unwrap();
    assert_eq!(
        sb.sys.fd_fdstat_get(fd).unwrap().fs_flags,
        Fdflags::NONBLOCK | Fdflags::APPEND
    );
}

#[test]
fn truncate_and_sizes() {
    let mut sb = Sandbox::new();
    sb.create("f", b"0123456789");
    let fd = sb
        .open(
            "f",
            Oflags::empty(),
            RW | Rights::FD_FILESTAT_SET_SIZE | Rights::FD_FILESTAT_GET,
        )
        .unwrap();
    sb.sys.fd_filestat_set_size(fd, 4).unwrap();
    assert_eq!(sb.sys.fd_filestat_get(fd).unwrap().size, 4);
    sb.sys.fd_close(fd).unwrap();
    let fd = sb.open("f", Oflags::TRUNC, RW).unwrap();
    sb.sys.fd_close(fd).unwrap();
    assert_eq!(sb.stat("f", false).unwrap().size, 0);
}

#[test]
fn allocate_advise_sync() {
    let mut sb = Sandbox::new();
    let fd = sb.open("f", Oflags::CREAT, Rights::all()).unwrap();
    sb.sys.fd_allocate(fd, 100, 50).unwrap();
    assert_eq!(sb.sys.fd_filestat_get(fd).unwrap().size, 150);
    // Allocating inside the file does not shrink it.
    sb.sys.fd_allocate(fd, 0, 10).unwrap();
    assert_eq!(sb.sys.fd_filestat_get(fd).unwrap().size, 150);
    assert_eq!(sb.sys.fd_allocate(fd, 0, 0), Err(Errno::INVAL));
    sb.sys.fd_advise(fd, 0, 0, Advice::SEQUENTIAL).unwrap();
    sb.sys.fd_advise(fd, 10, 10, Advice::DONTNEED).unwrap();
    sb.sys.fd_sync(fd).unwrap();
    sb.sys.fd_datasync(fd).unwrap();
}

#[test]
fn file_rights_are_narrowed_and_enforced() {
    let mut sb = Sandbox::new();
    sb.create("f", b"x");
    let fd = sb.open("f", Oflags::empty(), Rights::all()).unwrap();
    let stat = sb.sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::REGULAR_FILE);
    assert_eq!(stat.fs_rights_base, Rights::REGULAR_FILE);
    assert_eq!(stat.fs_rights_inheriting, Rights::empty());

    let ro = sb.open("f", Oflags::empty(), Rights::FD_READ).unwrap();
    // A missing read or write right is EBADF, as POSIX; others ENOTCAPABLE.
    assert_eq!(sb.write(ro, b"y"), Err(Errno::BADF));
    assert_eq!(sb.sys.fd_seek(ro, 0, Whence::SET), Err(Errno::NOTCAPABLE));
    assert_eq!(
        sb.sys.fd_fdstat_get(ro).unwrap().fs_rights_base,
        Rights::FD_READ
    );
    assert_eq!(
        sb.sys
            .fd_fdstat_set_rights(ro, Rights::FD_READ | Rights::FD_WRITE, Rights::empty()),
        Err(Errno::NOTCAPABLE)
    );
    sb.sys
        .fd_fdstat_set_rights(ro, Rights::empty(), Rights::empty())
        .unwrap();
    assert_eq!(sb.read(ro, 1), Err(Errno::BADF));
}

#[test]
fn preopen_rights_and_prestat() {
    let mut sb = Sandbox::new();
    let stat = sb.sys.fd_fdstat_get(ROOT).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::DIRECTORY);
    assert_eq!(stat.fs_rights_base, Rights::DIRECTORY);
    assert_eq!(stat.fs_rights_inheriting, Rights::DIRECTORY_INHERITING);
    assert_eq!(sb.sys.fd_prestat_get(ROOT), Ok(Prestat::dir(8)));
    assert_eq!(sb.sys.fd_prestat_dir_name(ROOT), Ok("/sandbox"));
    assert_eq!(sb.sys.fd_prestat_get(0), Err(Errno::BADF));
    assert_eq!(sb.sys.fd_prestat_get(4), Err(Errno::BADF));
    // Seeking a directory: EBADF, whatever the rights.
    assert_eq!(sb.sys.fd_seek(ROOT, 0, Whence::SET), Err(Errno::BADF));
    assert_eq!(sb.sys.fd_tell(ROOT), Err(Errno::BADF));
    // Without the create right, no file can be created.
    sb.sys
        .fd_fdstat_set_rights(
            ROOT,
            Rights::DIRECTORY - Rights::PATH_CREATE_FILE,
            Rights::all(),
        )
        .unwrap_err();
    sb.sys
        .fd_fdstat_set_rights(
            ROOT,
            Rights::DIRECTORY - Rights::PATH_CREATE_FILE,
            Rights::DIRECTORY_INHERITING,
        )
        .unwrap();
    assert_eq!(
        sb.open("new", Oflags::CREAT, Rights::FD_WRITE),
        Err(Errno::NOTCAPABLE)
    );
}

#[test]
fn directories() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    assert_eq!(sb.sys.path_create_directory(ROOT, "d"), Err(Errno::EXIST));
    assert_eq!(sb.sys.path_create_directory(ROOT, "d/"), Err(Errno::EXIST));
    sb.sys.path_create_directory(ROOT, "d/e/").unwrap();
    sb.create("d/e/f", b"");
    assert_eq!(
        sb.sys.path_remove_directory(ROOT, "d"),
        Err(Errno::NOTEMPTY)
    );
    assert_eq!(
        sb.sys.path_remove_directory(ROOT, "d/e/f"),
        Err(Errno::NOTDIR)
    );
    assert_eq!(sb.sys.path_unlink_file(ROOT, "d/e"), Err(Errno::ISDIR));
    assert_eq!(sb.sys.path_unlink_file(ROOT, "d/e/f/"), Err(Errno::NOTDIR));
    assert_eq!(
        sb.sys.path_unlink_file(ROOT, "d/e/missing"),
        Err(Errno::NOENT)
    );
    sb.sys.path_unlink_file(ROOT, "d/e/f").unwrap();
    sb.sys.path_remove_directory(ROOT, "d/e/").unwrap();
    sb.sys.path_remove_directory(ROOT, "d").unwrap();
    assert!(!sb.host("d").exists());
    assert_eq!(sb.sys.path_create_directory(ROOT, ""), Err(Errno::NOENT));
    assert_eq!(sb.sys.path_create_directory(ROOT, "."), Err(Errno::EXIST));
    assert_eq!(sb.sys.path_remove_directory(ROOT, "."), Err(Errno::INVAL));
}

#[test]
fn open_errors() {
    let mut sb = Sandbox::new();
    sb.create("f", b"x");
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    assert_eq!(
        sb.open("missing", Oflags::empty(), Rights::FD_READ),
        Err(Errno::NOENT)
    );
    assert_eq!(
        sb.open("", Oflags::empty(), Rights::FD_READ),
        Err(Errno::NOENT)
    );
    assert_eq!(
        sb.open("f\0", Oflags::empty(), Rights::FD_READ),
        Err(Errno::INVAL)
    );
    assert_eq!(sb.sys.path_unlink_file(ROOT, "f\0"), Err(Errno::INVAL));
    assert_eq!(
        sb.open("f", Oflags::CREAT | Oflags::EXCL, Rights::FD_WRITE),
        Err(Errno::EXIST)
    );
    assert_eq!(
        sb.open("f", Oflags::DIRECTORY, Rights::FD_READ),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sb.open("f/", Oflags::empty(), Rights::FD_READ),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sb.open("d", Oflags::empty(), Rights::FD_WRITE),
        Err(Errno::ISDIR)
    );
    assert_eq!(
        sb.open("new/", Oflags::CREAT, Rights::FD_WRITE),
        Err(Errno::ISDIR)
    );
    // Path calls on a file descriptor.
    let fd = sb.open("f", Oflags::empty(), Rights::FD_READ).unwrap();
    assert_eq!(
        sb.open_with(
            fd,
            Lookupflags::empty(),
            "x",
            Oflags::empty(),
            Rights::FD_READ,
            Fdflags::empty()
        ),
        Err(Errno::NOTDIR)
    );
    assert_eq!(sb.sys.path_create_directory(fd, "x"), Err(Errno::NOTDIR));
    let mut buf = [0; 64];
    let mut out = wasi_core::DirentWriter::new(&mut buf);
    assert_eq!(sb.sys.fd_readdir(fd, 0, &mut out), Err(Errno::NOTDIR));
    let stat = sb.sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(sb.sys.fd_readdir(fd, 0, &mut out), Err(Errno::NOTDIR));
    assert_eq!(stat.fs_filetype, Filetype::REGULAR_FILE);
    // A directory without the right.
    let d = sb.open("d", Oflags::DIRECTORY, Rights::PATH_OPEN).unwrap();
    assert_eq!(sb.sys.fd_readdir(d, 0, &mut out), Err(Errno::NOTCAPABLE));
    assert_eq!(sb.sys.fd_seek(d, 0, Whence::CUR), Err(Errno::BADF));
}

#[test]
fn directory_opened_without_directory_flag() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    sb.create("d/f", b"inner");
    // Write rights would open it for writing: `EISDIR`.
    assert_eq!(
        sb.open("d", Oflags::empty(), Rights::all()),
        Err(Errno::ISDIR)
    );
    let fd = sb
        .open(
            "d",
            Oflags::empty(),
            Rights::DIRECTORY | Rights::FD_READ | Rights::FD_SEEK,
        )
        .unwrap();
    // Its type is learnt when needed; path calls work through it.
    let f = sb
        .open_with(
            fd,
            Lookupflags::empty(),
            "f",
            Oflags::empty(),
            Rights::FD_READ,
            Fdflags::empty(),
        )
        .unwrap();
    assert_eq!(sb.read(f, 10).unwrap(), b"inner");
    assert_eq!(sb.sys.fd_seek(fd, 0, Whence::SET), Err(Errno::BADF));
    let stat = sb.sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::DIRECTORY);
    assert_eq!(stat.fs_rights_base, Rights::DIRECTORY);
    assert_eq!(sb.read(fd, 1), Err(Errno::BADF));
}

#[test]
fn readdir_cookies_are_stable() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    let mut names: Vec<String> = (0..40).map(|i| format!("file-{i:02}")).collect();
    for name in &names {
        sb.create(&format!("d/{name}"), b"");
    }
    sb.sys.path_create_directory(ROOT, "d/sub").unwrap();
    let fd = sb.open("d", Oflags::DIRECTORY, Rights::FD_READDIR).unwrap();

    let all = readdir_all(&mut sb.sys, fd, 4096);
    let mut listed: Vec<String> = all.iter().map(|e| e.name.clone()).collect();
    listed.sort();
    names.extend([".".into(), "..".into(), "sub".into()]);
    names.sort();
    assert_eq!(listed, names);
    for e in &all {
        let expected = match e.name.as_str() {
            "." | ".." | "sub" => Filetype::DIRECTORY,
            _ => Filetype::REGULAR_FILE,
        };
        assert_eq!(e.filetype, expected, "{}", e.name);
    }

    // Small buffers: truncated entries are read again from the last cookie.
    let small = readdir_all(&mut sb.sys, fd, 60);
    assert_eq!(small, all);

    // Resuming from any entry's cookie lists exactly the entries after it.
    for i in [0, 10, all.len() - 1] {
        let (rest, _) = readdir_once(&mut sb.sys, fd, all[i].next, 1 << 16).unwrap();
        assert_eq!(rest, all[i + 1..]);
    }
    // Cookie 0 starts over.
    let (again, _) = readdir_once(&mut sb.sys, fd, 0, 1 << 16).unwrap();
    assert_eq!(again, all);
}

#[test]
fn rename() {
    let mut sb = Sandbox::new();
    sb.create("a", b"A");
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    sb.sys.path_rename(ROOT, "a", ROOT, "d/b").unwrap();
    assert_eq!(sb.read_file("d/b").unwrap(), b"A");
    assert_eq!(sb.read_file("a"), Err(Errno::NOENT));
    // Over an existing file.
    sb.create("c", b"C");
    sb.sys.path_rename(ROOT, "c", ROOT, "d/b").unwrap();
    assert_eq!(sb.read_file("d/b").unwrap(), b"C");
    // A directory onto a non-empty one, a file onto a directory.
    sb.sys.path_create_directory(ROOT, "e").unwrap();
    assert_eq!(
        sb.sys.path_rename(ROOT, "e", ROOT, "d"),
        Err(Errno::NOTEMPTY)
    );
    sb.create("g", b"");
    assert_eq!(sb.sys.path_rename(ROOT, "g", ROOT, "e"), Err(Errno::ISDIR));
    assert_eq!(
        sb.sys.path_rename(ROOT, "g/", ROOT, "h"),
        Err(Errno::NOTDIR)
    );
    sb.sys.path_rename(ROOT, "e/", ROOT, "f/").unwrap();
    assert_eq!(sb.stat("f", false).unwrap().filetype, Filetype::DIRECTORY);
}

#[test]
fn symlinks() {
    let mut sb = Sandbox::new();
    sb.create("target", b"T");
    sb.sys.path_symlink("target", ROOT, "link").unwrap();
    assert_eq!(
        sb.sys.path_symlink("target", ROOT, "link"),
        Err(Errno::EXIST)
    );
    assert_eq!(sb.readlink("link").unwrap(), b"target");
    // Truncated to the buffer.
    let mut buf = [0u8; 3];
    assert_eq!(sb.sys.path_readlink(ROOT, "link", &mut buf), Ok(3));
    assert_eq!(&buf, b"tar");
    assert_eq!(sb.sys.path_readlink(ROOT, "link", &mut []), Ok(0));
    assert_eq!(sb.readlink("target"), Err(Errno::INVAL));
    assert_eq!(sb.readlink("missing"), Err(Errno::NOENT));

    let lstat = sb.stat("link", false).unwrap();
    assert_eq!(lstat.filetype, Filetype::SYMBOLIC_LINK);
    assert_eq!(lstat.size, 6);
    assert_eq!(
        sb.stat("link", true).unwrap().filetype,
        Filetype::REGULAR_FILE
    );

    // Opening follows only when asked; a symlink's final component gives ELOOP.
    assert_eq!(
        sb.open("link", Oflags::empty(), Rights::FD_READ),
        Err(Errno::LOOP)
    );
    let fd = sb
        .open_with(
            ROOT,
            Lookupflags::SYMLINK_FOLLOW,
            "link",
            Oflags::empty(),
            Rights::FD_READ,
            Fdflags::empty(),
        )
        .unwrap();
    assert_eq!(sb.read(fd, 10).unwrap(), b"T");

    // Symlinks in intermediate components are followed (beneath the root).
    sb.sys.path_create_directory(ROOT, "dir").unwrap();
    sb.create("dir/inner", b"I");
    sb.sys.path_symlink("dir", ROOT, "dirlink").unwrap();
    assert_eq!(sb.read_file("dirlink/inner").unwrap(), b"I");
    assert_eq!(
        sb.stat("dirlink/", false).unwrap().filetype,
        Filetype::DIRECTORY
    );

    // Dangling links, and unlinking a link leaves its target.
    sb.sys.path_symlink("nowhere", ROOT, "dangling").unwrap();
    assert_eq!(sb.stat("dangling", true), Err(Errno::NOENT));
    assert_eq!(
        sb.stat("dangling", false).unwrap().filetype,
        Filetype::SYMBOLIC_LINK
    );
    sb.sys.path_unlink_file(ROOT, "link").unwrap();
    assert_eq!(sb.read_file("target").unwrap(), b"T");
    assert_eq!(
        sb.sys.path_remove_directory(ROOT, "dirlink"),
        Err(Errno::NOTDIR)
    );
    assert_eq!(sb.sys.path_symlink("", ROOT, "empty"), Err(Errno::NOENT));
}

#[test]
fn hard_links() {
    let mut sb = Sandbox::new();
    sb.create("a", b"A");
    sb.sys
        .path_link(ROOT, Lookupflags::empty(), "a", ROOT, "b")
        .unwrap();
    assert_eq!(sb.stat("a", false).unwrap().nlink, 2);
    assert_eq!(
        sb.stat("a", false).unwrap().ino,
        sb.stat("b", false).unwrap().ino
    );
    assert_eq!(
        sb.sys.path_link(ROOT, Lookupflags::empty(), "a", ROOT, "b"),
        Err(Errno::EXIST)
    );
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    assert_eq!(
        sb.sys.path_link(ROOT, Lookupflags::empty(), "d", ROOT, "e"),
        Err(Errno::PERM)
    );
    // Linking a symlink itself, or what it points to.
    sb.sys.path_symlink("a", ROOT, "s").unwrap();
    sb.sys
        .path_link(ROOT, Lookupflags::empty(), "s", ROOT, "s2")
        .unwrap();
    assert_eq!(
        sb.stat("s2", false).unwrap().filetype,
        Filetype::SYMBOLIC_LINK
    );
    sb.sys
        .path_link(ROOT, Lookupflags::SYMLINK_FOLLOW, "s", ROOT, "a2")
        .unwrap();
    assert_eq!(
        sb.stat("a2", false).unwrap().filetype,
        Filetype::REGULAR_FILE
    );
    assert_eq!(sb.stat("a", false).unwrap().nlink, 3);
}

#[test]
fn times() {
    let mut sb = Sandbox::new();
    sb.create("f", b"");
    let fd = sb.open("f", Oflags::empty(), Rights::REGULAR_FILE).unwrap();
    sb.sys
        .fd_filestat_set_times(
            fd,
            1_000_000_001,
            2_000_000_002,
            Fstflags::ATIM | Fstflags::MTIM,
        )
        .unwrap();
    let stat = sb.sys.fd_filestat_get(fd).unwrap();
    assert_eq!((stat.atim, stat.mtim), (1_000_000_001, 2_000_000_002));
    // Only mtim changes; atim is left alone.
    sb.sys
        .path_filestat_set_times(
            ROOT,
            Lookupflags::empty(),
            "f",
            0,
            5_000_000_000,
            Fstflags::MTIM,
        )
        .unwrap();
    let stat = sb.stat("f", false).unwrap();
    assert_eq!((stat.atim, stat.mtim), (1_000_000_001, 5_000_000_000));
    // Now.
    sb.sys
        .fd_filestat_set_times(fd, 0, 0, Fstflags::MTIM_NOW)
        .unwrap();
    assert!(sb.stat("f", false).unwrap().mtim > 5_000_000_000);

    // On a symlink, without following: the link changes, not the target.
    sb.sys.path_symlink("f", ROOT, "l").unwrap();
    let before = sb.stat("f", false).unwrap();
    sb.sys
        .path_filestat_set_times(
            ROOT,
            Lookupflags::empty(),
            "l",
            7_000_000_000,
            7_000_000_000,
            Fstflags::ATIM | Fstflags::MTIM,
        )
        .unwrap();
    assert_eq!(sb.stat("l", false).unwrap().mtim, 7_000_000_000);
    assert_eq!(sb.stat("f", false).unwrap().mtim, before.mtim);
    sb.sys
        .path_filestat_set_times(
            ROOT,
            Lookupflags::SYMLINK_FOLLOW,
            "l",
            0,
            9_000_000_000,
            Fstflags::MTIM,
        )
        .unwrap();
    assert_eq!(sb.stat("f", false).unwrap().mtim, 9_000_000_000);
}

#[test]
fn renumber_and_close_preopen() {
    let mut sb = Sandbox::new();
    sb.create("f", b"F");
    let fd = sb.open("f", Oflags::empty(), Rights::FD_READ).unwrap();
    assert_eq!(fd, 4);
    assert_eq!(sb.sys.fd_renumber(fd, 9), Err(Errno::BADF));
    sb.sys.fd_renumber(ROOT, fd).unwrap();
    // The preopen now lives at 4 and is still a preopen.
    assert_eq!(sb.sys.fd_prestat_dir_name(fd), Ok("/sandbox"));
    assert_eq!(sb.sys.fd_fdstat_get(ROOT), Err(Errno::BADF));
    assert_eq!(
        sb.open_with(
            fd,
            Lookupflags::empty(),
            "f",
            Oflags::empty(),
            Rights::FD_READ,
            Fdflags::empty()
        ),
        Ok(3)
    );
    sb.sys.fd_close(fd).unwrap();
    assert_eq!(sb.sys.fd_prestat_get(fd), Err(Errno::BADF));
}

#[test]
fn virtual_files() {
    struct Hello(usize);
    impl wasi_core::vfs::VirtualFile for Hello {
        fn filetype(&self) -> Filetype {
            Filetype::CHARACTER_DEVICE
        }
        fn filestat(&mut self) -> wasi_core::system::Result<Filestat> {
            Ok(Filestat {
                filetype: Filetype::CHARACTER_DEVICE,
                ..Filestat::default()
            })
        }
        fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> wasi_core::system::Result<Size> {
            let n = wasi_core::vfs::copy_to_iovs(&b"hello"[self.0..], iovs);
            self.0 += n;
            Ok(n as Size)
        }
    }
    let mut sb = Sandbox::new();
    let fd = sb
        .sys
        .insert_virtual(
            Box::new(Hello(0)),
            Rights::CHARACTER_DEVICE,
            Rights::empty(),
        )
        .unwrap();
    assert_eq!(fd, 4);
    assert_eq!(sb.read(fd, 3).unwrap(), b"hel");
    assert_eq!(sb.read(fd, 3).unwrap(), b"lo");
    assert_eq!(sb.write(fd, b"x"), Err(Errno::BADF));
    let stat = sb.sys.fd_fdstat_get(fd).unwrap();
    assert_eq!(stat.fs_filetype, Filetype::CHARACTER_DEVICE);
    assert_eq!(stat.fs_rights_base, Rights::CHARACTER_DEVICE);
    assert_eq!(sb.sys.fd_seek(fd, 0, Whence::SET), Err(Errno::NOTCAPABLE));
    assert_eq!(sb.sys.path_create_directory(fd, "x"), Err(Errno::NOTDIR));
    assert_eq!(sb.sys.sock_shutdown(fd, Sdflags::RD), Err(Errno::NOTSOCK));
    sb.sys.fd_close(fd).unwrap();

    // Through `VirtualFds`, as decorators install them: possibly as a preopen.
    let dir = wasi_core::vfs::VirtualFds::insert_virtual(
        &mut sb.sys,
        Box::new(Hello(0)),
        Rights::DIRECTORY,
        Rights::empty(),
        Some("/dev"),
    )
    .unwrap();
    assert_eq!(dir, 4);
    assert_eq!(sb.sys.fd_prestat_dir_name(dir), Ok("/dev"));
    assert_eq!(sb.sys.fd_prestat_get(dir), Ok(Prestat::dir(4)));
}

/// Found by the differential fuzzer: on ext4, a directory description
/// whose first read was at the end cookie stayed at the end, and a listing
/// from cookie 0 then found nothing.
#[test]
fn listing_from_the_start_after_a_first_read_at_the_end() {
    let mut sb = Sandbox::new();
    std::fs::write(sb.host("a"), b"").unwrap();
    std::fs::create_dir(sb.host("d")).unwrap();
    std::fs::write(sb.host("d/b"), b"").unwrap();
    let dir = sb.open("d", Oflags::DIRECTORY, Rights::DIRECTORY).unwrap();
    for fd in [ROOT, dir] {
        let (entries, full) = readdir_once(&mut sb.sys, fd, i64::MAX as u64, 64).unwrap();
        assert_eq!((entries.len(), full), (0, false));
        let names: Vec<_> = readdir_all(&mut sb.sys, fd, 4096)
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert!(names.len() >= 3, "{fd}: {names:?}");
    }
}

/// Found by the differential fuzzer: a followed source is resolved, and its
/// errors reported, before the destination, as Linux's `linkat` does.
#[test]
fn link_reports_the_source_errors_first() {
    let mut sb = Sandbox::new();
    std::os::unix::fs::symlink("loop", sb.host("loop")).unwrap();
    std::os::unix::fs::symlink("nowhere", sb.host("dangling")).unwrap();
    std::fs::write(sb.host("file"), b"").unwrap();
    let link = |sys: &mut wasi_unix::UnixSystem, flags, old: &str, new: &str| {
        sys.path_link(ROOT, flags, old, ROOT, new)
    };
    let follow = Lookupflags::SYMLINK_FOLLOW;
    let none = Lookupflags::empty();
    assert_eq!(
        link(&mut sb.sys, none, "loop/", "missing/b"),
        Err(Errno::LOOP)
    );
    assert_eq!(
        link(&mut sb.sys, follow, "loop", "missing/b"),
        Err(Errno::LOOP)
    );
    assert_eq!(
        link(&mut sb.sys, none, "dangling/", "missing/b"),
        Err(Errno::NOENT)
    );
    // The source's directory before the destination's.
    std::fs::create_dir(sb.host("dir")).unwrap();
    assert_eq!(
        link(&mut sb.sys, none, "../x/y", "missing/b"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        link(&mut sb.sys, none, "nodir/y", "../b"),
        Err(Errno::NOENT)
    );
    // A missing source name is `linkat`'s to report, after the directories.
    assert_eq!(
        link(&mut sb.sys, none, "absent", "../b"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(link(&mut sb.sys, none, "file", "dir/file2"), Ok(()));
}

/// Found by the differential fuzzer: `fd_readdir` on a file opened without
/// `oflags::directory` (its type not yet known) moved the file's position.
#[test]
fn readdir_on_a_file_leaves_its_position() {
    let mut sb = Sandbox::new();
    let rights = Rights::FD_WRITE | Rights::FD_TELL | Rights::FD_READDIR;
    let fd = sb.open("f", Oflags::CREAT, rights).unwrap();
    assert_eq!(sb.sys.fd_write(fd, &[IoSlice::new(b"b")]), Ok(1));
    assert_eq!(readdir_once(&mut sb.sys, fd, 0, 150), Err(Errno::NOTDIR));
    assert_eq!(sb.sys.fd_tell(fd), Ok(1));
}
