//! reverse.rs: a WATER v0 transport module in Rust, shaped as water-rs
//! builds them: a `cdylib` whose `_water_v0` is an exported *global* (a
//! `static`), std's `TcpStream` over the descriptors the host gives, and
//! `poll_oneoff` and `sock_shutdown` called directly (std has neither on
//! WASI). It reverses every chunk it carries, both ways, in every role.
//!
//! Built with Debian's rustc 1.63 and its wasm32-wasi standard library
//! (`apt-get install rustc libstd-rust-dev-wasm32`), no crates:
//!
//!     /usr/bin/rustc --edition 2021 --crate-type cdylib --target wasm32-wasi \
//!         -C opt-level=2 -C lto -C strip=symbols -o reverse.wasm reverse.rs

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::wasi::io::FromRawFd;
use std::sync::Mutex;

/// The version: an exported global, as in Rust WATMs.
#[export_name = "_water_v0"]
pub static VERSION: i32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn host_dial() -> i32;
    fn host_accept() -> i32;
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn poll_oneoff(subscriptions: *const u8, events: *mut u8, count: u32, ready: *mut u32) -> u16;
    // Rust 1.63's `TcpStream::shutdown` is unsupported on WASI.
    fn sock_shutdown(fd: i32, how: i32) -> u16;
}

/// The two connections and the cancellation channel.
struct State {
    conns: Vec<TcpStream>,
    cancel: Option<TcpStream>,
}

static STATE: Mutex<State> = Mutex::new(State { conns: Vec::new(), cancel: None });

const ECANCELED: i32 = 11;
const EINVAL: i32 = 28;

fn stream(fd: i32) -> TcpStream {
    // SAFETY: the host gave this descriptor to this module for its own use;
    // nothing else in the module owns it.
    unsafe { TcpStream::from_raw_fd(fd) }
}

fn join(a: i32, b: i32) {
    STATE.lock().unwrap().conns = vec![stream(a), stream(b)];
}

#[no_mangle]
pub extern "C" fn _water_init() -> i32 {
    0
}

#[no_mangle]
pub extern "C" fn _water_cancel_with(fd: i32) -> i32 {
    STATE.lock().unwrap().cancel = Some(stream(fd));
    0
}

#[no_mangle]
pub extern "C" fn _water_dial(caller: i32) -> i32 {
    // SAFETY: a host function without arguments.
    let remote = unsafe { host_dial() };
    if remote >= 0 {
        join(caller, remote);
    }
    remote
}

#[no_mangle]
pub extern "C" fn _water_accept(caller: i32) -> i32 {
    // SAFETY: a host function without arguments.
    let source = unsafe { host_accept() };
    if source >= 0 {
        join(caller, source);
    }
    source
}

#[no_mangle]
pub extern "C" fn _water_associate() -> i32 {
    // SAFETY: host functions without arguments.
    let (source, remote) = unsafe { (host_accept(), host_dial()) };
    if source < 0 || remote < 0 {
        return source.min(remote);
    }
    join(source, remote);
    0
}

/// Waits until one of `fds` is readable; the indexes of the ready ones.
fn wait_readable(fds: &[i32]) -> Result<Vec<usize>, i32> {
    let mut subscriptions = vec![0u8; 48 * fds.len()];
    for (i, fd) in fds.iter().enumerate() {
        let at = &mut subscriptions[48 * i..48 * (i + 1)];
        at[0..8].copy_from_slice(&(i as u64).to_le_bytes()); // userdata
        at[8] = 1; // fd_read
        at[16..20].copy_from_slice(&fd.to_le_bytes());
    }
    let mut events = vec![0u8; 32 * fds.len()];
    let mut ready = 0u32;
    // SAFETY: the buffers hold `fds.len()` subscriptions and events in the
    // preview 1 layout, and `ready` is a valid u32.
    let errno = unsafe {
        poll_oneoff(subscriptions.as_ptr(), events.as_mut_ptr(), fds.len() as u32, &mut ready)
    };
    if errno != 0 {
        return Err(-i32::from(errno));
    }
    Ok((0..ready as usize)
        .map(|i| u64::from_le_bytes(events[32 * i..32 * i + 8].try_into().unwrap()) as usize)
        .collect())
}

#[no_mangle]
pub extern "C" fn _water_worker() -> i32 {
    use std::os::wasi::io::AsRawFd;
    let mut state = STATE.lock().unwrap();
    let State { conns, cancel } = &mut *state;
    let cancel = match cancel.as_ref() {
        Some(cancel) => cancel,
        None => return -EINVAL,
    };
    if conns.len() != 2 {
        return -EINVAL;
    }
    let mut open = [true, true];
    let mut buf = vec![0u8; 64 << 10];
    while open[0] || open[1] {
        let sides: Vec<usize> = (0..2).filter(|&i| open[i]).collect();
        let mut fds: Vec<i32> = sides.iter().map(|&i| conns[i].as_raw_fd()).collect();
        fds.push(cancel.as_raw_fd());
        let ready = match wait_readable(&fds) {
            Ok(ready) => ready,
            Err(error) => return error,
        };
        for index in ready {
            // The last subscription is the cancellation channel.
            let from = match sides.get(index) {
                Some(&from) => from,
                None => return -ECANCELED,
            };
            let n = match conns[from].read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(_) => 0,
            };
            buf[..n].reverse();
            let to = 1 - from;
            if n == 0 || conns[to].write_all(&buf[..n]).is_err() {
                open[from] = false;
                // SAFETY: a descriptor this module owns; 2 is `SDFLAGS_WR`.
                unsafe { sock_shutdown(conns[to].as_raw_fd(), 2) };
            }
        }
    }
    0
}
