//! WebAssembly proposals beyond 2.0 through `wasirun`: wasmtime runs every
//! proposal it enables by default; wasmi runs those it implements and
//! refuses the others in one line naming the proposal, with exit code 2
//! ("Running a module" in `spec/preview1.md`).

use std::process::{Command, Output};

/// What running a module should do.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Run and exit with this code (the module computes it with the proposal).
    Exit(i32),
    /// Fail to load (exit code 2) with this one-line reason.
    Refuse(&'static str),
}

/// A module for one proposal and what each engine does with it.
struct Case {
    proposal: &'static str,
    wat: &'static str,
    wasmtime: Expect,
    wasmi: Expect,
}

/// wasmi's refusal of a module using `proposal`.
macro_rules! wasmi_lacks {
    ($proposal:literal) => {
        Expect::Refuse(concat!(
            "this module uses the ",
            $proposal,
            " proposal, which wasmi does not support; run it with --runtime wasmtime"
        ))
    };
}

const CASES: &[Case] = &[
    Case {
        proposal: "exception-handling",
        // A throw caught as an `exnref` (`catch_all_ref`), rethrown
        // (`throw_ref`) and caught with its payload, as C++ compiled with
        // `-fwasm-exceptions` does.
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (tag $e (param i32))
          (func $throw (throw $e (i32.const 42)))
          (func $rethrow
            (block $caught (result exnref)
              (try_table (catch_all_ref $caught) (call $throw))
              (return))
            (throw_ref))
          (func (export "_start")
            (block $caught (result i32)
              (try_table (catch $e $caught) (call $rethrow))
              (i32.const 0))
            (call $exit)))"#,
        wasmtime: Expect::Exit(42),
        wasmi: wasmi_lacks!("exception-handling"),
    },
    Case {
        proposal: "gc",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (type $pair (struct (field i32) (field (mut i32))))
          (type $bytes (array (mut i8)))
          (func (export "_start") (local $p (ref $pair)) (local $a (ref $bytes))
            (local.set $p (struct.new $pair (i32.const 40) (i32.const 0)))
            (local.set $a (array.new $bytes (i32.const 0) (i32.const 2)))
            (struct.set $pair 1 (local.get $p) (array.len (local.get $a)))
            (call $exit (i32.add (struct.get $pair 0 (local.get $p))
                                 (struct.get $pair 1 (local.get $p))))))"#,
        wasmtime: Expect::Exit(42),
        wasmi: wasmi_lacks!("gc"),
    },
    Case {
        proposal: "function-references",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (type $get (func (result i32)))
          (func $seven (type $get) (i32.const 7))
          (elem declare func $seven)
          (func (export "_start")
            (call $exit (call_ref $get (ref.func $seven)))))"#,
        wasmtime: Expect::Exit(7),
        wasmi: wasmi_lacks!("function-references"),
    },
    Case {
        proposal: "threads (atomics)",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 5)))
            (atomic.fence)
            ;; No thread waits on an unshared memory: nothing is woken.
            (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
            (call $exit (i32.atomic.rmw.cmpxchg (i32.const 0) (i32.const 5) (i32.const 9)))))"#,
        wasmtime: Expect::Exit(5),
        wasmi: wasmi_lacks!("threads"),
    },
    Case {
        proposal: "threads (shared memory)",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory 1 1 shared)
          (func (export "_start")
            (call $exit (i32.atomic.rmw.add (i32.const 0) (i32.const 5)))))"#,
        wasmtime: Expect::Refuse(
            "this module defines a shared memory, which this host does not support \
             (of the threads proposal, only the atomic instructions on unshared memories run)",
        ),
        wasmi: wasmi_lacks!("threads"),
    },
    Case {
        proposal: "tail-call",
        // A million calls deep: only tail calls keep the stack flat.
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func $count (param $n i32) (param $acc i32) (result i32)
            (if (result i32) (i32.eqz (local.get $n))
              (then (local.get $acc))
              (else (return_call $count
                (i32.sub (local.get $n) (i32.const 1))
                (i32.xor (local.get $acc) (i32.const 1))))))
          (func (export "_start")
            (call $exit (i32.add (i32.const 10) (call $count (i32.const 1000001) (i32.const 0))))))"#,
        wasmtime: Expect::Exit(11),
        wasmi: Expect::Exit(11),
    },
    Case {
        proposal: "simd and relaxed-simd",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (call $exit (i32x4.extract_lane 2
              (i32x4.relaxed_laneselect
                (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 40))
                (v128.const i32x4 0 0 0 0)
                (v128.const i32x4 -1 -1 -1 -1))))))"#,
        wasmtime: Expect::Exit(33),
        wasmi: Expect::Exit(33),
    },
    Case {
        proposal: "multi-memory, memory64 and extended-const",
        wat: r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (memory $wide i64 1)
          (global $at i64 (i64.add (i64.const 1000) (i64.const 24)))
          (func (export "_start")
            (i32.store $wide (global.get $at) (i32.const 17))
            (call $exit (i32.load $wide (i64.const 1024)))))"#,
        wasmtime: Expect::Exit(17),
        wasmi: Expect::Exit(17),
    },
];

/// Runs `wat` on `engine` through `wasirun`.
fn run(engine: &str, wat: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wat");
    std::fs::write(&path, wat).unwrap();
    Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(["--runtime", engine, "--no-cache"])
        .arg(&path)
        .output()
        .expect("wasirun runs")
}

fn check(case: &Case, engine: &str, expect: Expect) {
    let out = run(engine, case.wat);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!("{} on {engine}: {stderr}", case.proposal);
    match expect {
        Expect::Exit(code) => {
            assert_eq!(out.status.code(), Some(code), "{what}");
            assert!(stderr.is_empty(), "{what}");
        }
        Expect::Refuse(reason) => {
            assert_eq!(out.status.code(), Some(2), "{what}");
            assert_eq!(stderr.lines().count(), 1, "{what}");
            assert!(stderr.trim_end().ends_with(reason), "{what}");
        }
    }
}

#[test]
fn wasmtime_runs_the_proposals_it_enables_by_default() {
    for case in CASES {
        check(case, "wasmtime", case.wasmtime);
    }
}

#[test]
fn wasmi_runs_its_proposals_and_names_the_others() {
    for case in CASES {
        check(case, "wasmi", case.wasmi);
    }
}
