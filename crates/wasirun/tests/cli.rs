//! The `wasirun` command: exit codes, error messages, and identical behaviour
//! on both engines.

use std::path::Path;
use std::process::{Command, Output};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn wasirun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .output()
        .expect("wasirun runs")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Writes its arguments (after argv[0]) and the variable GREETING to
/// `out/report.txt` inside the preopen `/work`, then echoes the file to
/// stdout, writes "done" to stderr and exits with code 3.
const REPORTER: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "out")
  (data (i32.const 8) "out/report.txt")
  (data (i32.const 32) "done\n")
  (func $check (param i32) (if (local.get 0) (then (call $exit (i32.add (i32.const 100) (local.get 0))))))
  (func (export "_start")
    (local $fd i32) (local $argc i32) (local $bufsize i32) (local $envsize i32) (local $n i32)
    ;; argv pointers at 1024, argv strings at 2048; environ pointers at 1536, strings after the args.
    (call $check (call $args_sizes (i32.const 100) (i32.const 104)))
    (call $check (call $args_get (i32.const 1024) (i32.const 2048)))
    (local.set $bufsize (i32.load (i32.const 104)))
    (call $check (call $env_sizes (i32.const 108) (i32.const 112)))
    (call $check (call $env_get (i32.const 1536) (i32.add (i32.const 2048) (local.get $bufsize))))
    (call $check (call $mkdir (i32.const 3) (i32.const 0) (i32.const 3)))
    ;; open out/report.txt with CREAT|TRUNC, read+write rights
    (call $check (call $open (i32.const 3) (i32.const 0) (i32.const 8) (i32.const 14)
      (i32.const 9) (i64.const 0x4e) (i64.const 0) (i32.const 0) (i32.const 116)))
    (local.set $fd (i32.load (i32.const 116)))
    ;; one iovec over everything after argv[0]'s string: args then environment strings
    (local.set $n (i32.sub (i32.load (i32.const 1028)) (i32.const 2048)))
    (i32.store (i32.const 200) (i32.load (i32.const 1028)))
    (i32.store (i32.const 204) (i32.sub (i32.add (local.get $bufsize) (i32.load (i32.const 112))) (local.get $n)))
    (call $check (call $write (local.get $fd) (i32.const 200) (i32.const 1) (i32.const 120)))
    ;; read it back at offset 0 into 8192 and echo to stdout
    (i32.store (i32.const 208) (i32.const 8192))
    (i32.store (i32.const 212) (i32.load (i32.const 120)))
    (call $check (call $pread (local.get $fd) (i32.const 208) (i32.const 1) (i64.const 0) (i32.const 124)))
    (i32.store (i32.const 212) (i32.load (i32.const 124)))
    (call $check (call $write (i32.const 1) (i32.const 208) (i32.const 1) (i32.const 124)))
    (i32.store (i32.const 216) (i32.const 32))
    (i32.store (i32.const 220) (i32.const 5))
    (call $check (call $write (i32.const 2) (i32.const 216) (i32.const 1) (i32.const 124)))
    (call $exit (i32.const 3))))
"#;

#[test]
fn both_engines_give_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let module = write(tmp.path(), "reporter.wat", REPORTER);
    let mut results = Vec::new();
    for engine in ENGINES {
        let work = tmp.path().join(engine);
        std::fs::create_dir(&work).unwrap();
        let dir = format!("{}::/work", work.display());
        let out = wasirun(&[
            "--runtime",
            engine,
            "--dir",
            &dir,
            "--env",
            "GREETING=hi",
            &module,
            "a",
            "--b",
        ]);
        let file = std::fs::read(work.join("out/report.txt")).unwrap();
        results.push((out.status.code(), out.stdout, out.stderr, file));
    }
    assert_eq!(
        results[0].0,
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&results[0].2)
    );
    assert_eq!(results[0].1, b"a\0--b\0GREETING=hi\0");
    assert_eq!(results[0].2, b"done\n");
    assert_eq!(results[0].3, results[0].1);
    assert_eq!(results[0], results[1]);
}

#[test]
fn hello_example_runs_on_both_engines() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wat");
    for engine in ENGINES {
        let out = wasirun(&["--runtime", engine, hello]);
        assert_eq!(out.status.code(), Some(0), "{engine}");
        assert_eq!(out.stdout, b"hello, world\n", "{engine}");
        assert!(out.stderr.is_empty(), "{engine}");
    }
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn bad_modules_get_a_one_line_message() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = write(tmp.path(), "garbage.wasm", "\0asm\u{1}\0\0\0\u{1}");
    let text = write(tmp.path(), "broken.wat", "(module (func $f (result i32)");
    let invalid = write(tmp.path(), "invalid.wat", "(module (func $f (result i32)))");
    let no_start = write(tmp.path(), "lib.wat", r#"(module (func (export "run")))"#);
    let missing = tmp.path().join("missing.wasm");
    let needs = write(
        tmp.path(),
        "needs.wat",
        r#"(module (import "env" "thing" (func)) (func (export "_start")))"#,
    );
    for engine in ENGINES {
        let msg = one_line_error(&wasirun(&["--runtime", engine, &garbage]));
        assert!(msg.contains("invalid module"), "{engine}: {msg}");
        let msg = one_line_error(&wasirun(&["--runtime", engine, &text]));
        assert!(
            msg.contains("neither a wasm binary nor valid text"),
            "{engine}: {msg}"
        );
        let msg = one_line_error(&wasirun(&["--runtime", engine, &invalid]));
        assert!(
            msg.contains("invalid module") && msg.contains("type mismatch"),
            "{engine}: {msg}"
        );
        let msg = one_line_error(&wasirun(&["--runtime", engine, &no_start]));
        assert_eq!(
            msg,
            format!(
                "wasirun: {no_start} has no entry point: it exports no function \"\" or \"_start\" \
                 (call one of its functions with --invoke NAME)\n"
            ),
            "{engine}"
        );
        let msg = one_line_error(&wasirun(&["--runtime", engine, missing.to_str().unwrap()]));
        assert!(msg.contains("cannot read"), "{engine}: {msg}");
        let msg = one_line_error(&wasirun(&["--runtime", engine, &needs]));
        assert!(
            msg.contains("env") && msg.contains("thing"),
            "{engine}: {msg}"
        );
    }
}

/// A reactor: `_initialize` prints "init", the default export prints
/// "main" and returns -1; `add` and `mix` take and return numbers, `exit`
/// calls `proc_exit`, `simd` takes a v128.
const REACTOR: &str = r#"
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "init\nmain\n")
  (func $print (param i32)
    (i32.store (i32.const 0) (local.get 0))
    (i32.store (i32.const 4) (i32.const 5))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize") (call $print (i32.const 16)))
  (func (export "") (result i32) (call $print (i32.const 21)) (i32.const -1))
  (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
  (func (export "mix") (param f32 f64) (result f32 f64 i32) (local.get 0) (local.get 1) (i32.const 0))
  (func (export "exit") (param i32) (call $exit (local.get 0)))
  (func (export "simd") (param v128)))
"#;

#[test]
fn reactors_and_invoke_print_results_as_wasmtime_does() {
    let tmp = tempfile::tempdir().unwrap();
    let module = write(tmp.path(), "reactor.wat", REACTOR);
    for engine in ENGINES {
        let cases: [(&[&str], &str, i32); 4] = [
            // `_initialize`, then `""`, whose result is printed; the
            // arguments are only the guest's.
            (&[&module, "a", "b"], "init\nmain\n-1\n", 0),
            // Negative numbers after the module are arguments, not options.
            (&["--invoke", "add", &module, "-5", "0x10"], "init\n11\n", 0),
            (
                &["--invoke", "mix", &module, "1.5", "-inf"],
                "init\n1.5\n-inf\n0\n",
                0,
            ),
            // proc_exit in the invoked function: its code, nothing printed.
            (&["--invoke", "exit", &module, "7"], "init\n", 7),
        ];
        for (args, stdout, code) in cases {
            // `run` is the default command.
            for command in [&[][..], &["run"]] {
                let out = wasirun(&[command, &["--runtime", engine], args].concat());
                assert_eq!(out.status.code(), Some(code), "{engine} {args:?}");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    stdout,
                    "{engine} {args:?}"
                );
                assert!(out.stderr.is_empty(), "{engine} {args:?}");
            }
        }
    }
}

#[test]
fn invoke_errors_are_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let module = write(tmp.path(), "reactor.wat", REACTOR);
    let cases: [(&[&str], &str); 6] = [
        (
            &["add", &module, "1"],
            r#"cannot call "add": it takes 2 arguments (i32, i64), 1 given"#,
        ),
        (
            &["add", &module, "1", "2", "3"],
            r#"cannot call "add": it takes 2 arguments (i32, i64), 3 given"#,
        ),
        (
            &["add", &module, "1", "two"],
            r#"cannot call "add": argument 2 ("two") is not an i64"#,
        ),
        (
            &["add", &module, "4294967296", "2"],
            r#"cannot call "add": argument 1 ("4294967296") is not an i32"#,
        ),
        (
            &["sub", &module],
            r#"cannot call "sub": the module exports nothing of that name"#,
        ),
        (
            &["simd", &module, "0"],
            r#"cannot call "simd": it takes or returns a v128; only i32, i64, f32 and f64 can be passed and printed"#,
        ),
    ];
    for engine in ENGINES {
        for (args, message) in cases {
            let out = wasirun(&[&["--runtime", engine, "--invoke"], args].concat());
            // `_initialize` did not run: nothing is printed but the error.
            let stderr = one_line_error(&out);
            assert_eq!(
                stderr,
                format!("wasirun: {module}: {message}\n"),
                "{engine}"
            );
        }
    }
    // A Daku program has no entry point to invoke.
    let daku = write(
        tmp.path(),
        "daku.wat",
        r#"(module (import "daku" "ar" (func (param i32 i32 i32) (result i32))) (func (export "_start")))"#,
    );
    let stderr = one_line_error(&wasirun(&["--invoke", "_start", &daku]));
    assert!(
        stderr.ends_with(
            ": --invoke does not apply to a Daku program (it imports daku.ar, not WASI)\n"
        ),
        "{stderr}"
    );
}

#[test]
fn traps_exit_134_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let module = write(
        tmp.path(),
        "trap.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
    );
    for engine in ENGINES {
        let out = wasirun(&["--runtime", engine, &module]);
        assert_eq!(out.status.code(), Some(134), "{engine}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unreachable"), "{engine}: {stderr}");
    }
}

#[test]
fn bad_options_are_refused() {
    let out = wasirun(&["--env", "NOEQUALS", "x.wat"]);
    assert_eq!(out.status.code(), Some(2));
    let out = wasirun(&[
        "--dir",
        "/definitely/not/here",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wat"),
    ]);
    let stderr = one_line_error(&out);
    assert!(stderr.contains("/definitely/not/here"), "{stderr}");
}

#[test]
fn trace_logs_every_call() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wat");
    let expected = "fd_write(1, [13 bytes \"hello, world\\n\"]) = 13\nproc_exit(0)\n";
    let tmp = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let out = wasirun(&["--runtime", engine, "--trace", hello]);
        assert_eq!(out.status.code(), Some(0), "{engine}");
        assert_eq!(out.stdout, b"hello, world\n", "{engine}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{engine}");

        let log = tmp.path().join(format!("{engine}.log"));
        let out = wasirun(&[
            "--runtime",
            engine,
            "--trace-file",
            log.to_str().unwrap(),
            hello,
        ]);
        assert_eq!(out.status.code(), Some(0), "{engine}");
        assert!(out.stderr.is_empty(), "{engine}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), expected, "{engine}");
    }
}

#[test]
fn compiled_modules_are_cached_silently() {
    let hello = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello.wat");
    let cache = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .env("XDG_CACHE_HOME", cache.path())
            .args(extra)
            .arg(hello)
            .output()
            .unwrap()
    };
    // Compiled modules: one `.cwasm` file each.
    let compiled = || {
        walk(&cache.path().join("wasirun/compiled"))
            .into_iter()
            .filter(|path| path.is_file())
            .collect::<Vec<_>>()
    };
    let entries = || compiled().len();
    let out = run(&["--no-cache"]);
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b"hello, world\n"[..], &b""[..])
    );
    assert_eq!(entries(), 0);
    for _ in 0..2 {
        let out = run(&[]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"hello, world\n"[..], &b""[..])
        );
    }
    assert_eq!(entries(), 1, "one compiled module in the cache");
    let file = compiled().remove(0);
    assert_eq!(file.extension().unwrap(), "cwasm");
    // A damaged file is compiled again and replaced.
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"not a compiled module").unwrap();
    let out = run(&[]);
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b"hello, world\n"[..], &b""[..])
    );
    assert_eq!(std::fs::read(&file).unwrap().len(), good.len());
    assert_eq!(compiled(), [file]);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            let mut below = if path.is_dir() {
                walk(&path)
            } else {
                Vec::new()
            };
            below.push(path);
            below
        })
        .collect()
}
