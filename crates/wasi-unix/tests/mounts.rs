//! The mount layer (`wasi_core::mount`, spec/preview1.md "Mounts") over a
//! real `UnixSystem`: an in-memory tree mounted beside host directories,
//! hiding the host's files under the directories it synthesizes.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Mutex};
use wasi_core::mount::Mounts;
use wasi_core::system::prelude::*;
use wasi_core::vfs::{Listing, OpenHow, VirtualDir, VirtualFile, copy_to_iovs};
use wasi_unix::UnixSystem;

type Data = Arc<Mutex<Vec<u8>>>;

#[derive(Clone)]
enum Node {
    Dir,
    File(Data),
}

/// An in-memory tree: the smallest complete `VirtualDir`.
#[derive(Default)]
struct MemTree(Mutex<BTreeMap<String, Node>>);

impl MemTree {
    fn new() -> Arc<Self> {
        let tree = Self::default();
        tree.0.lock().unwrap().insert(String::new(), Node::Dir);
        Arc::new(tree)
    }

    fn parent_is_dir(nodes: &BTreeMap<String, Node>, path: &str) -> Result<()> {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        match nodes.get(parent) {
            Some(Node::Dir) => Ok(()),
            Some(Node::File(_)) => Err(Errno::NOTDIR),
            None => Err(Errno::NOENT),
        }
    }

    fn children<'a>(
        nodes: &'a BTreeMap<String, Node>,
        dir: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Node)> {
        nodes.iter().filter_map(move |(path, node)| {
            let name = if dir.is_empty() {
                path.as_str()
            } else {
                path.strip_prefix(dir)?.strip_prefix('/')?
            };
            (!name.is_empty() && !name.contains('/')).then_some((name, node))
        })
    }
}

fn stat_of(node: &Node) -> Filestat {
    match node {
        Node::Dir => Filestat::directory(),
        Node::File(data) => Filestat::file(data.lock().unwrap().len() as u64),
    }
}

impl VirtualDir for MemTree {
    fn stat(&self, path: &str) -> Result<Filestat> {
        self.0
            .lock()
            .unwrap()
            .get(path)
            .map(stat_of)
            .ok_or(Errno::NOENT)
    }

    fn open_file(&self, path: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        let mut nodes = self.0.lock().unwrap();
        let data = match nodes.get(path) {
            Some(Node::File(data)) => data.clone(),
            Some(Node::Dir) => return Err(Errno::ISDIR),
            None if how.oflags.contains(Oflags::CREAT) => {
                Self::parent_is_dir(&nodes, path)?;
                let data = Data::default();
                nodes.insert(path.into(), Node::File(data.clone()));
                data
            }
            None => return Err(Errno::NOENT),
        };
        if how.oflags.contains(Oflags::TRUNC) {
            data.lock().unwrap().clear();
        }
        Ok(Box::new(MemFile {
            data,
            pos: 0,
            filetype: Filetype::REGULAR_FILE,
        }))
    }

    fn readdir(&self, path: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        let nodes = self.0.lock().unwrap();
        for (i, (name, node)) in Self::children(&nodes, path)
            .enumerate()
            .skip(cookie as usize)
        {
            if !out.push(i as u64 + 1, 7, stat_of(node).filetype, name) {
                break;
            }
        }
        Ok(())
    }

    fn create_directory(&self, path: &str) -> Result<()> {
        let mut nodes = self.0.lock().unwrap();
        if nodes.contains_key(path) {
            return Err(Errno::EXIST);
        }
        Self::parent_is_dir(&nodes, path)?;
        nodes.insert(path.into(), Node::Dir);
        Ok(())
    }

    fn remove_directory(&self, path: &str) -> Result<()> {
        let mut nodes = self.0.lock().unwrap();
        match nodes.get(path) {
            Some(Node::Dir) if Self::children(&nodes, path).next().is_some() => {
                Err(Errno::NOTEMPTY)
            }
            Some(Node::Dir) => {
                nodes.remove(path);
                Ok(())
            }
            Some(Node::File(_)) => Err(Errno::NOTDIR),
            None => Err(Errno::NOENT),
        }
    }

    fn unlink_file(&self, path: &str) -> Result<()> {
        let mut nodes = self.0.lock().unwrap();
        match nodes.get(path) {
            Some(Node::File(_)) => {
                nodes.remove(path);
                Ok(())
            }
            Some(Node::Dir) => Err(Errno::ISDIR),
            None => Err(Errno::NOENT),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let mut nodes = self.0.lock().unwrap();
        match nodes.get(from) {
            Some(Node::File(_)) => {}
            Some(Node::Dir) => return Err(Errno::NOTSUP),
            None => return Err(Errno::NOENT),
        }
        Self::parent_is_dir(&nodes, to)?;
        let node = nodes.remove(from).unwrap();
        nodes.insert(to.into(), node);
        Ok(())
    }
}

struct MemFile {
    data: Data,
    pos: usize,
    filetype: Filetype,
}

impl VirtualFile for MemFile {
    fn filetype(&self) -> Filetype {
        self.filetype
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(stat_of(&Node::File(self.data.clone())))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let data = self.data.lock().unwrap();
        let n = copy_to_iovs(data.get(self.pos..).unwrap_or_default(), iovs);
        self.pos += n;
        Ok(n as Size)
    }

    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let mut data = self.data.lock().unwrap();
        let mut n = 0;
        for iov in iovs {
            let end = self.pos + iov.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[self.pos..end].copy_from_slice(iov);
            self.pos = end;
            n += iov.len();
        }
        Ok(n as Size)
    }
}

/// A host directory preopened at `/`, with host files where the mounts
/// will synthesize directories.
struct Setup {
    sys: Mounts<UnixSystem>,
    _tmp: tempfile::TempDir,
}

const ROOT: Fd = 3;

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("beta/host-dir")).unwrap();
    std::fs::write(tmp.path().join("beta/host-file"), b"host").unwrap();
    std::fs::write(tmp.path().join("top"), b"top").unwrap();
    let inner = UnixSystem::builder()
        .preopen_dir(tmp.path(), "/")
        .unwrap()
        .build()
        .unwrap();
    Setup {
        sys: Mounts::new(inner),
        _tmp: tmp,
    }
}

fn open(sys: &mut impl System, dir: Fd, path: &str, oflags: Oflags) -> Result<Fd> {
    sys.path_open(
        dir,
        Lookupflags::empty(),
        path,
        oflags,
        Rights::all(),
        Rights::all(),
        Fdflags::empty(),
    )
}

fn write_file(sys: &mut impl System, dir: Fd, path: &str, text: &str) {
    let fd = open(sys, dir, path, Oflags::CREAT | Oflags::TRUNC).unwrap();
    assert_eq!(
        sys.fd_write(fd, &[IoSlice::new(text.as_bytes())]),
        Ok(text.len() as Size)
    );
    sys.fd_close(fd).unwrap();
}

fn read_file(sys: &mut impl System, dir: Fd, path: &str) -> Result<String> {
    let fd = open(sys, dir, path, Oflags::empty())?;
    let mut buf = [0u8; 64];
    let n = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)]);
    sys.fd_close(fd).unwrap();
    Ok(String::from_utf8(buf[..n? as usize].to_vec()).unwrap())
}

/// The names `fd_readdir` lists from `cookie`, with each entry's next cookie.
fn list(sys: &mut impl System, fd: Fd, cookie: Dircookie) -> Vec<(String, Dircookie, Filetype)> {
    let mut buf = [0u8; 1024];
    let mut out = DirentWriter::new(&mut buf);
    sys.fd_readdir(fd, cookie, &mut out).unwrap();
    let len = out.len();
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 24 <= len {
        let head: Dirent = bytemuck::pod_read_unaligned(&buf[at..at + 24]);
        let name = &buf[at + 24..at + 24 + head.d_namlen as usize];
        entries.push((
            String::from_utf8(name.to_vec()).unwrap(),
            head.d_next,
            head.d_type,
        ));
        at += 24 + head.d_namlen as usize;
    }
    entries
}

#[test]
fn a_mounted_tree_serves_every_path_call() {
    let mut s = setup();
    s.sys.mount("/beta/kv", MemTree::new()).unwrap();
    let sys = &mut s.sys;
    write_file(sys, ROOT, "beta/kv/greeting", "hello");
    assert_eq!(
        read_file(sys, ROOT, "beta/kv/greeting").as_deref(),
        Ok("hello")
    );
    let stat = sys
        .path_filestat_get(ROOT, Lookupflags::empty(), "beta/./kv/greeting")
        .unwrap();
    assert_eq!((stat.filetype, stat.size), (Filetype::REGULAR_FILE, 5));

    assert_eq!(sys.path_create_directory(ROOT, "beta/kv/sub"), Ok(()));
    assert_eq!(
        sys.path_create_directory(ROOT, "beta/kv/sub"),
        Err(Errno::EXIST)
    );
    assert_eq!(
        sys.path_rename(ROOT, "beta/kv/greeting", ROOT, "beta/kv/sub/moved"),
        Ok(())
    );
    assert_eq!(read_file(sys, ROOT, "beta/kv/greeting"), Err(Errno::NOENT));
    assert_eq!(
        sys.path_remove_directory(ROOT, "beta/kv/sub"),
        Err(Errno::NOTEMPTY)
    );
    assert_eq!(sys.path_unlink_file(ROOT, "beta/kv/sub/moved"), Ok(()));
    assert_eq!(sys.path_remove_directory(ROOT, "beta/kv/sub"), Ok(()));

    // `O_CREAT|O_EXCL` on an existing file, `O_DIRECTORY` on a file.
    write_file(sys, ROOT, "beta/kv/a", "1");
    assert_eq!(
        open(sys, ROOT, "beta/kv/a", Oflags::CREAT | Oflags::EXCL),
        Err(Errno::EXIST)
    );
    assert_eq!(
        open(sys, ROOT, "beta/kv/a", Oflags::DIRECTORY),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        open(sys, ROOT, "beta/kv/a/", Oflags::empty()),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sys.path_filestat_get(ROOT, Lookupflags::empty(), "beta/kv/a/"),
        Err(Errno::NOTDIR)
    );
    // Directories: `O_CREAT`/`O_TRUNC` is EISDIR, `O_EXCL` EEXIST.
    assert_eq!(open(sys, ROOT, "beta/kv", Oflags::CREAT), Err(Errno::ISDIR));
    assert_eq!(
        open(sys, ROOT, "beta/kv", Oflags::CREAT | Oflags::EXCL),
        Err(Errno::EXIST)
    );
    // Nothing is a link.
    assert_eq!(
        sys.path_readlink(ROOT, "beta/kv/a", &mut [0; 8]),
        Err(Errno::INVAL)
    );
    assert_eq!(sys.path_symlink("a", ROOT, "beta/kv/l"), Err(Errno::NOTSUP));
}

#[test]
fn synthesized_directories_hide_the_host_for_every_call() {
    let mut s = setup();
    s.sys.mount("/beta/kv", MemTree::new()).unwrap();
    let sys = &mut s.sys;
    // `beta` exists on the host, with a file and a directory in it: the
    // synthesized `beta` hides both.
    assert_eq!(read_file(sys, ROOT, "beta/host-file"), Err(Errno::NOENT));
    assert_eq!(
        sys.path_filestat_get(ROOT, Lookupflags::empty(), "beta/host-dir/a/b/../c"),
        Err(Errno::NOENT)
    );
    assert_eq!(
        open(sys, ROOT, "beta/kvx/deeper", Oflags::CREAT),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        open(sys, ROOT, "beta/host-dir", Oflags::DIRECTORY),
        Err(Errno::NOENT)
    );
    assert_eq!(
        open(sys, ROOT, "beta/new", Oflags::CREAT),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_create_directory(ROOT, "beta/sub"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_unlink_file(ROOT, "beta/host-file"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_remove_directory(ROOT, "beta/host-dir"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_rename(ROOT, "beta/host-file", ROOT, "moved"),
        Err(Errno::XDEV)
    );
    assert_eq!(
        sys.path_filestat_get(ROOT, Lookupflags::empty(), "beta/host-file"),
        Err(Errno::NOENT)
    );
    // The mount's root and the synthesized directories cannot be changed.
    assert_eq!(
        sys.path_remove_directory(ROOT, "beta/kv"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(sys.path_remove_directory(ROOT, "beta"), Err(Errno::NOTSUP));
    assert_eq!(
        sys.path_rename(ROOT, "beta/kv", ROOT, "beta/kv/x"),
        Err(Errno::NOTSUP)
    );
    assert_eq!(
        sys.path_rename(ROOT, "beta/kv", ROOT, "beta/kv2"),
        Err(Errno::XDEV)
    );
    // The synthesized `beta` lists the mount, not the host's entries.
    let beta = open(sys, ROOT, "beta", Oflags::DIRECTORY).unwrap();
    let names: Vec<_> = list(sys, beta, 0).into_iter().map(|e| e.0).collect();
    assert_eq!(names, [".", "..", "kv"]);
    // What is beside the synthesized directory is the host's.
    assert_eq!(read_file(sys, ROOT, "top").as_deref(), Ok("top"));
    // Host and mount are different file systems.
    write_file(sys, ROOT, "beta/kv/x", "x");
    assert_eq!(
        sys.path_rename(ROOT, "beta/kv/x", ROOT, "x"),
        Err(Errno::XDEV)
    );
    assert_eq!(
        sys.path_link(ROOT, Lookupflags::empty(), "top", ROOT, "beta/kv/top"),
        Err(Errno::XDEV)
    );
}

#[test]
fn listings_put_dots_first_and_page_by_cookie() {
    let mut s = setup();
    s.sys.mount("/beta/kv", MemTree::new()).unwrap();
    let sys = &mut s.sys;
    for name in ["a", "b", "c"] {
        write_file(sys, ROOT, &format!("beta/kv/{name}"), name);
    }
    sys.path_create_directory(ROOT, "beta/kv/d").unwrap();
    let kv = open(sys, ROOT, "beta/kv", Oflags::DIRECTORY).unwrap();
    let all = list(sys, kv, 0);
    let names: Vec<_> = all.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, [".", "..", "a", "b", "c", "d"]);
    assert_eq!(all[5].2, Filetype::DIRECTORY);
    assert_eq!(all[2].2, Filetype::REGULAR_FILE);
    // Each entry's cookie resumes right after it.
    for (i, (_, next, _)) in all.iter().enumerate() {
        let rest: Vec<_> = list(sys, kv, *next).into_iter().map(|e| e.0).collect();
        let expected: Vec<_> = all[i + 1..].iter().map(|e| e.0.clone()).collect();
        assert_eq!(rest, expected);
    }
}

#[test]
fn paths_never_climb_out_of_a_mounted_directory() {
    let mut s = setup();
    s.sys.mount("/beta/kv", MemTree::new()).unwrap();
    let sys = &mut s.sys;
    sys.path_create_directory(ROOT, "beta/kv/sub").unwrap();
    let sub = open(sys, ROOT, "beta/kv/sub", Oflags::DIRECTORY).unwrap();
    write_file(sys, sub, "in-sub", "1");
    assert_eq!(
        read_file(sys, ROOT, "beta/kv/sub/in-sub").as_deref(),
        Ok("1")
    );
    assert_eq!(
        open(sys, sub, "..", Oflags::DIRECTORY),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        open(sys, sub, "../../top", Oflags::empty()),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        open(sys, sub, "/top", Oflags::empty()),
        Err(Errno::NOTCAPABLE)
    );
    // A file descriptor is no directory.
    let file = open(sys, sub, "in-sub", Oflags::empty()).unwrap();
    assert_eq!(open(sys, file, "x", Oflags::empty()), Err(Errno::NOTDIR));
    // Rights of the directory descriptor are checked.
    sys.fd_fdstat_set_rights(sub, Rights::PATH_OPEN, Rights::empty())
        .unwrap();
    assert_eq!(open(sys, sub, "new", Oflags::CREAT), Err(Errno::NOTCAPABLE));
    assert_eq!(sys.path_unlink_file(sub, "in-sub"), Err(Errno::NOTCAPABLE));
    // A renumbered directory descriptor still resolves through the mount.
    // A directory renumbered over a file resolves through the mount.
    sys.fd_renumber(sub, file).unwrap();
    assert_eq!(sys.fd_close(sub), Err(Errno::BADF));
    assert!(open(sys, file, "in-sub", Oflags::empty()).is_ok());
}

#[test]
fn without_a_covering_preopen_a_virtual_one_is_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let inner = UnixSystem::builder()
        .preopen_dir(tmp.path(), "/tmp")
        .unwrap()
        .build()
        .unwrap();
    let mut sys = Mounts::new(inner);
    sys.mount("/beta/kv", MemTree::new()).unwrap();
    sys.mount("/beta/other", MemTree::new()).unwrap();
    sys.mount("/request", MemTree::new()).unwrap();
    // One virtual preopen per first component, after the host's.
    assert_eq!(sys.fd_prestat_dir_name(3), Ok("/tmp"));
    assert_eq!(sys.fd_prestat_dir_name(4), Ok("/beta"));
    assert_eq!(sys.fd_prestat_dir_name(5), Ok("/request"));
    assert_eq!(sys.fd_prestat_dir_name(6), Err(Errno::BADF));
    let names: Vec<_> = list(&mut sys, 4, 0).into_iter().map(|e| e.0).collect();
    assert_eq!(names, [".", "..", "kv", "other"]);
    // A virtual preopen belongs to the mount layer: nothing else is there.
    assert_eq!(
        open(&mut sys, 4, "nope", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(open(&mut sys, 4, "nope", Oflags::CREAT), Err(Errno::NOTSUP));
    write_file(&mut sys, 4, "kv/k", "v");
    assert_eq!(read_file(&mut sys, 4, "kv/k").as_deref(), Ok("v"));
    // Two mounts are two file systems.
    assert_eq!(sys.path_rename(4, "kv/k", 4, "other/k"), Err(Errno::XDEV));
    assert_eq!(
        sys.path_link(4, Lookupflags::empty(), "kv/k", 4, "other/k"),
        Err(Errno::XDEV)
    );
    assert_eq!(
        sys.path_link(4, Lookupflags::empty(), "kv/k", 4, "kv/k2"),
        Err(Errno::NOTSUP)
    );
    // A mount at the first component is the preopen itself.
    write_file(&mut sys, 5, "txt", "GET /");
    assert_eq!(read_file(&mut sys, 5, "txt").as_deref(), Ok("GET /"));
    assert_eq!(
        sys.fd_filestat_get(5).map(|s| s.filetype),
        Ok(Filetype::DIRECTORY)
    );
}

/// A mount that is a single file.
struct OneFile;

impl VirtualDir for OneFile {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }
    fn stat(&self, path: &str) -> Result<Filestat> {
        assert_eq!(path, "");
        Ok(Filestat {
            filetype: Filetype::CHARACTER_DEVICE,
            ..Filestat::default()
        })
    }
    fn open_file(&self, _: &str, _: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        Ok(Box::new(MemFile {
            data: Arc::new(Mutex::new(b"one".to_vec())),
            pos: 0,
            filetype: Filetype::CHARACTER_DEVICE,
        }))
    }
}

#[test]
fn a_mount_may_be_a_single_file() {
    let mut s = setup();
    s.sys.mount("/beta/dev/one", Arc::new(OneFile)).unwrap();
    let sys = &mut s.sys;
    assert_eq!(read_file(sys, ROOT, "beta/dev/one").as_deref(), Ok("one"));
    assert_eq!(
        open(sys, ROOT, "beta/dev/one/x", Oflags::empty()),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        sys.path_unlink_file(ROOT, "beta/dev/one"),
        Err(Errno::NOTSUP)
    );
    let dev = open(sys, ROOT, "beta/dev", Oflags::DIRECTORY).unwrap();
    let entries = list(sys, dev, 0);
    assert_eq!(entries[2].0, "one");
    assert_eq!(entries[2].2, Filetype::CHARACTER_DEVICE);
    // The descriptor holds a character device's rights: no seeking.
    let fd = open(sys, ROOT, "beta/dev/one", Oflags::empty()).unwrap();
    assert_eq!(sys.fd_seek(fd, 0, Whence::SET), Err(Errno::NOTCAPABLE));
}

#[test]
fn mount_points_are_checked_and_can_be_removed() {
    let mut s = setup();
    let sys = &mut s.sys;
    assert_eq!(sys.mount("/", MemTree::new()), Err(Errno::INVAL));
    assert_eq!(sys.mount("beta", MemTree::new()), Err(Errno::INVAL));
    assert_eq!(sys.mount("/beta/../x", MemTree::new()), Err(Errno::INVAL));
    sys.mount("/beta/kv", MemTree::new()).unwrap();
    assert_eq!(sys.mount("/beta/kv", MemTree::new()), Err(Errno::EXIST));
    assert_eq!(sys.mount("/beta/kv/sub", MemTree::new()), Err(Errno::EXIST));
    assert_eq!(sys.mount("/beta", MemTree::new()), Err(Errno::EXIST));

    write_file(sys, ROOT, "beta/kv/k", "v");
    let kv = open(sys, ROOT, "beta/kv", Oflags::DIRECTORY).unwrap();
    assert!(sys.table().unmount("/beta/kv"));
    assert!(!sys.table().unmount("/beta/kv"));
    assert_eq!(sys.table().paths(), Vec::<String>::new());
    // The host's `beta` is back.
    assert_eq!(
        read_file(sys, ROOT, "beta/host-file").as_deref(),
        Ok("host")
    );
    assert_eq!(read_file(sys, ROOT, "beta/kv/k"), Err(Errno::NOENT));
    // A descriptor open in the unmounted tree stays bound to it.
    assert_eq!(
        sys.fd_filestat_get(kv).map(|s| s.filetype),
        Ok(Filetype::DIRECTORY)
    );
    assert_eq!(list(sys, kv, 2)[0].0, "k");
}

#[test]
fn a_preopen_cannot_be_a_mount_point() {
    let s = setup();
    assert_eq!(s.sys.opened_path(ROOT), None);
    let tmp = tempfile::tempdir().unwrap();
    let inner = UnixSystem::builder()
        .preopen_dir(tmp.path(), "/data")
        .unwrap()
        .build()
        .unwrap();
    let mut sys = Mounts::new(inner);
    assert_eq!(sys.mount("/data", MemTree::new()), Err(Errno::BUSY));
    // Below a host preopen is fine: reached through it.
    sys.mount("/data/kv", MemTree::new()).unwrap();
    write_file(&mut sys, 3, "kv/k", "v");
    let fd = open(&mut sys, 3, "kv/k", Oflags::empty()).unwrap();
    assert_eq!(sys.opened_path(fd), Some("/data/kv/k"));
    assert!(!tmp.path().join("kv").exists());
}

/// A file whose commit at close fails.
struct FailsToClose;

impl VirtualFile for FailsToClose {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }
    fn filestat(&mut self) -> Result<Filestat> {
        Ok(Filestat::default())
    }
    fn close(&mut self) -> Result<()> {
        Err(Errno::IO)
    }
}

/// A mount whose one file fails to close.
struct FailingDir;

impl VirtualDir for FailingDir {
    fn stat(&self, path: &str) -> Result<Filestat> {
        Ok(Filestat {
            filetype: if path.is_empty() {
                Filetype::DIRECTORY
            } else {
                Filetype::REGULAR_FILE
            },
            ..Filestat::default()
        })
    }
    fn open_file(&self, _: &str, _: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        Ok(Box::new(FailsToClose))
    }
}

#[test]
fn a_close_that_fails_still_frees_the_number() {
    let mut s = setup();
    s.sys.mount("/beta/kv", Arc::new(FailingDir)).unwrap();
    let sys = &mut s.sys;
    let fd = open(sys, ROOT, "beta/kv/f", Oflags::empty()).unwrap();
    assert_eq!(sys.fd_close(fd), Err(Errno::IO));
    assert_eq!(sys.opened_path(fd), None);
    // The number goes to a host directory, which resolves as the host's.
    std::fs::create_dir(s._tmp.path().join("d")).unwrap();
    let dir = sys
        .path_open(
            ROOT,
            Lookupflags::empty(),
            "d",
            Oflags::DIRECTORY,
            Rights::DIRECTORY,
            Rights::DIRECTORY_INHERITING,
            Fdflags::empty(),
        )
        .unwrap();
    assert_eq!(dir, fd);
    write_file(sys, dir, "x", "x");
    assert_eq!(read_file(sys, dir, "x").as_deref(), Ok("x"));
}
