//! The hot paths allocate nothing: `fd_write`, `fd_read`, `clock_time_get`,
//! `random_get` and `poll_oneoff`, from the raw ABI (guest memory decoding in
//! `wasi_core::abi`) through `UnixSystem` to the kernel. Counted with a
//! global allocator that counts this thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System as Heap};
use std::cell::Cell;
use std::os::fd::OwnedFd;

use wasi_core::types::*;
use wasi_core::{GuestMemory, System, abi};
use wasi_unix::UnixSystem;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { Heap.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { Heap.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { Heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn devnull() -> OwnedFd {
    std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap()
        .into()
}

// Guest memory layout used below.
const IOVEC: u32 = 0;
const OUT: u32 = 16;
const BUF: u32 = 64;
const SUBS: u32 = 1024;
const EVENTS: u32 = 2048;

#[test]
fn hot_paths_do_not_allocate() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("data"), vec![7u8; 4096]).unwrap();
    let mut sys = UnixSystem::builder()
        .stdio(devnull(), devnull(), devnull())
        .preopen_dir(tmp.path(), "/")
        .unwrap()
        .build()
        .unwrap();
    let file = sys
        .path_open(
            3,
            Lookupflags::empty(),
            "data",
            Oflags::empty(),
            Rights::FD_READ | Rights::FD_SEEK | Rights::POLL_FD_READWRITE,
            Rights::empty(),
            Fdflags::empty(),
        )
        .unwrap();

    let mut bytes = vec![0u8; 4096];
    let mut mem = GuestMemory::new(&mut bytes);
    mem.write(
        IOVEC,
        Iovec {
            buf: BUF,
            buf_len: 512,
        },
    )
    .unwrap();
    let clock = SubscriptionClock {
        id: Clockid::MONOTONIC,
        timeout: 0,
        ..Default::default()
    };
    mem.write(SUBS, Subscription::new(1, SubscriptionKind::Clock(clock)))
        .unwrap();
    mem.write(
        SUBS + 48,
        Subscription::new(2, SubscriptionKind::FdRead(file)),
    )
    .unwrap();
    mem.write(
        SUBS + 96,
        Subscription::new(3, SubscriptionKind::FdWrite(1)),
    )
    .unwrap();

    // Warm up once: lazily initialised state (a file type learnt on first
    // use, scratch buffers) may allocate the first time only.
    let round = |sys: &mut UnixSystem, mem: &mut GuestMemory<'_>| {
        assert_eq!(abi::fd_write(sys, mem, 1, IOVEC, 1, OUT), Ok(()));
        assert_eq!(abi::fd_pread(sys, mem, file, IOVEC, 1, 0, OUT), Ok(()));
        assert_eq!(abi::fd_read(sys, mem, 0, IOVEC, 1, OUT), Ok(()));
        assert_eq!(abi::clock_time_get(sys, mem, 1, 1, OUT), Ok(()));
        assert_eq!(abi::random_get(sys, mem, BUF, 32), Ok(()));
        assert_eq!(abi::poll_oneoff(sys, mem, SUBS, EVENTS, 3, OUT), Ok(()));
        assert!(mem.read::<u32>(OUT).unwrap() >= 1);
    };
    round(&mut sys, &mut mem);
    let counted = allocations_during(|| {
        for _ in 0..100 {
            round(&mut sys, &mut mem);
        }
    });
    assert_eq!(counted, 0, "allocations in 100 rounds of hot-path calls");
}
