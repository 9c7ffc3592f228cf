//! Daku's `ar()` (spec/daku.md) against preview 1 on our host, on both
//! engines:
//!
//! - `daku_ar_64_{writes_adjacent,writes_scattered,reads_scattered}`: one
//!   `ar()` call carrying 64 storage WRITEs (or READs) of 64 bytes (command
//!   40), with the default backend (`auto`), `+sync` and `+uring` (one
//!   io_uring submission), against `preview1_64_{pwrites,preads}_*`: the
//!   same 64 operations as 64 `fd_pwrite` (`fd_pread`) calls. One iteration
//!   is the 64 operations.
//! - `daku_ar_64_reads_uncached`: 64 READs 1 MiB apart in a 64 MiB file
//!   whose cached pages are dropped (`POSIX_FADV_DONTNEED`, untimed) before
//!   each iteration: where io_uring's reads wait for the disk together.
//! - `daku_child_round_trip`: a parent blocked in `ar()` woken by its child's
//!   message, and the child woken by the reply; one iteration is one round
//!   trip (two wake-ups).
//! - `guest_10k_loop{,+interruptible}`: 10,000 iterations of guest
//!   arithmetic, on an instance made plain or interruptible: what making
//!   child tasks interruptible costs (spec §5, command 17).
//!
//! Guests export `setup` and `run(iterations: i64)`; only `run` is timed.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use daku_host::{DakuOptions, IoBackend, Program, Val};
use wasi_core::runtime::{Imports, Instance, Runtime, RuntimeConfig};
use wasi_runner::Engine;
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

/// Opens storage file `bench` (for WRITEs, created empty) or `reads` (for
/// READs, 16 KiB the harness wrote) on channel 1 (`setup`), then writes (or
/// reads) 64 bytes at offsets 0, `stride`, 2 × `stride` ... with one `ar()`
/// per iteration (stride 64: adjacent operations, which the host merges
/// into one vectored one; 128: scattered ones, 64 operations in the
/// batch). WRITEs all take their bytes from 0x4000; READs go to 0x4000 +
/// 64 k, as READs into one buffer would each wait for the one before.
fn daku_io(write: bool, stride: u32) -> String {
    let (name, flags, op, step) = if write {
        ("bench", 3, 2, 0)
    } else {
        ("reads", 0, 1, 6)
    };
    format!(
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "{open}")
  ;; Storage OPEN "{name}" (flags {flags}: CREATE|TRUNCATE for writes)
  (data (i32.const 0x100) "\00\00\00\00\0{flags}\00\00\00\00\00\00\00\00\00\00\00\05\00\00\00\00\02\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 0x200) "{name}")
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
      ;; Storage op {op} (2 WRITE, 1 READ) of 64 bytes at offset stride * k,
      ;; from (or into) 0x4000 + (k << {step})
      (local.set $at (i32.add (i32.const 0x2000) (i32.shl (local.get $k) (i32.const 5))))
      (i32.store (local.get $at) (i32.const {op}))
      (i64.store offset=8 (local.get $at) (i64.extend_i32_u (i32.mul (local.get $k) (i32.const {stride}))))
      (i32.store offset=16 (local.get $at) (i32.const 64))
      (i32.store offset=20 (local.get $at) (i32.add (i32.const 0x4000) (i32.shl (local.get $k) (i32.const {step}))))
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

/// The same 64 operations with preview 1: the file opened in the preopen
/// (fd 3) by `setup`, then 64 `fd_pwrite` (or `fd_pread`, into one
/// buffer) calls per iteration.
fn preview1_io(write: bool, stride: u64) -> String {
    let (name, oflags, rights, call) = if write {
        ("bench", 9, 0x44, "fd_pwrite")
    } else {
        ("reads", 0, 0x6, "fd_pread")
    };
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "{call}" (func $io (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0x200) "{name}")
  ;; the iovec: 64 bytes at 0x4000
  (data (i32.const 0x300) "\00\40\00\00\40\00\00\00")
  (func (export "setup")
    ;; writes: oflags CREAT|TRUNC, rights FD_SEEK|FD_WRITE (0x44);
    ;; reads: no oflags, rights FD_READ|FD_SEEK (0x6)
    (if (call $open (i32.const 3) (i32.const 0) (i32.const 0x200) (i32.const 5) (i32.const {oflags})
          (i64.const {rights}) (i64.const 0) (i32.const 0) (i32.const 0x400))
      (then unreachable)))
  (func (export "run") (param $n i64) (local $k i64)
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $k (i64.const 0))
      (loop $write
        (if (call $io (i32.load (i32.const 0x400)) (i32.const 0x300) (i32.const 1)
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

/// Guest code alone: `run(n)` runs n × 10,000 iterations of a loop of
/// integer arithmetic, calling nothing. Run plain and interruptible, it
/// gives the cost of making child tasks interruptible (spec §5, command
/// 17): epoch checks on wasmtime, fuel slices on wasmi.
const COMPUTE: &str = r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "setup"))
  (func (export "run") (param $n i64) (local $i i32) (local $x i32)
    (block $done (loop $again
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $i (i32.const 10000))
      (loop $inner
        (local.set $x (i32.add (i32.mul (local.get $x) (i32.const 1664525)) (i32.const 1013904223)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $inner (local.get $i)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $again)))
    (i32.store (i32.const 0) (local.get $x))))"#;

/// A Daku program on `engine`, its `setup` run, storage in `dir`.
fn daku_program(engine: Engine, wat: &str, dir: &Path, io: IoBackend) -> Program {
    daku_program_with(engine, RuntimeConfig::new(), wat, dir, io)
}

/// [`daku_program`] under `config`.
fn daku_program_with(
    engine: Engine,
    config: RuntimeConfig,
    wat: &str,
    dir: &Path,
    io: IoBackend,
) -> Program {
    let wasm = wat::parse_str(wat).unwrap();
    let mut options = DakuOptions::new();
    options.grants = "spawn,storage".parse().unwrap();
    options.storage = Some(dir.to_owned());
    options.io = io;
    let module = Path::new("bench.wasm");
    let mut program = match engine {
        Engine::Wasmtime => {
            let runtime = WasmtimeRuntime::new(config).unwrap();
            Program::instantiate(&runtime, module, &wasm, options).unwrap()
        }
        Engine::Wasmi => {
            let runtime = WasmiRuntime::new(config);
            Program::instantiate(&runtime, module, &wasm, options).unwrap()
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
fn preview1<R: Runtime>(
    runtime: &R,
    dir: &Path,
    write: bool,
    stride: u64,
) -> R::Instance<UnixSystem> {
    let mut builder = UnixSystem::builder();
    builder.preopen_dir(dir, "/data").unwrap();
    let mut imports = Imports::<UnixSystem>::new();
    imports.wasi(|system: &mut UnixSystem| -> &mut dyn wasi_core::System { system });
    let wasm = wat::parse_str(preview1_io(write, stride)).unwrap();
    let mut instance = runtime
        .instantiate(&wasm, &imports, builder.build().unwrap())
        .unwrap();
    instance.call("setup", &[], &mut []).unwrap();
    instance
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("reads"), vec![7u8; 16 << 10]).unwrap();
    let cold = tempfile::tempdir().unwrap();
    std::fs::write(cold.path().join("reads"), vec![7u8; 64 << 20]).unwrap();
    std::fs::File::open(cold.path().join("reads"))
        .unwrap()
        .sync_all()
        .unwrap();
    let mut group = c.benchmark_group("daku");
    for engine in Engine::ALL {
        let cases = [
            ("writes_adjacent", "pwrites_adjacent", true, 64),
            ("writes_scattered", "pwrites_scattered", true, 128),
            ("reads_scattered", "preads_scattered", false, 128),
        ];
        for (name, preview1_name, write, stride) in cases {
            let backends = [
                ("", IoBackend::Auto),
                ("+sync", IoBackend::Sync),
                ("+uring", IoBackend::Uring),
            ];
            for (backend, io) in backends {
                let mut program = daku_program(engine, &daku_io(write, stride), dir.path(), io);
                group.bench_function(format!("daku_ar_64_{name}{backend}/{engine}"), |b| {
                    b.iter_custom(|n| timed(|args| program.call("run", args, &mut []).unwrap(), n))
                });
            }
            let config = RuntimeConfig::new();
            let preview1_calls = |b: &mut criterion::Bencher<'_>| match engine {
                Engine::Wasmtime => {
                    let runtime = WasmtimeRuntime::new(config).unwrap();
                    let mut guest = preview1(&runtime, dir.path(), write, u64::from(stride));
                    b.iter_custom(|n| timed(|args| guest.call("run", args, &mut []).unwrap(), n))
                }
                Engine::Wasmi => {
                    let runtime = WasmiRuntime::new(config);
                    let mut guest = preview1(&runtime, dir.path(), write, u64::from(stride));
                    b.iter_custom(|n| timed(|args| guest.call("run", args, &mut []).unwrap(), n))
                }
            };
            group.bench_function(
                format!("preview1_64_{preview1_name}/{engine}"),
                preview1_calls,
            );
        }
        // READs that miss the page cache: 64 of them 1 MiB apart in a
        // 64 MiB file, its cached pages dropped before each iteration.
        let backends = [
            ("", IoBackend::Auto),
            ("+sync", IoBackend::Sync),
            ("+uring", IoBackend::Uring),
        ];
        for (backend, io) in backends {
            let mut program = daku_program(engine, &daku_io(false, 1 << 20), cold.path(), io);
            let file = std::fs::File::open(cold.path().join("reads")).unwrap();
            group.bench_function(
                format!("daku_ar_64_reads_uncached{backend}/{engine}"),
                |b| {
                    b.iter_custom(|n| {
                        let mut total = Duration::ZERO;
                        for _ in 0..n {
                            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
                                .unwrap();
                            total += timed(|args| program.call("run", args, &mut []).unwrap(), 1);
                        }
                        total
                    })
                },
            );
        }
        let mut parent = daku_program(engine, &daku_parent(), dir.path(), IoBackend::Auto);
        group.bench_function(format!("daku_child_round_trip/{engine}"), |b| {
            b.iter_custom(|n| timed(|args| parent.call("run", args, &mut []).unwrap(), n))
        });
        for (name, interruptible) in [("", false), ("+interruptible", true)] {
            let config = RuntimeConfig {
                interruptible,
                ..RuntimeConfig::new()
            };
            let mut program =
                daku_program_with(engine, config, COMPUTE, dir.path(), IoBackend::Auto);
            group.bench_function(format!("guest_10k_loop{name}/{engine}"), |b| {
                b.iter_custom(|n| timed(|args| program.call("run", args, &mut []).unwrap(), n))
            });
        }
    }
    group.finish();
}

criterion_group!(daku, benches);
criterion_main!(daku);
