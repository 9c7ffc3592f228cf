//! Runs through the library API on both engines: outcomes and exit codes
//! (exit, trap, fuel, timeout), load errors, entry points (reactors,
//! `invoke`), devices, tracing, and a runner run more than once.

use std::time::Duration;
use wasi_runner::{
    CallError, Devices, DriverSpec, ERROR_EXIT_CODE, Engine, LoadError, Module, Outcome, RunError,
    RunOptions, Runner, TIMEOUT_EXIT_CODE, TRAP_EXIT_CODE, Trace, Val,
};

/// Exits with its argument count (argv[0] included) through `proc_exit`.
const ARGC: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (call $exit (i32.load (i32.const 0)))))
"#;

/// `_start` returns.
const RETURNS: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

/// Traps in `_start`.
const TRAPS: &str = r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;

/// Loops forever in `_start`.
const SPINS: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#;

/// Exits with code 7 from its start function, before `_start`.
const EXITS_IN_START: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $init (call $exit (i32.const 7)))
  (start $init)
  (func (export "_start") unreachable))
"#;

/// Opens `zero` beneath descriptor 3 for reading and exits with the errno.
const OPENS_ZERO: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "zero")
  (func (export "_start")
    (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))))
"#;

fn module(text: &str) -> Module {
    Module::from_bytes("m.wat", text).unwrap()
}

/// Runs `text` on `engine` with `options`.
fn run(engine: Engine, text: &str, mut options: RunOptions) -> Result<Outcome, RunError> {
    options.engine(engine);
    Runner::new(module(text), options)?.run()
}

#[test]
fn exit_codes_pass_through() {
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options.args(["a", "b"]);
        let outcome = run(engine, ARGC, options).unwrap();
        assert_eq!(outcome, Outcome::Exit(3), "{engine}");
        assert_eq!(outcome.exit_code(), 3, "{engine}");
        assert_eq!(
            run(engine, RETURNS, RunOptions::new()).unwrap(),
            Outcome::Exit(0)
        );
        let outcome = run(engine, EXITS_IN_START, RunOptions::new()).unwrap();
        assert_eq!(outcome, Outcome::Exit(7), "{engine}");
    }
}

#[test]
fn traps_and_fuel_exit_134() {
    for engine in Engine::ALL {
        let outcome = run(engine, TRAPS, RunOptions::new()).unwrap();
        assert!(
            matches!(&outcome, Outcome::Trap(CallError::Trap(message)) if message.contains("unreachable")),
            "{engine}: {outcome:?}"
        );
        assert_eq!(outcome.exit_code(), TRAP_EXIT_CODE);
        let mut options = RunOptions::new();
        options.fuel(Some(100_000));
        let outcome = run(engine, SPINS, options).unwrap();
        assert_eq!(outcome, Outcome::Trap(CallError::OutOfFuel), "{engine}");
        assert_eq!(outcome.exit_code(), TRAP_EXIT_CODE);
    }
}

#[test]
fn timeouts_exit_124() {
    let limit = Duration::from_millis(200);
    for engine in Engine::ALL {
        let mut options = RunOptions::new();
        options.timeout(Some(limit));
        let outcome = run(engine, SPINS, options).unwrap();
        assert_eq!(outcome, Outcome::Timeout(limit), "{engine}");
        assert_eq!(outcome.exit_code(), TIMEOUT_EXIT_CODE);
        assert_eq!(outcome.to_string(), "timed out after 200ms");
    }
}

#[test]
fn modules_that_cannot_run_are_errors() {
    let needs = r#"(module (import "env" "thing" (func)) (func (export "_start")))"#;
    let library = r#"(module (func (export "run")))"#;
    for engine in Engine::ALL {
        let error = run(engine, needs, RunOptions::new()).unwrap_err();
        assert!(
            matches!(
                &error,
                RunError::Load {
                    source: LoadError::Link(_),
                    ..
                }
            ),
            "{engine}: {error:?}"
        );
        let error = run(engine, library, RunOptions::new()).unwrap_err();
        assert!(
            matches!(error, RunError::NoEntryPoint { .. }),
            "{engine}: {error:?}"
        );
        let mut options = RunOptions::new();
        options.max_functions(Some(0)).engine(engine);
        let error = Runner::new(module(RETURNS), options).unwrap_err();
        assert!(
            matches!(
                &error,
                RunError::Load {
                    source: LoadError::Invalid(_),
                    ..
                }
            ),
            "{engine}: {error:?}"
        );
        let mut options = RunOptions::new();
        options.dir("/definitely/not/here", "/work");
        let error = run(engine, RETURNS, options).unwrap_err();
        assert!(
            matches!(error, RunError::Preopen { .. }),
            "{engine}: {error:?}"
        );
    }
    let error = Module::from_file("/definitely/not/here.wasm").unwrap_err();
    assert!(matches!(error, RunError::Read { .. }), "{error:?}");
    let error = Module::from_bytes("broken.wat", "(module").unwrap_err();
    assert!(matches!(error, RunError::Text { .. }), "{error:?}");
    // What a command line exits with for all of these.
    assert_eq!(ERROR_EXIT_CODE, 2);
}

#[test]
fn devices_are_mounted_for_every_run() {
    let zero = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wadi-devices/drivers/zero.wat"
    );
    for engine in Engine::ALL {
        // Without devices there is no descriptor 3: EBADF.
        assert_eq!(
            run(engine, OPENS_ZERO, RunOptions::new()).unwrap(),
            Outcome::Exit(8)
        );
        let mut devices = Devices::new();
        devices.driver(
            DriverSpec::parse("zero").unwrap(),
            Module::from_file(zero).unwrap(),
        );
        let mut options = RunOptions::new();
        options.engine(engine).devices(devices);
        let runner = Runner::new(module(OPENS_ZERO), options).unwrap();
        // The virtual /dev preopen is descriptor 3, with `zero` in it.
        for _ in 0..2 {
            assert_eq!(runner.run().unwrap(), Outcome::Exit(0), "{engine}");
        }
    }
}

#[test]
fn trace_files_log_every_call() {
    let tmp = tempfile::tempdir().unwrap();
    for engine in Engine::ALL {
        let log = tmp.path().join(format!("{engine}.log"));
        let mut options = RunOptions::new();
        options.arg("a").trace(Trace::File(log.clone()));
        assert_eq!(run(engine, ARGC, options).unwrap(), Outcome::Exit(2));
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(
            log.starts_with("args_sizes_get(") && log.ends_with("proc_exit(2)\n"),
            "{engine}: {log}"
        );
    }
}

/// Exits with `env.add_u64(40, 2)`, after two empty writes to stdout.
const ADDS: &str = r#"
(module
  (import "env" "add_u64" (func $add (param i64 i64) (result i64)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 16)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 16)))
    (call $exit (i32.wrap_i64 (call $add (i64.const 40) (i64.const 2))))))
"#;

/// Counts `fd_write` calls; forwards everything.
struct WriteCounter<S> {
    inner: S,
    writes: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl<S: wasi_core::System> wasi_core::system::Decorator for WriteCounter<S> {
    type Inner = S;

    fn inner(&mut self) -> &mut S {
        &mut self.inner
    }

    fn fd_write(
        &mut self,
        fd: wasi_core::types::Fd,
        iovs: &[std::io::IoSlice<'_>],
    ) -> wasi_core::system::Result<wasi_core::types::Size> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.fd_write(fd, iovs)
    }
}

#[test]
fn embedders_add_imports_and_decorators_without_touching_the_runner() {
    for engine in Engine::ALL {
        let writes = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = std::sync::Arc::clone(&writes);
        let mut options = RunOptions::new();
        options
            .import("env", "add_u64", |_, (a, b): (u64, u64)| Ok(a + b))
            .wrap(move |inner| {
                Box::new(WriteCounter {
                    inner,
                    writes: std::sync::Arc::clone(&counted),
                })
            });
        assert_eq!(
            run(engine, ADDS, options).unwrap(),
            Outcome::Exit(42),
            "{engine}"
        );
        assert_eq!(
            writes.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "{engine}"
        );
        // Without the import the module does not link, with a clear error.
        let error = run(engine, ADDS, RunOptions::new()).unwrap_err();
        assert!(
            matches!(
                error,
                RunError::Load {
                    source: LoadError::Link(_),
                    ..
                }
            ),
            "{engine}: {error:?}"
        );
    }
}

/// A reactor logging the order of its calls in decimal digits: its start
/// function appends 1, `_initialize` 2 (and exits with code 9 when the
/// guest has 3 arguments after `argv[0]`), the default export 3 and returns
/// the log; `add`, `scale`, `spin` and `trap` are for `invoke`.
const REACTOR: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $log (mut i32) (i32.const 0))
  (func $append (param i32) (global.set $log (i32.add (i32.mul (global.get $log) (i32.const 10)) (local.get 0))))
  (func $start (call $append (i32.const 1)))
  (start $start)
  (func (export "_initialize")
    ;; As wasi-libc's: initializing twice is a bug.
    (if (i32.ne (global.get $log) (i32.const 1)) (then unreachable))
    (call $append (i32.const 2))
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 4)) (then (call $exit (i32.const 9)))))
  (func (export "") (result i32) (call $append (i32.const 3)) (global.get $log))
  (func (export "add") (param i32 i64) (result i64 i32)
    (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)) (global.get $log))
  (func (export "scale") (param f32 f64) (result f64)
    (f64.mul (f64.promote_f32 (local.get 0)) (local.get 1)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "trap") unreachable))
"#;

/// Runs `text` on `engine` with `args` after `argv[0]`, invoking `invoke`
/// if given: how it ended and the main function's results.
fn call(
    engine: Engine,
    text: &str,
    invoke: Option<&str>,
    args: &[&str],
    limits: impl FnOnce(&mut RunOptions),
) -> Result<(Outcome, Vec<Val>), RunError> {
    let mut options = RunOptions::new();
    options.engine(engine).args(args);
    if let Some(name) = invoke {
        options.invoke(name);
    }
    limits(&mut options);
    Runner::new(module(text), options)?.run_with_results()
}

#[test]
fn reactors_initialize_then_run_their_default_export() {
    for engine in Engine::ALL {
        // The start function, `_initialize`, then `""`, whose result is returned.
        let ran = call(engine, REACTOR, None, &[], |_| {}).unwrap();
        assert_eq!(ran, (Outcome::Exit(0), vec![Val::I32(123)]), "{engine}");
        // The guest's arguments are its argv, not the default export's.
        let ran = call(engine, REACTOR, None, &["a", "b"], |_| {}).unwrap();
        assert_eq!(ran, (Outcome::Exit(0), vec![Val::I32(123)]), "{engine}");
        // proc_exit in `_initialize` ends the run: nothing else is called.
        let ran = call(engine, REACTOR, None, &["a", "b", "c"], |_| {}).unwrap();
        assert_eq!(ran, (Outcome::Exit(9), vec![]), "{engine}");
        // A command with `_initialize` too: both, in that order.
        let both = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $log (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $log (i32.const 4)))
  (func (export "_start") (call $exit (i32.add (global.get $log) (i32.const 1)))))
"#;
        let ran = call(engine, both, None, &[], |_| {}).unwrap();
        assert_eq!(ran, (Outcome::Exit(5), vec![]), "{engine}");
    }
}

#[test]
fn invoke_parses_arguments_by_type_and_returns_results() {
    for engine in Engine::ALL {
        let ran = call(engine, REACTOR, Some("add"), &["-2", "0x10"], |_| {}).unwrap();
        assert_eq!(
            ran,
            (Outcome::Exit(0), vec![Val::I64(14), Val::I32(12)]),
            "{engine}"
        );
        let ran = call(engine, REACTOR, Some("scale"), &["1.5", "-4"], |_| {}).unwrap();
        assert_eq!(
            ran,
            (Outcome::Exit(0), vec![Val::F64((-6f64).to_bits())]),
            "{engine}"
        );
        assert_eq!(ran.1[0].to_string(), "-6");
        // `--invoke _initialize` calls it once (twice traps).
        let ran = call(engine, REACTOR, Some("_initialize"), &[], |_| {}).unwrap();
        assert_eq!(ran, (Outcome::Exit(0), vec![]), "{engine}");
    }
}

#[test]
fn invoked_functions_trap_and_run_out_of_fuel_and_time() {
    for engine in Engine::ALL {
        let (outcome, results) = call(engine, REACTOR, Some("trap"), &[], |_| {}).unwrap();
        assert_eq!(outcome.exit_code(), TRAP_EXIT_CODE, "{engine}: {outcome:?}");
        assert!(results.is_empty());
        let fuel = |options: &mut RunOptions| {
            options.fuel(Some(100_000));
        };
        let (outcome, _) = call(engine, REACTOR, Some("spin"), &[], fuel).unwrap();
        assert_eq!(outcome, Outcome::Trap(CallError::OutOfFuel), "{engine}");
        let limit = Duration::from_millis(200);
        let timeout = |options: &mut RunOptions| {
            options.timeout(Some(limit));
        };
        let (outcome, _) = call(engine, REACTOR, Some("spin"), &[], timeout).unwrap();
        assert_eq!(outcome, Outcome::Timeout(limit), "{engine}");
        // And `_initialize` is under the same limits.
        let spins =
            r#"(module (func (export "_initialize") (loop $l (br $l))) (func (export "")))"#;
        let (outcome, _) = call(engine, spins, None, &[], timeout).unwrap();
        assert_eq!(outcome, Outcome::Timeout(limit), "{engine}");
    }
}

#[test]
fn entry_points_are_checked_before_the_module_runs() {
    for engine in Engine::ALL {
        // The start function would exit 7: the refusal comes first.
        for (invoke, args, message) in [
            (
                Some("add"),
                &["1"][..],
                r#"m.wat: cannot call "add": it takes 2 arguments (i32, i64), 1 given"#,
            ),
            (
                Some("missing"),
                &[],
                r#"m.wat: cannot call "missing": the module exports nothing of that name"#,
            ),
            (
                Some("memory"),
                &[],
                r#"m.wat: cannot call "memory": it is a memory, not a function"#,
            ),
        ] {
            let text = REACTOR.replace(
                "(func $start (call $append (i32.const 1)))",
                "(func $start (call $exit (i32.const 7)))",
            );
            let error = call(engine, &text, invoke, args, |_| {}).unwrap_err();
            assert_eq!(error.to_string(), message, "{engine}");
        }
        let simd = r#"(module (func (export "") (param v128)))"#;
        let error = call(engine, simd, None, &[], |_| {}).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"m.wat: cannot call "": it takes or returns a v128; only i32, i64, f32 and f64 can be passed and printed"#,
            "{engine}"
        );
        let refs = r#"(module (func (export "f") (result externref) (ref.null extern)))"#;
        let error = call(engine, refs, Some("f"), &[], |_| {}).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"m.wat: cannot call "f": it takes or returns a (ref null extern); only i32, i64, f32 and f64 can be passed and printed"#,
            "{engine}"
        );
    }
}
