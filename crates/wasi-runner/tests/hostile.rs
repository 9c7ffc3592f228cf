//! Issue 20 ("Hostile load"), items 8 and 9, through the library on both
//! engines: a guest's buffers in the host stay within its host-memory
//! budget, and its descriptors within `max_fds` (`spec/preview1.md`,
//! "Running a module" and "File descriptors"; `spec/wasi-cloud.md`,
//! "Key-value store").

use wasi_runner::{Engine, KvConfig, Module, Outcome, RunOptions, Runner};

/// Opens `/beta/kv/local/k00` .. `k23` (`O_CREAT|O_TRUNC`, write rights)
/// and `ftruncate`s each to 64 MiB, keeping them all open. Exits 0 when
/// every `ftruncate` gave `ENOSPC` (51), 1 when one succeeded, 2 + errno
/// for another error, 200 when an open failed.
const TRUNCATES_KEYS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "kv/local/k00")
  (func (export "_start") (local $i i32) (local $errno i32)
    (loop $keys
      ;; The key's two digits.
      (i32.store8 (i32.const 10) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 10))))
      (i32.store8 (i32.const 11) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      ;; fd 3 is the virtual preopen /beta; O_CREAT|O_TRUNC; fd_write|fd_filestat_set_size.
      (if (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 12)
            (i32.const 9) (i64.const 4194368) (i64.const 0) (i32.const 0) (i32.const 16))
        (then (call $exit (i32.const 200))))
      (local.set $errno (call $set_size (i32.load (i32.const 16)) (i64.const 67108864)))
      (if (i32.eqz (local.get $errno)) (then (call $exit (i32.const 1))))
      (if (i32.ne (local.get $errno) (i32.const 51))
        (then (call $exit (i32.add (i32.const 2) (local.get $errno)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $keys (i32.lt_u (local.get $i) (i32.const 24))))
    (call $exit (i32.const 0))))
"#;

/// Opens WasmEdge sockets (`sock_open(inet4, stream)`, which needs no
/// grant) until one fails, keeping them open. Exits with the number opened
/// when the failure is `EMFILE` (33), 128 + that number for `ENFILE` (41),
/// 255 for anything else.
pub const OPENS_SOCKETS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $errno i32)
    (loop $more
      (local.set $errno (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0)))
      (if (i32.eqz (local.get $errno)) (then
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more))))
    (if (i32.eq (local.get $errno) (i32.const 33)) (then (call $exit (local.get $n))))
    (if (i32.eq (local.get $errno) (i32.const 41))
      (then (call $exit (i32.add (i32.const 128) (local.get $n)))))
    (call $exit (i32.const 255))))
"#;

/// A line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn kv_buffers_past_the_guests_budget_give_enospc_not_host_memory() {
    let store = tempfile::tempdir().unwrap();
    let module = Module::from_bytes("truncates.wat", TRUNCATES_KEYS).unwrap();
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options
            .engine(engine)
            .max_memory(Some(32 << 20))
            .kv(Some(KvConfig::new(store.path().join("kv.redb"))));
        let runner = Runner::new(module.clone(), options).unwrap();
        // The peak of this process's memory, from now (5: reset VmHWM).
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let before = status_kib("VmRSS:");
        // Today's guest asked 24 × 64 MiB (1.5 GiB) and got it.
        assert_eq!(runner.run().unwrap(), Outcome::Exit(0), "{engine}");
        let grown = status_kib("VmHWM:").saturating_sub(before);
        assert!(grown < 64 << 10, "{engine}: memory grew by {grown} KiB");
    }
}

#[test]
fn the_budget_follows_the_options() {
    let mut options = RunOptions::new();
    assert_eq!(options.host_memory_limit(), 64 << 20);
    options.max_memory(Some(32 << 20));
    assert_eq!(options.host_memory_limit(), 32 << 20);
    options.max_host_memory(Some(1 << 20));
    assert_eq!(options.host_budget().limit(), 1 << 20);
    // Each guest gets a budget of its own.
    assert!(!options.host_budget().same(&options.host_budget()));
    assert_eq!(RunOptions::DEFAULT_MAX_FDS, 1024);
}

#[test]
fn sockets_stop_at_max_fds_with_emfile() {
    let module = Module::from_bytes("sockets.wat", OPENS_SOCKETS).unwrap();
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options.engine(engine).max_fds(64);
        // 64 descriptors, 3 of them stdio.
        let outcome = Runner::new(module.clone(), options).unwrap().run().unwrap();
        assert_eq!(outcome, Outcome::Exit(61), "{engine}");
    }
}
