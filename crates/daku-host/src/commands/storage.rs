//! Commands 40 and 41: storage files in the run's storage directory, the
//! READs and WRITEs of a call collected into one batch (spec §5, 40), and
//! sharing a file into the output directory.

use crate::abi::{self, Res, fault};
use crate::channels::{Channel, State};
use crate::options::DakuOptions;
use crate::outputs;
use crate::storage::{self, Batch, StorageFile, status};
use std::sync::Arc;
use wasi_core::GuestMemory;
use wasi_unix::IoBackend;

/// The most bytes of buffers a call's storage batch holds: past it the
/// operations collected so far go to the kernel first (spec §5, 40).
const MAX_BATCH_BYTES: u64 = 64 << 20;

/// A `Storage` record (spec §5, command 40), its rules checked.
struct StorageRecord {
    op: u32,
    flags: u32,
    offset: u64,
    size: u32,
    buf: u32,
}

impl StorageRecord {
    /// The record at `data`.
    fn read(mem: &GuestMemory<'_>, data: u32) -> Res<Self> {
        let raw = abi::bytes::<32>(mem, data)?;
        let field = |i: usize| u32::from_le_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let (op, flags, size, buf, reserved) =
            (field(0), field(4), field(16), field(20), field(28));
        let offset = u64::from_le_bytes(raw[8..16].try_into().expect("8 bytes"));
        if reserved != 0 {
            return Err(fault("reserved must be 0"));
        }
        if op > 4 {
            return Err(fault(format!("unknown storage operation {op}")));
        }
        if op != 0 && flags != 0
            || flags & !(storage::CREATE | storage::TRUNCATE | storage::EXCLUSIVE) != 0
        {
            return Err(fault("invalid storage flags"));
        }
        Ok(StorageRecord {
            op,
            flags,
            offset,
            size,
            buf,
        })
    }
}

/// The record at `data` on the channel of the open `file`, if it is a
/// READ or WRITE that can join `batch` without running it first: joins
/// it and returns true. The quick path of a storage record, done with the
/// one lookup of its channel; otherwise [`serve`] carries it out.
#[inline]
pub(crate) fn join_batch(
    mem: &GuestMemory<'_>,
    file: &Arc<StorageFile>,
    batch: &mut Batch,
    data: u32,
) -> Res<bool> {
    let record = StorageRecord::read(mem, data)?;
    if !matches!(record.op, 1 | 2) {
        return Ok(false);
    }
    let write = record.op == 2;
    let len = record.size.min(storage::MAX_IO);
    abi::slice(mem, record.buf, len)?;
    if batch.must_run_before(write, record.buf, len, MAX_BATCH_BYTES) || !batch.make_room() {
        return Ok(false);
    }
    batch.push(file, write, record.offset, record.buf, len, data);
    Ok(true)
}

/// Command 40 on `channel`, the `Storage` record at `data`: an OPEN, a
/// READ or WRITE joining `batch`, or a size query or truncation, under
/// `options` (its storage directory and I/O backend).
pub(crate) fn serve(
    mem: &mut GuestMemory<'_>,
    channel: &mut Channel,
    data: u32,
    batch: &mut Batch,
    options: &DakuOptions,
) -> Res<()> {
    let StorageRecord {
        op,
        flags,
        offset,
        size,
        buf,
    } = StorageRecord::read(mem, data)?;
    let file = match &channel.state {
        State::Storage(file) => file.clone(),
        _ => {
            channel.state = State::Storage(None);
            None
        }
    };
    let status_at = abi::at(data, 24)?;
    if op == 0 {
        flush_batch(mem, batch, options.io)?;
        let name = std::str::from_utf8(abi::slice(mem, buf, size.min(256))?)
            .ok()
            .filter(|_| size <= 255)
            .map(str::to_owned);
        let dir = options.storage.as_ref().expect("refused without storage");
        let opened = match name {
            Some(name) if storage::valid_name(&name) => {
                storage::open(dir, &name, flags, &options.fds)
            }
            _ => Err(status::BAD_NAME),
        };
        let (file, code) = match opened {
            Ok(file) => (Some(Arc::new(file)), status::OK),
            Err(code) => (None, code),
        };
        channel.state = State::Storage(file);
        return abi::put_u32(mem, status_at, code);
    }
    let Some(file) = file else {
        flush_batch(mem, batch, options.io)?;
        return abi::put_u32(mem, status_at, status::NOT_OPEN);
    };
    match op {
        1 | 2 => {
            let write = op == 2;
            let len = size.min(storage::MAX_IO);
            abi::slice(mem, buf, len)?;
            // A batch the run's host memory cannot grow runs first, and
            // then has room (spec §1.7).
            if batch.must_run_before(write, buf, len, MAX_BATCH_BYTES) || !batch.make_room() {
                flush_batch(mem, batch, options.io)?;
            }
            batch.push(&file, write, offset, buf, len, data);
            Ok(())
        }
        _ => {
            flush_batch(mem, batch, options.io)?;
            let result = if op == 3 {
                file.metadata().map(|m| Some(m.len()))
            } else {
                file.set_len(offset).map(|()| None)
            };
            match result {
                Ok(Some(len)) => {
                    abi::put(mem, abi::at(data, 8)?, &len.to_le_bytes())?;
                    abi::put_u32(mem, status_at, status::OK)
                }
                Ok(None) => abi::put_u32(mem, status_at, status::OK),
                Err(_) => abi::put_u32(mem, status_at, status::IO),
            }
        }
    }
}

/// Runs the pending storage reads and writes of `batch` on `io` and
/// writes their results back into their records.
pub(crate) fn flush_batch(mem: &mut GuestMemory<'_>, batch: &mut Batch, io: IoBackend) -> Res<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (at, len) = batch.memory_range();
    let memory = mem
        .slice_mut(at, len)
        .map_err(|_| fault("payload out of bounds"))?;
    batch.run(memory, at, io);
    let written = batch.results().try_for_each(|(record, result)| {
        let (size, code) = match result {
            Ok(n) => (n, status::OK),
            Err(errno) => (0, storage::status_of(errno)),
        };
        abi::put_u32(mem, abi::at(record, 16)?, size)?;
        abi::put_u32(mem, abi::at(record, 24)?, code)
    });
    batch.clear();
    written
}

/// Command 41, the `Share` at `data`: copies a storage file into the
/// output directory of `options`, `batch` run first.
pub(crate) fn share(
    mem: &mut GuestMemory<'_>,
    data: u32,
    batch: &mut Batch,
    options: &DakuOptions,
) -> Res<()> {
    flush_batch(mem, batch, options.io)?;
    let (size, ptr) = abi::list_at(mem, data)?;
    let name = std::str::from_utf8(abi::slice(mem, ptr, size.min(256))?)
        .ok()
        .filter(|n| size <= 255 && storage::valid_name(n))
        .map(str::to_owned);
    let code = match name {
        None => status::BAD_NAME,
        Some(name) => {
            let dir = options.storage.as_ref().expect("refused without storage");
            let output = options.output.as_ref().expect("refused without output");
            match storage::open(dir, &name, 0, &options.fds) {
                Err(code) => code,
                // Beneath the output directory, never through a symbolic
                // link (spec §6, "Outputs").
                Ok(from) => {
                    match outputs::write(output, &name, |to| {
                        std::io::copy(&mut &*from, to).map(drop)
                    }) {
                        Ok(_) => status::OK,
                        Err(_) => status::IO,
                    }
                }
            }
        }
    };
    abi::put_u32(mem, abi::at(data, 8)?, code)
}
