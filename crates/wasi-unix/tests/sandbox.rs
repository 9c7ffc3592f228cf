//! No path form leads out of a preopened directory.
//!
//! The sandbox is `tmp/inside`; `tmp/outside/secret` is the bait. Every
//! escape must fail with `ENOTCAPABLE` (loops with `ELOOP`) and leave the
//! host untouched.

mod common;

use common::{ROOT, Sandbox};
use wasi_core::System;
use wasi_core::types::*;

const FOLLOW: Lookupflags = Lookupflags::SYMLINK_FOLLOW;
const NOFOLLOW: Lookupflags = Lookupflags::empty();

/// Tries to reach `path` (which names the outside `secret` file, or a path
/// under an outside directory) with every path call, and checks that each
/// fails with `errno`.
fn assert_unreachable(sb: &mut Sandbox, path: &str, errno: Errno) {
    let sys = &mut sb.sys;
    // With a trailing slash, calls that act on a name see that the name (a
    // symlink inside the sandbox) is not a directory, without following it.
    let trailing = path.ends_with('/');
    let name_error = |result: Result<(), Errno>, what: &str| {
        let err = result.unwrap_err();
        assert!(
            err == errno || (trailing && err == Errno::NOTDIR),
            "{what} {path}: {err:?}"
        );
    };
    for lookup in [FOLLOW, NOFOLLOW] {
        assert_eq!(
            sys.path_open(
                ROOT,
                lookup,
                path,
                Oflags::empty(),
                Rights::FD_READ,
                Rights::empty(),
                Fdflags::empty()
            ),
            Err(errno),
            "path_open {path} {lookup:?}"
        );
        // Linux may refuse to create `x/` before looking anything up.
        let creat = sys
            .path_open(
                ROOT,
                lookup,
                path,
                Oflags::CREAT,
                Rights::FD_WRITE,
                Rights::empty(),
                Fdflags::empty(),
            )
            .unwrap_err();
        assert!(
            creat == errno || (trailing && creat == Errno::ISDIR),
            "path_open creat {path}: {creat:?}"
        );
        assert_eq!(
            sys.path_filestat_get(ROOT, lookup, path),
            Err(errno),
            "filestat {path} {lookup:?}"
        );
        assert_eq!(
            sys.path_filestat_set_times(ROOT, lookup, path, 0, 0, Fstflags::MTIM),
            Err(errno),
            "set_times {path}"
        );
        assert_eq!(
            sys.path_link(ROOT, lookup, path, ROOT, "stolen"),
            Err(errno),
            "link from {path} {lookup:?}"
        );
    }
    let child = format!("{path}/x");
    assert_eq!(
        sys.path_create_directory(ROOT, &child),
        Err(errno),
        "mkdir {child}"
    );
    assert_eq!(
        sys.path_symlink("a", ROOT, &child),
        Err(errno),
        "symlink {child}"
    );
    name_error(sys.path_unlink_file(ROOT, path), "unlink");
    name_error(sys.path_remove_directory(ROOT, path), "rmdir");
    name_error(sys.path_rename(ROOT, path, ROOT, "stolen"), "rename from");
    assert_eq!(
        sys.path_readlink(ROOT, path, &mut [0; 64]),
        Err(errno),
        "readlink {path}"
    );
    // As a destination.
    sb_create(sys, "bait");
    name_error(sys.path_rename(ROOT, "bait", ROOT, path), "rename to");
    assert_eq!(
        sys.path_link(ROOT, NOFOLLOW, "bait", ROOT, &child),
        Err(errno),
        "link to {child}"
    );
    sys.path_unlink_file(ROOT, "bait").unwrap();
    assert_host_untouched(sb);
}

fn sb_create(sys: &mut wasi_unix::UnixSystem, path: &str) {
    let fd = sys
        .path_open(
            ROOT,
            NOFOLLOW,
            path,
            Oflags::CREAT,
            Rights::FD_WRITE,
            Rights::empty(),
            Fdflags::empty(),
        )
        .unwrap();
    sys.fd_close(fd).unwrap();
}

fn assert_host_untouched(sb: &Sandbox) {
    let outside = sb.outside().join("outside");
    let mut names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["secret"]);
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    let mut top: Vec<_> = std::fs::read_dir(sb.outside())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["inside", "outside"]);
}

#[test]
fn dot_dot() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "a").unwrap();
    for path in [
        "..",
        "../outside/secret",
        "a/../../outside/secret",
        "a/../..",
        "./../outside",
        "a/./../../outside/secret",
    ] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    // `..` that stays inside is fine.
    sb.sys.path_create_directory(ROOT, "a/../b").unwrap();
    assert!(sb.host("b").is_dir());
    assert_eq!(
        sb.sys.path_create_directory(ROOT, "a/.."),
        Err(Errno::EXIST)
    );
}

#[test]
fn absolute_paths() {
    let mut sb = Sandbox::new();
    for path in ["/etc/passwd", "/", "//", "/tmp"] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    let secret = sb.outside().join("outside/secret");
    assert_unreachable(&mut sb, secret.to_str().unwrap(), Errno::NOTCAPABLE);
}

#[test]
fn absolute_symlinks() {
    let mut sb = Sandbox::new();
    let outside = sb.outside().join("outside");
    std::os::unix::fs::symlink("/etc", sb.host("etc")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.host("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), sb.host("secret")).unwrap();
    for path in [
        "etc/passwd",
        "etc/",
        "out/secret",
        "out/",
        "out/.",
        "secret/",
    ] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    // Following the final component escapes too.
    for path in ["secret", "etc", "out"] {
        assert_eq!(sb.stat(path, true), Err(Errno::NOTCAPABLE), "{path}");
        assert_eq!(
            sb.open_with(
                ROOT,
                FOLLOW,
                path,
                Oflags::empty(),
                Rights::FD_READ,
                Fdflags::empty()
            ),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.sys.path_link(ROOT, FOLLOW, path, ROOT, "stolen"),
            Err(Errno::NOTCAPABLE)
        );
        // Not following it acts on the link itself, which is inside.
        assert_eq!(
            sb.stat(path, false).unwrap().filetype,
            Filetype::SYMBOLIC_LINK
        );
        assert_eq!(
            sb.open(path, Oflags::empty(), Rights::FD_READ),
            Err(Errno::LOOP)
        );
    }
    // The link can be read, renamed and removed: it lives inside.
    assert_eq!(sb.readlink("etc").unwrap(), b"/etc");
    sb.sys.path_rename(ROOT, "etc", ROOT, "etc2").unwrap();
    sb.sys.path_unlink_file(ROOT, "etc2").unwrap();
    assert!(std::path::Path::new("/etc/passwd").exists());
    assert_host_untouched(&sb);
}

#[test]
fn relative_symlinks_climbing_out() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    sb.sys.path_symlink("../outside", ROOT, "up").unwrap();
    sb.sys
        .path_symlink("../../outside/secret", ROOT, "d/deep")
        .unwrap();
    sb.sys
        .path_symlink("../../../../../../../../../../etc", ROOT, "d/far")
        .unwrap();
    for path in ["up/secret", "up/", "d/deep/", "d/far/passwd"] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    assert_eq!(sb.stat("d/deep", true), Err(Errno::NOTCAPABLE));
    assert_eq!(sb.read_file("up/secret"), Err(Errno::NOTCAPABLE));
}

#[test]
fn symlink_chains() {
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "d").unwrap();
    // c -> d/b -> a -> ../outside (a chain whose last hop escapes).
    sb.sys.path_symlink("../outside", ROOT, "a").unwrap();
    sb.sys.path_symlink("../a", ROOT, "d/b").unwrap();
    sb.sys.path_symlink("d/b", ROOT, "c").unwrap();
    for path in ["c/secret", "d/b/secret", "c/"] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    // A chain that stays inside works.
    sb.create("d/file", b"ok");
    sb.sys.path_symlink("file", ROOT, "d/f1").unwrap();
    sb.sys.path_symlink("d/f1", ROOT, "f2").unwrap();
    assert_eq!(
        sb.stat("f2", true).unwrap().filetype,
        Filetype::REGULAR_FILE
    );
}

#[test]
fn intermediate_symlink_to_outside_directory() {
    let mut sb = Sandbox::new();
    std::os::unix::fs::symlink(sb.outside().join("outside"), sb.host("mnt")).unwrap();
    sb.sys.path_symlink("../outside", ROOT, "rel").unwrap();
    for dir in ["mnt", "rel"] {
        // Creating, removing and renaming beneath the escaping link.
        assert_eq!(
            sb.sys.path_create_directory(ROOT, &format!("{dir}/new")),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.sys.path_unlink_file(ROOT, &format!("{dir}/secret")),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.sys
                .path_rename(ROOT, &format!("{dir}/secret"), ROOT, "mine"),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.sys.path_symlink("x", ROOT, &format!("{dir}/planted")),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.sys
                .path_link(ROOT, NOFOLLOW, &format!("{dir}/secret"), ROOT, "hard"),
            Err(Errno::NOTCAPABLE)
        );
        assert_eq!(
            sb.readlink(&format!("{dir}/secret")),
            Err(Errno::NOTCAPABLE)
        );
    }
    assert_host_untouched(&sb);
}

#[test]
fn proc_self_root() {
    let mut sb = Sandbox::new();
    std::os::unix::fs::symlink("/proc/self/root", sb.host("root")).unwrap();
    sb.sys
        .path_symlink("../../../../../../../../../../proc/self/root", ROOT, "rel")
        .unwrap();
    for path in ["root/etc/passwd", "root/", "rel/etc/passwd", "rel/"] {
        assert_unreachable(&mut sb, path, Errno::NOTCAPABLE);
    }
    for path in ["root", "rel"] {
        assert_eq!(sb.stat(path, true), Err(Errno::NOTCAPABLE));
    }
}

#[test]
fn magic_links_inside_a_proc_preopen() {
    // Even with /proc itself preopened (which needs `allow_pseudo_fs`), its
    // magic links are not followed.
    let mut sys = wasi_unix::UnixSystem::builder()
        .allow_pseudo_fs(true)
        .preopen_dir("/proc", "/proc")
        .unwrap()
        .build()
        .unwrap();
    for path in [
        "self/root/etc/passwd",
        "self/cwd",
        "self/fd/0",
        "thread-self/root",
    ] {
        assert_eq!(
            sys.path_open(
                ROOT,
                FOLLOW,
                path,
                Oflags::empty(),
                Rights::FD_READ,
                Rights::empty(),
                Fdflags::empty()
            ),
            Err(Errno::LOOP),
            "{path}"
        );
    }
}

#[test]
fn loops() {
    let mut sb = Sandbox::new();
    sb.sys.path_symlink("loop-b", ROOT, "loop-a").unwrap();
    sb.sys.path_symlink("loop-a", ROOT, "loop-b").unwrap();
    sb.sys.path_symlink("self", ROOT, "self").unwrap();
    sb.sys.path_symlink("./self/x", ROOT, "deep").unwrap();
    for path in ["loop-a", "self", "deep"] {
        assert_eq!(sb.stat(path, true), Err(Errno::LOOP), "{path}");
        assert_eq!(
            sb.open_with(
                ROOT,
                FOLLOW,
                path,
                Oflags::empty(),
                Rights::FD_READ,
                Fdflags::empty()
            ),
            Err(Errno::LOOP)
        );
        assert_eq!(sb.stat(&format!("{path}/x"), false), Err(Errno::LOOP));
        assert_eq!(
            sb.sys.path_create_directory(ROOT, &format!("{path}/x")),
            Err(Errno::LOOP)
        );
        // The link itself is fine.
        assert_eq!(
            sb.stat(path, false).unwrap().filetype,
            Filetype::SYMBOLIC_LINK
        );
    }
}

#[test]
fn escapes_from_a_subdirectory_descriptor() {
    // Paths are resolved beneath the descriptor they are given with, not
    // beneath the preopen it came from.
    let mut sb = Sandbox::new();
    sb.sys.path_create_directory(ROOT, "sub").unwrap();
    sb.create("sibling", b"s");
    let sub = sb
        .open("sub", Oflags::DIRECTORY, Rights::DIRECTORY)
        .unwrap();
    assert_eq!(
        sb.open_with(
            sub,
            NOFOLLOW,
            "../sibling",
            Oflags::empty(),
            Rights::FD_READ,
            Fdflags::empty()
        ),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sb.sys.path_filestat_get(sub, NOFOLLOW, ".."),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sb.sys.path_unlink_file(sub, "../sibling"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sb.sys.path_remove_directory(sub, ".."),
        Err(Errno::NOTCAPABLE)
    );
    assert!(sb.host("sibling").exists());
}

#[test]
fn absolute_symlink_targets_are_refused() {
    let mut sb = Sandbox::new();
    assert_eq!(
        sb.sys.path_symlink("/etc/passwd", ROOT, "l"),
        Err(Errno::NOTCAPABLE)
    );
    assert!(!sb.host("l").exists());
    // A relative target is just data until it is followed.
    sb.sys.path_symlink("../outside/secret", ROOT, "l").unwrap();
    assert_eq!(sb.readlink("l").unwrap(), b"../outside/secret");
}
