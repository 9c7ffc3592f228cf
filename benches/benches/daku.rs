//! Daku's `ar()` (spec/daku.md) against preview 1 on our host, on both
//! engines:
//!
//! - `daku_ar_64_writes_{adjacent,scattered}`: one `ar()` call carrying 64
//!   storage WRITEs of 64 bytes (command 40: `preadv`/`pwritev`, adjacent
//!   writes merged into one; `+uring`: one io_uring submission), against `preview1_64_pwrites_*`: the same 64 writes as 64 `fd_pwrite`
//!   calls. One iteration is the 64 writes.
//! - `daku_child_round_trip`: a parent blocked in `ar()` woken by its child's
//!   message, and the child woken by the reply; one iteration is one round
//!   trip (two wake-ups).
//!
//! Guests export `setup` and `run(iterations: i64)`; only `run` is timed.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use daku_abi::{DakuOptions, Engine, IoBackend, Program, Val};
use wasi_core::runtime::{Imports, Instance, Runtime, RuntimeConfig};
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// A `Command` record.
fn record(channel: u32, new: u32, which: u32, data: u32) -> String {
    [channel, new, which, data]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

/// Opens storage file `bench` on channel 1 (`setup`), then writes 64 bytes
/// at offsets 0, `stride`, 2 × `stride` ... with one `ar()` per iteration
/// (stride 64: adjacent writes, which the host merges into one vectored
/// write; 128: scattered ones, 64 operations in the submission).
fn daku_writes(stride: u32) -> String {
    format!(
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "{open}")
  ;; Storage OPEN "bench" CREATE|TRUNCATE
  (data (i32.const 0x100) "\00\00\00\00\03\00\00\00\00\00\00\00\00\00\00\00\05\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 0x200) "bench")
  (func (export "setup") (local $k i32) (local $at i32)
    (if (i32.ne (call $ar (i32.const 1) (i32.const 0) (i32.const 0x8000)) (i32.const 1)) (then unreachable))
    (if (i32.load (i32.const 0x118)) (then unreachable))
    (loop $fill
      ;; record k at 0x1000: (1, 1, 40, 0x2000 + 32k)
      (local.set $at (i32.add (i32.const 0x1000) (i32.shl (local.get $k) (i32.const 4))))
      (i32.store (local.get $at) (i32.const 1))
      (i32.store offset=4 (local.get $at) (i32.const 1))
      (i32.store offset=8 (local.get $at) (i32.const 40))
      (i32.store offset=12 (local.get $at) (i32.add (i32.const 0x2000) (i32.shl (local.get $k) (i32.const 5))))
      ;; Storage WRITE of 64 bytes from 0x4000 at offset stride * k
      (local.set $at (i32.add (i32.const 0x2000) (i32.shl (local.get $k) (i32.const 5))))
      (i32.store (local.get $at) (i32.const 2))
      (i64.store offset=8 (local.get $at) (i64.extend_i32_u (i32.mul (local.get $k) (i32.const {stride}))))
      (i32.store offset=16 (local.get $at) (i32.const 64))
      (i32.store offset=20 (local.get $at) (i32.const 0x4000))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $fill (i32.lt_u (local.get $k) (i32.const 64)))))
  (func (export "run") (param $n i64)
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (if (i32.ne (call $ar (i32.const 64) (i32.const 0x1000) (i32.const 0x8000)) (i32.const 1))
        (then unreachable))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $again)))))"#,
        open = record(0, 1, 40, 0x100),
    )
}

/// The same 64 writes with preview 1: `bench` opened in the preopen (fd 3)
/// by `setup`, then 64 `fd_pwrite` calls per iteration.
fn preview1_writes(stride: u64) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0x200) "bench")
  ;; the iovec: 64 bytes at 0x4000
  (data (i32.const 0x300) "\00\40\00\00\40\00\00\00")
  (func (export "setup")
    ;; oflags CREAT|TRUNC, rights FD_SEEK|FD_WRITE (0x44)
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 0x200) (i32.const 5) (i32.const 9)
          (i64.const 0x44) (i64.const 0) (i32.const 0) (i32.const 0x400))
      (then unreachable)))
  (func (export "run") (param $n i64) (local $k i64)
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $k (i64.const 0))
      (loop $write
        (if (call $pwrite (i32.load (i32.const 0x400)) (i32.const 0x300) (i32.const 1)
              (i64.mul (local.get $k) (i64.const {stride})) (i32.const 0x500))
          (then unreachable))
        (local.set $k (i64.add (local.get $k) (i64.const 1)))
        (br_if $write (i64.lt_u (local.get $k) (i64.const 64))))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $again)))))"#
    )
}

/// A child that connects to its parent and sends messages forever.
const PING_CHILD: &str = r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\00\00\00\00\01\00\00\00\12\00\00\00\00\02\00\00")
  (data (i32.const 16) "\01\00\00\00\01\00\00\00\12\00\00\00\00\00\00\00")
  (data (i32.const 0x200) "\04\00\00\00\00\03\00\00")
  (func (export "_start")
    (drop (call $ar (i32.const 1) (i32.const 0) (i32.const 0x800)))
    (loop $send (drop (call $ar (i32.const 1) (i32.const 16) (i32.const 0x800))) (br $send))))"#;

/// Spawns [`PING_CHILD`] (`setup`), then waits for one message per
/// iteration; each `ar()` first sends the previous message's reply.
fn daku_parent() -> String {
    let child = wat::parse_str(PING_CHILD).unwrap();
    let hex: String = child.iter().map(|b| format!("\\{b:02x}")).collect();
    let task: String = [child.len() as u32, 0x1000, 4, 0x300]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect();
    format!(
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "{spawn}")
  (data (i32.const 0x200) "{task}")
  (data (i32.const 0x1000) "{hex}")
  (func (export "setup")
    (drop (call $ar (i32.const 1) (i32.const 0) (i32.const 0x800))))
  (func (export "run") (param $n i64)
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (if (i32.ne (call $ar (i32.const 0) (i32.const 0) (i32.const 0x800)) (i32.const 1))
        (then unreachable))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $again)))))"#,
        spawn = record(0, 1, 17, 0x200)
    )
}

/// A Daku program on `engine`, its `setup` run, storage in `dir`.
fn daku_program(engine: Engine, wat: &str, dir: &Path, io: IoBackend) -> Program {
    let wasm = wat::parse_str(wat).unwrap();
    let mut options = DakuOptions::new();
    options.grants = "spawn,storage".parse().unwrap();
    options.storage = Some(dir.to_owned());
    options.io = io;
    let module = Path::new("bench.wasm");
    let config = RuntimeConfig::new();
    let mut program = match engine {
        Engine::Wasmtime => {
            let runtime = WasmtimeRuntime::new(config).unwrap();
            Program::instantiate(&runtime, engine, module, &wasm, options).unwrap()
        }
        Engine::Wasmi => {
            let runtime = WasmiRuntime::new(config);
            Program::instantiate(&runtime, engine, module, &wasm, options).unwrap()
        }
    };
    program.call("setup", &[], &mut []).unwrap();
    program
}

/// How long `call` takes to run `iterations` iterations.
fn timed(call: impl FnOnce(&[Val]), iterations: u64) -> Duration {
    let start = Instant::now();
    call(&[Val::I64(iterations as i64)]);
    start.elapsed()
}

/// A preview 1 guest on our `UnixSystem` with `dir` preopened as fd 3.
fn preview1<R: Runtime>(runtime: &R, dir: &Path, stride: u64) -> R::Instance<UnixSystem> {
    let mut builder = UnixSystem::builder();
    builder.preopen_dir(dir, "/data").unwrap();
    let mut imports = Imports::<UnixSystem>::new();
    imports.wasi(|system: &mut UnixSystem| -> &mut dyn wasi_core::System { system });
    let wasm = wat::parse_str(preview1_writes(stride)).unwrap();
    let mut instance = runtime
        .instantiate(&wasm, &imports, builder.build().unwrap())
        .unwrap();
    instance.call("setup", &[], &mut []).unwrap();
    instance
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("daku");
    for engine in Engine::ALL {
        for (name, stride) in [("adjacent", 64), ("scattered", 128)] {
            for (backend, io) in [("", IoBackend::Auto), ("+uring", IoBackend::Uring)] {
                let mut writes = daku_program(engine, &daku_writes(stride), dir.path(), io);
                group.bench_function(format!("daku_ar_64_writes_{name}{backend}/{engine}"), |b| {
                    b.iter_custom(|n| timed(|args| writes.call("run", args, &mut []).unwrap(), n))
                });
            }
            let config = RuntimeConfig::new();
            let pwrite = |b: &mut criterion::Bencher<'_>| match engine {
                Engine::Wasmtime => {
                    let runtime = WasmtimeRuntime::new(config).unwrap();
                    let mut guest = preview1(&runtime, dir.path(), u64::from(stride));
                    b.iter_custom(|n| timed(|args| guest.call("run", args, &mut []).unwrap(), n))
                }
                Engine::Wasmi => {
                    let mut guest =
                        preview1(&WasmiRuntime::new(config), dir.path(), u64::from(stride));
                    b.iter_custom(|n| timed(|args| guest.call("run", args, &mut []).unwrap(), n))
                }
            };
            group.bench_function(format!("preview1_64_pwrites_{name}/{engine}"), pwrite);
        }
        let mut parent = daku_program(engine, &daku_parent(), dir.path(), IoBackend::Auto);
        group.bench_function(format!("daku_child_round_trip/{engine}"), |b| {
            b.iter_custom(|n| timed(|args| parent.call("run", args, &mut []).unwrap(), n))
        });
    }
    group.finish();
}

criterion_group!(daku, benches);
criterion_main!(daku);
