//! The two ways of resolving paths (`PathResolution::Openat2` and
//! `PathResolution::Walk`) give the guest the same results and errors
//! (`spec/preview1.md`, "Path resolution without openat2"), and neither
//! can be raced out of its directory by swapping symlinks.
//!
//! The rest of the suite runs with whichever the machine gives
//! (`WASIRUN_NO_OPENAT2=1` forces the walk); these tests build one system of
//! each kind side by side.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

use common::ROOT;
use wasi_core::System;
use wasi_core::types::*;
use wasi_unix::{PathResolution, UnixSystem, features};

const FOLLOW: Lookupflags = Lookupflags::SYMLINK_FOLLOW;
const NOFOLLOW: Lookupflags = Lookupflags::empty();

/// Skips a test when this kernel has no `openat2` to compare with.
fn openat2_missing() -> bool {
    let missing = !features::openat2().is_available();
    if missing {
        eprintln!("openat2 is {}: nothing to compare", features::openat2());
    }
    missing
}

/// A tree with files, directories, and symlinks of every kind: inside,
/// chained, dangling, looping, absolute, and climbing out to `outside`.
fn tree(root: &Path) {
    let inside = root.join("inside");
    std::fs::create_dir_all(inside.join("d/sub")).unwrap();
    std::fs::create_dir(root.join("outside")).unwrap();
    std::fs::write(root.join("outside/secret"), "secret").unwrap();
    std::fs::write(inside.join("f"), "file").unwrap();
    std::fs::write(inside.join("d/g"), "g").unwrap();
    for (link, target) in [
        ("lf", "f"),
        ("ld", "d"),
        ("ldslash", "d/"),
        ("ldg", "d/g"),
        ("ldot", "."),
        ("lparent", "d/.."),
        ("dangling", "nothere"),
        ("dangling-dir", "d/nothere/x"),
        ("chain", "lf"),
        ("loop", "loop"),
        ("lup", "../outside/secret"),
        ("lupdir", "../outside"),
        ("labs", "/etc/passwd"),
        ("lempty-ish", "./"),
        ("d/lback", "../f"),
        ("d/lout", "../../outside"),
        ("d/sub/lroot", "../.."),
    ] {
        symlink(target, inside.join(link)).unwrap();
    }
}

/// The paths tried: every name in the tree, with suffixes that go down,
/// up and through links, plus degenerate forms.
fn paths() -> Vec<String> {
    let names = [
        "f",
        "d",
        "d/sub",
        "lf",
        "ld",
        "ldslash",
        "ldg",
        "ldot",
        "lparent",
        "dangling",
        "dangling-dir",
        "chain",
        "loop",
        "lup",
        "lupdir",
        "labs",
        "lempty-ish",
        "d/lback",
        "d/lout",
        "d/sub/lroot",
        "nothere",
    ];
    let suffixes = [
        "",
        "/",
        "//",
        "/.",
        "/..",
        "/../f",
        "/g",
        "/sub",
        "/lback",
        "/lout/secret",
        "/x",
    ];
    let mut paths: Vec<String> = names
        .iter()
        .flat_map(|name| suffixes.iter().map(move |suffix| format!("{name}{suffix}")))
        .collect();
    paths.extend(
        [
            "",
            ".",
            "..",
            "./",
            "/",
            "//",
            "/etc/passwd",
            "./f",
            ".//f",
            "d/../d/g",
            "d/sub/../../f",
            "d/./sub/./../g",
            "d/sub/../../../outside/secret",
            "../inside/f",
            "ld/../../outside",
        ]
        .map(String::from),
    );
    paths
}

/// A system over `root/inside` resolving paths `how`.
fn system(root: &Path, how: PathResolution) -> UnixSystem {
    UnixSystem::builder()
        .path_resolution(how)
        .preopen_dir(root.join("inside"), "/")
        .unwrap()
        .build()
        .unwrap()
}

/// What a call gave, in a form both systems can be compared by: an open
/// descriptor is described by its file's type and size, then closed.
fn opened(sys: &mut UnixSystem, result: Result<Fd, Errno>) -> Result<(Filetype, u64), Errno> {
    let fd = result?;
    let stat = sys.fd_filestat_get(fd).unwrap();
    sys.fd_close(fd).unwrap();
    Ok((stat.filetype, stat.size))
}

/// Every call that resolves a path without changing anything.
fn reads(sys: &mut UnixSystem, path: &str) -> Vec<String> {
    let mut results = Vec::new();
    for lookup in [FOLLOW, NOFOLLOW] {
        for oflags in [Oflags::empty(), Oflags::DIRECTORY] {
            let fd = sys.path_open(
                ROOT,
                lookup,
                path,
                oflags,
                Rights::FD_READ | Rights::FD_FILESTAT_GET,
                Rights::empty(),
                Fdflags::empty(),
            );
            results.push(format!("open {lookup:?} {oflags:?}: {:?}", opened(sys, fd)));
        }
        let stat = sys
            .path_filestat_get(ROOT, lookup, path)
            .map(|stat| (stat.filetype, stat.size));
        results.push(format!("filestat {lookup:?}: {stat:?}"));
    }
    let mut buf = [0; 64];
    let link = sys
        .path_readlink(ROOT, path, &mut buf)
        .map(|len| String::from_utf8_lossy(&buf[..len as usize]).into_owned());
    results.push(format!("readlink: {link:?}"));
    results
}

#[test]
fn both_resolutions_see_the_same_tree() {
    if openat2_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let mut kernel = system(tmp.path(), PathResolution::Openat2);
    let mut walk = system(tmp.path(), PathResolution::Walk);
    for path in paths() {
        let (expected, got) = (reads(&mut kernel, &path), reads(&mut walk, &path));
        for (expected, got) in expected.iter().zip(&got) {
            assert_eq!(expected, got, "path {path:?}");
        }
    }
}

/// A listing of `dir`: each entry's path, type, and link target or
/// contents, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = path.strip_prefix(dir).unwrap().display().to_string();
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            entries.push(format!("{name} -> {}", target.display()));
        } else if kind.is_dir() {
            entries.extend(listing(&path).into_iter().map(|e| format!("{name}/{e}")));
            entries.push(format!("{name}/"));
        } else {
            let contents = std::fs::read(&path).unwrap();
            entries.push(format!("{name}: {}", String::from_utf8_lossy(&contents)));
        }
    }
    entries.sort();
    entries
}

/// Every call that creates or removes something, on `path`.
fn writes(sys: &mut UnixSystem, path: &str) -> Vec<String> {
    let mut results = Vec::new();
    for lookup in [FOLLOW, NOFOLLOW] {
        for oflags in [
            Oflags::CREAT,
            Oflags::CREAT | Oflags::EXCL,
            Oflags::TRUNC,
            Oflags::CREAT | Oflags::DIRECTORY,
        ] {
            let fd = sys.path_open(
                ROOT,
                lookup,
                path,
                oflags,
                Rights::FD_WRITE | Rights::FD_FILESTAT_GET,
                Rights::empty(),
                Fdflags::empty(),
            );
            results.push(format!("open {lookup:?} {oflags:?}: {:?}", opened(sys, fd)));
        }
    }
    let new = format!("{path}/new");
    results.push(format!(
        "mkdir: {:?}",
        sys.path_create_directory(ROOT, &new)
    ));
    results.push(format!(
        "symlink: {:?}",
        sys.path_symlink("f", ROOT, &format!("{new}-link"))
    ));
    results.push(format!(
        "link: {:?}",
        sys.path_link(ROOT, FOLLOW, path, ROOT, "hard")
    ));
    let _ = sys.path_unlink_file(ROOT, "hard");
    results.push(format!("unlink: {:?}", sys.path_unlink_file(ROOT, path)));
    results.push(format!(
        "rmdir: {:?}",
        sys.path_remove_directory(ROOT, path)
    ));
    results
}

#[test]
fn both_resolutions_change_the_tree_alike() {
    if openat2_missing() {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(a.path());
    tree(b.path());
    let mut kernel = system(a.path(), PathResolution::Openat2);
    let mut walk = system(b.path(), PathResolution::Walk);
    for path in paths() {
        let (expected, got) = (writes(&mut kernel, &path), writes(&mut walk, &path));
        for (expected, got) in expected.iter().zip(&got) {
            assert_eq!(expected, got, "path {path:?}");
        }
        assert_eq!(listing(a.path()), listing(b.path()), "after {path:?}");
    }
    assert_eq!(
        std::fs::read(b.path().join("outside/secret")).unwrap(),
        b"secret"
    );
}

/// Swaps `a` and `b` (atomically, `RENAME_EXCHANGE`) until `stop`.
fn swapper(dir: &Path, a: &str, b: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let (a, b) = (dir.join(a), dir.join(b));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &a,
                rustix::fs::CWD,
                &b,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .unwrap();
        }
    })
}

/// While another thread swaps a directory inside the sandbox with a symlink
/// to the directory outside it, `path` (through that name) is opened,
/// created and stat'ed many times: nothing outside is ever read or made.
fn race(how: PathResolution, swapped: &str, path: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let inside = tmp.path().join("inside");
    std::fs::create_dir_all(inside.join("real/deeper")).unwrap();
    std::fs::create_dir_all(tmp.path().join("outside/deeper")).unwrap();
    std::fs::write(tmp.path().join("outside/secret"), "secret").unwrap();
    std::fs::write(inside.join("real/secret"), "inside").unwrap();
    symlink("../outside", inside.join("link")).unwrap();
    let mut sys = system(tmp.path(), how);

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = swapper(&inside, swapped, "link", stop.clone());
    for i in 0..3000 {
        let opened = sys.path_open(
            ROOT,
            FOLLOW,
            path,
            Oflags::empty(),
            Rights::FD_READ,
            Rights::empty(),
            Fdflags::empty(),
        );
        if let Ok(fd) = opened {
            let mut buf = [0; 16];
            let len = sys
                .fd_read(fd, &mut [std::io::IoSliceMut::new(&mut buf)])
                .unwrap();
            assert_eq!(&buf[..len as usize], b"inside", "{how:?} {path}");
            sys.fd_close(fd).unwrap();
        }
        let created = format!("{path}-{i}");
        if let Ok(fd) = sys.path_open(
            ROOT,
            FOLLOW,
            &created,
            Oflags::CREAT,
            Rights::FD_WRITE,
            Rights::empty(),
            Fdflags::empty(),
        ) {
            sys.fd_close(fd).unwrap();
        }
        let _ = sys.path_create_directory(ROOT, &format!("{created}.d"));
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let mut outside: Vec<_> = std::fs::read_dir(tmp.path().join("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["deeper", "secret"], "{how:?} {path}");
    assert!(
        tmp.path()
            .join("outside/deeper")
            .read_dir()
            .unwrap()
            .next()
            .is_none()
    );
}

fn resolutions() -> Vec<PathResolution> {
    match features::openat2().is_available() {
        true => vec![PathResolution::Openat2, PathResolution::Walk],
        false => vec![PathResolution::Walk],
    }
}

#[test]
fn a_symlink_swapped_in_as_the_parent_leads_nowhere() {
    for how in resolutions() {
        race(how, "real", "real/secret");
    }
}

#[test]
fn a_symlink_swapped_in_mid_path_leads_nowhere() {
    for how in resolutions() {
        race(how, "real", "real/deeper/../secret");
    }
}

#[test]
fn a_start_that_is_not_a_directory_fails_alike() {
    if openat2_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let results = |how| {
        let mut sys = system(tmp.path(), how);
        let mut results = Vec::new();
        for (name, lookup) in [("f", NOFOLLOW), ("lf", NOFOLLOW), ("ld", NOFOLLOW)] {
            let file = sys.path_open(
                ROOT,
                lookup,
                name,
                Oflags::empty(),
                Rights::PATH_OPEN | Rights::PATH_FILESTAT_GET,
                Rights::all(),
                Fdflags::empty(),
            );
            let Ok(file) = file else {
                results.push(format!("{name}: {file:?}"));
                continue;
            };
            for path in ["..", ".", "x", "../f", "/"] {
                let fd = sys.path_open(
                    file,
                    NOFOLLOW,
                    path,
                    Oflags::empty(),
                    Rights::FD_READ,
                    Rights::empty(),
                    Fdflags::empty(),
                );
                results.push(format!("{name} {path}: {:?}", opened(&mut sys, fd)));
            }
        }
        results
    };
    assert_eq!(
        results(PathResolution::Openat2),
        results(PathResolution::Walk)
    );
}
