//! The command line's shape: `wasirun run [OPTIONS] MODULE [ARGS]...`, and
//! `wasirun [OPTIONS] MODULE [ARGS]...` meaning the same.

use std::process::{Command, Output};

fn wasirun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .output()
        .expect("wasirun runs")
}

/// Writes its arguments after argv[0] to stdout (NUL-terminated, as
/// `args_get` lays them out), "done" to stderr, and exits with code 5.
const ECHO_ARGS: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "done\n")
  (func (export "_start")
    ;; argc at 0, buffer size at 4; argv at 1024, strings at 2048.
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $args (i32.const 1024) (i32.const 2048)))
    ;; iovec at 16: from argv[1] to the end of the strings.
    (i32.store (i32.const 16) (i32.load (i32.const 1028)))
    (i32.store (i32.const 20)
      (i32.sub (i32.add (i32.const 2048) (i32.load (i32.const 4))) (i32.load (i32.const 1028))))
    (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 32))
    (i32.store (i32.const 20) (i32.const 5))
    (drop (call $write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 5))))
"#;

#[test]
fn run_is_the_default_command() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("m.wat");
    std::fs::write(&module, ECHO_ARGS).unwrap();
    let module = module.to_str().unwrap();
    for options in [&[][..], &["--runtime", "wasmi", "--no-cache"]] {
        let implicit = wasirun(&[options, &[module, "a", "--b", "run"]].concat());
        let explicit = wasirun(&[&["run"], options, &[module, "a", "--b", "run"]].concat());
        assert_eq!(implicit.status.code(), Some(5), "{options:?}: {implicit:?}");
        assert_eq!(implicit.stdout, b"a\0--b\0run\0", "{options:?}");
        assert_eq!(implicit.stderr, b"done\n", "{options:?}");
        assert_eq!(
            (implicit.status, implicit.stdout, implicit.stderr),
            (explicit.status, explicit.stdout, explicit.stderr),
            "{options:?}"
        );
    }
}

#[test]
fn help_lists_the_commands_and_run_help_the_options() {
    let help = wasirun(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("wasirun <COMMAND>"), "{help}");
    for command in ["run", "water", "serve", "info"] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command}: {help}"
        );
    }
    let run_help = wasirun(&["run", "--help"]);
    assert_eq!(run_help.status.code(), Some(0));
    let run_help = String::from_utf8(run_help.stdout).unwrap();
    assert!(
        run_help.contains("Usage: wasirun run [OPTIONS] <MODULE> [ARGS]..."),
        "{run_help}"
    );
    for option in ["--dir", "--runtime", "--timeout", "--device", "--trace"] {
        assert!(run_help.contains(option), "{option}: {run_help}");
    }
}

#[test]
fn a_module_is_required_with_or_without_run() {
    for args in [&[][..], &["run"], &["--runtime", "wasmi"]] {
        let out = wasirun(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("<MODULE>"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn info_names_the_kernel_and_its_features() {
    let out = wasirun(&["info"]);
    assert_eq!(out.status.code(), Some(0));
    let info = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[0], concat!("wasirun ", env!("CARGO_PKG_VERSION")));
    for (line, start) in lines[1..].iter().zip([
        "kernel: Linux ",
        "openat2: ",
        "io_uring: ",
        "guest paths: ",
        "guest I/O: ",
        "descriptors: RLIMIT_NOFILE ",
    ]) {
        assert!(line.starts_with(start), "{start:?}: {info}");
    }
    // The forced fallback is named as such.
    let out = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .arg("info")
        .env("WASIRUN_NO_OPENAT2", "1")
        .output()
        .unwrap();
    let info = String::from_utf8(out.stdout).unwrap();
    assert!(
        info.contains("openat2: turned off by WASIRUN_NO_OPENAT2\n"),
        "{info}"
    );
    assert!(info.contains("guest paths: walked in user space"), "{info}");
}
