//! The mount layer: parts of the guest's path namespace served by
//! extensions instead of the host file system (`spec/preview1.md`,
//! "Mounts").
//!
//! An extension implements [`VirtualDir`] (in [`crate::vfs`]) for a tree of its own (WADI's
//! device hierarchies, the cloud filesystem's key-value store) or a single
//! file, and [`Mounts::mount`]s it at a guest path. [`Mounts`] is a
//! [`Decorator`]: it resolves every path call once (`.` and `..` applied,
//! never above the directory descriptor it is relative to, no symbolic
//! links), serves the calls that lead into a mount or into a directory it
//! synthesizes above one, and forwards the rest to the inner system. What
//! it opens is installed in the inner system's descriptor table as a
//! [`VirtualFile`], so descriptor calls reach it there.

pub mod path;

use crate::budget::HostBudget;
use crate::system::prelude::*;
use crate::system::{Decorator, DirentWriter};
use crate::vfs::{DOT_ENTRIES, Listing, OpenHow, Opened, VirtualDir, VirtualFds, VirtualFile};
use path::Joined;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// The mounts of a [`Mounts`] decorator, shared: a handle an extension
/// keeps to unmount what it mounted (when a driver dies, say) from outside
/// the system.
#[derive(Clone, Default)]
pub struct MountTable(Arc<RwLock<Table>>);

#[derive(Default)]
struct Table {
    mounts: Vec<Mount>,
    /// The guest paths of the virtual preopens installed for mounts.
    virtual_anchors: Vec<String>,
}

struct Mount {
    path: String,
    dir: Arc<dyn VirtualDir>,
    /// The preopen the mount is reached through (a host preopen that is a
    /// prefix of `path`, or a virtual one).
    anchor: String,
    virtual_anchor: bool,
}

/// Where a normalized guest path leads.
enum Node {
    /// Into a mount, at `rel` below its root.
    Mounted {
        dir: Arc<dyn VirtualDir>,
        rel: String,
    },
    /// A directory the mount layer synthesizes: a strict ancestor of a mount.
    Synth,
    /// Nothing, in a part of the namespace the mount layer owns.
    Missing,
    /// The inner system's.
    Outside,
}

/// A handle to a [`MountTable`] that does not keep it alive: what an
/// object the table holds (a driver behind a mount) keeps to unmount
/// itself, without a cycle that would outlive the guest's system.
#[derive(Clone, Default)]
pub struct WeakMountTable(Weak<RwLock<Table>>);

impl WeakMountTable {
    /// The table, while its mount layer (or another handle) is alive.
    pub fn upgrade(&self) -> Option<MountTable> {
        self.0.upgrade().map(MountTable)
    }
}

impl MountTable {
    /// A handle that does not keep the table alive.
    pub fn downgrade(&self) -> WeakMountTable {
        WeakMountTable(Arc::downgrade(&self.0))
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        // Every update is a single push or retain: a panic elsewhere while
        // the lock was held leaves the table consistent.
        crate::sync::read_lock(&self.0)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        crate::sync::write_lock(&self.0)
    }

    /// Removes the mount at `path`; `false` if there is none. Paths in it
    /// are then resolved as if it had never been mounted; descriptors open
    /// in it stay open (what they do then is the extension's choice).
    pub fn unmount(&self, path: &str) -> bool {
        let mut table = self.write();
        let before = table.mounts.len();
        table.mounts.retain(|m| m.path != path);
        table.mounts.len() != before
    }

    /// The guest paths of the mounts, in the order they were mounted.
    pub fn paths(&self) -> Vec<String> {
        self.read().mounts.iter().map(|m| m.path.clone()).collect()
    }

    fn has_host_anchors(&self) -> bool {
        self.read().mounts.iter().any(|m| !m.virtual_anchor)
    }

    fn lookup(&self, p: &str) -> Node {
        self.read().lookup(p)
    }
}

impl Table {
    fn lookup(&self, p: &str) -> Node {
        for mount in &self.mounts {
            if path::is_prefix(&mount.path, p) {
                let rel = path::strip_ancestor(&mount.path, p).unwrap_or("");
                return Node::Mounted {
                    dir: mount.dir.clone(),
                    rel: rel.to_string(),
                };
            }
        }
        if self.mounts.iter().any(|m| m.synthesizes(p)) {
            return Node::Synth;
        }
        if self.virtual_anchors.iter().any(|a| path::is_prefix(a, p)) {
            return Node::Missing;
        }
        // A synthesized directory hides the host directory of the same
        // path: below one, what is no mount does not exist. The deepest
        // directory `p` shares with a mount is the one to ask (one pass per
        // mount, however deep `p` is).
        if self
            .mounts
            .iter()
            .any(|m| m.synthesizes(path::common_ancestor(p, &m.path)))
        {
            return Node::Missing;
        }
        Node::Outside
    }

    /// The entries of the synthesized directory `p`: each next component
    /// with its type (a directory when it leads further down).
    fn children(&self, p: &str) -> Vec<(String, Filetype)> {
        let mut out: Vec<(String, Filetype)> = Vec::new();
        for mount in self.mounts.iter().filter(|m| m.synthesizes(p)) {
            let Some(rest) = path::strip_ancestor(p, &mount.path) else {
                continue;
            };
            let (name, filetype) = match rest.split_once('/') {
                Some((name, _)) => (name, Filetype::DIRECTORY),
                None => (rest, mount.dir.filetype()),
            };
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_string(), filetype));
            }
        }
        out
    }
}

impl Mount {
    /// Whether `p` is a synthesized directory because of this mount: a
    /// strict ancestor of it, at or below a virtual anchor, strictly below
    /// a host one.
    fn synthesizes(&self, p: &str) -> bool {
        if path::strip_ancestor(p, &self.path).is_none() {
            return false;
        }
        if self.virtual_anchor {
            path::is_prefix(&self.anchor, p)
        } else {
            path::strip_ancestor(&self.anchor, p).is_some()
        }
    }
}

/// The attributes of a synthesized directory.
fn synth_stat(p: &str) -> Filestat {
    Filestat {
        ino: path::hash(p),
        ..Filestat::directory()
    }
}

/// The most rights a descriptor of type `filetype` opened in a mount holds.
fn type_rights(filetype: Filetype) -> Rights {
    match filetype {
        Filetype::DIRECTORY => Rights::DIRECTORY,
        Filetype::REGULAR_FILE | Filetype::BLOCK_DEVICE => Rights::REGULAR_FILE,
        _ => Rights::CHARACTER_DEVICE,
    }
}

/// A directory opened through the mount layer.
struct MountDir {
    /// Its guest path.
    path: String,
    node: DirNode,
}

enum DirNode {
    /// A directory in a mount: it stays bound to that mount's tree.
    Mounted {
        dir: Arc<dyn VirtualDir>,
        rel: String,
    },
    /// A synthesized directory, listed from the table as it is at each call.
    Synth(MountTable),
}

impl VirtualFile for MountDir {
    fn filetype(&self) -> Filetype {
        Filetype::DIRECTORY
    }

    fn filestat(&mut self) -> Result<Filestat> {
        match &self.node {
            DirNode::Mounted { dir, rel } => dir.stat(rel),
            DirNode::Synth(_) => Ok(synth_stat(&self.path)),
        }
    }

    fn readdir(&mut self, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        let dots = [
            (".", path::hash(&self.path)),
            ("..", path::hash(path::parent(&self.path))),
        ];
        for (i, (name, ino)) in dots.into_iter().enumerate().skip(cookie as usize) {
            if !out.push(i as u64 + 1, ino, Filetype::DIRECTORY, name.as_bytes()) {
                return Ok(());
            }
        }
        let cookie = cookie.saturating_sub(DOT_ENTRIES);
        match &self.node {
            DirNode::Mounted { dir, rel } => dir.readdir(rel, cookie, &mut Listing::new(out)),
            DirNode::Synth(table) => {
                let children = table.read().children(&self.path);
                for (i, (name, filetype)) in children.iter().enumerate().skip(cookie as usize) {
                    let ino = path::hash(&format!("{}/{name}", self.path.trim_end_matches('/')));
                    if !out.push(i as u64 + 1 + DOT_ENTRIES, ino, *filetype, name.as_bytes()) {
                        break;
                    }
                }
                Ok(())
            }
        }
    }
}

/// A descriptor opened through the mount layer.
#[derive(Clone, Debug)]
struct Held {
    path: String,
    dir: bool,
}

/// A path call the mount layer serves.
struct Target {
    joined: Joined,
    node: Node,
    /// The directory descriptor's inheriting rights.
    inheriting: Rights,
}

impl Target {
    /// Whether both targets are in the part of the namespace one file
    /// system serves: the same mount, or both in what the layer synthesizes.
    /// Anything else is a cross-device operation (`EXDEV`).
    fn same_mount(&self, other: &Target) -> bool {
        match (&self.node, &other.node) {
            (Node::Mounted { dir: a, .. }, Node::Mounted { dir: b, .. }) => Arc::ptr_eq(a, b),
            (Node::Mounted { .. }, _) | (_, Node::Mounted { .. }) => false,
            _ => true,
        }
    }
}

/// A [`System`] decorator serving the mounted parts of the namespace
/// (module docs; the rules are in `spec/preview1.md`, "Mounts").
pub struct Mounts<S> {
    inner: S,
    table: MountTable,
    /// The inner system's preopens when the layer was created, normalized.
    preopens: Vec<String>,
    /// Descriptors opened here (and the virtual preopens), by number: a
    /// few, which a B-tree finds without hashing or per-map random keys.
    opened: BTreeMap<Fd, Held>,
}

impl<S> Mounts<S> {
    /// The shared handle to the mount table.
    pub fn table(&self) -> &MountTable {
        &self.table
    }

    /// The guest path of `fd` when the mount layer opened it (a file or
    /// directory in a mount, a synthesized directory, a virtual preopen).
    pub fn opened_path(&self, fd: Fd) -> Option<&str> {
        self.opened.get(&fd).map(|o| o.path.as_str())
    }

    /// The wrapped system.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped system, mutably.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: VirtualFds> Mounts<S> {
    /// Wraps `inner`, whose own preopens must all be installed already.
    pub fn new(mut inner: S) -> Self {
        let mut preopens = Vec::new();
        for fd in 3.. {
            match inner.fd_prestat_dir_name(fd) {
                Ok(name) => preopens.push(path::normalize_preopen(name)),
                Err(_) => break,
            }
        }
        Self {
            inner,
            table: MountTable::default(),
            preopens,
            opened: BTreeMap::new(),
        }
    }

    /// Mounts `dir` at the guest path `at` (absolute, normalized, not `/`).
    ///
    /// The mount is reached through the longest preopen of the inner system
    /// that is a prefix of `at`; without one, a virtual preopen is installed
    /// for its first component (`/dev` for `/dev/cowbell`), once. Fails with
    /// `EINVAL` for a path that is not normalized or is `/`, `EBUSY` for a
    /// preopen's own path, `EEXIST` when it overlaps a mount (equal, above
    /// or below it), or with the error of installing the preopen.
    pub fn mount(&mut self, at: &str, dir: Arc<dyn VirtualDir>) -> Result<()> {
        if at == "/" || !path::is_normalized(at) {
            return Err(Errno::INVAL);
        }
        if self.preopens.iter().any(|p| p == at) {
            return Err(Errno::BUSY);
        }
        if self
            .table
            .read()
            .mounts
            .iter()
            .any(|m| path::overlaps(&m.path, at))
        {
            return Err(Errno::EXIST);
        }
        let host_anchor = self
            .preopens
            .iter()
            .filter(|p| path::is_prefix(p, at))
            .max_by_key(|p| p.len())
            .cloned();
        let virtual_anchor = host_anchor.is_none();
        let anchor = host_anchor.unwrap_or_else(|| path::first_component(at).to_string());
        if virtual_anchor && !self.table.read().virtual_anchors.contains(&anchor) {
            let root = MountDir {
                path: anchor.clone(),
                node: DirNode::Synth(self.table.clone()),
            };
            let fd = self.inner.insert_virtual(
                Box::new(root),
                Rights::DIRECTORY,
                Rights::DIRECTORY_INHERITING,
                Some(&anchor),
            )?;
            self.opened.insert(
                fd,
                Held {
                    path: anchor.clone(),
                    dir: true,
                },
            );
            self.table.write().virtual_anchors.push(anchor.clone());
        }
        self.table.write().mounts.push(Mount {
            path: at.to_string(),
            dir,
            anchor,
            virtual_anchor,
        });
        Ok(())
    }

    /// Resolves a path call: `None` when the inner system serves it. Checks
    /// that `fd` holds `needed` when the mount layer serves it.
    fn resolve(&mut self, fd: Fd, rel: &str, needed: Rights) -> Result<Option<Target>> {
        let (joined, ours) = match self.opened.get(&fd) {
            Some(Held { dir: false, .. }) => return Err(Errno::NOTDIR),
            Some(Held { path, dir: true }) => (path::join(path, rel), true),
            None => {
                if !self.table.has_host_anchors() {
                    return Ok(None);
                }
                let Ok(name) = self.inner.fd_prestat_dir_name(fd) else {
                    return Ok(None);
                };
                (path::join(&path::normalize_preopen(name), rel), false)
            }
        };
        let joined = match joined {
            Some(joined) => joined,
            None if ours => return Err(Errno::NOTCAPABLE),
            // The inner system gives its own error for an escape.
            None => return Ok(None),
        };
        let node = match self.table.lookup(&joined.path) {
            // An unmounted tree a descriptor of ours was in.
            Node::Outside if ours => Node::Missing,
            Node::Outside => return Ok(None),
            node => node,
        };
        if let Node::Mounted { dir, rel } = &node
            && !rel.is_empty()
            && dir.filetype() != Filetype::DIRECTORY
        {
            return Err(Errno::NOTDIR);
        }
        let stat = self.inner.fd_fdstat_get(fd)?;
        if !stat.fs_rights_base.contains(needed) {
            return Err(Errno::NOTCAPABLE);
        }
        Ok(Some(Target {
            joined,
            node,
            inheriting: stat.fs_rights_inheriting,
        }))
    }

    /// Installs what the mount layer opened.
    fn install(
        &mut self,
        file: Box<dyn VirtualFile>,
        path: String,
        rights: Rights,
        inheriting: Rights,
    ) -> Result<Fd> {
        let filetype = file.filetype();
        let dir = filetype == Filetype::DIRECTORY;
        let inheriting = if dir { inheriting } else { Rights::empty() };
        let fd =
            self.inner
                .insert_virtual(file, rights & type_rights(filetype), inheriting, None)?;
        self.opened.insert(fd, Held { path, dir });
        Ok(fd)
    }

    fn open_target(
        &mut self,
        target: Target,
        oflags: Oflags,
        rights_base: Rights,
        rights_inheriting: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd> {
        let Target {
            joined,
            node,
            inheriting: allowed,
        } = target;
        let creat = oflags.contains(Oflags::CREAT);
        let excl = creat && oflags.contains(Oflags::EXCL);
        let want_dir = oflags.contains(Oflags::DIRECTORY) || joined.trailing_slash;
        let rights = rights_base & allowed;
        let inheriting = rights_inheriting & allowed;
        if !matches!(node, Node::Outside | Node::Missing) {
            // Room first: a full table opens, creates and truncates nothing.
            self.inner.fd_room()?;
        }
        let how = OpenHow {
            oflags,
            fdflags,
            rights,
            directory: want_dir,
            budget: self.inner.host_budget().clone(),
        };
        let node = match node {
            Node::Outside | Node::Missing if creat => return Err(Errno::NOTSUP),
            Node::Outside | Node::Missing => return Err(Errno::NOENT),
            Node::Synth => DirNode::Synth(self.table.clone()),
            Node::Mounted { dir, rel } => match dir.open(&rel, &how)? {
                Opened::Directory => DirNode::Mounted { dir, rel },
                Opened::File(file) => return self.install(file, joined.path, rights, inheriting),
            },
        };
        if excl {
            return Err(Errno::EXIST);
        }
        if creat || oflags.contains(Oflags::TRUNC) {
            return Err(Errno::ISDIR);
        }
        let dir = MountDir {
            path: joined.path.clone(),
            node,
        };
        self.install(Box::new(dir), joined.path, rights, inheriting)
    }

    /// The attributes of what `target` leads to.
    fn stat_target(&self, target: &Target) -> Result<Filestat> {
        let stat = match &target.node {
            Node::Outside | Node::Missing => return Err(Errno::NOENT),
            Node::Synth => synth_stat(&target.joined.path),
            Node::Mounted { dir, rel } => dir.stat(rel)?,
        };
        if target.joined.trailing_slash && stat.filetype != Filetype::DIRECTORY {
            return Err(Errno::NOTDIR);
        }
        Ok(stat)
    }

    /// A path call that changes the tree at one path: the mount's own
    /// answer inside a mount, `ENOTSUP` on what the layer synthesizes (a
    /// mount's root, the directories above it, what is missing below them),
    /// the inner system's elsewhere.
    fn change(
        &mut self,
        fd: Fd,
        rel: &str,
        needed: Rights,
        mounted: impl FnOnce(&dyn VirtualDir, &str) -> Result<()>,
        forward: impl FnOnce(&mut S) -> Result<()>,
    ) -> Result<()> {
        match self.resolve(fd, rel, needed)? {
            None => forward(&mut self.inner),
            Some(Target {
                node: Node::Mounted { dir, rel },
                ..
            }) if !rel.is_empty() => mounted(&*dir, &rel),
            Some(_) => Err(Errno::NOTSUP),
        }
    }

    /// Forgets what was opened at `fd`, which the inner system closed or
    /// replaced.
    fn forget(&mut self, fd: Fd) {
        self.opened.remove(&fd);
    }
}

impl<S: VirtualFds> Decorator for Mounts<S> {
    type Inner = S;

    fn inner(&mut self) -> &mut S {
        &mut self.inner
    }

    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        // A close that fails after the descriptor is gone (a virtual file
        // whose commit failed) frees the number all the same.
        let result = self.inner.fd_close(fd);
        if result != Err(Errno::BADF) {
            self.forget(fd);
        }
        result
    }

    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        self.inner.fd_renumber(from, to)?;
        if from != to {
            self.forget(to);
            if let Some(opened) = self.opened.remove(&from) {
                self.opened.insert(to, opened);
            }
        }
        Ok(())
    }

    fn path_create_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.change(
            fd,
            path,
            Rights::PATH_CREATE_DIRECTORY,
            |dir, rel| dir.create_directory(rel),
            |s| s.path_create_directory(fd, path),
        )
    }

    fn path_filestat_get(&mut self, fd: Fd, flags: Lookupflags, path: &str) -> Result<Filestat> {
        match self.resolve(fd, path, Rights::PATH_FILESTAT_GET)? {
            Some(target) => self.stat_target(&target),
            None => self.inner.path_filestat_get(fd, flags, path),
        }
    }

    fn path_filestat_set_times(
        &mut self,
        fd: Fd,
        flags: Lookupflags,
        path: &str,
        atim: Timestamp,
        mtim: Timestamp,
        fst_flags: Fstflags,
    ) -> Result<()> {
        self.change(
            fd,
            path,
            Rights::PATH_FILESTAT_SET_TIMES,
            |_, _| Err(Errno::NOTSUP),
            |s| s.path_filestat_set_times(fd, flags, path, atim, mtim, fst_flags),
        )
    }

    fn path_link(
        &mut self,
        old_fd: Fd,
        old_flags: Lookupflags,
        old_path: &str,
        new_fd: Fd,
        new_path: &str,
    ) -> Result<()> {
        let old = self.resolve(old_fd, old_path, Rights::PATH_LINK_SOURCE)?;
        let new = self.resolve(new_fd, new_path, Rights::PATH_LINK_TARGET)?;
        match (old, new) {
            (None, None) => self
                .inner
                .path_link(old_fd, old_flags, old_path, new_fd, new_path),
            (Some(old), Some(new)) if old.same_mount(&new) => Err(Errno::NOTSUP),
            _ => Err(Errno::XDEV),
        }
    }

    fn path_open(
        &mut self,
        fd: Fd,
        dirflags: Lookupflags,
        path: &str,
        oflags: Oflags,
        rights_base: Rights,
        rights_inheriting: Rights,
        fdflags: Fdflags,
    ) -> Result<Fd> {
        let mut needed = Rights::PATH_OPEN;
        if oflags.contains(Oflags::CREAT) {
            needed |= Rights::PATH_CREATE_FILE;
        }
        if oflags.contains(Oflags::TRUNC) {
            needed |= Rights::PATH_FILESTAT_SET_SIZE;
        }
        match self.resolve(fd, path, needed)? {
            Some(target) => {
                self.open_target(target, oflags, rights_base, rights_inheriting, fdflags)
            }
            None => self.inner.path_open(
                fd,
                dirflags,
                path,
                oflags,
                rights_base,
                rights_inheriting,
                fdflags,
            ),
        }
    }

    fn path_readlink(&mut self, fd: Fd, path: &str, buf: &mut [u8]) -> Result<Size> {
        match self.resolve(fd, path, Rights::PATH_READLINK)? {
            Some(target) => {
                self.stat_target(&target)?;
                Err(Errno::INVAL)
            }
            None => self.inner.path_readlink(fd, path, buf),
        }
    }

    fn path_remove_directory(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.change(
            fd,
            path,
            Rights::PATH_REMOVE_DIRECTORY,
            |dir, rel| dir.remove_directory(rel),
            |s| s.path_remove_directory(fd, path),
        )
    }

    fn path_rename(&mut self, fd: Fd, old_path: &str, new_fd: Fd, new_path: &str) -> Result<()> {
        let old = self.resolve(fd, old_path, Rights::PATH_RENAME_SOURCE)?;
        let new = self.resolve(new_fd, new_path, Rights::PATH_RENAME_TARGET)?;
        match (old, new) {
            (None, None) => self.inner.path_rename(fd, old_path, new_fd, new_path),
            (Some(old), Some(new)) if old.same_mount(&new) => match (old.node, new.node) {
                (Node::Mounted { dir, rel: from }, Node::Mounted { rel: to, .. })
                    if !from.is_empty() && !to.is_empty() =>
                {
                    dir.rename(&from, &to)
                }
                _ => Err(Errno::NOTSUP),
            },
            _ => Err(Errno::XDEV),
        }
    }

    fn path_symlink(&mut self, old_path: &str, fd: Fd, new_path: &str) -> Result<()> {
        self.change(
            fd,
            new_path,
            Rights::PATH_SYMLINK,
            |_, _| Err(Errno::NOTSUP),
            |s| s.path_symlink(old_path, fd, new_path),
        )
    }

    fn path_unlink_file(&mut self, fd: Fd, path: &str) -> Result<()> {
        self.change(
            fd,
            path,
            Rights::PATH_UNLINK_FILE,
            |dir, rel| dir.unlink_file(rel),
            |s| s.path_unlink_file(fd, path),
        )
    }
}

/// Descriptors installed through the mount layer go to the inner system's
/// table, where its own files live, so that numbers stay unique.
impl<S: VirtualFds> VirtualFds for Mounts<S> {
    fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
        preopen: Option<&str>,
    ) -> Result<Fd> {
        self.inner.insert_virtual(file, rights, inheriting, preopen)
    }

    fn insert_host(&mut self, fd: OwnedFd, rights: Rights, inheriting: Rights) -> Result<Fd> {
        self.inner.insert_host(fd, rights, inheriting)
    }

    fn fd_room(&self) -> Result<()> {
        self.inner.fd_room()
    }

    fn host_budget(&self) -> &HostBudget {
        self.inner.host_budget()
    }
}
