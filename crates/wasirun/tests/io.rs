//! `--io sync|uring|auto` and `WASIRUN_IO`: every backend runs a guest that
//! polls, with the same output; bad names are usage errors.

use std::process::{Command, Output};

fn wasirun(args: &[&str], env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasirun"));
    command.args(args).env_remove("WASIRUN_IO");
    if let Some(value) = env {
        command.env("WASIRUN_IO", value);
    }
    command.output().expect("wasirun runs")
}

/// Polls its standard output for writing, checks the one event (userdata 7,
/// no error), then writes "polled\n" (exit codes 10.. on a mismatch).
const POLLER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; Subscription 0 at 0: userdata 7, fd_write (tag 2) on fd 1.
  (data (i32.const 0) "\07\00\00\00\00\00\00\00\02")
  (data (i32.const 16) "\01")
  ;; Message at 512, iovec at 600.
  (data (i32.const 512) "polled\n")
  (func (export "_start")
    (if (call $poll (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 400))
      (then (call $exit (i32.const 10))))
    ;; One event, for userdata 7, without error.
    (if (i32.ne (i32.load (i32.const 400)) (i32.const 1)) (then (call $exit (i32.const 11))))
    (if (i64.ne (i64.load (i32.const 256)) (i64.const 7)) (then (call $exit (i32.const 12))))
    (if (i32.load16_u (i32.const 264)) (then (call $exit (i32.const 13))))
    (i32.store (i32.const 600) (i32.const 512))
    (i32.store (i32.const 604) (i32.const 7))
    (drop (call $write (i32.const 1) (i32.const 600) (i32.const 1) (i32.const 608)))))
"#;

fn module(dir: &std::path::Path) -> String {
    let path = dir.join("poller.wat");
    std::fs::write(&path, POLLER).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn every_backend_polls_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let module = module(dir.path());
    for io in ["sync", "uring", "auto"] {
        let out = wasirun(&["--io", io, &module], None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if io == "uring"
            && (stderr.contains("io_uring is not available")
                || stderr.contains("io_uring is turned off"))
        {
            // A kernel that refuses io_uring: a clear usage error.
            assert_eq!(out.status.code(), Some(2));
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "--io {io}: {stderr}");
        assert_eq!(out.stdout, b"polled\n", "--io {io}");
        // The same through the environment.
        let out = wasirun(&[&module], Some(io));
        assert_eq!(out.status.code(), Some(0), "WASIRUN_IO={io}");
        assert_eq!(out.stdout, b"polled\n");
    }
}

#[test]
fn bad_backend_names_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let module = module(dir.path());
    let out = wasirun(&["--io", "epoll", &module], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("epoll"));
    let out = wasirun(&[&module], Some("epoll"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WASIRUN_IO"));
    // The flag wins over the environment.
    let out = wasirun(&["--io", "sync", &module], Some("epoll"));
    assert_eq!(out.status.code(), Some(0));
}
