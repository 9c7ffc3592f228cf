//! `wasmtime-wasi-run` gives the guest the command line, preopens and exit
//! code that `wasirun` would.

use std::process::Command;

/// Writes argv[1] into `out.txt` in the preopen numbered 3, echoes it to
/// stdout, and exits with code 7.
const ECHO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out.txt")
  (func $check (param i32) (if (local.get 0) (then (call $exit (i32.add (i32.const 100) (local.get 0))))))
  (func (export "_start") (local $arg i32)
    ;; argv at 100, its strings at 1000; argv[1] is "hello" (5 bytes).
    (call $check (call $args_get (i32.const 100) (i32.const 1000)))
    (local.set $arg (i32.load (i32.const 104)))
    ;; One iovec at 200: the argument and the newline that follows its NUL.
    (i32.store8 (i32.add (local.get $arg) (i32.const 5)) (i32.const 10))
    (i32.store (i32.const 200) (local.get $arg))
    (i32.store (i32.const 204) (i32.const 6))
    ;; O_CREAT | O_TRUNC, rights for fd_write.
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 7)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 300)))
    (call $check (call $write (i32.load (i32.const 300)) (i32.const 200) (i32.const 1) (i32.const 400)))
    (call $check (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 400)))
    (call $exit (i32.const 7))))
"#;

#[test]
fn runs_a_command_with_its_arguments_and_preopens() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("echo.wat");
    std::fs::write(&module, ECHO).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasmtime-wasi-run"))
        .arg("--dir")
        .arg(format!("{}::/work", dir.path().display()))
        .arg(&module)
        .arg("hello")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert_eq!(out.stdout, b"hello\n", "{stderr}");
    let written = std::fs::read(dir.path().join("out.txt")).unwrap();
    assert_eq!(written, b"hello\n");
}

#[test]
fn a_module_that_cannot_load_exits_2_and_a_trap_134() {
    let dir = tempfile::tempdir().unwrap();
    let run = |wat: &str| {
        let module = dir.path().join("m.wat");
        std::fs::write(&module, wat).unwrap();
        Command::new(env!("CARGO_BIN_EXE_wasmtime-wasi-run"))
            .arg(&module)
            .output()
            .unwrap()
    };
    let missing = run(r#"(module (import "env" "nope" (func)) (func (export "_start")))"#);
    assert_eq!(missing.status.code(), Some(2));
    let trap = run(r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#);
    assert_eq!(trap.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&trap.stderr).contains("unreachable"));
}
