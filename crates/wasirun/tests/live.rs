//! A host function pushes a fresh TCP connection into a running module
//! (`VirtualFds::insert_host`, as WATER's `host_dial` does), and the guest
//! polls and reads it through WASI, on both engines.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::Duration;

use wasi_core::runtime::{Imports, Instance, Runtime, RuntimeConfig, Val, ValType};
use wasi_core::types::Rights;
use wasi_core::vfs::VirtualFds;
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// Dials, waits for the connection to be readable, reads it and writes what
/// it read to stdout; returns the connection's descriptor. Traps on any
/// WASI error.
const GUEST: &str = r#"
(module
  (import "env" "dial" (func $dial (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $check (param i32) (if (local.get 0) (then unreachable)))
  (func (export "relay") (result i32)
    (local $fd i32)
    (local.set $fd (call $dial))
    ;; One subscription at 0: userdata 7, fd_read on the connection.
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 1))
    (i32.store (i32.const 16) (local.get $fd))
    (call $check (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    ;; Its event at 64: the userdata back, no error, type fd_read.
    (if (i64.ne (i64.load (i32.const 64)) (i64.const 7)) (then unreachable))
    (call $check (i32.load16_u (i32.const 72)))
    (if (i32.ne (i32.load8_u (i32.const 74)) (i32.const 1)) (then unreachable))
    ;; Read up to 64 bytes to 256, then write them to stdout.
    (i32.store (i32.const 200) (i32.const 256))
    (i32.store (i32.const 204) (i32.const 64))
    (call $check (call $read (local.get $fd) (i32.const 200) (i32.const 1) (i32.const 208)))
    (i32.store (i32.const 216) (i32.const 256))
    (i32.store (i32.const 220) (i32.load (i32.const 208)))
    (call $check (call $write (i32.const 1) (i32.const 216) (i32.const 1) (i32.const 224)))
    (local.get $fd)))
"#;

const GREETING: &[u8] = b"hello from the host\n";

fn dial_and_relay<R: Runtime>(runtime: &R) {
    // The far end: greets each connection after a pause, so that the guest
    // has to wait in `poll_oneoff`.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        conn.write_all(GREETING).unwrap();
    });

    let (mut stdout, stdout_w) = std::io::pipe().unwrap();
    let devnull = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let system = UnixSystem::builder()
        .stdio(devnull(), stdout_w.into(), devnull())
        .build()
        .unwrap();

    let mut imports = Imports::<UnixSystem>::new();
    imports.wasi(|sys: &mut UnixSystem| -> &mut dyn wasi_core::System { sys });
    imports
        .func(
            "env",
            "dial",
            &[],
            &[ValType::I32],
            move |caller, _, results| {
                let conn = TcpStream::connect(addr)?;
                let fd = caller
                    .data
                    .insert_host(conn.into(), Rights::all(), Rights::empty())
                    .map_err(|errno| format!("insert_host: {errno:?}"))?;
                results[0] = Val::I32(fd as i32);
                Ok(())
            },
        )
        .unwrap();

    let wasm = wat::parse_str(GUEST).unwrap();
    let mut instance = runtime.instantiate(&wasm, &imports, system).unwrap();
    let mut out = [Val::I32(-1)];
    instance.call("relay", &[], &mut out).unwrap();
    assert_eq!(out, [Val::I32(3)], "the lowest free descriptor");
    server.join().unwrap();

    // Dropping the instance closes the guest's stdout.
    drop(instance);
    let mut relayed = Vec::new();
    stdout.read_to_end(&mut relayed).unwrap();
    assert_eq!(relayed, GREETING);
}

#[test]
fn host_function_dials_into_a_running_module() {
    dial_and_relay(&WasmtimeRuntime::new(RuntimeConfig::default()).unwrap());
    dial_and_relay(&WasmiRuntime::new(RuntimeConfig::default()));
}
