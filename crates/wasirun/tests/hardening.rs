//! Attacks on `wasirun` itself, on both engines: guest-controlled counts
//! that could size host allocations, the start function, forged
//! diagnostics, resource limits, and the report of refused calls.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn wasirun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .output()
        .expect("wasirun runs")
}

/// Runs `module` (WAT text) on `engine` with `options` before it.
fn run_wat(dir: &Path, engine: &str, options: &[&str], module: &str) -> Output {
    let path = dir.join("m.wat");
    std::fs::write(&path, module).unwrap();
    let mut args = vec!["--runtime", engine, "--no-cache"];
    args.extend_from_slice(options);
    args.push(path.to_str().unwrap());
    wasirun(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Calls `sock_getaddrinfo("localhost", "", hints, res, max_res = 0xffffffff)`
/// with a one-record chain linked to itself, and exits with the errno.
const GETADDRINFO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "sock_getaddrinfo"
    (func $gai (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "localhost")
  (func (export "_start")
    ;; hints at 100 (all zero); the record at 200 points to itself; its
    ;; sockaddr at 300 has 18 bytes of sa_data at 400; res at 500.
    (i32.store (i32.const 212) (i32.const 300))
    (i32.store (i32.const 224) (i32.const 200))
    (i32.store (i32.const 304) (i32.const 18))
    (i32.store (i32.const 308) (i32.const 400))
    (i32.store (i32.const 500) (i32.const 200))
    (call $exit (call $gai (i32.const 0) (i32.const 9) (i32.const 0) (i32.const 0)
      (i32.const 100) (i32.const 500) (i32.const -1) (i32.const 600)))))
"#;

#[test]
fn getaddrinfo_with_a_huge_count_and_a_cyclic_chain_is_refused_cheaply() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &[], GETADDRINFO);
        // ENOTCAPABLE (76): no --allow-resolve; before the fix the host
        // aborted while copying the chain.
        assert_eq!(out.status.code(), Some(76), "{engine}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("denied resolving localhost (grant with --allow-resolve)"),
            "{engine}: {}",
            stderr(&out)
        );
        let out = run_wat(tmp.path(), engine, &["--allow-resolve"], GETADDRINFO);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
    }
}

/// A start function that exits with code 3 through `proc_exit`.
const EXIT_IN_START: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $init (call $exit (i32.const 3)))
  (start $init)
  (func (export "_start") unreachable))
"#;

/// A start function that traps.
const TRAP_IN_START: &str = r#"
(module
  (memory (export "memory") 1)
  (func $init unreachable)
  (start $init)
  (func (export "_start")))
"#;

#[test]
fn the_start_function_ends_the_run_like_start() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &[], EXIT_IN_START);
        assert_eq!(out.status.code(), Some(3), "{engine}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{engine}");
        let out = run_wat(tmp.path(), engine, &[], TRAP_IN_START);
        assert_eq!(out.status.code(), Some(134), "{engine}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("unreachable"),
            "{engine}: {}",
            stderr(&out)
        );
    }
}

/// A module whose function names carry terminal escapes and line breaks
/// that would forge a diagnostic of our own, and whose `_start` traps.
const FORGER: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") unreachable)
  (@custom "name" (after code)
    "\01\1c\01\00\19\1b[2J\0d\0awasirun: all good\0d\0a"))
"#;

#[test]
fn module_metadata_cannot_forge_diagnostics_or_drive_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &[], FORGER);
        assert_eq!(out.status.code(), Some(134), "{engine}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            !err.contains('\x1b') && !err.contains('\r'),
            "{engine}: {err:?}"
        );
        for line in err.lines().skip(1) {
            assert!(
                line.starts_with(' '),
                "{engine}: forged line {line:?} in {err:?}"
            );
        }
    }
}

/// Declares 65,536 pages (4 GiB) of memory and exits 0.
const HUGE_MEMORY: &str = r#"
(module
  (memory (export "memory") 65536)
  (func (export "_start")))
"#;

/// Grows its memory by one page past its first and exits with the result
/// of `memory.grow` + 10 (so 9 when it failed).
const GROWER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 16)
  (func (export "_start")
    (call $exit (i32.add (memory.grow (i32.const 1)) (i32.const 10)))))
"#;

#[test]
fn max_memory_bounds_declared_and_grown_memory() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &["--max-memory", "64M"], HUGE_MEMORY);
        assert_eq!(out.status.code(), Some(2), "{engine}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("more than the limit of 67108864"),
            "{engine}: {}",
            stderr(&out)
        );
        // 16 pages are 1 MiB: one more page is refused, the guest sees -1.
        let out = run_wat(tmp.path(), engine, &["--max-memory", "1M"], GROWER);
        assert_eq!(out.status.code(), Some(9), "{engine}: {}", stderr(&out));
        let out = run_wat(tmp.path(), engine, &["--max-memory", "2M"], GROWER);
        assert_eq!(out.status.code(), Some(26), "{engine}: {}", stderr(&out));
    }
}

/// Loops forever in `_start`.
const SPIN: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (br $l))))
"#;

/// Loops forever in its start function.
const SPIN_IN_START: &str = r#"
(module
  (memory (export "memory") 1)
  (func $init (loop $l (br $l)))
  (start $init)
  (func (export "_start")))
"#;

/// Sleeps for an hour in `poll_oneoff`: a host call no engine interrupts.
const SLEEPER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    ;; one clock subscription at 0: tag 0 (clock) at 8, monotonic clock,
    ;; timeout 3600 s at 24.
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll (i32.const 0) (i32.const 128) (i32.const 1) (i32.const 200)))))
"#;

#[test]
fn timeout_stops_loops_and_blocked_calls_with_124() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        for module in [SPIN, SPIN_IN_START, SLEEPER] {
            let started = Instant::now();
            let out = run_wat(tmp.path(), engine, &["--timeout", "300ms"], module);
            assert_eq!(out.status.code(), Some(124), "{engine}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("timed out after 300ms"),
                "{engine}: {}",
                stderr(&out)
            );
            // Not a timed test: only that it stopped at all, long before an hour.
            assert!(started.elapsed() < Duration::from_secs(60));
        }
    }
}

#[test]
fn fuel_stops_a_loop_as_a_trap() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        for module in [SPIN, SPIN_IN_START] {
            let out = run_wat(tmp.path(), engine, &["--fuel", "100000"], module);
            assert_eq!(out.status.code(), Some(134), "{engine}: {}", stderr(&out));
            assert!(stderr(&out).contains("fuel"), "{engine}: {}", stderr(&out));
        }
        // Enough fuel for a module that does nothing.
        let out = run_wat(tmp.path(), engine, &["--fuel", "100000"], HUGE_MEMORY);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
    }
}

/// Opens a socket and connects it to 127.0.0.1:9 (the discard port), then
/// exits with the errno of the connect.
const CONNECTER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $open (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_connect" (func $connect (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\7f\00\00\01")
  (func (export "_start")
    (drop (call $open (i32.const 1) (i32.const 2) (i32.const 0)))
    ;; address record at 32: buf = 16, buf_len = 4
    (i32.store (i32.const 32) (i32.const 16))
    (i32.store (i32.const 36) (i32.const 4))
    (call $exit (call $connect (i32.load (i32.const 0)) (i32.const 32) (i32.const 9)))))
"#;

#[test]
fn refusals_are_reported_once_unless_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &[], CONNECTER);
        assert_eq!(out.status.code(), Some(76), "{engine}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "wasirun: denied connect to 127.0.0.1:9 (grant with --allow-connect 127.0.0.1:9)\n",
            "{engine}"
        );
        let out = run_wat(tmp.path(), engine, &["--quiet-denials"], CONNECTER);
        assert_eq!(out.status.code(), Some(76), "{engine}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{engine}");
    }
}

/// A module of `count` empty functions, in binary: nothing the text format
/// parser should have to chew through.
fn many_functions(count: u32) -> Vec<u8> {
    fn leb(mut n: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(payload.len() as u32, out);
        out.extend_from_slice(payload);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    section(1, b"\x01\x60\x00\x00", &mut wasm);
    let mut funcs = Vec::new();
    leb(count, &mut funcs);
    funcs.resize(funcs.len() + count as usize, 0);
    section(3, &funcs, &mut wasm);
    section(7, b"\x01\x06_start\x00\x00", &mut wasm);
    let mut code = Vec::new();
    leb(count, &mut code);
    for _ in 0..count {
        code.extend_from_slice(b"\x02\x00\x0b");
    }
    section(10, &code, &mut wasm);
    wasm
}

#[test]
fn modules_with_too_many_functions_are_refused_before_compiling() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("many.wasm");
    std::fs::write(&path, many_functions(1_000_000)).unwrap();
    let small = tmp.path().join("small.wasm");
    std::fs::write(&small, many_functions(1_000)).unwrap();
    for engine in ENGINES {
        let started = Instant::now();
        let out = wasirun(&["--runtime", engine, "--no-cache", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{engine}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("defines 1000000 functions, more than the limit of 200000"),
            "{engine}: {}",
            stderr(&out)
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        let args = ["--runtime", engine, "--no-cache", "--max-functions", "999"];
        let out = wasirun(&[&args[..], &[small.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(2), "{engine}: {}", stderr(&out));
        let out = wasirun(&["--runtime", engine, "--no-cache", small.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
    }
}

/// Opens `proc/self/mem` read-write beneath preopen 3 and exits with the
/// errno (0 would mean the guest could rewrite the host's memory).
const PROC_SELF_MEM: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "proc/self/mem")
  (func (export "_start")
    ;; rights: fd_read (2) | fd_seek (4) | fd_write (64)
    (call $exit (call $open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 13)
      (i32.const 0) (i64.const 70) (i64.const 0) (i32.const 0) (i32.const 100)))))
"#;

#[test]
fn a_root_preopen_does_not_reach_the_host_process_memory() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        for options in [
            &["--dir", "/::/"][..],
            &["--dir", "/::/", "--allow-pseudo-fs"],
        ] {
            let out = run_wat(tmp.path(), engine, options, PROC_SELF_MEM);
            // ENOTCAPABLE (76).
            assert_eq!(
                out.status.code(),
                Some(76),
                "{engine} {options:?}: {}",
                stderr(&out)
            );
        }
        // Nothing would grant it: no refusal is reported.
        let out = run_wat(tmp.path(), engine, &["--dir", "/::/"], PROC_SELF_MEM);
        assert_eq!(stderr(&out), "", "{engine}");
        // A file the permission would let the guest read.
        let proc_version = PROC_SELF_MEM
            .replace("proc/self/mem", "proc/version")
            .replace("(i32.const 13)", "(i32.const 12)")
            .replace("(i64.const 70)", "(i64.const 2)");
        let out = run_wat(tmp.path(), engine, &["--dir", "/::/"], &proc_version);
        assert_eq!(out.status.code(), Some(76), "{engine}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "wasirun: denied opening proc/version (grant with --allow-pseudo-fs)\n",
            "{engine}"
        );
        let options = ["--dir", "/::/", "--allow-pseudo-fs"];
        let out = run_wat(tmp.path(), engine, &options, &proc_version);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
    }
}

#[test]
fn a_pseudo_filesystem_dir_needs_the_permission_and_takes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let nothing = "(module (memory (export \"memory\") 1) (func (export \"_start\")))";
    for engine in ENGINES {
        let out = run_wat(tmp.path(), engine, &["--dir", "/proc/sys"], nothing);
        assert_eq!(out.status.code(), Some(2), "{engine}");
        assert!(
            stderr(&out).contains("needs --allow-pseudo-fs"),
            "{engine}: {}",
            stderr(&out)
        );
        let options = ["--allow-pseudo-fs", "--dir", "/proc/sys"];
        let out = run_wat(tmp.path(), engine, &options, nothing);
        assert_eq!(out.status.code(), Some(0), "{engine}: {}", stderr(&out));
    }
}

/// Creates the file `x` beneath descriptor 0 (standard input) and exits
/// with the errno.
const CREATE_IN_STDIN: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x")
  (func (export "_start")
    (call $exit (call $open (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1)
      (i32.const 1) (i64.const 70) (i64.const 0) (i32.const 0) (i32.const 100)))))
"#;

#[test]
fn a_directory_on_stdin_is_not_a_capability() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    std::fs::create_dir(&target).unwrap();
    let module = tmp.path().join("m.wat");
    std::fs::write(&module, CREATE_IN_STDIN).unwrap();
    for engine in ENGINES {
        let out = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["--runtime", engine, "--no-cache", module.to_str().unwrap()])
            .stdin(std::fs::File::open(&target).unwrap())
            .output()
            .unwrap();
        // ENOTDIR (54): a standard stream is never a directory.
        assert_eq!(out.status.code(), Some(54), "{engine}: {}", stderr(&out));
        assert!(!target.join("x").exists(), "{engine}");
    }
}

/// Writes 16 bytes twice to `out` beneath preopen 3 and exits with
/// 100 * (bytes of the first write) + errno of the second.
const WRITER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out")
  (data (i32.const 16) "0123456789abcdef")
  (func (export "_start")
    (local $fd i32) (local $errno i32)
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 100)))
    (local.set $fd (i32.load (i32.const 100)))
    (i32.store (i32.const 200) (i32.const 16))
    (i32.store (i32.const 204) (i32.const 16))
    (drop (call $write (local.get $fd) (i32.const 200) (i32.const 1) (i32.const 300)))
    (local.set $errno (call $write (local.get $fd) (i32.const 200) (i32.const 1) (i32.const 304)))
    (call $exit (i32.add (i32.mul (i32.load (i32.const 300)) (i32.const 10)) (local.get $errno)))))
"#;

#[test]
fn max_file_size_cuts_writes_short_then_gives_efbig() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let work = tmp.path().join(engine);
        std::fs::create_dir(&work).unwrap();
        let dir = format!("{}::/work", work.display());
        let out = run_wat(
            tmp.path(),
            engine,
            &["--dir", &dir, "--max-file-size", "10"],
            WRITER,
        );
        // 10 bytes written, then EFBIG (22).
        assert_eq!(
            out.status.code(),
            Some(10 * 10 + 22),
            "{engine}: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(work.join("out")).unwrap(),
            b"0123456789",
            "{engine}"
        );
    }
}
