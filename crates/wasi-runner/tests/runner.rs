//! Runs through the library API on both engines: outcomes and exit codes
//! (exit, trap, fuel, timeout), load errors, devices, tracing, and a runner
//! run more than once.

use std::time::Duration;
use wasi_runner::{
    CallError, Devices, DriverSpec, ERROR_EXIT_CODE, Engine, LoadError, Module, Outcome, RunError,
    RunOptions, Runner, TIMEOUT_EXIT_CODE, TRAP_EXIT_CODE, Trace,
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
            matches!(error, RunError::NoStart { .. }),
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
