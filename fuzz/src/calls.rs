//! The calls the fuzzer makes: which preview 1 imports, the shape of their
//! arguments, and how a call is laid out in guest memory.
//!
//! A [`Call`] names an import of [`IMPORTS`] and carries one [`Arg`] per
//! [`Param`] of that import. An argument may stand for several wasm
//! parameters (a path is a pointer and a length) and for bytes in guest
//! memory: [`Call::lower`] turns it into the wasm arguments, the bytes to
//! write before the call (paths, iovec arrays, data to write) and the
//! regions to read back after it (everything the call may write).

use std::fmt::{self, Write as _};

use wasi_core::types::{Fdflags, Fstflags, Lookupflags, Oflags, Rights};

/// Size of the guest's linear memory (two pages, never grown).
pub const MEMORY_SIZE: u32 = 2 * 65536;

/// Where the descriptors returned by `path_open` are usually written:
/// [`SLOTS`] 4-byte slots from address 0, read back by later calls as
/// [`Value::Load`] arguments.
pub const SLOTS: u32 = 64;

/// First address of the arena where arguments and results live.
pub const ARENA_START: u32 = 4 * SLOTS;

/// End of the arena; from here to [`MEMORY_SIZE`] is left for pointers
/// "near the end" of memory.
pub const ARENA_END: u32 = MEMORY_SIZE - 4096;

/// The byte every output region is filled with before a call, so that the
/// bytes a host did not write compare equal.
pub const FILL: u8 = 0xaa;

/// A 32- or 64-bit argument: a constant, or read from guest memory when the
/// call is made (a descriptor stored by an earlier `path_open`, a cookie
/// stored by an earlier `fd_readdir`), so that it means the same object on
/// every host even where the hosts number descriptors differently.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// The value itself.
    Imm(u64),
    /// The little-endian value at this address (4 bytes for an `i32`
    /// parameter, 8 for an `i64`).
    Load(u32),
}

/// What an integer parameter means: how it is generated and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    /// A `clockid`.
    Clockid,
    /// A duration or timestamp in nanoseconds.
    Time,
    /// A file offset or length (unsigned).
    Offset,
    /// `fd_seek`'s signed offset.
    Delta,
    /// A `whence`.
    Whence,
    /// An `advice`.
    Advice,
    /// `fdflags`.
    Fdflags,
    /// `oflags`.
    Oflags,
    /// `lookupflags`.
    Lookupflags,
    /// `fstflags`.
    Fstflags,
    /// `rights`.
    Rights,
    /// A `dircookie`.
    Cookie,
    /// `riflags`, `siflags` or `sdflags`.
    SockFlags,
}

/// What an output region holds, which decides how it is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// A `u32` count or size.
    Size,
    /// A `filesize` (an offset).
    Filesize,
    /// A descriptor number.
    Fd,
    /// An `fdstat`.
    Fdstat,
    /// A `filestat`.
    Filestat,
    /// A `prestat`.
    Prestat,
    /// `roflags` (a `u16`).
    Roflags,
    /// A timestamp (clock reads and resolutions): not compared.
    Clock,
    /// Random bytes: not compared.
    Random,
    /// Bytes compared as they are (names, link targets, data read).
    Bytes,
    /// `fd_readdir`'s buffer of dirents.
    Dirents,
    /// `args_get`/`environ_get`'s array of pointers.
    Pointers,
    /// `poll_oneoff`'s events.
    Events,
}

impl Out {
    /// Size of a fixed-size result, `None` for buffers.
    pub fn size(self) -> Option<u32> {
        Some(match self {
            Out::Size | Out::Fd => 4,
            Out::Filesize | Out::Clock => 8,
            Out::Fdstat => 24,
            Out::Filestat => 64,
            Out::Prestat => 8,
            Out::Roflags => 2,
            Out::Random | Out::Bytes | Out::Dirents | Out::Pointers | Out::Events => return None,
        })
    }

    /// Alignment of a fixed-size result.
    pub fn align(self) -> u32 {
        match self {
            Out::Filesize | Out::Clock | Out::Fdstat | Out::Filestat => 8,
            Out::Size | Out::Fd | Out::Prestat | Out::Pointers => 4,
            Out::Roflags => 2,
            Out::Events => 8,
            Out::Random | Out::Bytes | Out::Dirents => 1,
        }
    }
}

/// One parameter of an import, as the fuzzer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A descriptor (`i32`).
    Fd,
    /// An `i32` integer.
    U32(IntKind),
    /// An `i64` integer.
    U64(IntKind),
    /// A string: pointer and length (`i32`, `i32`).
    Path,
    /// A pointer to a fixed-size result (`i32`).
    OutPtr(Out),
    /// A buffer the call fills: pointer and length (`i32`, `i32`).
    OutBuf(Out),
    /// An iovec array the call reads into: pointer and count.
    IovsOut,
    /// An ciovec array the call writes from: pointer and count.
    IovsIn,
    /// `poll_oneoff`'s subscriptions, events and count (`i32` x 3).
    Poll,
}

impl Param {
    /// The wasm parameters it stands for: `true` for `i64`.
    pub fn wasm(self) -> &'static [bool] {
        match self {
            Param::Fd | Param::U32(_) | Param::OutPtr(_) => &[false],
            Param::U64(_) => &[true],
            Param::Path | Param::OutBuf(_) | Param::IovsOut | Param::IovsIn => &[false, false],
            Param::Poll => &[false, false, false],
        }
    }
}

/// An import the fuzzer calls.
#[derive(Debug)]
pub struct Import {
    /// Its name in `wasi_snapshot_preview1`.
    pub name: &'static str,
    /// Its parameters.
    pub params: &'static [Param],
}

impl Import {
    /// The wasm parameter types, `true` for `i64`.
    pub fn wasm_params(&self) -> impl Iterator<Item = bool> + '_ {
        self.params.iter().flat_map(|p| p.wasm().iter().copied())
    }
}

macro_rules! imports {
    ($($name:ident: [$($param:expr),* $(,)?];)*) => {
        /// Indices of the imports in [`IMPORTS`].
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Func { $(#[doc = concat!("`", stringify!($name), "`.")] $name,)* }

        /// Every import the fuzzer calls, in [`Func`] order. `proc_exit`
        /// and `proc_raise` end the guest and are left out, as are the
        /// WasmEdge socket extension's imports, which wasmtime-wasi lacks.
        pub const IMPORTS: &[Import] = &[
            $(Import { name: stringify!($name), params: &[$($param),*] },)*
        ];
    };
}

use IntKind as K;
use Param::*;

imports! {
    args_sizes_get: [OutPtr(Out::Size), OutPtr(Out::Size)];
    args_get: [OutPtr(Out::Pointers), OutPtr(Out::Bytes)];
    environ_sizes_get: [OutPtr(Out::Size), OutPtr(Out::Size)];
    environ_get: [OutPtr(Out::Pointers), OutPtr(Out::Bytes)];
    clock_res_get: [U32(K::Clockid), OutPtr(Out::Clock)];
    clock_time_get: [U32(K::Clockid), U64(K::Time), OutPtr(Out::Clock)];
    fd_advise: [Fd, U64(K::Offset), U64(K::Offset), U32(K::Advice)];
    fd_allocate: [Fd, U64(K::Offset), U64(K::Offset)];
    fd_close: [Fd];
    fd_datasync: [Fd];
    fd_fdstat_get: [Fd, OutPtr(Out::Fdstat)];
    fd_fdstat_set_flags: [Fd, U32(K::Fdflags)];
    fd_fdstat_set_rights: [Fd, U64(K::Rights), U64(K::Rights)];
    fd_filestat_get: [Fd, OutPtr(Out::Filestat)];
    fd_filestat_set_size: [Fd, U64(K::Offset)];
    fd_filestat_set_times: [Fd, U64(K::Time), U64(K::Time), U32(K::Fstflags)];
    fd_pread: [Fd, IovsOut, U64(K::Offset), OutPtr(Out::Size)];
    fd_prestat_get: [Fd, OutPtr(Out::Prestat)];
    fd_prestat_dir_name: [Fd, OutBuf(Out::Bytes)];
    fd_pwrite: [Fd, IovsIn, U64(K::Offset), OutPtr(Out::Size)];
    fd_read: [Fd, IovsOut, OutPtr(Out::Size)];
    fd_readdir: [Fd, OutBuf(Out::Dirents), U64(K::Cookie), OutPtr(Out::Size)];
    fd_renumber: [Fd, Fd];
    fd_seek: [Fd, U64(K::Delta), U32(K::Whence), OutPtr(Out::Filesize)];
    fd_sync: [Fd];
    fd_tell: [Fd, OutPtr(Out::Filesize)];
    fd_write: [Fd, IovsIn, OutPtr(Out::Size)];
    path_create_directory: [Fd, Path];
    path_filestat_get: [Fd, U32(K::Lookupflags), Path, OutPtr(Out::Filestat)];
    path_filestat_set_times: [Fd, U32(K::Lookupflags), Path, U64(K::Time), U64(K::Time), U32(K::Fstflags)];
    path_link: [Fd, U32(K::Lookupflags), Path, Fd, Path];
    path_open: [Fd, U32(K::Lookupflags), Path, U32(K::Oflags), U64(K::Rights), U64(K::Rights), U32(K::Fdflags), OutPtr(Out::Fd)];
    path_readlink: [Fd, Path, OutBuf(Out::Bytes), OutPtr(Out::Size)];
    path_remove_directory: [Fd, Path];
    path_rename: [Fd, Path, Fd, Path];
    path_symlink: [Path, Fd, Path];
    path_unlink_file: [Fd, Path];
    poll_oneoff: [Poll, OutPtr(Out::Size)];
    random_get: [OutBuf(Out::Random)];
    sched_yield: [];
    sock_accept: [Fd, U32(K::Fdflags), OutPtr(Out::Fd)];
    sock_recv: [Fd, IovsOut, U32(K::SockFlags), OutPtr(Out::Size), OutPtr(Out::Roflags)];
    sock_send: [Fd, IovsIn, U32(K::SockFlags), OutPtr(Out::Size)];
    sock_shutdown: [Fd, U32(K::SockFlags)];
}

impl Func {
    /// The import.
    pub fn import(self) -> &'static Import {
        &IMPORTS[self as usize]
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.import().name
    }
}

/// One buffer of an iovec list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Iov {
    /// Address of the buffer.
    pub buf: u32,
    /// Its length.
    pub len: u32,
    /// For writes, its contents (`len` bytes); empty for reads.
    pub data: Vec<u8>,
}

/// What a `poll_oneoff` subscription waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Sub {
    /// A clock (`clockid`, timeout, precision, `subclockflags`).
    Clock {
        /// The clock.
        id: u32,
        /// Its timeout in nanoseconds (the call may wait that long).
        timeout: u64,
        /// `subclockflags` (absolute time or not).
        flags: u16,
    },
    /// A descriptor becoming readable.
    FdRead(Value),
    /// A descriptor becoming writable.
    FdWrite(Value),
    /// An event type that does not exist.
    BadTag(u8),
}

/// The timeout of a `poll_oneoff` clock subscription that must not fire
/// while other subscriptions are ready: 20 ms.
pub const CLOCK_WAIT: u64 = 20_000_000;

impl Sub {
    /// The clock that bounds the wait of a `poll_oneoff` on descriptors.
    pub const GUARD: Sub = Sub::Clock {
        id: 1,
        timeout: CLOCK_WAIT,
        flags: 0,
    };

    /// Whether `poll_oneoff` on `list` returns in bounded time: a
    /// descriptor may never be ready (reading the write end of the standard
    /// output pipe), so a list with descriptors needs [`Sub::GUARD`].
    pub fn bounded(list: &[Sub]) -> bool {
        !list
            .iter()
            .any(|s| matches!(s, Sub::FdRead(_) | Sub::FdWrite(_)))
            || list.contains(&Sub::GUARD)
    }
}

/// Size of a `subscription`.
pub const SUBSCRIPTION_SIZE: u32 = 48;
/// Size of an `event`.
pub const EVENT_SIZE: u32 = 32;

/// The value of one [`Param`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// For [`Param::Fd`], [`Param::U32`] and [`Param::U64`].
    Int(Value),
    /// For [`Param::Path`]: `bytes` written at `ptr`, passed with length
    /// `len` (normally `bytes.len()`).
    Bytes {
        /// Where the bytes are written.
        ptr: u32,
        /// The length passed.
        len: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// For [`Param::OutPtr`] and [`Param::OutBuf`]: the region the call
    /// writes (`len` is the buffer length passed, or the result's size).
    Out {
        /// The pointer passed.
        ptr: u32,
        /// The length of the region.
        len: u32,
    },
    /// For [`Param::IovsIn`] and [`Param::IovsOut`]: the array at `ptr`.
    Iovs {
        /// Where the iovec array is written.
        ptr: u32,
        /// The buffers.
        iovs: Vec<Iov>,
    },
    /// For [`Param::Poll`].
    Poll {
        /// Where the subscriptions are written.
        subs: u32,
        /// Where the events go.
        events: u32,
        /// The subscriptions (their userdata is their index).
        list: Vec<Sub>,
    },
}

/// One call of a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    /// The import.
    pub func: Func,
    /// One argument per parameter of the import.
    pub args: Vec<Arg>,
}

/// A call made concrete for one host's memory.
#[derive(Debug, Default)]
pub struct Lowered {
    /// The wasm arguments (`i64`s; `i32` parameters take the low 32 bits).
    pub args: Vec<u64>,
    /// Bytes to write before the call, in order.
    pub inputs: Vec<(u32, Vec<u8>)>,
    /// Regions the call may write, as given (they may lie partly or wholly
    /// outside memory).
    pub outputs: Vec<(u32, u32, Out)>,
    /// The descriptors the call names: its `Fd` parameters, then those of
    /// its `poll_oneoff` subscriptions.
    pub fds: Vec<u32>,
}

/// Reads the value at `addr` of `memory` (4 or 8 bytes), or all ones when it
/// is outside memory.
fn load(memory: &[u8], addr: u32, wide: bool) -> u64 {
    let len = if wide { 8 } else { 4 };
    let start = addr as usize;
    match memory.get(start..start + len) {
        Some(bytes) => {
            let mut buf = [0u8; 8];
            buf[..len].copy_from_slice(bytes);
            u64::from_le_bytes(buf)
        }
        None => u64::MAX,
    }
}

impl Value {
    /// The value on a host whose memory is `memory`.
    pub fn resolve(&self, memory: &[u8], wide: bool) -> u64 {
        match *self {
            Value::Imm(v) => v,
            Value::Load(addr) => load(memory, addr, wide),
        }
    }
}

impl Call {
    /// The wasm arguments, inputs and output regions of this call on a host
    /// whose memory (before the call) is `memory`.
    pub fn lower(&self, memory: &[u8]) -> Lowered {
        let mut lowered = Lowered::default();
        for (param, arg) in self.func.import().params.iter().zip(&self.args) {
            lower_arg(*param, arg, memory, &mut lowered);
        }
        lowered
    }

    /// The integer argument at parameter `index`, if it is an immediate.
    pub fn imm(&self, index: usize) -> Option<u64> {
        match self.args.get(index) {
            Some(Arg::Int(Value::Imm(v))) => Some(*v),
            _ => None,
        }
    }

    /// The bytes of the path argument at parameter `index`.
    pub fn path(&self, index: usize) -> Option<&[u8]> {
        match self.args.get(index) {
            Some(Arg::Bytes { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }
}

fn lower_arg(param: Param, arg: &Arg, memory: &[u8], out: &mut Lowered) {
    match (param, arg) {
        (Param::Fd, Arg::Int(v)) => {
            let fd = v.resolve(memory, false);
            out.args.push(fd);
            out.fds.push(fd as u32);
        }
        (Param::U32(_), Arg::Int(v)) => out.args.push(v.resolve(memory, false)),
        (Param::U64(_), Arg::Int(v)) => out.args.push(v.resolve(memory, true)),
        (Param::Path, Arg::Bytes { ptr, len, bytes }) => {
            out.args.extend([u64::from(*ptr), u64::from(*len)]);
            out.inputs.push((*ptr, bytes.clone()));
        }
        (Param::OutPtr(kind), Arg::Out { ptr, len }) => {
            out.args.push(u64::from(*ptr));
            out.outputs.push((*ptr, *len, kind));
        }
        (Param::OutBuf(kind), Arg::Out { ptr, len }) => {
            out.args.extend([u64::from(*ptr), u64::from(*len)]);
            out.outputs.push((*ptr, *len, kind));
        }
        (Param::IovsIn | Param::IovsOut, Arg::Iovs { ptr, iovs }) => {
            out.args.extend([u64::from(*ptr), iovs.len() as u64]);
            let mut array = Vec::with_capacity(iovs.len() * 8);
            for iov in iovs {
                array.extend(iov.buf.to_le_bytes());
                array.extend(iov.len.to_le_bytes());
            }
            // The buffers first, then the array: an array overlapping a
            // buffer is then read as written.
            for iov in iovs {
                if param == Param::IovsIn {
                    out.inputs.push((iov.buf, iov.data.clone()));
                } else {
                    out.outputs.push((iov.buf, iov.len, Out::Bytes));
                }
            }
            out.inputs.push((*ptr, array));
        }
        (Param::Poll, Arg::Poll { subs, events, list }) => {
            out.args
                .extend([u64::from(*subs), u64::from(*events), list.len() as u64]);
            let mut array = Vec::with_capacity(list.len() * SUBSCRIPTION_SIZE as usize);
            for (userdata, sub) in (0u64..).zip(list) {
                let mut record = [0u8; SUBSCRIPTION_SIZE as usize];
                record[..8].copy_from_slice(&userdata.to_le_bytes());
                match sub {
                    Sub::Clock { id, timeout, flags } => {
                        record[8] = 0;
                        record[16..20].copy_from_slice(&id.to_le_bytes());
                        record[24..32].copy_from_slice(&timeout.to_le_bytes());
                        record[40..42].copy_from_slice(&flags.to_le_bytes());
                    }
                    Sub::FdRead(fd) | Sub::FdWrite(fd) => {
                        record[8] = if matches!(sub, Sub::FdRead(_)) { 1 } else { 2 };
                        let fd = fd.resolve(memory, false) as u32;
                        record[16..20].copy_from_slice(&fd.to_le_bytes());
                        out.fds.push(fd);
                    }
                    Sub::BadTag(tag) => record[8] = *tag,
                }
                array.extend(record);
            }
            out.inputs.push((*subs, array));
            out.outputs
                .push((*events, EVENT_SIZE * list.len() as u32, Out::Events));
        }
        _ => unreachable!("argument {arg:?} does not fit parameter {param:?}"),
    }
}

/// The part of `[ptr, ptr + len)` inside memory.
pub fn clamp(ptr: u32, len: u32) -> std::ops::Range<usize> {
    let start = (ptr as usize).min(MEMORY_SIZE as usize);
    let end = (ptr as usize + len as usize).min(MEMORY_SIZE as usize);
    start..end
}

/// Whether `[ptr, ptr + len)` lies inside memory.
pub fn in_bounds(ptr: u32, len: u32) -> bool {
    u64::from(ptr) + u64::from(len) <= u64::from(MEMORY_SIZE)
}

/// Prints flags by name, unknown bits in hex.
fn flags<B: bitflags::Flags>(f: &mut String, raw: u64)
where
    B::Bits: TryFrom<u64> + Into<u64>,
{
    let Ok(bits) = B::Bits::try_from(raw) else {
        let _ = write!(f, "{raw:#x}");
        return;
    };
    let known = B::from_bits_truncate(bits);
    let mut names: Vec<String> = known.iter_names().map(|(name, _)| name.into()).collect();
    let unknown = raw & !known.bits().into();
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    if names.is_empty() {
        f.push('0');
    } else {
        f.push_str(&names.join("|"));
    }
}

fn print_value(f: &mut String, value: &Value, kind: Option<IntKind>) {
    let v = match value {
        Value::Load(addr) => {
            let _ = write!(f, "*{addr:#x}");
            return;
        }
        Value::Imm(v) => *v,
    };
    match kind {
        None => {
            let _ = write!(f, "{}", v as u32);
        }
        Some(IntKind::Fdflags) => flags::<Fdflags>(f, v),
        Some(IntKind::Oflags) => flags::<Oflags>(f, v),
        Some(IntKind::Lookupflags) => flags::<Lookupflags>(f, v),
        Some(IntKind::Fstflags) => flags::<Fstflags>(f, v),
        Some(IntKind::Rights) => {
            if Rights::from_bits_truncate(v) == Rights::all() {
                f.push_str("ALL");
            } else {
                flags::<Rights>(f, v);
            }
        }
        Some(IntKind::Delta) => {
            let _ = write!(f, "{}", v as i64);
        }
        Some(IntKind::Whence) => {
            let name = ["set", "cur", "end"].get(v as usize).copied();
            match name {
                Some(name) => f.push_str(name),
                None => {
                    let _ = write!(f, "{v}");
                }
            }
        }
        Some(_) => {
            if v > 0xffff {
                let _ = write!(f, "{v:#x}");
            } else {
                let _ = write!(f, "{v}");
            }
        }
    }
}

/// Prints `bytes` as a Rust-like string literal.
pub fn print_bytes(f: &mut String, bytes: &[u8]) {
    f.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let _ = write!(f, "{}", c.escape_debug());
        }
        for b in chunk.invalid() {
            let _ = write!(f, "\\x{b:02x}");
        }
    }
    f.push('"');
}

impl fmt::Display for Call {
    /// `name(arg, ...)`, readable: paths as strings, flags by name,
    /// pointers in hex with `@`, loaded values as `*ADDR`.
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let import = self.func.import();
        let mut f = String::new();
        f.push_str(import.name);
        f.push('(');
        for (i, (param, arg)) in import.params.iter().zip(&self.args).enumerate() {
            if i > 0 {
                f.push_str(", ");
            }
            match (param, arg) {
                (Param::Fd, Arg::Int(v)) => {
                    f.push_str("fd ");
                    print_value(&mut f, v, None);
                }
                (Param::U32(kind) | Param::U64(kind), Arg::Int(v)) => {
                    print_value(&mut f, v, Some(*kind))
                }
                (_, Arg::Bytes { ptr, len, bytes }) => {
                    print_bytes(&mut f, bytes);
                    let _ = write!(f, "@{ptr:#x}");
                    if *len as usize != bytes.len() {
                        let _ = write!(f, " len {len}");
                    }
                }
                (_, Arg::Out { ptr, len }) => {
                    let _ = write!(f, "out@{ptr:#x}");
                    if matches!(param, Param::OutBuf(_)) {
                        let _ = write!(f, "[{len}]");
                    }
                }
                (_, Arg::Iovs { ptr, iovs }) => {
                    let _ = write!(f, "iovs@{ptr:#x}[");
                    for (j, iov) in iovs.iter().enumerate() {
                        if j > 0 {
                            f.push_str(", ");
                        }
                        let _ = write!(f, "{:#x}+{}", iov.buf, iov.len);
                        if !iov.data.is_empty() {
                            f.push(' ');
                            print_bytes(&mut f, &iov.data);
                        }
                    }
                    f.push(']');
                }
                (_, Arg::Poll { subs, events, list }) => {
                    let _ = write!(f, "subs@{subs:#x}[");
                    for (j, sub) in list.iter().enumerate() {
                        if j > 0 {
                            f.push_str(", ");
                        }
                        match sub {
                            Sub::Clock { id, timeout, flags } => {
                                let _ = write!(f, "clock {id} +{timeout}ns flags {flags}");
                            }
                            Sub::FdRead(fd) => {
                                f.push_str("read fd ");
                                print_value(&mut f, fd, None);
                            }
                            Sub::FdWrite(fd) => {
                                f.push_str("write fd ");
                                print_value(&mut f, fd, None);
                            }
                            Sub::BadTag(tag) => {
                                let _ = write!(f, "tag {tag}");
                            }
                        }
                    }
                    let _ = write!(f, "], events@{events:#x}");
                }
                _ => unreachable!("argument {arg:?} does not fit parameter {param:?}"),
            }
        }
        f.push(')');
        out.write_str(&f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_match_wasi_core() {
        // Every fuzzed import is the primary entry of its name in
        // wasi-core's table, with the same wasm signature.
        use wasi_core::runtime::ValType;
        for import in IMPORTS {
            let entry = wasi_core::abi::IMPORTS
                .iter()
                .find(|e| e.module == "wasi_snapshot_preview1" && e.name == import.name)
                .unwrap_or_else(|| panic!("{} is not a wasi-core import", import.name));
            let wide: Vec<bool> = entry.params.iter().map(|t| *t == ValType::I64).collect();
            assert_eq!(
                wide,
                import.wasm_params().collect::<Vec<_>>(),
                "{}",
                import.name
            );
        }
    }

    #[test]
    fn calls_print_readably() {
        let call = Call {
            func: Func::path_open,
            args: vec![
                Arg::Int(Value::Imm(3)),
                Arg::Int(Value::Imm(1)),
                Arg::Bytes {
                    ptr: 0x200,
                    len: 4,
                    bytes: b"a/\xffb".to_vec(),
                },
                Arg::Int(Value::Imm(5)),
                Arg::Int(Value::Imm(Rights::all().bits())),
                Arg::Int(Value::Imm(Rights::FD_READ.bits() | 1 << 40)),
                Arg::Int(Value::Imm(0)),
                Arg::Out { ptr: 4, len: 4 },
            ],
        };
        assert_eq!(
            call.to_string(),
            "path_open(fd 3, SYMLINK_FOLLOW, \"a/\\xffb\"@0x200, CREAT|EXCL, ALL, \
             FD_READ|0x10000000000, 0, out@0x4)"
        );
    }
}
