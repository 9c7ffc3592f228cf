//! Persistent storage (commands 40 and 41): files in one flat directory,
//! and the batch that carries one call's reads and writes to the kernel.

use rustix::fd::{AsRawFd, OwnedFd, RawFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::path::Path;
use std::sync::Arc;
use std::thread::ThreadId;
use wasi_core::budget::{HostBudget, Reservation};
use wasi_unix::{FdPool, FdSlot, IoBackend};

use crate::charge::{BATCH_FREE_OPS, BATCH_OP_BYTES};

/// `status` values of spec §5, command 40.
pub(crate) mod status {
    /// Done.
    pub const OK: u32 = 0;
    /// No such file.
    pub const NOT_FOUND: u32 = 1;
    /// The file exists (EXCLUSIVE).
    pub const EXISTS: u32 = 2;
    /// Not a valid name, or not a regular file.
    pub const BAD_NAME: u32 = 3;
    /// The channel has no open file.
    pub const NOT_OPEN: u32 = 4;
    /// Any other failure of the host.
    pub const IO: u32 = 5;
}

/// OPEN flags.
pub(crate) const CREATE: u32 = 1;
pub(crate) const TRUNCATE: u32 = 2;
pub(crate) const EXCLUSIVE: u32 = 4;

/// The most bytes one READ or WRITE moves.
pub(crate) const MAX_IO: u32 = 64 << 20;

/// Whether `name` is a valid storage file name.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// The status for a failed system call.
pub(crate) fn status_of(errno: Errno) -> u32 {
    match errno {
        Errno::NOENT => status::NOT_FOUND,
        Errno::EXIST => status::EXISTS,
        // A symbolic link (refused by O_NOFOLLOW) or a directory is not a
        // storage file.
        Errno::LOOP | Errno::ISDIR | Errno::NAMETOOLONG => status::BAD_NAME,
        _ => status::IO,
    }
}

/// An open storage file, counted in the run's descriptors while it is
/// open (spec §1.8).
#[derive(Debug)]
pub(crate) struct StorageFile {
    file: File,
    _slot: FdSlot,
}

impl std::ops::Deref for StorageFile {
    type Target = File;

    fn deref(&self) -> &File {
        &self.file
    }
}

impl rustix::fd::AsFd for StorageFile {
    fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Opens `name` (already checked by [`valid_name`]) in the directory `dir`,
/// never following a symbolic link, counted in `fds`: IO when the run
/// holds its share of descriptors.
pub(crate) fn open(dir: &Path, name: &str, flags: u32, fds: &FdPool) -> Result<StorageFile, u32> {
    let slot = fds.take().map_err(|_| status::IO)?;
    let dir = rustix::fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|_| status::IO)?;
    let mut oflags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if flags & CREATE != 0 {
        oflags |= OFlags::CREATE;
        if flags & EXCLUSIVE != 0 {
            oflags |= OFlags::EXCL;
        }
    }
    if flags & TRUNCATE != 0 {
        oflags |= OFlags::TRUNC;
    }
    let fd: OwnedFd =
        rustix::fs::openat(&dir, name, oflags, Mode::from_raw_mode(0o644)).map_err(status_of)?;
    let stat = rustix::fs::fstat(&fd).map_err(status_of)?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(status::BAD_NAME);
    }
    Ok(StorageFile {
        file: File::from(fd),
        _slot: slot,
    })
}

/// One READ or WRITE of a call, waiting for the batch. Its bytes move in
/// place, between the file and the program's memory.
#[derive(Clone, Copy)]
struct IoOp {
    /// Index of its file in [`Batch::files`].
    file: u32,
    fd: RawFd,
    offset: u64,
    write: bool,
    /// The program's buffer.
    data: u32,
    len: u32,
    /// The `Storage` record, whose `buffer.size` and `status` are written
    /// back.
    record: u32,
}

/// A range of the program's memory, empty when `start >= end`. In 64
/// bits: a buffer may end at 2^32, the end of a 4 GiB memory.
#[derive(Clone, Copy)]
struct Span {
    start: u64,
    end: u64,
}

impl Span {
    const EMPTY: Span = Span {
        start: u64::MAX,
        end: 0,
    };

    fn overlaps(self, data: u32, len: u32) -> bool {
        let (start, end) = bounds(data, len);
        len != 0 && start < self.end && self.start < end
    }

    fn add(&mut self, data: u32, len: u32) {
        if len != 0 {
            let (start, end) = bounds(data, len);
            self.start = self.start.min(start);
            self.end = self.end.max(end);
        }
    }
}

/// The start and end of the `len` bytes at `data`, without wrapping.
fn bounds(data: u32, len: u32) -> (u64, u64) {
    (u64::from(data), u64::from(data) + u64::from(len))
}

/// Operations of a batch that the kernel sees as one: READs (or WRITEs) of
/// the same file at adjacent offsets, in record order. Its members are
/// `order[first..first + count]` of the batch.
#[derive(Clone, Copy)]
struct Run {
    fd: RawFd,
    write: bool,
    offset: u64,
    end: u64,
    first: usize,
    count: usize,
}

/// The READs and WRITEs of one `ar` call waiting to go to the kernel
/// together, and what they need to get there: its buffers are kept from
/// call to call, so that collecting an operation allocates nothing.
pub(crate) struct Batch {
    ops: Vec<IoOp>,
    /// The operations the batch may hold: [`BATCH_FREE_OPS`], and those
    /// `charge` pays for beyond them (spec §1.7).
    room: usize,
    charge: Reservation,
    /// Each op's result (bytes moved), by op index.
    results: Vec<Result<u32, Errno>>,
    /// The files of the ops, kept open until the batch has run.
    files: Vec<Arc<StorageFile>>,
    /// Bytes of buffers the ops hold.
    bytes: u64,
    /// Where the READs' buffers are, and the WRITEs'.
    reads: Span,
    writes: Span,
    /// Where all the buffers are, empty ones included: the memory the
    /// batch needs.
    all: Span,
    /// Scratch: op indices by file, then runs.
    order: Vec<usize>,
    runs: Vec<Run>,
    ring: Ring,
    /// The run's descriptors, where the ring counts.
    fds: FdPool,
}

/// The task's io_uring, set up the first time a batch takes it.
enum Ring {
    Unset,
    /// The ring, and the thread that set it up: with
    /// `IORING_SETUP_SINGLE_ISSUER` only that thread may submit to it; its
    /// descriptor counted in the run's.
    Ready(
        Box<io_uring::IoUring>,
        ThreadId,
        #[expect(
            dead_code,
            reason = "held for its `Drop`, which uncounts the descriptor"
        )]
        FdSlot,
    ),
    /// The kernel refused it, or a submission failed: syscalls from now on.
    Failed,
}

impl Batch {
    /// An empty batch, charging `budget` for growing past
    /// [`BATCH_FREE_OPS`] operations, its ring counted in `fds`.
    pub fn new(budget: &HostBudget, fds: &FdPool) -> Self {
        Batch {
            ops: Vec::with_capacity(BATCH_FREE_OPS),
            room: BATCH_FREE_OPS,
            charge: budget.reservation(),
            results: Vec::new(),
            files: Vec::new(),
            bytes: 0,
            reads: Span::EMPTY,
            writes: Span::EMPTY,
            all: Span::EMPTY,
            order: Vec::new(),
            runs: Vec::new(),
            ring: Ring::Unset,
            fds: fds.clone(),
        }
    }

    /// Whether nothing is collected.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Whether an operation on the `len` bytes at `data` must wait for the
    /// batch to run first: the batch would then exceed its byte budget or
    /// span all 4 GiB of memory (more than one slice of it can hold), or
    /// the buffer overlaps a collected READ's (or, for a READ, a collected
    /// WRITE's), whose bytes depend on the order of the two.
    pub fn must_run_before(&self, write: bool, data: u32, len: u32, max_bytes: u64) -> bool {
        let (start, end) = bounds(data, len);
        !self.ops.is_empty()
            && (self.bytes + u64::from(len) > max_bytes
                || self.all.end.max(end) - self.all.start.min(start) > u64::from(u32::MAX)
                || self.reads.overlaps(data, len)
                || (!write && self.writes.overlaps(data, len)))
    }

    /// Whether the batch can take one operation more: it has room, or the
    /// run's host memory pays for doubling it (spec §1.7). If not, it must
    /// run first; an empty batch always has room.
    pub fn make_room(&mut self) -> bool {
        if self.ops.len() < self.room {
            return true;
        }
        let room = self.room * 2;
        let bytes = (room - BATCH_FREE_OPS) as u64 * BATCH_OP_BYTES;
        if self.charge.try_resize(bytes).is_err() {
            return false;
        }
        self.ops.reserve_exact(room - self.ops.len());
        self.room = room;
        true
    }

    /// Collects a READ (or WRITE) of the `len` bytes at `data` (checked to
    /// be in memory) at `offset` of `file`, for the `Storage` record at
    /// `record`; [`make_room`](Self::make_room) said there is room.
    pub fn push(
        &mut self,
        file: &Arc<StorageFile>,
        write: bool,
        offset: u64,
        data: u32,
        len: u32,
        record: u32,
    ) {
        if !self.files.last().is_some_and(|f| Arc::ptr_eq(f, file)) {
            self.files.push(Arc::clone(file));
        }
        self.bytes += u64::from(len);
        if write {
            self.writes.add(data, len);
        } else {
            self.reads.add(data, len);
        }
        let (start, end) = bounds(data, len);
        self.all.start = self.all.start.min(start);
        self.all.end = self.all.end.max(end);
        self.ops.push(IoOp {
            file: (self.files.len() - 1) as u32,
            fd: file.as_raw_fd(),
            offset,
            write,
            data,
            len,
            record,
        });
    }

    /// The part of the program's memory that [`run`](Self::run) needs, as
    /// `(address, length)`: from the first byte of the lowest buffer to
    /// the end of the highest (`(0, 0)` for an empty batch). Its length
    /// fits in 32 bits ([`must_run_before`](Self::must_run_before) sees
    /// to it).
    pub fn memory_range(&self) -> (u32, u32) {
        if self.ops.is_empty() {
            return (0, 0);
        }
        let len = self.all.end - self.all.start;
        (
            u32::try_from(self.all.start).expect("a buffer starts in memory"),
            u32::try_from(len).expect("a batch spans less than 4 GiB"),
        )
    }

    /// Runs the batch on `memory`, the program's memory from address `at`
    /// on, covering [`memory_range`](Self::memory_range);
    /// [`results`](Self::results) then has the outcome of each operation,
    /// until [`clear`](Self::clear).
    ///
    /// `backend` picks the way (spec §5, command 40): [`IoBackend::Uring`]
    /// one io_uring submission; [`IoBackend::Sync`] one `pread`/`pwrite`
    /// (`preadv`/`pwritev` for a merged run) per run; [`IoBackend::Auto`]
    /// the same, except that a batch of at least two runs, all READs,
    /// first reads what the page cache holds (`RWF_NOWAIT`) and sends the
    /// runs that would wait for the disk, if at least two, to io_uring
    /// together. Either way adjacent operations of one kind on a file are
    /// merged into one vectored operation, and each file's operations take
    /// effect in record order. A ring that fails is dropped for good and
    /// the batch done with syscalls.
    pub fn run(&mut self, memory: &mut [u8], at: u32, backend: IoBackend) {
        if self.ops.is_empty() {
            return;
        }
        let window = (u64::from(at), u64::from(at) + memory.len() as u64);
        assert!(
            window.0 <= self.all.start && self.all.end <= window.1,
            "memory covers the batch"
        );
        // From here on, a buffer's address is its offset in `memory`.
        for op in &mut self.ops {
            op.data -= at;
        }
        self.make_runs();
        self.results.clear();
        self.results.resize(self.ops.len(), Ok(0));
        let runs = std::mem::take(&mut self.runs);
        match backend {
            IoBackend::Uring => {
                if self.uring_batch(memory, &runs).is_err() {
                    self.sync_runs(memory, &runs);
                }
            }
            IoBackend::Auto if runs.len() >= 2 && runs.iter().all(|run| !run.write) => {
                // What the page cache holds is read at once; the READs
                // that would wait for the disk wait together.
                let mut waiting = Vec::new();
                for run in &runs {
                    match self.read_nowait(memory, run) {
                        Some(result) => self.share(run, result),
                        None => waiting.push(*run),
                    }
                }
                if waiting.len() < 2 || self.uring_batch(memory, &waiting).is_err() {
                    self.sync_runs(memory, &waiting);
                }
            }
            _ => self.sync_runs(memory, &runs),
        }
        self.runs = runs;
    }

    /// Runs `runs` with one system call each.
    fn sync_runs(&mut self, memory: &mut [u8], runs: &[Run]) {
        for run in runs {
            let result = self.sync_run(memory, run);
            self.share(run, result);
        }
    }

    /// The READ run `run` if the page cache holds all of it, or up to the
    /// end of the file (`preadv2` with `RWF_NOWAIT`); `None` if part of it
    /// would wait for the disk (or the file cannot tell).
    fn read_nowait(&self, memory: &mut [u8], run: &Run) -> Option<Result<u32, Errno>> {
        let first = &self.ops[self.order[run.first]];
        let file = &*self.files[first.file as usize];
        let flags = rustix::io::ReadWriteFlags::NOWAIT;
        let want = run.end - run.offset;
        let read = self.with_read_iovs(memory, run, |iovs| {
            rustix::io::preadv2(file, iovs, run.offset, flags)
        });
        match read {
            // Short only at the end of the file, which a later READ with
            // waiting finds the same.
            Ok(n) if n as u64 == want || n == 0 => Some(Ok(n as u32)),
            _ => None,
        }
    }

    /// Calls `f` with the buffers of the READ run `run`.
    fn with_read_iovs<T>(
        &self,
        memory: &mut [u8],
        run: &Run,
        f: impl FnOnce(&mut [IoSliceMut<'_>]) -> T,
    ) -> T {
        let base = memory.as_mut_ptr();
        let slice = |op: &IoOp| {
            // SAFETY: the READ buffers of a batch are pairwise disjoint
            // (`must_run_before` runs the batch before an overlapping one
            // joins it) and within `memory` (checked by `run`'s assertion,
            // their addresses made offsets in it), so these slices alias nothing else while
            // they live, and `memory` is borrowed mutably for as long.
            IoSliceMut::new(unsafe {
                std::slice::from_raw_parts_mut(base.add(op.data as usize), op.len as usize)
            })
        };
        if run.count == 1 {
            f(&mut [slice(&self.ops[self.order[run.first]])])
        } else {
            let mut iovs: Vec<IoSliceMut<'_>> = self.members(run).map(slice).collect();
            f(&mut iovs)
        }
    }

    /// Each operation's `Storage` record and result (bytes moved), in
    /// record order, after [`run`](Self::run).
    pub fn results(&self) -> impl Iterator<Item = (u32, Result<u32, Errno>)> + '_ {
        self.ops
            .iter()
            .zip(&self.results)
            .map(|(op, result)| (op.record, *result))
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.results.clear();
        self.files.clear();
        self.bytes = 0;
        self.reads = Span::EMPTY;
        self.writes = Span::EMPTY;
        self.all = Span::EMPTY;
    }

    /// Groups the ops into [`Run`]s: by file (keeping each file's order),
    /// then adjacent operations of the same kind merged.
    fn make_runs(&mut self) {
        let ops = &self.ops;
        self.order.clear();
        self.order.extend(0..ops.len());
        // Unstable is stable here: the index is part of the key.
        self.order.sort_unstable_by_key(|&i| (ops[i].fd, i));
        self.runs.clear();
        for (position, &i) in self.order.iter().enumerate() {
            let op = &ops[i];
            let end = op.offset.saturating_add(u64::from(op.len));
            match self.runs.last_mut() {
                Some(run)
                    if run.fd == op.fd
                        && run.write == op.write
                        && run.end == op.offset
                        && run.count < MAX_IOVS =>
                {
                    run.end = end;
                    run.count += 1;
                }
                _ => self.runs.push(Run {
                    fd: op.fd,
                    write: op.write,
                    offset: op.offset,
                    end,
                    first: position,
                    count: 1,
                }),
            }
        }
    }

    /// The ops of `run`, in order.
    fn members<'a>(&'a self, run: &Run) -> impl Iterator<Item = &'a IoOp> + 'a {
        self.order[run.first..run.first + run.count]
            .iter()
            .map(|&i| &self.ops[i])
    }

    /// Runs `run` with one system call.
    fn sync_run(&self, memory: &mut [u8], run: &Run) -> Result<u32, Errno> {
        let first = &self.ops[self.order[run.first]];
        let file = &*self.files[first.file as usize];
        let range = |op: &IoOp| op.data as usize..op.data as usize + op.len as usize;
        let moved = match (run.count, run.write) {
            (1, true) => rustix::io::pwrite(file, &memory[range(first)], run.offset),
            (1, false) => rustix::io::pread(file, &mut memory[range(first)], run.offset),
            (_, true) => {
                let iovs: Vec<IoSlice<'_>> = self
                    .members(run)
                    .map(|op| IoSlice::new(&memory[range(op)]))
                    .collect();
                rustix::io::pwritev(file, &iovs, run.offset)
            }
            (_, false) => self.with_read_iovs(memory, run, |iovs| {
                rustix::io::preadv(file, iovs, run.offset)
            }),
        };
        moved.map(|n| n as u32)
    }

    /// Gives each member of `run` its share of the bytes the run moved, in
    /// order (a short transfer leaves the last members short), or its
    /// failure.
    fn share(&mut self, run: &Run, result: Result<u32, Errno>) {
        let mut left = result;
        for &i in &self.order[run.first..run.first + run.count] {
            self.results[i] = match &mut left {
                Ok(n) => {
                    let part = (*n).min(self.ops[i].len);
                    *n -= part;
                    Ok(part)
                }
                Err(errno) => Err(*errno),
            };
        }
    }

    /// The task's ring, set up on first use (and again if the task moved
    /// to another thread); `None` once io_uring has failed.
    fn ring(&mut self) -> Option<&mut io_uring::IoUring> {
        let thread = std::thread::current().id();
        if !matches!(&self.ring, Ring::Ready(_, owner, _) if *owner == thread)
            && !matches!(self.ring, Ring::Failed)
        {
            // The old ring goes first, and its descriptor with it. With no
            // descriptor left for a new one, this batch uses syscalls.
            self.ring = Ring::Unset;
            let slot = self.fds.take().ok()?;
            self.ring = match new_ring() {
                Ok(ring) => Ring::Ready(Box::new(ring), thread, slot),
                Err(_) => Ring::Failed,
            };
        }
        match &mut self.ring {
            Ring::Ready(ring, _, _) => Some(ring),
            _ => None,
        }
    }

    /// The io_uring form of `runs` (of the batch): one submission (of at
    /// most the ring's size; more take several). The runs of a file whose ranges
    /// overlap a WRITE form one link chain, in record order ([`tangled`]);
    /// one that the kernel cancelled because an earlier link fell short is
    /// done again synchronously, in order.
    ///
    /// A failing submission drops the ring for good (the entries the
    /// kernel refused stay in its queue and must never be submitted later,
    /// their buffers gone) and leaves the batch to the caller.
    fn uring_batch(&mut self, memory: &mut [u8], runs: &[Run]) -> std::io::Result<()> {
        let tangled = tangled(runs);
        let base = memory.as_mut_ptr();
        // The vectors of merged runs, one per member at its position in
        // `order`; raw, as WRITE buffers may overlap one another.
        let iovecs: Vec<Iovec> = self
            .order
            .iter()
            .map(|&i| Iovec {
                // SAFETY: every op's buffer lies within `memory` (`run`
                // asserts it covers them all, their addresses made offsets
                // in it), so the offset stays in bounds.
                base: unsafe { base.add(self.ops[i].data as usize) },
                len: self.ops[i].len as usize,
            })
            .collect();
        let Some(ring) = self.ring() else {
            return Err(std::io::Error::other("io_uring is not available"));
        };
        let results = submit_runs(ring, runs, &tangled, &iovecs).inspect_err(|_| {
            self.ring = Ring::Failed;
        })?;
        for (run, result) in runs.iter().zip(results) {
            self.share(run, result);
            // Operations the kernel cancelled (an earlier link fell short)
            // are done again, in order.
            if result == Err(Errno::CANCELED) {
                for position in run.first..run.first + run.count {
                    let i = self.order[position];
                    let single = Run {
                        offset: self.ops[i].offset,
                        first: position,
                        count: 1,
                        ..*run
                    };
                    self.results[i] = self.sync_run(memory, &single);
                }
            }
        }
        Ok(())
    }
}

/// An `iovec`, without the borrows of `IoSlice`: the kernel reads (or
/// writes) through it while the batch runs.
#[repr(C)]
struct Iovec {
    base: *mut u8,
    len: usize,
}

/// A ring for storage batches: 256 entries; completions run only when the
/// task waits for them (`SINGLE_ISSUER | DEFER_TASKRUN`, which took 64
/// scattered WRITEs from 150 µs to 93 µs), and a submission goes on past
/// an entry that fails at once (`SUBMIT_ALL`). A kernel older than 6.1,
/// which refuses those flags, gets a plain ring.
fn new_ring() -> std::io::Result<io_uring::IoUring> {
    io_uring::IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .build(256)
        .or_else(|_| io_uring::IoUring::new(256))
}

/// Submits `runs` (their vectors at `iovecs`, by position in the batch's
/// `order`) and waits for all of them: the results by run.
fn submit_runs(
    ring: &mut io_uring::IoUring,
    runs: &[Run],
    tangled: &[bool],
    iovecs: &[Iovec],
) -> std::io::Result<Vec<Result<u32, Errno>>> {
    use io_uring::{opcode, squeue, types};
    let mut results = vec![Ok(0); runs.len()];
    let capacity = ring.params().sq_entries() as usize;
    let mut start = 0;
    while start < runs.len() {
        let chunk = start..runs.len().min(start + capacity);
        for r in chunk.clone() {
            let run = &runs[r];
            let fd = types::Fd(run.fd);
            let iov = &iovecs[run.first..run.first + run.count];
            let entry = match (run.count, run.write) {
                (1, true) => opcode::Write::new(fd, iov[0].base, iov[0].len as u32)
                    .offset(run.offset)
                    .build(),
                (1, false) => opcode::Read::new(fd, iov[0].base, iov[0].len as u32)
                    .offset(run.offset)
                    .build(),
                (_, true) => opcode::Writev::new(fd, iov.as_ptr().cast(), iov.len() as u32)
                    .offset(run.offset)
                    .build(),
                (_, false) => opcode::Readv::new(fd, iov.as_ptr().cast(), iov.len() as u32)
                    .offset(run.offset)
                    .build(),
            };
            let same_file_next = r + 1 < chunk.end && runs[r + 1].fd == run.fd;
            let entry = if same_file_next && tangled[r] {
                entry.flags(squeue::Flags::IO_LINK)
            } else {
                entry
            };
            // SAFETY: the buffers (the program's memory, borrowed by the
            // caller for the whole batch), the vectors (`iovecs`) and the
            // files (kept open by the batch) outlive every entry: this
            // function waits for all entries of the chunk to complete
            // before the next chunk or returning. `Iovec` has the layout of
            // `struct iovec`. The chunk is at most the ring's size and the
            // queue is empty before it, so there is room.
            unsafe {
                ring.submission()
                    .push(&entry.user_data(r as u64))
                    .map_err(|_| std::io::Error::other("submission queue full"))?;
            }
        }
        let want = chunk.len();
        submit_and_wait(ring, want)?;
        let mut completed = 0;
        while completed < want {
            let mut any = false;
            for cqe in ring.completion() {
                any = true;
                completed += 1;
                let result = cqe.result();
                results[cqe.user_data() as usize] = if result >= 0 {
                    Ok(result as u32)
                } else {
                    Err(Errno::from_raw_os_error(-result))
                };
            }
            if !any {
                submit_and_wait(ring, want - completed)?;
            }
        }
        start = chunk.end;
    }
    Ok(results)
}

/// The most buffers one vectored operation carries (Linux's `IOV_MAX`).
const MAX_IOVS: usize = 1024;
/// For each run, whether its file has runs whose ranges overlap (one
/// being a WRITE): only then does their order matter, and the file's runs
/// are linked. Others run concurrently.
fn tangled(runs: &[Run]) -> Vec<bool> {
    let mut by_file: Vec<usize> = (0..runs.len()).collect();
    by_file.sort_by_key(|&r| (runs[r].fd, runs[r].offset));
    let mut tangled_fds = Vec::new();
    // Sweeping each file's runs by offset: the furthest end of any run so
    // far, and of any WRITE.
    let mut sweep: Option<(std::os::fd::RawFd, u64, u64)> = None;
    for &r in &by_file {
        let run = &runs[r];
        let (ends_any, ends_write) = match sweep {
            Some((fd, any, write)) if fd == run.fd => (any, write),
            _ => (0, 0),
        };
        let overlaps_write = run.offset < ends_write;
        let write_overlaps = run.write && run.offset < ends_any;
        if (overlaps_write || write_overlaps) && !tangled_fds.contains(&run.fd) {
            tangled_fds.push(run.fd);
        }
        let ends_write = if run.write {
            ends_write.max(run.end)
        } else {
            ends_write
        };
        sweep = Some((run.fd, ends_any.max(run.end), ends_write));
    }
    runs.iter()
        .map(|run| tangled_fds.contains(&run.fd))
        .collect()
}

/// `IoUring::submit_and_wait`, again when a signal interrupts the wait or
/// the kernel is briefly out of room: a batch in flight must be waited for
/// to its end, as the kernel still reads and writes its buffers. Any other
/// error comes from an `io_uring_enter` that submitted nothing.
fn submit_and_wait(ring: &io_uring::IoUring, want: usize) -> std::io::Result<usize> {
    loop {
        match ring.submit_and_wait(want) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::ResourceBusy
                ) =>
            {
                std::thread::yield_now();
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of descriptors for one test's files.
    fn fds() -> FdPool {
        FdPool::with_share(16)
    }

    #[test]
    fn names_stay_in_the_directory() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "/etc",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        for good in ["a", "..a", "notes.txt", "x".repeat(255).as_str()] {
            assert!(valid_name(good), "{good:?}");
        }
    }

    #[test]
    fn symbolic_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert_eq!(
            open(dir.path(), "link", 0, &fds()).unwrap_err(),
            status::BAD_NAME
        );
        assert_eq!(
            open(dir.path(), "none", 0, &fds()).unwrap_err(),
            status::NOT_FOUND
        );
        open(dir.path(), "new", CREATE, &fds()).unwrap();
        assert_eq!(
            open(dir.path(), "new", CREATE | EXCLUSIVE, &fds()).unwrap_err(),
            status::EXISTS
        );
    }

    #[test]
    fn only_overlapping_writes_tangle_a_file() {
        let run = |fd, write, offset: u64, len: u64| Run {
            fd,
            write,
            offset,
            end: offset + len,
            first: 0,
            count: 1,
        };
        // Reads never tangle; a write overlapping anything does, even when
        // a range between them does not overlap it.
        let runs = [
            run(3, false, 0, 100),
            run(3, false, 10, 10),
            run(3, true, 50, 10),
            run(4, true, 0, 10),
            run(4, true, 10, 10),
            run(5, false, 0, 10),
            run(5, false, 0, 10),
        ];
        assert_eq!(
            tangled(&runs),
            [true, true, true, false, false, false, false]
        );
    }

    #[test]
    fn batch_op_bytes_cover_the_vectors() {
        use std::mem::size_of;
        // The op; its result, file, place in the order and run, each with
        // growth (twice); the iovec and waiting run of a submission.
        let bytes = size_of::<IoOp>()
            + 2 * (size_of::<Result<u32, Errno>>()
                + size_of::<Arc<StorageFile>>()
                + size_of::<usize>()
                + size_of::<Run>())
            + size_of::<Iovec>()
            + size_of::<Run>();
        assert!(bytes as u64 <= BATCH_OP_BYTES, "{bytes}");
    }

    #[test]
    fn a_batch_grows_only_as_far_as_the_budget_pays() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(open(dir.path(), "f", CREATE, &fds()).unwrap());
        // Room for one doubling past the free operations, not two.
        let budget = HostBudget::new(BATCH_FREE_OPS as u64 * BATCH_OP_BYTES * 2);
        let mut batch = Batch::new(&budget, &fds());
        let mut pushed = 0u32;
        while batch.make_room() {
            batch.push(&file, true, 0, 0, 0, pushed);
            pushed += 1;
        }
        assert_eq!(pushed as usize, 2 * BATCH_FREE_OPS);
        assert!(batch.ops.capacity() <= 2 * BATCH_FREE_OPS);
        assert_eq!(budget.used(), BATCH_FREE_OPS as u64 * BATCH_OP_BYTES);
        // Once it has run, it has room again, and charges nothing more.
        batch.clear();
        assert!(batch.make_room());
        assert_eq!(budget.used(), BATCH_FREE_OPS as u64 * BATCH_OP_BYTES);
        drop(batch);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn batches_keep_each_files_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(open(dir.path(), "f", CREATE, &fds()).unwrap());
        for backend in [IoBackend::Sync, IoBackend::Uring, IoBackend::Auto] {
            let mut memory = vec![0u8; 64];
            memory[..11].copy_from_slice(b"hello world");
            let mut batch = Batch::new(&HostBudget::unlimited(), &fds());
            batch.push(&file, true, 0, 0, 5, 100);
            batch.push(&file, true, 5, 5, 6, 101);
            assert!(!batch.must_run_before(false, 32, 16, u64::MAX));
            batch.push(&file, false, 0, 32, 16, 102);
            // A READ into a collected buffer, or a WRITE from one, waits.
            assert!(batch.must_run_before(false, 0, 1, u64::MAX));
            assert!(batch.must_run_before(true, 40, 1, u64::MAX));
            assert!(!batch.must_run_before(true, 0, 1, u64::MAX));
            assert!(batch.must_run_before(true, 0, 1, 21));
            batch.run(&mut memory, 0, backend);
            let done: Vec<_> = batch.results().collect();
            batch.clear();
            assert_eq!(done, [(100, Ok(5)), (101, Ok(6)), (102, Ok(11))]);
            assert_eq!(&memory[32..43], b"hello world");
            assert!(batch.is_empty());
            // Scattered READs of a file whose pages the kernel dropped (as
            // far as it does), then of the pages it has cached again: with
            // `Auto`, the first waiting on io_uring, the second at once.
            file.sync_all().unwrap();
            rustix::fs::fadvise(&*file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            for _ in 0..2 {
                memory[48..64].fill(0);
                for k in 0..8u32 {
                    batch.push(&file, false, u64::from(k), 48 + 2 * k, 1, 200 + k);
                }
                batch.run(&mut memory, 0, backend);
                let done: Vec<_> = batch.results().collect();
                batch.clear();
                assert!(done.iter().all(|&(_, result)| result == Ok(1)));
                let every_other: Vec<u8> = memory[48..64].iter().step_by(2).copied().collect();
                assert_eq!(every_other, b"hello wo");
            }
        }
    }
}
