//! `/beta/kv` as a [`VirtualDir`]: scopes as directories, keys as files.

use super::{Cond, KvError, KvStore, LIST_PAGE, MAX_KEY_LEN, MAX_TTL_SECONDS, Meta, Scope};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{IoSlice, IoSliceMut};
use std::sync::Arc;
use std::time::Duration;
use wasi_core::budget::Reservation;
use wasi_core::system::prelude::*;
use wasi_core::vfs::{Listing, OpenHow, Opened, VirtualDir, VirtualFile, copy_to_iovs};

/// The directory of expiring writes in each scope: `.ttl/SECONDS/KEY`.
const TTL_DIR: &str = ".ttl";

/// The key-value mount (`spec/wasi-cloud.md`, "Key-value store"): the
/// directories `local`, `region` and `global`, each served by a
/// [`KvStore`], whose files are keys.
///
/// Opening a key reads its whole value (what the guest reads is the value
/// as it was then); writes are buffered and committed by `fd_sync`,
/// `fd_datasync` or `fd_close`, as a put, a compare-and-swap or an append
/// depending on how the file was opened.
pub struct KvDir {
    scopes: [Arc<dyn KvStore>; 3],
    max_value: u64,
}

impl KvDir {
    /// Serves `local`, `region` and `global` from these stores, with
    /// values up to [`DEFAULT_MAX_VALUE`](super::DEFAULT_MAX_VALUE).
    pub fn new(scopes: [Arc<dyn KvStore>; 3]) -> Self {
        Self {
            scopes,
            max_value: super::DEFAULT_MAX_VALUE,
        }
    }

    /// Sets the largest value, in bytes (`EFBIG` beyond).
    pub fn max_value(mut self, bytes: u64) -> Self {
        self.max_value = bytes;
        self
    }

    fn store(&self, scope: Scope) -> &Arc<dyn KvStore> {
        &self.scopes[scope as usize]
    }
}

/// What a path in the mount names.
#[derive(Debug, PartialEq, Eq)]
enum Node<'a> {
    /// `/beta/kv` itself.
    Root,
    /// A scope's directory.
    Scope(Scope),
    /// `SCOPE/.ttl`.
    TtlDir(Scope),
    /// `SCOPE/.ttl/SECONDS`.
    TtlSeconds(Scope),
    /// A key, written with this time to live when it comes through
    /// `.ttl/SECONDS/`.
    Key(Scope, &'a str, Option<Duration>),
}

/// Checks a key: `ENAMETOOLONG` past [`MAX_KEY_LEN`] bytes, `EINVAL` with a
/// NUL byte or for the reserved name `.ttl` (the mount layer has removed
/// `.`, `..` and empty components, and the guest's path was valid UTF-8).
fn check_key(key: &str) -> Result<&str> {
    if key.len() > MAX_KEY_LEN {
        return Err(Errno::NAMETOOLONG);
    }
    if key.contains('\0') {
        return Err(Errno::INVAL);
    }
    Ok(key)
}

/// Parses `.ttl`'s `SECONDS` component: 1 to [`MAX_TTL_SECONDS`], decimal.
fn parse_ttl(seconds: &str) -> Option<Duration> {
    if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = seconds.parse().ok()?;
    (1..=MAX_TTL_SECONDS)
        .contains(&n)
        .then(|| Duration::from_secs(n))
}

/// What `path` names; `ENOENT` for paths that cannot exist (nested keys,
/// a bad `.ttl` component, a name at the root that is no scope).
fn parse(path: &str) -> Result<Node<'_>> {
    if path.is_empty() {
        return Ok(Node::Root);
    }
    let mut parts = path.splitn(2, '/');
    let scope = Scope::from_name(parts.next().unwrap_or("")).ok_or(Errno::NOENT)?;
    let Some(rest) = parts.next() else {
        return Ok(Node::Scope(scope));
    };
    match rest.split_once('/') {
        None if rest == TTL_DIR => Ok(Node::TtlDir(scope)),
        None => Ok(Node::Key(scope, check_key(rest)?, None)),
        Some((TTL_DIR, rest)) => {
            let (seconds, key) = match rest.split_once('/') {
                Some((seconds, key)) => (seconds, Some(key)),
                None => (rest, None),
            };
            let ttl = parse_ttl(seconds).ok_or(Errno::NOENT)?;
            match key {
                None => Ok(Node::TtlSeconds(scope)),
                Some(key) if key.contains('/') => Err(Errno::NOENT),
                Some(key) if key == TTL_DIR => Err(Errno::INVAL),
                Some(key) => Ok(Node::Key(scope, check_key(key)?, Some(ttl))),
            }
        }
        Some(_) => Err(Errno::NOENT),
    }
}

fn inode(scope: Scope, key: &str) -> Inode {
    let mut hasher = DefaultHasher::new();
    (scope.name(), key).hash(&mut hasher);
    hasher.finish()
}

fn file_stat(scope: Scope, key: &str, meta: Meta) -> Filestat {
    Filestat {
        ino: inode(scope, key),
        atim: meta.mtime_ns,
        mtim: meta.mtime_ns,
        ctim: meta.mtime_ns,
        ..Filestat::file(meta.size)
    }
}

impl VirtualDir for KvDir {
    fn stat(&self, path: &str) -> Result<Filestat> {
        match parse(path)? {
            Node::Root | Node::Scope(_) | Node::TtlDir(_) | Node::TtlSeconds(_) => {
                Ok(Filestat::directory())
            }
            Node::Key(scope, key, _) => match self.store(scope).meta(key)? {
                Some(meta) => Ok(file_stat(scope, key, meta)),
                None => Err(Errno::NOENT),
            },
        }
    }

    /// One round trip to the store at most: a read gets the value, a
    /// `CREAT|EXCL` puts the lock, a `CREAT|TRUNC` put asks nothing until it
    /// commits. Only `TRUNC` without `CREAT` and `O_DIRECTORY` on a key ask
    /// whether it exists first.
    fn open(&self, path: &str, how: &OpenHow) -> Result<Opened> {
        let Node::Key(scope, key, _) = parse(path)? else {
            return Ok(Opened::Directory);
        };
        let creat = how.oflags.contains(Oflags::CREAT);
        if how.directory || (how.oflags.contains(Oflags::TRUNC) && !creat) {
            if self.store(scope).meta(key)?.is_none() {
                return Err(Errno::NOENT);
            }
            if how.directory {
                return Err(Errno::NOTDIR);
            }
        }
        self.open_file(path, how).map(Opened::File)
    }

    fn open_file(&self, path: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        let Node::Key(scope, key, ttl) = parse(path)? else {
            return Err(Errno::ISDIR);
        };
        let store = self.store(scope).clone();
        let creat = how.oflags.contains(Oflags::CREAT);
        let excl = creat && how.oflags.contains(Oflags::EXCL);
        let trunc = how.oflags.contains(Oflags::TRUNC);
        let append = how.fdflags.contains(Fdflags::APPEND) && !trunc;
        let readable = how.rights.contains(Rights::FD_READ);
        let cas = readable && how.rights.contains(Rights::FD_WRITE) && !trunc && !append;
        let (data, meta, cond) = if excl {
            // The lock: the key exists, empty, from this open on.
            let meta = store.put(key, b"", Cond::Absent, ttl)?;
            let cond = if cas {
                Cond::Version(meta.version)
            } else {
                Cond::Any
            };
            (Vec::new(), meta, cond)
        } else if trunc {
            // A put: the value is not needed, and whether the key exists
            // `open` has asked when it matters (`TRUNC` without `CREAT`).
            (Vec::new(), Meta::default(), Cond::Any)
        } else {
            match store.get(key)? {
                Some(entry) => {
                    let cond = if cas {
                        Cond::Version(entry.meta.version)
                    } else {
                        Cond::Any
                    };
                    (entry.value, entry.meta, cond)
                }
                None if creat => {
                    let cond = if cas { Cond::Absent } else { Cond::Any };
                    (Vec::new(), Meta::default(), cond)
                }
                None => return Err(Errno::NOENT),
            }
        };
        // The buffer is the guest's for as long as it is open: `ENOMEM`
        // when its budget cannot hold the value (dropped here).
        let reserved = how.budget.try_reserve(data.capacity() as u64)?;
        let base = data.len();
        // A new key (O_CREAT on a missing one) and a truncation are written
        // at commit even with no fd_write.
        let dirty = trunc || (creat && !excl && meta == Meta::default());
        Ok(Box::new(KvFile {
            store,
            scope,
            key: key.to_string(),
            ttl,
            data,
            base,
            pos: 0,
            mtime_ns: meta.mtime_ns,
            append,
            cond,
            dirty,
            max_value: self.max_value,
            reserved,
        }))
    }

    fn readdir(&self, path: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        let scope = match parse(path)? {
            Node::Root => {
                for (i, scope) in Scope::ALL.iter().enumerate().skip(cookie as usize) {
                    let ino = inode(*scope, "");
                    if !out.push(i as u64 + 1, ino, Filetype::DIRECTORY, scope.name()) {
                        break;
                    }
                }
                return Ok(());
            }
            Node::Scope(scope) => scope,
            Node::TtlDir(_) | Node::TtlSeconds(_) => return Ok(()),
            Node::Key(..) => return Err(Errno::NOTDIR),
        };
        let store = self.store(scope);
        let mut cookie = cookie;
        // The guest's buffer is not known: ask for the store's first page,
        // then twice as many each time they all fit.
        let mut want = store.first_page().clamp(1, LIST_PAGE);
        loop {
            let page = store.list(cookie, want)?;
            if page.is_empty() {
                return Ok(());
            }
            want = (want * 2).min(LIST_PAGE);
            for listed in page {
                let ino = inode(scope, &listed.key);
                if !out.push(listed.next, ino, Filetype::REGULAR_FILE, &listed.key) {
                    return Ok(());
                }
                cookie = listed.next;
            }
        }
    }

    fn create_directory(&self, path: &str) -> Result<()> {
        match parse(path)? {
            Node::Key(scope, key, _) if self.store(scope).meta(key)?.is_none() => {
                Err(Errno::NOTSUP)
            }
            _ => Err(Errno::EXIST),
        }
    }

    fn remove_directory(&self, path: &str) -> Result<()> {
        match parse(path)? {
            Node::Key(scope, key, _) => match self.store(scope).meta(key)? {
                Some(_) => Err(Errno::NOTDIR),
                None => Err(Errno::NOENT),
            },
            _ => Err(Errno::NOTSUP),
        }
    }

    fn unlink_file(&self, path: &str) -> Result<()> {
        match parse(path)? {
            Node::Key(scope, key, _) => Ok(self.store(scope).delete(key)?),
            _ => Err(Errno::ISDIR),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let Node::Key(a, from, _) = parse(from)? else {
            // The scopes and `.ttl` directories are fixed.
            return Err(Errno::NOTSUP);
        };
        match parse(to)? {
            Node::Key(b, to, _) if a == b => Ok(self.store(a).rename(from, to)?),
            Node::Key(..) => Err(Errno::XDEV),
            _ => Err(Errno::ISDIR),
        }
    }
}

/// An open key: the value as of the open, and the guest's changes to it.
struct KvFile {
    store: Arc<dyn KvStore>,
    scope: Scope,
    key: String,
    ttl: Option<Duration>,
    data: Vec<u8>,
    /// In append mode, the length of the value as read: what lies beyond
    /// it is appended at commit.
    base: usize,
    pos: u64,
    mtime_ns: u64,
    append: bool,
    /// The condition the next put commits under.
    cond: Cond,
    /// Whether there are changes to commit.
    dirty: bool,
    max_value: u64,
    /// The guest's host memory `data` holds: its capacity.
    reserved: Reservation,
}

impl KvFile {
    /// Makes room in the buffer for `len` bytes, charging the guest's
    /// budget first: a step (up to doubling, within the value limit) when
    /// it fits, else exactly `len`, else `ENOSPC` with nothing changed.
    /// `len` is within the value limit.
    fn grow(&mut self, len: usize) -> Result<()> {
        let capacity = self.data.capacity();
        if len <= capacity {
            return Ok(());
        }
        let limit = usize::try_from(self.max_value).unwrap_or(usize::MAX);
        let step = capacity.saturating_mul(2).min(limit).max(len);
        let target = if self.reserved.try_resize(step as u64).is_ok() {
            step
        } else {
            self.reserved
                .try_resize(len as u64)
                .map_err(|_| Errno::NOSPC)?;
            len
        };
        self.data.reserve_exact(target - self.data.len());
        Ok(())
    }

    /// Writes `bufs` at `offset`, growing the value (zero-filled) as
    /// needed; `EFBIG` past the limit, `ENOSPC` past the guest's budget.
    /// Returns the bytes written.
    fn write_at(&mut self, bufs: &[IoSlice<'_>], offset: u64) -> Result<Size> {
        let len = bufs.iter().map(|b| b.len() as u64).sum::<u64>();
        let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
        if end > self.max_value {
            return Err(Errno::FBIG);
        }
        let (offset, end) = (offset as usize, end as usize);
        if self.data.len() < end {
            self.grow(end)?;
            self.data.resize(end, 0);
        }
        let mut at = offset;
        for buf in bufs {
            self.data[at..at + buf.len()].copy_from_slice(buf);
            at += buf.len();
        }
        if len > 0 {
            self.dirty = true;
        }
        Size::try_from(len).map_err(|_| Errno::INVAL)
    }

    fn read_at(&self, bufs: &mut [IoSliceMut<'_>], offset: u64) -> Size {
        let at = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        copy_to_iovs(&self.data[at..], bufs) as Size
    }

    /// Commits the changes, if any.
    fn commit(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let meta = if self.append {
            let tail = &self.data[self.base..];
            self.store.append(&self.key, tail, self.max_value)?
        } else {
            match self.store.put(&self.key, &self.data, self.cond, self.ttl) {
                Ok(meta) => meta,
                // Created by someone else since the open: a change too.
                Err(KvError::Exists) => return Err(Errno::AGAIN),
                Err(error) => return Err(error.into()),
            }
        };
        self.base = self.data.len();
        self.mtime_ns = meta.mtime_ns;
        if let Cond::Absent | Cond::Version(_) = self.cond {
            self.cond = Cond::Version(meta.version);
        }
        self.dirty = false;
        Ok(())
    }
}

impl VirtualFile for KvFile {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        let meta = Meta {
            size: self.data.len() as u64,
            mtime_ns: self.mtime_ns,
            version: 0,
        };
        Ok(file_stat(self.scope, &self.key, meta))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let n = self.read_at(iovs, self.pos);
        self.pos += u64::from(n);
        Ok(n)
    }

    fn pread(&mut self, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        Ok(self.read_at(iovs, offset))
    }

    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        if self.append {
            self.pos = self.data.len() as u64;
        }
        let n = self.write_at(iovs, self.pos)?;
        self.pos += u64::from(n);
        Ok(n)
    }

    fn pwrite(&mut self, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        // As on Linux, an append-mode file appends whatever the offset.
        let offset = if self.append {
            self.data.len() as u64
        } else {
            offset
        };
        self.write_at(iovs, offset)
    }

    fn seek(&mut self, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        let base = match whence {
            Whence::SET => 0,
            Whence::CUR => self.pos,
            Whence::END => self.data.len() as u64,
            _ => return Err(Errno::INVAL),
        };
        let pos = base.checked_add_signed(offset).ok_or(Errno::INVAL)?;
        self.pos = pos;
        Ok(pos)
    }

    fn set_size(&mut self, size: Filesize) -> Result<()> {
        if size > self.max_value {
            return Err(Errno::FBIG);
        }
        let size = size as usize;
        if size > self.data.len() {
            self.grow(size)?;
            self.data.resize(size, 0);
            self.dirty = true;
        } else if size < self.data.len() {
            if size < self.base {
                // Shrinking below what was read: no longer an append.
                self.append = false;
            }
            // The memory goes back to the guest's budget at once.
            self.data.truncate(size);
            self.data.shrink_to(size);
            // Giving back always succeeds.
            let _ = self
                .reserved
                .try_resize((self.data.capacity() as u64).min(self.reserved.bytes()));
            self.dirty = true;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.commit()
    }

    fn close(&mut self) -> Result<()> {
        let result = self.commit();
        // Reported to the guest: not to be tried again on drop.
        self.dirty = false;
        result
    }
}

impl Drop for KvFile {
    fn drop(&mut self) {
        // Reached without `close` when the descriptor is replaced by
        // fd_renumber or the guest's system is dropped (its exit): commit
        // what is left; nobody can be told of a failure but the operator.
        if let Err(errno) = self.commit() {
            eprintln!(
                "wasi-cloud-fs: kv: the write of {}/{} was lost: {errno}",
                self.scope.name(),
                self.key
            );
        }
    }
}
