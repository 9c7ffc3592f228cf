//! Random call sequences, reproducible from a seed.
//!
//! Sequences look like what a program does: descriptors come from earlier
//! `path_open`s (read back from the slot where each was stored), names from
//! the initial tree and from earlier calls, cookies from earlier
//! `fd_readdir`s. Around that, a small share of the arguments is hostile:
//! `..`, `.`, absolute paths, trailing slashes, symlinks, unknown flag bits,
//! restricted rights, huge offsets, closed and made-up descriptors, pointers
//! near the end of memory or outside it, misaligned arrays.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use wasi_core::types::Rights;

use crate::calls::*;
use crate::tree::NAMES;

/// The rights a fuzzed `path_open` usually asks for: all of them.
const ALL_RIGHTS: u64 = Rights::all().bits();

/// A seeded random source with the few helpers generation needs.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Any 64-bit number.
    pub fn any(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index chosen with the given weights.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut n = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if n < *w {
                return i;
            }
            n -= w;
        }
        unreachable!("n is below the sum of the weights")
    }
}

/// Relative frequency of each import, in [`IMPORTS`] order.
const WEIGHTS: [(Func, u64); 44] = [
    (Func::args_sizes_get, 1),
    (Func::args_get, 1),
    (Func::environ_sizes_get, 1),
    (Func::environ_get, 1),
    (Func::clock_res_get, 1),
    (Func::clock_time_get, 1),
    (Func::fd_advise, 2),
    (Func::fd_allocate, 3),
    (Func::fd_close, 6),
    (Func::fd_datasync, 1),
    (Func::fd_fdstat_get, 5),
    (Func::fd_fdstat_set_flags, 3),
    (Func::fd_fdstat_set_rights, 2),
    (Func::fd_filestat_get, 5),
    (Func::fd_filestat_set_size, 4),
    (Func::fd_filestat_set_times, 2),
    (Func::fd_pread, 4),
    (Func::fd_prestat_get, 2),
    (Func::fd_prestat_dir_name, 2),
    (Func::fd_pwrite, 4),
    (Func::fd_read, 7),
    (Func::fd_readdir, 5),
    (Func::fd_renumber, 3),
    (Func::fd_seek, 5),
    (Func::fd_sync, 1),
    (Func::fd_tell, 3),
    (Func::fd_write, 7),
    (Func::path_create_directory, 6),
    (Func::path_filestat_get, 6),
    (Func::path_filestat_set_times, 2),
    (Func::path_link, 4),
    (Func::path_open, 20),
    (Func::path_readlink, 4),
    (Func::path_remove_directory, 4),
    (Func::path_rename, 5),
    (Func::path_symlink, 5),
    (Func::path_unlink_file, 5),
    (Func::poll_oneoff, 2),
    (Func::random_get, 1),
    (Func::sched_yield, 1),
    (Func::sock_accept, 1),
    (Func::sock_recv, 1),
    (Func::sock_send, 1),
    (Func::sock_shutdown, 1),
];

/// What generation remembers of the calls made so far.
struct State {
    /// Slots written by earlier `path_open`s (their addresses).
    slots: Vec<u32>,
    /// Names created by earlier calls, besides the initial tree's.
    names: Vec<String>,
    /// Addresses of the first dirent of earlier `fd_readdir` buffers.
    dirents: Vec<u32>,
    /// Next free byte of the arena for the current call.
    bump: u32,
}

/// Generates a sequence of `len` calls from `rng`.
pub fn sequence(rng: &mut Rng, len: usize) -> Vec<Call> {
    let mut state = State {
        slots: Vec::new(),
        names: Vec::new(),
        dirents: Vec::new(),
        bump: ARENA_START,
    };
    let weights: Vec<u64> = WEIGHTS.iter().map(|(_, w)| *w).collect();
    (0..len)
        .map(|_| {
            let func = WEIGHTS[rng.weighted(&weights)].0;
            state.call(rng, func)
        })
        .collect()
}

impl State {
    fn call(&mut self, rng: &mut Rng, func: Func) -> Call {
        // Each call's buffers start somewhere new in the arena.
        self.bump = rng.range(u64::from(ARENA_START), u64::from(ARENA_END) - 8192) as u32;
        let params = func.import().params;
        let mut args = Vec::with_capacity(params.len());
        for (i, param) in params.iter().enumerate() {
            let arg = match *param {
                Param::Fd => Arg::Int(self.fd(rng)),
                Param::U32(kind) | Param::U64(kind) => Arg::Int(self.int(rng, kind)),
                Param::Path => {
                    // path_symlink's first path is the link's contents.
                    let bytes = if func == Func::path_symlink && i == 0 {
                        self.target(rng)
                    } else {
                        self.path(rng)
                    };
                    self.bytes(rng, bytes)
                }
                Param::OutPtr(kind) => self.out_ptr(rng, func, kind),
                Param::OutBuf(kind) => {
                    let len = self.buf_len(rng, kind);
                    let ptr = self.pointer(rng, len, 1);
                    if kind == Out::Dirents && in_bounds(ptr, 24) {
                        self.dirents.push(ptr);
                    }
                    Arg::Out { ptr, len }
                }
                Param::IovsIn => self.iovs(rng, true),
                Param::IovsOut => self.iovs(rng, false),
                Param::Poll => self.poll(rng),
            };
            args.push(arg);
        }
        self.remember(func, &args);
        Call { func, args }
    }

    /// Records names a call may create, for later calls to use.
    fn remember(&mut self, func: Func, args: &[Arg]) {
        let created = match func {
            Func::path_open
            | Func::path_create_directory
            | Func::path_symlink
            | Func::path_link
            | Func::path_rename => args.iter().rev().find_map(|a| match a {
                Arg::Bytes { bytes, .. } => Some(bytes),
                _ => None,
            }),
            _ => None,
        };
        if let Some(Ok(path)) = created.map(|b| std::str::from_utf8(b)) {
            let name = path.trim_matches('/').rsplit('/').next().unwrap_or("");
            if !name.is_empty() && name.len() < 64 && !self.names.iter().any(|n| n == name) {
                self.names.push(name.to_owned());
            }
        }
    }

    /// A descriptor: mostly one opened earlier or a preopen.
    fn fd(&mut self, rng: &mut Rng) -> Value {
        match rng.below(100) {
            0..50 if !self.slots.is_empty() => Value::Load(*rng.pick(&self.slots)),
            0..75 => Value::Imm(3 + rng.below(2)),
            75..80 => Value::Imm(rng.below(3)),
            80..92 => Value::Imm(rng.range(5, 9)),
            92..96 => Value::Load(4 * rng.below(u64::from(SLOTS)) as u32),
            _ => Value::Imm(*rng.pick(&[64, 1 << 16, 1 << 31, u64::from(u32::MAX)])),
        }
    }

    fn int(&mut self, rng: &mut Rng, kind: IntKind) -> Value {
        Value::Imm(match kind {
            IntKind::Clockid => {
                if rng.chance(90) {
                    rng.below(4)
                } else {
                    rng.range(4, 1000)
                }
            }
            IntKind::Time => match rng.below(4) {
                0 => 0,
                1 => rng.below(1 << 40),
                2 => rng.range(1_500_000_000, 1_800_000_000) * 1_000_000_000,
                _ => rng.any(),
            },
            IntKind::Offset => match rng.below(20) {
                0..6 => 0,
                6..14 => rng.range(1, 64),
                14..16 => rng.range(65, 8192),
                16 => 1 << 32,
                17 => 1 << 62,
                18 => i64::MAX as u64,
                _ => u64::MAX,
            },
            IntKind::Delta => match rng.below(10) {
                0..3 => 0,
                3..7 => rng.range(1, 32),
                7..9 => (-(rng.range(1, 32) as i64)) as u64,
                _ => *rng.pick(&[i64::MIN as u64, i64::MAX as u64, 1 << 40]),
            },
            IntKind::Whence => {
                if rng.chance(95) {
                    rng.below(3)
                } else {
                    *rng.pick(&[3, 255, 256, u64::from(u32::MAX)])
                }
            }
            IntKind::Advice => {
                if rng.chance(95) {
                    rng.below(6)
                } else {
                    *rng.pick(&[6, 255, 256])
                }
            }
            IntKind::Fdflags => match rng.below(20) {
                0..13 => 0,
                13..15 => 1,
                15 => 4,
                16 => *rng.pick(&[2, 8, 16, 2 | 8 | 16]),
                17..19 => rng.below(32),
                _ => rng.range(32, 0xffff),
            },
            IntKind::Oflags => match rng.below(20) {
                0..8 => 0,
                8..11 => 1,
                11..13 => 1 | 4,
                13..15 => 2,
                15 => 8,
                16 => 1 | 8,
                17..19 => rng.below(16),
                _ => rng.range(16, 0xffff),
            },
            IntKind::Lookupflags => match rng.below(50) {
                0..30 => 1,
                30..49 => 0,
                _ => rng.range(2, 0xff),
            },
            IntKind::Fstflags => match rng.below(10) {
                0..7 => rng.below(16),
                7..9 => *rng.pick(&[1 | 2, 4 | 8, 2 | 8]),
                _ => rng.range(16, 0xffff),
            },
            IntKind::Rights => match rng.below(40) {
                0..28 => ALL_RIGHTS,
                28..30 => Rights::REGULAR_FILE.bits(),
                30..32 => Rights::DIRECTORY.bits(),
                32..34 => {
                    (Rights::FD_READ | Rights::FD_SEEK | Rights::FD_TELL | Rights::FD_READDIR)
                        .bits()
                }
                34..36 => (Rights::FD_WRITE | Rights::FD_SEEK | Rights::FD_TELL).bits(),
                36 => 0,
                37 => ALL_RIGHTS & !(1 << rng.below(30)),
                38 => rng.any() & ALL_RIGHTS,
                _ => u64::MAX,
            },
            IntKind::Cookie => match rng.below(20) {
                0..12 => 0,
                12..18 if !self.dirents.is_empty() => {
                    return Value::Load(*rng.pick(&self.dirents));
                }
                12..19 => rng.below(8),
                _ => *rng.pick(&[u64::MAX, i64::MAX as u64, 1 << 32]),
            },
            IntKind::SockFlags => {
                if rng.chance(80) {
                    rng.below(4)
                } else {
                    rng.range(4, 0xffff)
                }
            }
        })
    }

    /// A name: from the initial tree, from earlier calls or new.
    fn name(&mut self, rng: &mut Rng) -> String {
        match rng.below(100) {
            0..55 => (*rng.pick(NAMES)).to_owned(),
            55..75 if !self.names.is_empty() => rng.pick(&self.names).clone(),
            55..88 => (*rng.pick(&["a", "b", "c", "new", "x.txt"])).to_owned(),
            88..93 => ".".to_owned(),
            93..99 => "..".to_owned(),
            _ => "n".repeat(256),
        }
    }

    /// A path beneath a directory descriptor.
    fn path(&mut self, rng: &mut Rng) -> Vec<u8> {
        let mut path = String::new();
        match rng.below(100) {
            0..2 => return Vec::new(),
            2..4 => path.push('/'),
            _ => {}
        }
        let components = *rng.pick(&[1, 1, 1, 2, 2, 3]);
        for i in 0..components {
            if i > 0 {
                path.push('/');
                if rng.chance(3) {
                    path.push('/');
                }
            }
            path.push_str(&self.name(rng));
        }
        if rng.chance(8) {
            path.push('/');
        }
        let mut bytes = path.into_bytes();
        match rng.below(100) {
            0 => bytes.push(0xff),
            1 => bytes.insert(bytes.len() / 2, 0),
            _ => {}
        }
        bytes
    }

    /// The contents of a new symlink.
    fn target(&mut self, rng: &mut Rng) -> Vec<u8> {
        match rng.below(10) {
            0..6 => self.path(rng),
            6..8 => format!("../{}", self.name(rng)).into_bytes(),
            8 => b"/etc".to_vec(),
            _ => format!("dir/../{}", self.name(rng)).into_bytes(),
        }
    }

    /// A pointer to `len` bytes aligned to `align`: mostly in the arena,
    /// sometimes near or past the end of memory or misaligned.
    fn pointer(&mut self, rng: &mut Rng, len: u32, align: u32) -> u32 {
        match rng.below(200) {
            0 => MEMORY_SIZE - len.min(MEMORY_SIZE) + rng.range(1, u64::from(len.max(1))) as u32,
            1 => *rng.pick(&[MEMORY_SIZE, u32::MAX - 3, 1 << 31]),
            2 if align > 1 => self.alloc(len + 1, 1) + 1,
            3 => (MEMORY_SIZE - len.min(MEMORY_SIZE)) & !(align - 1),
            _ => self.alloc(len, align),
        }
    }

    /// `len` fresh bytes of the arena aligned to `align`.
    fn alloc(&mut self, len: u32, align: u32) -> u32 {
        let ptr = self.bump.next_multiple_of(align);
        self.bump = (ptr + len).min(ARENA_END);
        ptr
    }

    fn bytes(&mut self, rng: &mut Rng, bytes: Vec<u8>) -> Arg {
        let len = bytes.len() as u32;
        let ptr = self.pointer(rng, len, 1);
        let len = if rng.chance(1) { MEMORY_SIZE } else { len };
        Arg::Bytes { ptr, len, bytes }
    }

    fn out_ptr(&mut self, rng: &mut Rng, func: Func, kind: Out) -> Arg {
        if func == Func::path_open && rng.chance(85) {
            let slot = if self.slots.len() < SLOTS as usize && rng.chance(90) {
                4 * self.slots.len() as u32
            } else {
                4 * rng.below(u64::from(SLOTS)) as u32
            };
            if !self.slots.contains(&slot) {
                self.slots.push(slot);
            }
            return Arg::Out { ptr: slot, len: 4 };
        }
        let len = kind.size().unwrap_or_else(|| self.buf_len(rng, kind));
        let ptr = self.pointer(rng, len, kind.align());
        Arg::Out { ptr, len }
    }

    fn buf_len(&mut self, rng: &mut Rng, kind: Out) -> u32 {
        match kind {
            Out::Dirents => match rng.below(10) {
                0 => 0,
                1..3 => rng.range(1, 40) as u32,
                3..6 => rng.range(41, 300) as u32,
                _ => rng.range(512, 2048) as u32,
            },
            Out::Pointers => 4 * rng.range(0, 4) as u32,
            _ => match rng.below(10) {
                0 => 0,
                1..4 => rng.range(1, 8) as u32,
                _ => rng.range(9, 64) as u32,
            },
        }
    }

    fn iovs(&mut self, rng: &mut Rng, write: bool) -> Arg {
        let count = match rng.below(100) {
            0..3 => 0,
            3..80 => 1,
            80..98 => rng.range(2, 4),
            _ => 70,
        };
        let mut iovs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len = match rng.below(10) {
                0 => 0,
                1..7 => rng.range(1, 16) as u32,
                _ => rng.range(17, 200) as u32,
            };
            let buf = if count < 10 && rng.chance(3) && !iovs.is_empty() {
                // Overlapping an earlier buffer.
                let earlier: &Iov = rng.pick(&iovs);
                earlier.buf
            } else {
                self.pointer(rng, len, 1)
            };
            let data = if write {
                let start = rng.below(26) as u8;
                (0..len).map(|i| b'a' + (start + i as u8) % 26).collect()
            } else {
                Vec::new()
            };
            iovs.push(Iov { buf, len, data });
        }
        let ptr = self.pointer(rng, 8 * count as u32, 4);
        Arg::Iovs { ptr, iovs }
    }

    fn poll(&mut self, rng: &mut Rng) -> Arg {
        let count = if rng.chance(3) { 0 } else { rng.range(1, 3) };
        let mut list = (0..count)
            .map(|_| match rng.below(10) {
                0..3 => {
                    let id = if rng.chance(90) {
                        1
                    } else {
                        rng.below(5) as u32
                    };
                    Sub::Clock {
                        id,
                        // Expired at once, or not before anything else is
                        // ready (a clock due during the call would make the
                        // result depend on timing).
                        timeout: *rng.pick(&[0, CLOCK_WAIT]),
                        // Absolute times only on the realtime clock, where
                        // they are long past: the monotonic clock's origin
                        // differs between hosts.
                        flags: u16::from(id == 0 && rng.chance(50)),
                    }
                }
                3..6 => Sub::FdRead(self.fd(rng)),
                6..9 => Sub::FdWrite(self.fd(rng)),
                _ => Sub::BadTag(rng.range(3, 255) as u8),
            })
            .collect::<Vec<_>>();
        if !Sub::bounded(&list) {
            list.push(Sub::GUARD);
        }
        let n = list.len() as u32;
        let subs = self.pointer(rng, SUBSCRIPTION_SIZE * n, 8);
        let events = self.pointer(rng, EVENT_SIZE * n, 8);
        Arg::Poll { subs, events, list }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_reproducible() {
        let a = sequence(&mut Rng::new(7), 50);
        let b = sequence(&mut Rng::new(7), 50);
        let c = sequence(&mut Rng::new(8), 50);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn arguments_fit_their_parameters() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            for call in sequence(&mut rng, 40) {
                // Lowering panics on a mismatch; it must also give the
                // import's wasm arity.
                let lowered = call.lower(&[0; MEMORY_SIZE as usize]);
                assert_eq!(lowered.args.len(), call.func.import().wasm_params().count());
            }
        }
    }

    #[test]
    fn weights_follow_the_import_table() {
        for (i, (func, _)) in WEIGHTS.iter().enumerate() {
            assert_eq!(*func as usize, i);
        }
        assert_eq!(WEIGHTS.len(), IMPORTS.len());
    }
}
