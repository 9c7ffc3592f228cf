//! Persistent storage (commands 40 and 41): files in one flat directory,
//! and the batch that carries one call's reads and writes to the kernel.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

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

/// Opens `name` (already checked by [`valid_name`]) in the directory `dir`,
/// never following a symbolic link.
pub(crate) fn open(dir: &Path, name: &str, flags: u32) -> Result<File, u32> {
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
    Ok(File::from(fd))
}

/// One READ or WRITE of a call, waiting for the batch.
pub(crate) struct IoOp {
    pub file: Arc<File>,
    pub offset: u64,
    pub write: bool,
    /// The bytes to write, or the buffer read into.
    pub buf: Vec<u8>,
    /// Where the record is (its `buffer.size` and `status` are written back).
    pub record: u32,
    /// Where the program's buffer is (for a READ, the bytes go there).
    pub data: u32,
    /// Bytes moved, or the failure.
    pub result: Result<u32, Errno>,
}

/// Runs `ops`, filling each op's `result`: as one io_uring submission on
/// `ring` if given (and the kernel accepts it), else as `preadv`/`pwritev`
/// calls. Either way adjacent operations of one kind on a file are merged
/// into one vectored operation, and each file's operations take effect in
/// record order.
///
/// A ring whose submission fails is dropped (`*ring` becomes `None`): the
/// entries the kernel refused stay in its queue and must never be submitted
/// later, their buffers gone. The batch is then done synchronously.
pub(crate) fn run_batch(ring: &mut Option<io_uring::IoUring>, ops: &mut [IoOp]) {
    if ops.is_empty() {
        return;
    }
    if let Some(uring) = ring {
        if uring_batch(uring, ops).is_ok() {
            return;
        }
        *ring = None;
    }
    for run in runs(ops) {
        if let [single] = run.members[..] {
            ops[single].result = sync_op(&mut ops[single]);
            continue;
        }
        let result = if run.write {
            write_run(ops, &run)
        } else {
            read_run(ops, &run)
        };
        share(ops, &run, result);
    }
}

/// A run of WRITEs with one `pwritev`.
fn write_run(ops: &[IoOp], run: &Run) -> Result<u32, Errno> {
    let iovs: Vec<std::io::IoSlice<'_>> = run
        .members
        .iter()
        .map(|&i| std::io::IoSlice::new(&ops[i].buf))
        .collect();
    rustix::io::pwritev(&*ops[run.members[0]].file, &iovs, run.offset).map(|n| n as u32)
}

/// A run of READs with one `preadv`.
fn read_run(ops: &mut [IoOp], run: &Run) -> Result<u32, Errno> {
    let file = std::sync::Arc::clone(&ops[run.members[0]].file);
    let mut bufs: Vec<Option<&mut [u8]>> = ops.iter_mut().map(|op| Some(&mut op.buf[..])).collect();
    let mut iovs: Vec<std::io::IoSliceMut<'_>> = run
        .members
        .iter()
        .map(|&i| std::io::IoSliceMut::new(bufs[i].take().expect("one run each")))
        .collect();
    rustix::io::preadv(&*file, &mut iovs, run.offset).map(|n| n as u32)
}

/// Gives each member of `run` its share of the bytes the run moved, in
/// order (a short transfer leaves the last members short), or its failure.
fn share(ops: &mut [IoOp], run: &Run, result: Result<u32, Errno>) {
    let mut left = result;
    for &i in &run.members {
        ops[i].result = match &mut left {
            Ok(n) => {
                let part = (*n).min(ops[i].buf.len() as u32);
                *n -= part;
                Ok(part)
            }
            Err(errno) => Err(*errno),
        };
    }
}

fn sync_op(op: &mut IoOp) -> Result<u32, Errno> {
    let moved = if op.write {
        op.file.write_at(&op.buf, op.offset)
    } else {
        op.file.read_at(&mut op.buf, op.offset)
    };
    moved
        .map(|n| n as u32)
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))
}

/// The most buffers one vectored operation carries (Linux's `IOV_MAX`).
const MAX_IOVS: usize = 1024;

/// Operations of a batch that the kernel sees as one: READs (or WRITEs) of
/// the same file at adjacent offsets, in record order.
struct Run {
    fd: std::os::fd::RawFd,
    write: bool,
    offset: u64,
    end: u64,
    members: Vec<usize>,
}

/// Groups `ops` into [`Run`]s: by file (keeping each file's order), then
/// adjacent operations of the same kind merged.
fn runs(ops: &[IoOp]) -> Vec<Run> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].file.as_raw_fd());
    let mut runs: Vec<Run> = Vec::new();
    for i in order {
        let op = &ops[i];
        let fd = op.file.as_raw_fd();
        let end = op.offset.saturating_add(op.buf.len() as u64);
        match runs.last_mut() {
            Some(run)
                if run.fd == fd
                    && run.write == op.write
                    && run.end == op.offset
                    && run.members.len() < MAX_IOVS =>
            {
                run.end = end;
                run.members.push(i);
            }
            _ => runs.push(Run {
                fd,
                write: op.write,
                offset: op.offset,
                end,
                members: vec![i],
            }),
        }
    }
    runs
}

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

/// The io_uring form of [`run_batch`]. Adjacent operations of one kind on
/// a file become one vectored operation (what the kernel would merge
/// anyway); the operations on a file whose ranges overlap a WRITE form
/// one link chain, in record order ([`tangled`]).
/// One that the kernel cancelled because an earlier link fell short is
/// done again synchronously, in order.
fn uring_batch(ring: &mut io_uring::IoUring, ops: &mut [IoOp]) -> std::io::Result<()> {
    use io_uring::{opcode, squeue, types};
    use std::io::{IoSlice, IoSliceMut};

    /// The buffers of one vectored operation, alive until it completes.
    enum Iovs<'a> {
        Write(Vec<IoSlice<'a>>),
        Read(Vec<IoSliceMut<'a>>),
    }

    let runs = runs(ops);
    let mut results: Vec<Result<u32, Errno>> = vec![Ok(0); runs.len()];
    {
        let mut bufs: Vec<Option<&mut [u8]>> =
            ops.iter_mut().map(|op| Some(&mut op.buf[..])).collect();
        let mut iovs: Vec<Iovs<'_>> = runs
            .iter()
            .map(|run| {
                let mut take = run
                    .members
                    .iter()
                    .map(|&i| bufs[i].take().expect("one run each"));
                if run.write {
                    Iovs::Write(take.by_ref().map(|b| IoSlice::new(b)).collect())
                } else {
                    Iovs::Read(take.by_ref().map(IoSliceMut::new).collect())
                }
            })
            .collect();
        let tangled = tangled(&runs);
        let capacity = ring.params().sq_entries() as usize;
        let indices: Vec<usize> = (0..runs.len()).collect();
        for chunk in indices.chunks(capacity) {
            for (k, &r) in chunk.iter().enumerate() {
                let run = &runs[r];
                let fd = types::Fd(run.fd);
                let entry = match &mut iovs[r] {
                    Iovs::Write(v) => opcode::Writev::new(fd, v.as_ptr().cast(), v.len() as u32)
                        .offset(run.offset)
                        .build(),
                    Iovs::Read(v) => opcode::Readv::new(fd, v.as_mut_ptr().cast(), v.len() as u32)
                        .offset(run.offset)
                        .build(),
                };
                let same_file_next = chunk.get(k + 1).is_some_and(|&n| runs[n].fd == run.fd);
                let entry = if same_file_next && tangled[r] {
                    entry.flags(squeue::Flags::IO_LINK)
                } else {
                    entry
                };
                // SAFETY: the buffers (`iovs`, borrowing `ops`' buffers) and
                // the files (kept open by the `Arc`s in `ops`) outlive every
                // entry: the loop below waits for all entries of the chunk
                // to complete before the next chunk or the end of this
                // block. `IoSlice`/`IoSliceMut` are ABI-compatible with
                // `iovec`. The chunk is at most the ring's size, so the
                // queue has room.
                unsafe {
                    ring.submission()
                        .push(&entry.user_data(r as u64))
                        .map_err(|_| std::io::Error::other("submission queue full"))?;
                }
            }
            submit_and_wait(ring, chunk.len())?;
            let mut completed = 0;
            while completed < chunk.len() {
                let entries: Vec<(u64, i32)> = ring
                    .completion()
                    .map(|cqe| (cqe.user_data(), cqe.result()))
                    .collect();
                if entries.is_empty() {
                    submit_and_wait(ring, chunk.len() - completed)?;
                    continue;
                }
                for (index, result) in entries {
                    completed += 1;
                    results[index as usize] = if result >= 0 {
                        Ok(result as u32)
                    } else {
                        Err(Errno::from_raw_os_error(-result))
                    };
                }
            }
        }
    }
    for (run, result) in runs.iter().zip(results) {
        share(ops, run, result);
        // Operations the kernel cancelled (an earlier link fell short) are
        // done again, in order.
        if result == Err(Errno::CANCELED) {
            for &i in &run.members {
                ops[i].result = sync_op(&mut ops[i]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(open(dir.path(), "link", 0).unwrap_err(), status::BAD_NAME);
        assert_eq!(open(dir.path(), "none", 0).unwrap_err(), status::NOT_FOUND);
        open(dir.path(), "new", CREATE).unwrap();
        assert_eq!(
            open(dir.path(), "new", CREATE | EXCLUSIVE).unwrap_err(),
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
            members: vec![],
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
    fn batches_keep_each_files_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(open(dir.path(), "f", CREATE).unwrap());
        let op = |write: bool, offset: u64, buf: Vec<u8>| IoOp {
            file: Arc::clone(&file),
            offset,
            write,
            buf,
            record: 0,
            data: 0,
            result: Ok(0),
        };
        let mut ops = vec![
            op(true, 0, b"hello".to_vec()),
            op(true, 5, b" world".to_vec()),
            op(false, 0, vec![0; 16]),
        ];
        let mut ring = io_uring::IoUring::new(8).ok();
        let had_ring = ring.is_some();
        run_batch(&mut ring, &mut ops);
        // A ring that worked is kept.
        assert_eq!(ring.is_some(), had_ring);
        assert_eq!(ops[2].result, Ok(11));
        assert_eq!(&ops[2].buf[..11], b"hello world");
        let mut ops = vec![op(false, 6, vec![0; 5])];
        run_batch(&mut None, &mut ops);
        assert_eq!((ops[0].result, &ops[0].buf[..]), (Ok(5), &b"world"[..]));
    }
}
