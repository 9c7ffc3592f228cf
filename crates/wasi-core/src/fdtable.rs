//! The file descriptor table: numbers to open objects, with their rights.
//!
//! The table is generic over the object type so that each [`System`](crate::System)
//! chooses its own (host files, sockets, [`VirtualFile`](crate::vfs::VirtualFile)s
//! mounted by other crates). Rights live here and are enforced here: every
//! lookup names the rights it needs and fails when the descriptor lacks one
//! (`EBADF` for reading and writing, `ENOTCAPABLE` otherwise, see
//! [`FdEntry::require`]); rights can only be dropped.

use crate::types::{Errno, Fd, Rights};

/// An open file descriptor: the object and what the guest may do with it.
#[derive(Debug)]
pub struct FdEntry<F> {
    /// The open object.
    pub file: F,
    /// Rights that apply to this descriptor.
    pub rights: Rights,
    /// Rights passed on to descriptors opened through this one.
    pub inheriting: Rights,
    /// For a preopened directory, the path under which the guest sees it.
    pub preopen: Option<Box<str>>,
}

impl<F> FdEntry<F> {
    /// An entry that is not a preopen.
    pub fn new(file: F, rights: Rights, inheriting: Rights) -> Self {
        Self {
            file,
            rights,
            inheriting,
            preopen: None,
        }
    }

    /// Fails unless the entry holds every right in `needed`: a missing
    /// `FD_READ` or `FD_WRITE` gives `EBADF`, as POSIX does for a descriptor
    /// not open for reading or writing (and as the official wasi-testsuite
    /// expects); any other missing right gives `ENOTCAPABLE`.
    #[inline]
    pub fn require(&self, needed: Rights) -> Result<(), Errno> {
        let missing = needed.difference(self.rights);
        if missing.is_empty() {
            Ok(())
        } else if missing.intersects(Rights::FD_READ | Rights::FD_WRITE) {
            Err(Errno::BADF)
        } else {
            Err(Errno::NOTCAPABLE)
        }
    }
}

/// A table of open descriptors; new descriptors take the lowest free number.
#[derive(Debug)]
pub struct FdTable<F> {
    slots: Vec<Option<FdEntry<F>>>,
    open: usize,
    limit: usize,
}

impl<F> Default for FdTable<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> FdTable<F> {
    /// The default maximum number of open descriptors: 1024, well under
    /// the usual process limits (`spec/preview1.md`, "File descriptors":
    /// `--max-fds`).
    pub const DEFAULT_LIMIT: usize = 1024;

    /// An empty table with the default limit.
    pub fn new() -> Self {
        Self::with_limit(Self::DEFAULT_LIMIT)
    }

    /// An empty table holding at most `limit` descriptors (`EMFILE` beyond).
    pub fn with_limit(limit: usize) -> Self {
        Self {
            slots: Vec::new(),
            open: 0,
            limit,
        }
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// The most descriptors the table holds.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether one more descriptor fits: `EMFILE` when the table holds its
    /// limit. Ask before opening what will be inserted, so that a full
    /// table opens nothing.
    #[inline]
    pub fn check_room(&self) -> Result<(), Errno> {
        if self.open >= self.limit {
            Err(Errno::MFILE)
        } else {
            Ok(())
        }
    }

    /// Inserts at the lowest free number; `EMFILE` when the table holds
    /// its limit.
    pub fn insert(&mut self, entry: FdEntry<F>) -> Result<Fd, Errno> {
        self.check_room()?;
        let index = match self.slots.iter().position(Option::is_none) {
            Some(index) => index,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let fd = Fd::try_from(index).map_err(|_| Errno::MFILE)?;
        self.slots[index] = Some(entry);
        self.open += 1;
        Ok(fd)
    }

    /// Inserts at `fd`, returning the entry it replaces.
    pub fn insert_at(&mut self, fd: Fd, entry: FdEntry<F>) -> Option<FdEntry<F>> {
        let index = fd as usize;
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        let old = self.slots[index].replace(entry);
        if old.is_none() {
            self.open += 1;
        }
        old
    }

    /// The entry at `fd` (`EBADF`) if it holds the rights `needed` (`ENOTCAPABLE`).
    #[inline]
    pub fn get(&self, fd: Fd, needed: Rights) -> Result<&FdEntry<F>, Errno> {
        let entry = self.entry(fd)?;
        entry.require(needed)?;
        Ok(entry)
    }

    /// The entry at `fd` mutably, if it holds the rights `needed`.
    #[inline]
    pub fn get_mut(&mut self, fd: Fd, needed: Rights) -> Result<&mut FdEntry<F>, Errno> {
        let entry = self
            .slots
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)?;
        entry.require(needed)?;
        Ok(entry)
    }

    /// The entry at `fd` whatever its rights (`EBADF` if none).
    #[inline]
    pub fn entry(&self, fd: Fd) -> Result<&FdEntry<F>, Errno> {
        self.slots
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::BADF)
    }

    /// Removes and returns the entry at `fd`.
    pub fn remove(&mut self, fd: Fd) -> Result<FdEntry<F>, Errno> {
        let entry = self
            .slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        self.open -= 1;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(entry)
    }

    /// Moves the entry at `from` to `to`, closing what `to` held. Both must be
    /// open (`EBADF`), as in wasmtime; renumbering onto itself does nothing.
    /// Returns the replaced entry so the caller decides how to close it.
    pub fn renumber(&mut self, from: Fd, to: Fd) -> Result<Option<FdEntry<F>>, Errno> {
        self.entry(from)?;
        self.entry(to)?;
        if from == to {
            return Ok(None);
        }
        let entry = self.remove(from)?;
        Ok(self.insert_at(to, entry))
    }

    /// Drops rights of `fd`; asking for a right it does not hold is `ENOTCAPABLE`.
    pub fn set_rights(&mut self, fd: Fd, rights: Rights, inheriting: Rights) -> Result<(), Errno> {
        let entry = self.get_mut(fd, Rights::empty())?;
        if !entry.rights.contains(rights) || !entry.inheriting.contains(inheriting) {
            return Err(Errno::NOTCAPABLE);
        }
        entry.rights = rights;
        entry.inheriting = inheriting;
        Ok(())
    }

    /// Iterates over open descriptors in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = (Fd, &FdEntry<F>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(fd, slot)| Some((fd as Fd, slot.as_ref()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &'static str) -> FdEntry<&'static str> {
        FdEntry::new(name, Rights::FD_READ | Rights::FD_WRITE, Rights::empty())
    }

    #[test]
    fn lowest_free_number_is_reused() {
        let mut table = FdTable::new();
        assert_eq!(table.insert(entry("a")), Ok(0));
        assert_eq!(table.insert(entry("b")), Ok(1));
        assert_eq!(table.insert(entry("c")), Ok(2));
        table.remove(1).unwrap();
        assert_eq!(table.insert(entry("d")), Ok(1));
        assert_eq!(table.len(), 3);
        assert_eq!(table.remove(7).unwrap_err(), Errno::BADF);
    }

    #[test]
    fn rights_only_shrink() {
        let mut table = FdTable::new();
        let fd = table.insert(entry("a")).unwrap();
        assert_eq!(
            table.get(fd, Rights::FD_SEEK).unwrap_err(),
            Errno::NOTCAPABLE
        );
        table
            .set_rights(fd, Rights::FD_READ, Rights::empty())
            .unwrap();
        assert!(table.get(fd, Rights::FD_READ).is_ok());
        assert_eq!(
            table.set_rights(fd, Rights::FD_READ | Rights::FD_WRITE, Rights::empty()),
            Err(Errno::NOTCAPABLE)
        );
    }

    #[test]
    fn missing_read_or_write_right_is_ebadf() {
        let mut table = FdTable::new();
        let fd = table.insert(entry("a")).unwrap();
        table
            .set_rights(fd, Rights::FD_READ, Rights::empty())
            .unwrap();
        assert_eq!(table.get(fd, Rights::FD_WRITE).unwrap_err(), Errno::BADF);
        let both = Rights::FD_WRITE | Rights::FD_SEEK;
        assert_eq!(table.get(fd, both).unwrap_err(), Errno::BADF);
        table
            .set_rights(fd, Rights::empty(), Rights::empty())
            .unwrap();
        assert_eq!(table.get(fd, Rights::FD_READ).unwrap_err(), Errno::BADF);
    }

    #[test]
    fn renumber_replaces_the_target() {
        let mut table = FdTable::new();
        table.insert(entry("a")).unwrap();
        table.insert(entry("b")).unwrap();
        assert_eq!(table.renumber(0, 5).unwrap_err(), Errno::BADF);
        let replaced = table.renumber(0, 1).unwrap().unwrap();
        assert_eq!(replaced.file, "b");
        assert_eq!(table.entry(1).unwrap().file, "a");
        assert_eq!(table.entry(0).unwrap_err(), Errno::BADF);
        assert_eq!(table.len(), 1);
        assert!(table.renumber(1, 1).unwrap().is_none());
    }

    #[test]
    fn limit_gives_emfile() {
        let mut table = FdTable::with_limit(1);
        assert_eq!(table.check_room(), Ok(()));
        table.insert(entry("a")).unwrap();
        assert_eq!(table.check_room(), Err(Errno::MFILE));
        assert_eq!(table.insert(entry("b")), Err(Errno::MFILE));
        // Renumbering needs no room.
        table.insert_at(0, entry("c"));
        assert_eq!(table.len(), 1);
        assert_eq!(FdTable::<()>::new().limit(), 1024);
    }
}
