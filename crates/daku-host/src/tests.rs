//! Every rule of `spec/daku.md`, pinned by Daku programs in WAT, on both
//! engines.

use crate::abi::{DENIED, STATUS_TRAPPED, STATUS_UNLOADABLE, UNSUPPORTED};
use crate::charge::{CHANNEL_BYTES, LOG_NAME_BYTES};
use crate::loader::{TaskEnd, run_task_then};
use crate::options::DakuOptions;
use crate::program::main_task;
use crate::run_state::RunState;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasi_core::budget::HostBudget;
use wasi_core::outcome::Outcome;
use wasi_core::runtime::{CallError, Runtime, RuntimeConfig};
use wasi_unix::IoBackend;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

/// The engines the tests run on (the crate itself names none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Wasmtime,
    Wasmi,
}

impl Engine {
    const ALL: [Engine; 2] = [Engine::Wasmtime, Engine::Wasmi];

    /// The name its runtime gives (`Runtime::engine_name`).
    fn name(self) -> &'static str {
        match self {
            Engine::Wasmtime => "wasmtime",
            Engine::Wasmi => "wasmi",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `wasm` as the main task of `run` on `runtime`, then `after` on the
/// memory it left.
fn run_main<R: Runtime, T>(
    runtime: &R,
    run: &Arc<RunState>,
    wasm: &[u8],
    after: impl FnOnce(&[u8]) -> T,
) -> Result<(TaskEnd, T), String> {
    assert_eq!(runtime.engine_name(), run.engine);
    run_task_then(runtime, wasm, main_task(runtime, Arc::clone(run)), after)
}

/// [`run_main`] on `engine`'s runtime under `config`.
fn run_main_on<T>(
    engine: Engine,
    config: RuntimeConfig,
    run: &Arc<RunState>,
    wasm: &[u8],
    after: impl FnOnce(&[u8]) -> T,
) -> Result<(TaskEnd, T), String> {
    match engine {
        Engine::Wasmtime => run_main(&WasmtimeRuntime::new(config).unwrap(), run, wasm, after),
        Engine::Wasmi => run_main(&WasmiRuntime::new(config), run, wasm, after),
    }
}

/// A log that the test reads back.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How a run ended, the memory it left and what it logged.
struct Run {
    end: TaskEnd,
    memory: Vec<u8>,
    log: String,
}

impl Run {
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.memory[at..at + 4].try_into().unwrap())
    }

    fn exit(&self) -> u32 {
        match &self.end {
            TaskEnd::Exit(code) => *code,
            other => panic!("expected an exit, got {other:?}"),
        }
    }

    fn trap(&self) -> String {
        match &self.end {
            TaskEnd::Trap(CallError::Trap(msg)) => msg.clone(),
            other => panic!("expected a trap, got {other:?}"),
        }
    }
}

fn run_on(engine: Engine, wasm: &[u8], options: DakuOptions) -> Result<Run, String> {
    let log = Log::default();
    let module = Path::new("test.wasm");
    let run = RunState::new(engine.name(), None, module, options, Box::new(log.clone()));
    let (end, memory) = run_main_on(engine, RuntimeConfig::new(), &run, wasm, <[u8]>::to_vec)?;
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    Ok(Run { end, memory, log })
}

/// Runs `wat` on both engines, checking each run with `check`.
fn both(wat: &str, options: impl Fn() -> DakuOptions, check: impl Fn(Engine, &Run)) {
    let wasm = wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
    for engine in Engine::ALL {
        let run = run_on(engine, &wasm, options()).unwrap();
        check(engine, &run);
    }
}

/// Little-endian `u32`s as a WAT string.
fn le(words: &[u32]) -> String {
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

/// Bytes as a WAT string.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A Daku program: `data` segments, then `_start` running `body`. Helpers:
/// `(call $ar N AT)` runs N records at AT with the done list at 0x8000 and
/// stores the result at 0; `(call $exit CODE)` exits.
fn program(data: &str, body: &str) -> String {
    format!(
        r#"(module
  (import "daku" "ar" (func $daku (param i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  {data}
  (func $ar (param $n i32) (param $at i32)
    (i32.store (i32.const 0) (call $daku (local.get $n) (local.get $at) (i32.const 0x8000))))
  (func $exit (param $code i32)
    (i32.store (i32.const 0x7F00) (i32.const 0))
    (i32.store (i32.const 0x7F04) (i32.const 0))
    (i32.store (i32.const 0x7F08) (i32.const 0))
    (i32.store (i32.const 0x7F0C) (local.get $code))
    (drop (call $daku (i32.const 1) (i32.const 0x7F00) (i32.const 0x8000))))
  (func (export "_start") {body}))"#
    )
}

/// A data segment of records `(channel, new, which, data)` at `at`.
fn records(at: u32, list: &[(u32, u32, u32, u32)]) -> String {
    let words: Vec<u32> = list.iter().flat_map(|&(c, n, w, d)| [c, n, w, d]).collect();
    format!("(data (i32.const {at}) \"{}\")", le(&words))
}

#[test]
fn system_commands_complete_at_once_in_order() {
    let data = records(
        0x100,
        &[
            (0, 1, 0, 0x1000),
            (0, 2, 1, 0x1004),
            (0, 3, 3, 0x1008),
            (0, 4, 7, 0x100C),
            (0, 5, 10, 0x1010),
            (0, 6, 9, 0x1014),
            (0, 7, 5, 0x1020),
            (0, 8, 4, 0x1030),
        ],
    ) + &format!("(data (i32.const 0x1000) \"{}\")", le(&[9; 8]))
        + &format!("(data (i32.const 0x1030) \"{}\")", le(&[0]));
    both(
        &program(&data, "(call $ar (i32.const 8) (i32.const 0x100))"),
        DakuOptions::new,
        |engine, run| {
            assert_eq!(run.exit(), 0);
            assert_eq!(run.u32(0), 8);
            let done: Vec<u32> = (0..8).map(|i| run.u32(0x8000 + 4 * i)).collect();
            assert_eq!(done, [1, 2, 3, 4, 5, 6, 7, 8]);
            assert_eq!(run.u32(0x1000), 0, "Wasm");
            assert_eq!(run.u32(0x1004), 1, "Ref32");
            assert_eq!(run.u32(0x1008), 0, "Off");
            assert_eq!(run.u32(0x100C), 0, "Linux");
            assert_eq!(
                run.u32(0x1010),
                if engine == Engine::Wasmtime { 0 } else { 2 }
            );
            // The date is this century's, its fields in range.
            let date = &run.memory[0x1020..0x1028];
            let year = u16::from_le_bytes([date[0], date[1]]);
            assert!((2024..2200).contains(&year), "{year}");
            assert!((1..=12).contains(&date[2]));
            assert!((1..=7).contains(&(date[3] >> 5)) && (1..=31).contains(&(date[3] & 31)));
            assert!(date[4] < 24 && date[5] < 60);
            assert!(u16::from_le_bytes([date[6], date[7]]) <= 60_999);
        },
    );
}

#[test]
fn variable_length_receive_reports_the_size_needed() {
    // Command 2 into 4 bytes: too small. Then again on the channel with room.
    let data = records(0x100, &[(0, 1, 2, 0x1000)])
        + &records(0x200, &[(1, 1, 2, 0x1000)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[4, 0x2000]));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0x1000)))
        (i32.store (i32.const 0x14) (i32.load (i32.const 0x1004)))
        (i32.store (i32.const 0x18) (i32.load (i32.const 0x2000)))
        (i32.store (i32.const 0x1000) (i32.const 1000))
        (i32.store (i32.const 0x1004) (i32.const 0x2000))
        (call $ar (i32.const 1) (i32.const 0x200))";
    both(&program(&data, body), DakuOptions::new, |engine, run| {
        let text = crate::info::cpu_extensions(engine.name());
        assert_eq!(run.u32(0x10), text.len() as u32, "size needed");
        assert_eq!(run.u32(0x14), 0, "data NULL");
        assert_eq!(run.u32(0x18), 0, "nothing written");
        assert_eq!(run.u32(0), 1);
        assert_eq!(run.u32(0x1000), text.len() as u32);
        assert_eq!(run.u32(0x1004), 0x2000);
        assert_eq!(&run.memory[0x2000..0x2000 + text.len()], text.as_bytes());
    });
}

#[test]
fn exit_record_ends_the_program_with_its_code() {
    // The exit comes second; the third record would trap if it were read.
    let data = records(0x100, &[(0, 1, 0, 0x1000), (0, 0, 0, 7), (9, 9, 0, 0)]);
    both(
        &program(
            &data,
            "(call $ar (i32.const 3) (i32.const 0x100)) (unreachable)",
        ),
        DakuOptions::new,
        |_, run| {
            assert_eq!(run.exit(), 7);
            assert_eq!(run.u32(0x1000), 0, "the record before the exit ran");
        },
    );
    // Returning from the entry point is exit code 0; `run` is an entry point.
    let wat = r#"(module (import "daku" "ar" (func (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1) (func (export "run")))"#;
    both(wat, DakuOptions::new, |_, run| assert_eq!(run.exit(), 0));
}

#[test]
fn nothing_pending_returns_at_once_with_nothing() {
    let data = records(0x100, &[(0, 1, 0, 0x1000)]);
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0)))
        (call $ar (i32.const 0) (i32.const 0))";
    both(&program(&data, body), DakuOptions::new, |_, run| {
        assert_eq!(run.u32(0x10), 1);
        assert_eq!(run.u32(0), 0, "reported once, then not ready");
    });
}

#[test]
fn channels_are_renamed_and_closed() {
    let data = records(0x100, &[(0, 5, 0, 0x1000)])
        + &records(0x200, &[(5, 6, 0, 0x1004), (6, 0, 0, 0)])
        + &records(0x300, &[(0, 5, 1, 0x1008), (5, 7, 1, 0x100C)]);
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (call $ar (i32.const 2) (i32.const 0x200))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0)))
        (call $ar (i32.const 2) (i32.const 0x300))";
    both(&program(&data, body), DakuOptions::new, |_, run| {
        assert_eq!(run.u32(0x10), 0, "renamed then closed: not reported");
        assert_eq!(run.u32(0x1004), 0, "the send on the renamed channel ran");
        assert_eq!(run.u32(0), 1, "id 5 reopened, renamed to 7, reported once");
        assert_eq!(run.u32(0x8000), 7);
        assert_eq!(run.u32(0x100C), 1);
    });
}

#[test]
fn unknown_and_absent_commands_are_refused_observably() {
    // 99 (unknown), 26 (keyboard: absent headless), 33 (audio without an
    // output directory), 18 (no parent), 11 (not granted), then 0.
    let data = records(
        0x100,
        &[
            (0, 1, 99, 0x1000),
            (0, 1, 26, 0x1000),
            (0, 1, 33, 0x1000),
            (0, 1, 18, 0x1000),
            (0, 1, 11, 0x1000),
            (0, 1, 40, 0x1000),
            (0, 1, 0, 0x1000),
        ],
    );
    both(
        &program(&data, "(call $ar (i32.const 7) (i32.const 0x100))"),
        DakuOptions::new,
        |_, run| {
            let which: Vec<u32> = (0..7).map(|i| run.u32(0x108 + 16 * i)).collect();
            assert_eq!(
                which,
                [
                    UNSUPPORTED,
                    UNSUPPORTED,
                    UNSUPPORTED,
                    UNSUPPORTED,
                    DENIED,
                    UNSUPPORTED,
                    0
                ]
            );
            assert_eq!(run.u32(0), 1, "only the last opened channel 1");
            assert_eq!(run.u32(0x8000), 1);
        },
    );
}

fn assert_trap(data: &str, body: &str, expected: &str) {
    let wat = program(data, body);
    let wasm = wat::parse_str(&wat).unwrap();
    for engine in Engine::ALL {
        let run = run_on(engine, &wasm, DakuOptions::new()).unwrap();
        let message = run.trap();
        assert!(
            message.contains(expected),
            "{engine}: {message:?} lacks {expected:?}"
        );
        // Engines add a backtrace; the host's message is one line of it.
        assert!(
            message.lines().any(|line| line.contains(expected)),
            "{engine}: {message:?}"
        );
    }
}

#[test]
fn malformed_calls_and_records_trap_with_one_line() {
    let open = records(0x100, &[(0, 1, 0, 0x1000), (0, 1, 0, 0x1000)]);
    assert_trap(
        &open,
        "(call $ar (i32.const 2) (i32.const 0x100))",
        "daku.ar: record 1: channel 1 is already open",
    );
    let rename = records(
        0x100,
        &[(0, 1, 0, 0x1000), (0, 2, 0, 0x1000), (1, 2, 0, 0x1000)],
    );
    assert_trap(
        &rename,
        "(call $ar (i32.const 3) (i32.const 0x100))",
        "daku.ar: record 2: channel 2 is already open",
    );
    let closed = records(0x100, &[(3, 3, 0, 0x1000)]);
    assert_trap(
        &closed,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "daku.ar: record 0: channel 3 is not open",
    );
    let mismatch = records(0x100, &[(0, 1, 0, 0x1000), (1, 1, 1, 0x1000)]);
    assert_trap(
        &mismatch,
        "(call $ar (i32.const 2) (i32.const 0x100))",
        "channel 1 carries command 0, not 1",
    );
    let reserved = records(0x100, &[(0, 0, 0, 0xFFFF_FFFE)]);
    assert_trap(
        &reserved,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "exit codes 0xFFFFFFFE and 0xFFFFFFFF are reserved",
    );
    let exit = records(0x100, &[(0, 0, 3, 0)]);
    assert_trap(
        &exit,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "exit record with which != 0",
    );
    let payload = records(0x100, &[(0, 1, 0, 0xFFFF_FFFE)]);
    assert_trap(
        &payload,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "daku.ar: record 0: payload out of bounds",
    );
    let overclock = records(0x100, &[(0, 1, 4, 0x1000)]) + "(data (i32.const 0x1000) \"\\01\")";
    assert_trap(
        &overclock,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "Overclock must be 0",
    );
    // The command list and the done list.
    assert_trap(
        "",
        "(drop (call $daku (i32.const 2) (i32.const 0x10FFF0) (i32.const 0)))",
        "daku.ar: command list out of bounds",
    );
    assert_trap(
        "",
        "(drop (call $daku (i32.const 65537) (i32.const 0) (i32.const 0)))",
        "daku.ar: too many records",
    );
    let one = records(0x100, &[(0, 1, 0, 0x1000)]);
    assert_trap(
        &one,
        "(drop (call $daku (i32.const 1) (i32.const 0x100) (i32.const 0x10FFFE)))",
        "daku.ar: done list out of bounds",
    );
}

#[test]
fn a_trap_leaves_the_earlier_records_done() {
    let data = records(0x100, &[(0, 1, 0, 0x1000), (7, 7, 0, 0)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[9]));
    both(
        &program(&data, "(call $ar (i32.const 2) (i32.const 0x100))"),
        DakuOptions::new,
        |_, run| {
            assert!(run.trap().contains("record 1: channel 7 is not open"));
            assert_eq!(run.u32(0x1000), 0);
        },
    );
}

#[test]
fn the_done_list_is_truncated_at_16384() {
    // 16385 records opening channels 1..=16385 for command 0, built in a
    // loop at 0x10000; all write to 0x1000.
    let body = "(local $i i32)
        (loop $fill
          (i32.store (i32.add (i32.const 0x10000) (i32.shl (local.get $i) (i32.const 4))) (i32.const 0))
          (i32.store (i32.add (i32.const 0x10004) (i32.shl (local.get $i) (i32.const 4))) (i32.add (local.get $i) (i32.const 1)))
          (i32.store (i32.add (i32.const 0x10008) (i32.shl (local.get $i) (i32.const 4))) (i32.const 0))
          (i32.store (i32.add (i32.const 0x1000C) (i32.shl (local.get $i) (i32.const 4))) (i32.const 0x1000))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $fill (i32.lt_u (local.get $i) (i32.const 16385))))
        (call $ar (i32.const 16385) (i32.const 0x10000))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0)))
        (i32.store (i32.const 0x14) (i32.load (i32.const 0x8000)))
        (i32.store (i32.const 0x18) (i32.load (i32.const 0x17FFC)))
        (call $ar (i32.const 0) (i32.const 0))";
    both(&program("", body), DakuOptions::new, |_, run| {
        assert_eq!(run.u32(0x10), 16384);
        assert_eq!(
            (run.u32(0x14), run.u32(0x18)),
            (1, 16384),
            "in the order they became ready"
        );
        assert_eq!(run.u32(0), 1, "the rest come next");
        assert_eq!(run.u32(0x8000), 16385);
    });
}

#[test]
fn modules_importing_more_than_daku_are_refused() {
    let wat = r#"(module (import "daku" "ar" (func (param i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
        (memory (export "memory") 1) (func (export "_start")))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let error = run_on(Engine::Wasmi, &wasm, DakuOptions::new())
        .err()
        .unwrap();
    assert_eq!(
        error,
        "a Daku program may import only daku.ar, not wasi_snapshot_preview1.proc_exit"
    );
    let wat = r#"(module (import "daku" "ar" (func (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1) (func (export "main")))"#;
    let error = run_on(
        Engine::Wasmi,
        &wat::parse_str(wat).unwrap(),
        DakuOptions::new(),
    )
    .err()
    .unwrap();
    assert_eq!(error, "a Daku program must export `_start` or `run`");
}

/// A `Print` record at `at` with `text` stored at `text_at`.
fn print(at: u32, which: u16, level: u8, set_name: bool, text_at: u32, text: &str) -> String {
    let mut bytes = which.to_le_bytes().to_vec();
    bytes.extend([level, u8::from(set_name)]);
    bytes.extend((text.len() as u32).to_le_bytes());
    bytes.extend(text_at.to_le_bytes());
    format!(
        "(data (i32.const {at}) \"{}\") (data (i32.const {text_at}) \"{}\")",
        hex(&bytes),
        hex(text.as_bytes())
    )
}

#[test]
fn log_names_levels_and_escapes() {
    let data = records(
        0x100,
        &[
            (0, 1, 19, 0x1000),
            (1, 1, 19, 0x1010),
            (1, 1, 19, 0x1020),
            (1, 1, 19, 0x1030),
        ],
    ) + &print(0x1000, 0, 0b0011, false, 0x2000, "hello\tworld")
        + &print(0x1010, 2, 0b1100_0000, true, 0x2100, "net")
        + &print(0x1020, 2, 0b1111, false, 0x2200, "up")
        + &print(0x1030, 2, 0b0001, false, 0x2300, "hidden");
    both(
        &program(&data, "(call $ar (i32.const 4) (i32.const 0x100))"),
        DakuOptions::new,
        |_, run| {
            assert_eq!(
                run.log,
                "daku[0] log0 DEBUG: hello\\x09world\ndaku[0] log0 INFO: hello\\x09world\n\
             daku[0] net WARNING: up\ndaku[0] net ERROR: up\n"
            );
            assert_eq!(run.u32(0), 1);
        },
    );
    let bad = records(0x100, &[(0, 1, 19, 0x1000)]) + &print(0x1000, 0, 0x10, false, 0x2000, "x");
    assert_trap(
        &bad,
        "(call $ar (i32.const 1) (i32.const 0x100))",
        "enabled levels (bits 4-7) given without set_name",
    );
}

fn granted(grants: &str, dir: &Path) -> DakuOptions {
    let mut options = DakuOptions::new();
    options.grants = grants.parse().unwrap();
    options.profile = Some(dir.join("profile"));
    options.storage = Some(dir.join("storage"));
    options.output = Some(dir.join("out"));
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    options
}

#[test]
fn user_setters_write_the_profile_not_the_system() {
    let dir = tempfile::tempdir().unwrap();
    // Set the name and languages, then read them back (in a second call).
    let data = records(0x100, &[(0, 1, 14, 0x1000), (0, 2, 16, 0x1010)])
        + &records(0x200, &[(0, 3, 11, 0x1020), (0, 4, 13, 0x1030)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[3, 0x2000]))
        + "(data (i32.const 0x2000) \"ada\")"
        + &format!("(data (i32.const 0x1010) \"{}\")", le(&[2, 0x2100]))
        + "(data (i32.const 0x2100) \"eoXXenGB\")"
        + &format!("(data (i32.const 0x1020) \"{}\")", le(&[16, 0x3000]))
        + &format!("(data (i32.const 0x1030) \"{}\")", le(&[1, 0x3100]));
    let body =
        "(call $ar (i32.const 2) (i32.const 0x100)) (call $ar (i32.const 2) (i32.const 0x200))";
    both(
        &program(&data, body),
        || granted("user", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0x1020), 3);
            assert_eq!(&run.memory[0x3000..0x3003], b"ada");
            assert_eq!(
                (run.u32(0x1030), run.u32(0x1034)),
                (2, 0),
                "one entry of room for two"
            );
            let profile = std::fs::read_to_string(dir.path().join("profile")).unwrap();
            assert_eq!(profile, "username=ada\nlanguages=eoXX,enGB\n");
        },
    );
    let bad = records(0x100, &[(0, 1, 16, 0x1000)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[1, 0x2000]))
        + "(data (i32.const 0x2000) \"EnUS\")";
    let wasm = wat::parse_str(program(&bad, "(call $ar (i32.const 1) (i32.const 0x100))")).unwrap();
    let run = run_on(Engine::Wasmi, &wasm, granted("user", dir.path())).unwrap();
    assert!(
        run.trap()
            .contains("a Language is two letters a-z then two A-Z")
    );
}

/// A `Storage` record.
fn storage_op(op: u32, flags: u32, offset: u64, size: u32, data: u32) -> Vec<u32> {
    vec![
        op,
        flags,
        offset as u32,
        (offset >> 32) as u32,
        size,
        data,
        99,
        0,
    ]
}

#[test]
fn storage_files_are_sandboxed_and_batched() {
    let dir = tempfile::tempdir().unwrap();
    granted("", dir.path());
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("storage/escape")).unwrap();
    let mut words = Vec::new();
    words.extend(storage_op(0, 1, 0, 5, 0x2000)); // 0x1000: OPEN notes CREATE
    words.extend(storage_op(2, 0, 0, 11, 0x2010)); // 0x1020: WRITE
    words.extend(storage_op(1, 0, 6, 64, 0x2100)); // 0x1040: READ at 6
    words.extend(storage_op(3, 0, 0, 0, 0)); // 0x1060: LENGTH
    words.extend(storage_op(0, 0, 0, 2, 0x2020)); // 0x1080: OPEN ".."
    words.extend(storage_op(1, 0, 0, 4, 0x2200)); // 0x10A0: READ without a file
    words.extend(storage_op(0, 0, 0, 6, 0x2030)); // 0x10C0: OPEN "escape"
    words.extend(storage_op(0, 0, 0, 4, 0x2040)); // 0x10E0: OPEN "none"
    let data = records(
        0x100,
        &[
            (0, 1, 40, 0x1000),
            (1, 1, 40, 0x1020),
            (1, 1, 40, 0x1040),
            (1, 1, 40, 0x1060),
            (0, 2, 40, 0x1080),
            (2, 2, 40, 0x10A0),
            (2, 2, 40, 0x10C0),
            (2, 2, 40, 0x10E0),
            (0, 3, 41, 0x1100),
        ],
    ) + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"notes\") (data (i32.const 0x2010) \"hello world\")"
        + "(data (i32.const 0x2020) \"..\") (data (i32.const 0x2030) \"escape\") (data (i32.const 0x2040) \"none\")"
        + &format!("(data (i32.const 0x1100) \"{}\")", le(&[5, 0x2000, 99]));
    // With `preadv`/`pwritev` (the default), then on io_uring.
    for io in [IoBackend::Auto, IoBackend::Uring] {
        let options = || DakuOptions {
            io,
            ..granted("storage", dir.path())
        };
        both(
            &program(&data, "(call $ar (i32.const 9) (i32.const 0x100))"),
            options,
            |_, run| {
                let status = |at: usize| run.u32(at + 24);
                assert_eq!(status(0x1000), 0);
                assert_eq!((status(0x1020), run.u32(0x1020 + 16)), (0, 11));
                assert_eq!((status(0x1040), run.u32(0x1040 + 16)), (0, 5));
                assert_eq!(&run.memory[0x2100..0x2105], b"world");
                assert_eq!((status(0x1060), run.u32(0x1060 + 8)), (0, 11));
                assert_eq!(status(0x1080), 3, "BAD_NAME");
                assert_eq!(status(0x10A0), 4, "NOT_OPEN");
                assert_eq!(status(0x10C0), 3, "a symbolic link is not followed");
                assert_eq!(status(0x10E0), 1, "NOT_FOUND");
                assert_eq!(run.u32(0x1108), 0, "shared");
                assert_eq!(
                    std::fs::read(dir.path().join("out/notes")).unwrap(),
                    b"hello world"
                );
                assert_eq!(run.u32(0), 3);
            },
        );
    }
    // Without the grant: DENIED.
    let data = records(0x100, &[(0, 1, 40, 0x1000)]);
    both(
        &program(&data, "(call $ar (i32.const 1) (i32.const 0x100))"),
        || granted("", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0x108), DENIED);
        },
    );
}

#[test]
fn storage_files_past_the_runs_descriptors_give_io() {
    // Three channels each OPEN a file, with room for two descriptors: the
    // third gives IO. Closing a channel gives its descriptor back, and an
    // OPEN then succeeds (spec §1.8).
    let dir = tempfile::tempdir().unwrap();
    let mut words = Vec::new();
    for name in [0x2000, 0x2010, 0x2020, 0x2020] {
        words.extend(storage_op(0, 1, 0, 1, name));
    }
    let data = records(
        0x100,
        &[(0, 1, 40, 0x1000), (0, 2, 40, 0x1020), (0, 3, 40, 0x1040)],
    ) + &records(0x180, &[(1, 0, 0, 0), (0, 4, 40, 0x1060)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"a\") (data (i32.const 0x2010) \"b\") (data (i32.const 0x2020) \"c\")";
    let body =
        "(call $ar (i32.const 3) (i32.const 0x100)) (call $ar (i32.const 2) (i32.const 0x180))";
    both(
        &program(&data, body),
        || DakuOptions {
            fds: wasi_unix::FdPool::with_share(2),
            ..granted("storage", dir.path())
        },
        |_, run| {
            let status = |at: usize| run.u32(at + 24);
            assert_eq!((status(0x1000), status(0x1020)), (0, 0));
            assert_eq!(status(0x1040), 5, "IO: no descriptor left");
            assert_eq!(
                status(0x1060),
                0,
                "the closed channel's descriptor came back"
            );
        },
    );
}

#[test]
fn audio_goes_to_wav_and_frames_to_png() {
    let dir = tempfile::tempdir().unwrap();
    let data = records(
        0x100,
        &[
            (0, 1, 33, 0x1000),
            (1, 1, 33, 0x1000),
            (0, 2, 35, 0x1010),
            (2, 2, 35, 0x1010),
        ],
    ) + &format!(
        "(data (i32.const 0x1000) \"{}\")",
        le(&[8000, 2, 4, 0x2000])
    ) + &format!(
        "(data (i32.const 0x2000) \"{}\")",
        le(&[0x0002_0001, 0x0004_0003])
    ) + &format!(
        "(data (i32.const 0x1010) \"{}\")",
        le(&[0x0001_0002, 0, 8, 0x3000])
    ) + "(data (i32.const 0x3000) \"\\ff\\00\\00\\ff\\00\\ff\\00\\80\")";
    both(
        &program(&data, "(call $ar (i32.const 4) (i32.const 0x100))"),
        || granted("", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0), 2);
        },
    );
    let out = dir.path().join("out");
    // Each run numbers its channels from 0: the second engine's run
    // replaced the first one's files with the same content.
    let wav = std::fs::read(out.join("audio-0-0.wav")).unwrap();
    assert_eq!(wav.len(), 44 + 16);
    assert_eq!(&wav[44..52], &[1, 0, 2, 0, 3, 0, 4, 0]);
    assert_eq!(&wav[52..], &[1, 0, 2, 0, 3, 0, 4, 0]);
    for seq in 0..2 {
        let png = std::fs::read(out.join(format!("frame-0-0-00000{seq}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[16..24], &[0, 0, 0, 2, 0, 0, 0, 1], "2x1");
    }
    let bad = records(0x100, &[(0, 1, 35, 0x1000)])
        + &format!(
            "(data (i32.const 0x1000) \"{}\")",
            le(&[0x0001_0002, 0, 7, 0x3000])
        );
    let wasm = wat::parse_str(program(&bad, "(call $ar (i32.const 1) (i32.const 0x100))")).unwrap();
    let run = run_on(Engine::Wasmi, &wasm, granted("", dir.path())).unwrap();
    assert!(
        run.trap()
            .contains("pixels.size must be width * height * 4")
    );
}

/// A child that connects with a 4-byte region at 0x300 and sends
/// `messages` messages, each its counter, checking that the reply is the
/// counter plus one; then runs `end`.
fn child(messages: u32, end: &str) -> Vec<u8> {
    let data = records(0x100, &[(0, 1, 18, 0x200)])
        + &records(0x140, &[(1, 1, 18, 0)])
        + &format!("(data (i32.const 0x200) \"{}\")", le(&[4, 0x300]));
    let body = format!(
        "(local $i i32)
        (call $ar (i32.const 1) (i32.const 0x100))
        (if (i32.ne (i32.load (i32.const 0)) (i32.const 1)) (then unreachable))
        (block $done (loop $send
          (br_if $done (i32.ge_u (local.get $i) (i32.const {messages})))
          (i32.store (i32.const 0x300) (local.get $i))
          (call $ar (i32.const 1) (i32.const 0x140))
          (if (i32.ne (i32.load (i32.const 0)) (i32.const 1)) (then unreachable))
          (if (i32.ne (i32.load (i32.const 0x300)) (i32.add (local.get $i) (i32.const 1))) (then unreachable))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $send)))
        {end}"
    );
    wat::parse_str(program(&data, &body)).unwrap()
}

/// A parent that spawns `child` on channel 1 with a 4-byte region at
/// 0x300, answers each message with its value plus one, and exits with
/// the number of messages once the child ends; the child's status is left
/// in the `Task` record at 0x200.
fn parent(child: &[u8]) -> String {
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[child.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(child));
    let body = "(local $count i32)
        (call $ar (i32.const 1) (i32.const 0x100))
        (loop $wait
          (if (i32.ne (i32.load (i32.const 0)) (i32.const 1)) (then unreachable))
          (if (i32.eqz (i32.load (i32.const 0x204)))
            (then (call $exit (local.get $count))))
          (i32.store (i32.const 0x300) (i32.add (i32.load (i32.const 0x300)) (i32.const 1)))
          (local.set $count (i32.add (local.get $count) (i32.const 1)))
          (call $ar (i32.const 0) (i32.const 0))
          (br $wait))";
    program(&data, body)
}

#[test]
fn a_child_exchanges_ten_thousand_messages_with_its_parent() {
    let child = child(10_000, "");
    let dir = tempfile::tempdir().unwrap();
    both(
        &parent(&child),
        || granted("spawn", dir.path()),
        |_, run| {
            assert_eq!(run.exit(), 10_000);
            assert_eq!(run.u32(0x200), 0, "the child returned: status 0");
        },
    );
}

#[test]
fn the_parent_learns_how_its_child_ended() {
    let dir = tempfile::tempdir().unwrap();
    let options = || granted("spawn", dir.path());
    both(
        &parent(&child(3, "(call $exit (i32.const 42))")),
        options,
        |_, run| {
            assert_eq!(run.exit(), 3);
            assert_eq!(run.u32(0x200), 42);
        },
    );
    both(&parent(&child(2, "(unreachable)")), options, |_, run| {
        assert_eq!(run.exit(), 2);
        assert_eq!(run.u32(0x200), STATUS_TRAPPED);
    });
    both(&parent(b"not wasm"), options, |_, run| {
        assert_eq!(run.exit(), 0);
        assert_eq!(run.u32(0x200), STATUS_UNLOADABLE);
    });
    // Without the grant the spawn is refused.
    both(&parent(b"not wasm").replace("(call $ar (i32.const 1) (i32.const 0x100))\n", &format!("(call $ar (i32.const 1) (i32.const 0x100)) (call $exit (i32.eq (i32.load (i32.const 0x108)) (i32.const {})))\n", DENIED as i32)), DakuOptions::new, |_, run| {
        assert_eq!(run.exit(), 1, "which became DENIED");
    });
}

#[test]
fn a_child_logs_under_its_own_number() {
    let dir = tempfile::tempdir().unwrap();
    let child_data = records(0x100, &[(0, 1, 19, 0x1000)])
        + &print(0x1000, 0, 0b10, false, 0x2000, "from the child");
    let child = wat::parse_str(program(
        &child_data,
        "(call $ar (i32.const 1) (i32.const 0x100))",
    ))
    .unwrap();
    both(
        &parent(&child),
        || granted("spawn", dir.path()),
        |_, run| {
            assert_eq!(run.exit(), 0);
            assert_eq!(run.log, "daku[1] log0 INFO: from the child\n");
        },
    );
}

#[test]
fn time_zone_os_and_user_come_from_the_host() {
    let dir = tempfile::tempdir().unwrap();
    // TimeZone at 0x1000: room for 16 transitions at 0x2000 and 64 leap
    // seconds at 0x3000. OS name and full name into 256 bytes each.
    let data = records(
        0x100,
        &[(0, 1, 6, 0x1000), (0, 2, 8, 0x1100), (0, 3, 12, 0x1200)],
    ) + &format!("(data (i32.const 0x1004) \"{}\")", le(&[16, 0x2000]))
        + &format!("(data (i32.const 0x1014) \"{}\")", le(&[64, 0x3000]))
        + "(data (i32.const 0x101F) \"\\ff\")"
        + &format!("(data (i32.const 0x1100) \"{}\")", le(&[256, 0x4000]))
        + &format!("(data (i32.const 0x1200) \"{}\")", le(&[256, 0x5000]));
    both(
        &program(&data, "(call $ar (i32.const 3) (i32.const 0x100))"),
        || granted("user", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0), 3);
            let deltas = run.u32(0x1004);
            assert!(deltas <= 16 && run.u32(0x1008) == 0x2000, "fits: {deltas}");
            let leaps = run.u32(0x1014);
            assert_eq!(run.u32(0x1018), 0x3000);
            let sum: i16 = (0..leaps as usize)
                .map(|i| i16::from(run.memory[0x3003 + 4 * i] as i8))
                .sum();
            assert_eq!(
                i16::from_le_bytes([run.memory[0x101C], run.memory[0x101D]]),
                sum
            );
            assert!(run.memory[0x101E] <= 1, "is_dst is 0 or 1");
            assert_eq!(run.memory[0x101F], 0, "reserved");
            let os = crate::info::os_name();
            assert_eq!(run.u32(0x1100) as usize, os.len());
            assert_eq!(&run.memory[0x4000..0x4000 + os.len()], os.as_bytes());
            let name = crate::info::system_full_name();
            assert_eq!(run.u32(0x1200) as usize, name.len());
            assert_eq!(&run.memory[0x5000..0x5000 + name.len()], name.as_bytes());
        },
    );
}

/// A child that connects and sends messages forever.
fn chatty_child() -> Vec<u8> {
    let data = records(0x100, &[(0, 1, 18, 0x200)])
        + &records(0x140, &[(1, 1, 18, 0)])
        + &format!("(data (i32.const 0x200) \"{}\")", le(&[4, 0x300]));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (loop $send (call $ar (i32.const 1) (i32.const 0x140)) (br $send))";
    wat::parse_str(program(&data, body)).unwrap()
}

#[test]
fn closing_or_replacing_the_channel_stops_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let options = || granted("spawn", dir.path());
    // The parent takes one message, closes the channel and waits: nothing
    // is pending any more, so `ar` returns 0 at once.
    let chatty = chatty_child();
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &records(0x180, &[(1, 0, 0, 0)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[chatty.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(&chatty));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0)))
        (call $ar (i32.const 1) (i32.const 0x180))
        (call $exit (i32.add (i32.mul (i32.load (i32.const 0x10)) (i32.const 10)) (i32.load (i32.const 0))))";
    both(&program(&data, body), options, |_, run| {
        assert_eq!(run.exit(), 10)
    });
    // The parent replaces the chatty child, after its first message, by one
    // that exits with 9: the record tells the second child's status.
    let quiet = wat::parse_str(program("", "(call $exit (i32.const 9))")).unwrap();
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &records(0x180, &[(1, 1, 17, 0x220)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[chatty.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!(
            "(data (i32.const 0x220) \"{}\")",
            le(&[quiet.len() as u32, 0x30000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(&chatty))
        + &format!("(data (i32.const 0x30000) \"{}\")", hex(&quiet));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (call $ar (i32.const 1) (i32.const 0x180))
        (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 1000)) (i32.load (i32.const 0x220))))";
    both(&program(&data, body), options, |_, run| {
        assert_eq!(
            run.exit(),
            1009,
            "one report: the new child's end, status 9"
        );
    });
}

#[test]
fn a_second_message_in_flight_traps_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let data = records(0x100, &[(0, 1, 18, 0x200)])
        + &records(0x140, &[(1, 1, 18, 0), (1, 1, 18, 0)])
        + &format!("(data (i32.const 0x200) \"{}\")", le(&[4, 0x300]));
    let body =
        "(call $ar (i32.const 1) (i32.const 0x100)) (call $ar (i32.const 2) (i32.const 0x140))";
    let child = wat::parse_str(program(&data, body)).unwrap();
    both(
        &parent(&child),
        || granted("spawn", dir.path()),
        |_, run| {
            assert_eq!(run.exit(), 1, "the first message was sent");
            assert_eq!(run.u32(0x200), STATUS_TRAPPED);
        },
    );
}

#[test]
fn storage_lengths_and_malformed_operations() {
    let dir = tempfile::tempdir().unwrap();
    let mut words = Vec::new();
    words.extend(storage_op(0, 3, 0, 1, 0x2000)); // 0x1000: OPEN "t" CREATE|TRUNCATE
    words.extend(storage_op(2, 0, 0, 8, 0x2010)); // 0x1020: WRITE 8 bytes
    words.extend(storage_op(4, 0, 3, 0, 0)); // 0x1040: SET_LENGTH 3
    words.extend(storage_op(3, 0, 0, 0, 0)); // 0x1060: LENGTH
    words.extend(storage_op(1, 0, 0, 8, 0x2100)); // 0x1080: READ 8 at 0: 3 bytes
    let data = records(
        0x100,
        &[
            (0, 1, 40, 0x1000),
            (1, 1, 40, 0x1020),
            (1, 1, 40, 0x1040),
            (1, 1, 40, 0x1060),
            (1, 1, 40, 0x1080),
        ],
    ) + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"t\") (data (i32.const 0x2010) \"abcdefgh\")";
    both(
        &program(&data, "(call $ar (i32.const 5) (i32.const 0x100))"),
        || granted("storage", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0), 1, "one channel, ready once");
            assert_eq!(
                (run.u32(0x1060 + 8), run.u32(0x1060 + 24)),
                (3, 0),
                "length after SET_LENGTH"
            );
            assert_eq!(run.u32(0x1080 + 16), 3);
            assert_eq!(&run.memory[0x2100..0x2104], b"abc\0");
        },
    );
    let bad = |op: Vec<u32>, expected: &str| {
        let data = records(0x100, &[(0, 1, 40, 0x1000)])
            + &format!("(data (i32.const 0x1000) \"{}\")", le(&op));
        let wasm =
            wat::parse_str(program(&data, "(call $ar (i32.const 1) (i32.const 0x100))")).unwrap();
        for engine in Engine::ALL {
            let run = run_on(engine, &wasm, granted("storage", dir.path())).unwrap();
            assert!(run.trap().contains(expected), "{engine}: {}", run.trap());
        }
    };
    bad(storage_op(5, 0, 0, 0, 0), "unknown storage operation 5");
    bad(storage_op(1, 1, 0, 0, 0), "invalid storage flags");
    bad(storage_op(0, 8, 0, 1, 0x2000), "invalid storage flags");
    let mut reserved = storage_op(3, 0, 0, 0, 0);
    reserved[7] = 1;
    bad(reserved, "reserved must be 0");
}

#[test]
fn every_headless_device_is_unsupported() {
    let numbers: Vec<u32> = (21..=32)
        .chain([34])
        .chain(36..=39)
        .chain(42..=45)
        .chain([1000, u32::MAX])
        .collect();
    let list: Vec<(u32, u32, u32, u32)> = numbers.iter().map(|&n| (0, 1, n, 0x1000)).collect();
    let data = records(0x100, &list);
    let body = format!("(call $ar (i32.const {}) (i32.const 0x100))", numbers.len());
    both(&program(&data, &body), DakuOptions::new, |_, run| {
        for (i, n) in numbers.iter().enumerate() {
            assert_eq!(run.u32(0x108 + 16 * i), UNSUPPORTED, "command {n}");
        }
        assert_eq!(run.u32(0), 0, "no channel opened");
    });
}

#[test]
fn full_name_setter_and_getter_use_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let data = records(0x100, &[(0, 1, 15, 0x1000)])
        + &records(0x200, &[(0, 2, 12, 0x1010)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[12, 0x2000]))
        + "(data (i32.const 0x2000) \"Ada Lovelace\")"
        + &format!("(data (i32.const 0x1010) \"{}\")", le(&[64, 0x3000]));
    let body =
        "(call $ar (i32.const 1) (i32.const 0x100)) (call $ar (i32.const 1) (i32.const 0x200))";
    both(
        &program(&data, body),
        || granted("user", dir.path()),
        |_, run| {
            assert_eq!(run.u32(0x1010), 12);
            assert_eq!(&run.memory[0x3000..0x300C], b"Ada Lovelace");
        },
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("profile")).unwrap(),
        "fullname=Ada Lovelace\n"
    );
    // Control characters are refused.
    let bad = records(0x100, &[(0, 1, 15, 0x1000)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&[2, 0x2000]))
        + "(data (i32.const 0x2000) \"a\\0a\")";
    let wasm = wat::parse_str(program(&bad, "(call $ar (i32.const 1) (i32.const 0x100))")).unwrap();
    let run = run_on(Engine::Wasmtime, &wasm, granted("user", dir.path())).unwrap();
    assert!(
        run.trap().contains("text has control characters"),
        "{}",
        run.trap()
    );
}

#[test]
fn at_most_64_children_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let chatty = chatty_child();
    let list: Vec<(u32, u32, u32, u32)> = (1..=65).map(|id| (0, id, 17, 0x200)).collect();
    let data = records(0x1000, &list)
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[chatty.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(&chatty));
    both(
        &program(&data, "(call $ar (i32.const 65) (i32.const 0x1000))"),
        || granted("spawn", dir.path()),
        |_, run| {
            assert!(
                run.trap()
                    .contains("record 64: too many child tasks running (at most 64 in a run)"),
                "{}",
                run.trap()
            );
        },
    );
}

#[test]
fn batched_operations_see_memory_in_record_order() {
    let dir = tempfile::tempdir().unwrap();
    granted("", dir.path());
    std::fs::write(dir.path().join("storage/a"), b"AAAA").unwrap();
    // Channel 1 opens "a" (the lower descriptor), channel 2 "b"; then one
    // call WRITEs "b" from 0x2010 and READs "a" into the same bytes. The
    // WRITE comes first in the list, so "b" gets "xxxx" and the buffer
    // ends as "AAAA", though the host runs a batch by descriptor.
    let mut words = Vec::new();
    words.extend(storage_op(0, 0, 0, 1, 0x2000)); // 0x1000: OPEN a
    words.extend(storage_op(0, 1, 0, 1, 0x2001)); // 0x1020: OPEN b CREATE
    words.extend(storage_op(2, 0, 0, 4, 0x2010)); // 0x1040: WRITE b
    words.extend(storage_op(1, 0, 0, 4, 0x2010)); // 0x1060: READ a
    let data = records(0x100, &[(0, 1, 40, 0x1000), (0, 2, 40, 0x1020)])
        + &records(0x140, &[(2, 2, 40, 0x1040), (1, 1, 40, 0x1060)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"ab\") (data (i32.const 0x2010) \"xxxx\")";
    let body = "(call $ar (i32.const 2) (i32.const 0x100))
        (call $ar (i32.const 2) (i32.const 0x140))";
    for io in [IoBackend::Sync, IoBackend::Uring] {
        let options = || DakuOptions {
            io,
            ..granted("storage", dir.path())
        };
        both(&program(&data, body), options, |_, run| {
            assert_eq!((run.u32(0x1040 + 24), run.u32(0x1040 + 16)), (0, 4));
            assert_eq!((run.u32(0x1060 + 24), run.u32(0x1060 + 16)), (0, 4));
            assert_eq!(&run.memory[0x2010..0x2014], b"AAAA");
            assert_eq!(
                std::fs::read(dir.path().join("storage/b")).unwrap(),
                b"xxxx"
            );
        });
    }
}

#[test]
fn a_stopped_child_busy_in_its_own_code_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    // Children that never call `ar`: only an interrupt ends them.
    let spinning = wat::parse_str(program("", "(loop $spin (br $spin))")).unwrap();
    let quiet = wat::parse_str(program("", "(call $exit (i32.const 9))")).unwrap();
    // One call: spawn on 1 and close 1; spawn on 2 and replace the child by
    // one exiting with 9, whose end the call waits for.
    let data = records(
        0x100,
        &[
            (0, 1, 17, 0x200),
            (1, 0, 0, 0),
            (0, 2, 17, 0x220),
            (2, 2, 17, 0x240),
        ],
    ) + &format!(
        "(data (i32.const 0x200) \"{}\")",
        le(&[spinning.len() as u32, 0x10000, 4, 0x300])
    ) + &format!(
        "(data (i32.const 0x220) \"{}\")",
        le(&[spinning.len() as u32, 0x10000, 4, 0x300])
    ) + &format!(
        "(data (i32.const 0x240) \"{}\")",
        le(&[quiet.len() as u32, 0x30000, 4, 0x300])
    ) + &format!("(data (i32.const 0x10000) \"{}\")", hex(&spinning))
        + &format!("(data (i32.const 0x30000) \"{}\")", hex(&quiet));
    let body = "(call $ar (i32.const 4) (i32.const 0x100))
        (call $exit (i32.add (i32.mul (i32.load (i32.const 0)) (i32.const 1000)) (i32.load (i32.const 0x240))))";
    let wasm = wat::parse_str(program(&data, body)).unwrap();
    for engine in Engine::ALL {
        let run = RunState::new(
            engine.name(),
            None,
            Path::new("test.wasm"),
            granted("spawn", dir.path()),
            Box::new(Log::default()),
        );
        // While the parent still lives (its channels closed or replaced,
        // not dropped), every child thread must end.
        let threads_ended = |_: &[u8]| {
            let start = std::time::Instant::now();
            while run.children.load(std::sync::atomic::Ordering::Acquire) != 0 {
                if start.elapsed() > std::time::Duration::from_secs(10) {
                    return None;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Some(start.elapsed())
        };
        let (end, waited) =
            run_main_on(engine, RuntimeConfig::new(), &run, &wasm, threads_ended).unwrap();
        assert!(matches!(end, TaskEnd::Exit(1009)), "{engine}: {end:?}");
        assert!(
            waited.is_some(),
            "{engine}: a spinning child kept its thread"
        );
    }
}

#[test]
fn children_run_on_the_programs_runtime_and_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let quiet = wat::parse_str(program("", "(call $exit (i32.const 9))")).unwrap();
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[quiet.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(&quiet));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (call $exit (i32.load (i32.const 0x200)))";
    let wasm = wat::parse_str(program(&data, body)).unwrap();
    let module = Path::new("parent.wat");
    let config = RuntimeConfig::new();
    let cached = WasmtimeRuntime::with_cache_dir(config, dir.path().join("cache")).unwrap();
    let options = || granted("spawn", dir.path());
    let outcome = crate::run(&cached, module, &wasm, options()).unwrap();
    assert_eq!(outcome, Outcome::Exit(9));
    let outcome = crate::run(&WasmiRuntime::new(config), module, &wasm, options()).unwrap();
    assert_eq!(outcome, Outcome::Exit(9));
}

#[test]
fn children_run_under_the_programs_limits() {
    // A child spinning forever runs out of the program's fuel: it traps,
    // and the parent, which has fuel left, goes on.
    let spinning = wat::parse_str(program("", "(loop $l (br $l))")).unwrap();
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[spinning.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(&spinning));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (call $exit (i32.eq (i32.load (i32.const 0x200)) (i32.const -1)))";
    let wasm = wat::parse_str(program(&data, body)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        fuel: Some(50_000_000),
        ..RuntimeConfig::new()
    };
    let module = Path::new("parent.wat");
    for engine in Engine::ALL {
        let options = granted("spawn", dir.path());
        let outcome = match engine {
            Engine::Wasmtime => crate::run(
                &WasmtimeRuntime::new(config).unwrap(),
                module,
                &wasm,
                options,
            ),
            Engine::Wasmi => crate::run(&WasmiRuntime::new(config), module, &wasm, options),
        }
        .unwrap();
        assert_eq!(outcome, Outcome::Exit(1), "{engine}");
    }
}

#[test]
fn a_child_with_a_start_function_is_refused() {
    // Its start function would run before the child could be stopped:
    // the child ends as unloadable, and the parent goes on.
    let spinning_start = program("(start $spin) (func $spin (loop $l (br $l)))", "");
    let child = wat::parse_str(spinning_start).unwrap();
    let dir = tempfile::tempdir().unwrap();
    both(
        &parent(&child),
        || granted("spawn", dir.path()),
        |_, run| {
            assert_eq!(run.exit(), 0);
            assert_eq!(run.u32(0x200), STATUS_UNLOADABLE);
        },
    );
}

/// A program that spawns `child` on channel 1 (region: 4 bytes at 0x300),
/// waits for it in `ar`, then exits with 0.
fn waits_for(child: &[u8]) -> Vec<u8> {
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[child.len() as u32, 0x10000, 4, 0x300])
        )
        + &format!("(data (i32.const 0x10000) \"{}\")", hex(child));
    let body = "(call $ar (i32.const 1) (i32.const 0x100)) (call $exit (i32.const 0))";
    wat::parse_str(program(&data, body)).unwrap()
}

#[test]
fn the_time_limit_ends_the_run_whatever_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = std::time::Duration::from_secs(1);
    let config = RuntimeConfig {
        timeout: Some(timeout),
        ..RuntimeConfig::new()
    };
    let spinning = wat::parse_str(program("", "(loop $spin (br $spin))")).unwrap();
    let ms = std::time::Duration::from_millis;
    // What the main program does, and how late past the deadline the run
    // may end.
    let cases = [
        // It waits in `ar` for a child spinning forever.
        ("a spinning child", waits_for(&spinning), ms(300)),
        // ... for a child waiting in `ar` for a spinning grandchild.
        ("a waiting child", waits_for(&waits_for(&spinning)), ms(300)),
        // It spins itself: the engine stops it. (wasmtime counts 10 ms
        // epoch ticks, which a loaded machine makes longer: up to 1.3 s
        // for 1 s seen with the other tests running.)
        ("its own loop", spinning.clone(), ms(1000)),
    ];
    for (what, wasm, late) in &cases {
        for engine in Engine::ALL {
            let run = RunState::new(
                engine.name(),
                config.timeout,
                Path::new("test.wasm"),
                granted("spawn", dir.path()),
                Box::new(Log::default()),
            );
            let start = std::time::Instant::now();
            let (end, ()) = run_main_on(engine, config, &run, wasm, |_| ()).unwrap();
            let took = start.elapsed();
            assert!(
                matches!(end, TaskEnd::Trap(CallError::Timeout)),
                "{engine}, {what}: {end:?}"
            );
            // The deadline counts from the instantiation, after compiling.
            assert!(
                timeout <= took && took < timeout + *late,
                "{engine}, {what}: the run took {took:?}"
            );
            // Every child was stopped: their threads end soon after.
            let stopping = std::time::Instant::now();
            while run.children.load(std::sync::atomic::Ordering::Acquire) != 0 {
                assert!(
                    stopping.elapsed() < std::time::Duration::from_secs(1),
                    "{engine}, {what}: a child outlived the run"
                );
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
    // Through `run`: the timeout outcome (exit code 124), not a trap.
    for engine in Engine::ALL {
        let options = granted("spawn", dir.path());
        let module = Path::new("main.wat");
        let outcome = match engine {
            Engine::Wasmtime => crate::run(
                &WasmtimeRuntime::new(config).unwrap(),
                module,
                &cases[0].1,
                options,
            ),
            Engine::Wasmi => crate::run(&WasmiRuntime::new(config), module, &cases[0].1, options),
        }
        .unwrap();
        assert_eq!(outcome, Outcome::Timeout(timeout), "{engine}");
        assert_eq!(outcome.exit_code(), 124);
    }
}

#[test]
fn an_ar_call_after_the_deadline_ends_the_task() {
    // The program's own code runs past the deadline on wasmi between fuel
    // slices only, so this is checked on the task: with the clock started
    // and the limit 0, the first `ar` call ends it.
    let wasm = wat::parse_str(program("", "(call $exit (i32.const 7))")).unwrap();
    for engine in Engine::ALL {
        let run = RunState::new(
            engine.name(),
            Some(std::time::Duration::ZERO),
            Path::new("test.wasm"),
            DakuOptions::new(),
            Box::new(Log::default()),
        );
        let (end, ()) = run_main_on(engine, RuntimeConfig::new(), &run, &wasm, |_| ()).unwrap();
        assert!(
            matches!(end, TaskEnd::Trap(CallError::Timeout)),
            "{engine}: {end:?}"
        );
    }
}

#[test]
fn outputs_never_follow_a_symbolic_link() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let names = ["notes", "audio-0-0.wav", "frame-0-0-000000.png"];
    // Before each engine's run: each output's name in the output
    // directory is a link out of it, to a file that exists or to none.
    let options = || {
        let options = granted("storage", dir.path());
        let out = dir.path().join("out");
        for (i, name) in names.iter().enumerate() {
            let target = outside.join(format!("target-{i}"));
            std::fs::write(&target, b"keep").unwrap();
            let _ = std::fs::remove_file(out.join(name));
            std::os::unix::fs::symlink(&target, out.join(name)).unwrap();
        }
        let _ = std::fs::remove_file(out.join("frame-0-0-000001.png"));
        std::os::unix::fs::symlink(outside.join("none"), out.join("frame-0-0-000001.png")).unwrap();
        options
    };
    let mut words = storage_op(0, 1, 0, 5, 0x2000); // 0x1000: OPEN notes CREATE
    words.extend(storage_op(2, 0, 0, 5, 0x2010)); // 0x1020: WRITE "hello"
    let data = records(
        0x100,
        &[
            (0, 1, 40, 0x1000),
            (1, 1, 40, 0x1020),
            (0, 2, 41, 0x1100),
            (0, 3, 33, 0x1200),
            (0, 4, 35, 0x1210),
            (4, 4, 35, 0x1210),
        ],
    ) + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"notes\") (data (i32.const 0x2010) \"hello\")"
        + &format!("(data (i32.const 0x1100) \"{}\")", le(&[5, 0x2000, 99]))
        + &format!(
            "(data (i32.const 0x1200) \"{}\")",
            le(&[8000, 1, 2, 0x2100])
        )
        + &format!(
            "(data (i32.const 0x1210) \"{}\")",
            le(&[0x0001_0001, 0, 4, 0x2200])
        );
    both(
        &program(&data, "(call $ar (i32.const 6) (i32.const 0x100))"),
        options,
        |engine, run| {
            assert_eq!(run.u32(0x1108), 0, "{engine}: shared");
            for i in 0..names.len() {
                let target = outside.join(format!("target-{i}"));
                assert_eq!(std::fs::read(target).unwrap(), b"keep", "{engine}");
            }
            assert!(!outside.join("none").exists(), "{engine}");
            let out = dir.path().join("out");
            for name in names.iter().chain(&["frame-0-0-000001.png"]) {
                let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
                assert!(meta.file_type().is_file(), "{engine}: {name}");
            }
            assert_eq!(std::fs::read(out.join("notes")).unwrap(), b"hello");
            assert_eq!(
                std::fs::read(out.join("audio-0-0.wav")).unwrap().len(),
                44 + 4
            );
            // Only the outputs: no temporary file is left behind.
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4, "{engine}");
        },
    );
}

/// [`program`] with a memory of 4 GiB, 65536 pages.
fn program_4gib(data: &str, body: &str) -> String {
    program(data, body).replace(
        "(memory (export \"memory\") 17)",
        "(memory (export \"memory\") 65536)",
    )
}

#[test]
fn buffers_ending_at_4_gib_do_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let mut words = storage_op(0, 1, 0, 3, 0x2000); // 0x1000: OPEN big CREATE
    words.extend(storage_op(2, 0, 0, 0x10000, 0xFFFF_0000)); // 0x1020: WRITE the last 64 KiB
    words.extend(storage_op(2, 0, 0x20000, 4, 0)); // 0x1040: WRITE the first 4 bytes
    words.extend(storage_op(1, 0, 0, 0x10000, 0xFFFF_0000)); // 0x1060: READ them back
    words.extend(storage_op(2, 0, 0x10000, 0x10000, 0xFFFF_0000)); // 0x1080: WRITE again
    words.extend(storage_op(3, 0, 0, 0, 0)); // 0x10A0: LENGTH
    let data = records(
        0x100,
        &[(0, 1, 40, 0x1000), (1, 1, 40, 0x1020), (1, 1, 40, 0x1040)],
    ) + &records(0x140, &[(1, 1, 40, 0x1060)])
        + &records(0x180, &[(1, 1, 40, 0x1080), (1, 1, 40, 0x10A0)])
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2000) \"big\")";
    // The last 64 KiB: 0x5A, ending in "ABCD" at 2^32 - 4.
    let body = "(memory.fill (i32.const 0xFFFF0000) (i32.const 0x5A) (i32.const 0x10000))
        (i32.store (i32.const 0xFFFFFFFC) (i32.const 0x44434241))
        (call $ar (i32.const 3) (i32.const 0x100))
        (memory.fill (i32.const 0xFFFF0000) (i32.const 0) (i32.const 0x10000))
        (call $ar (i32.const 1) (i32.const 0x140))
        (call $ar (i32.const 2) (i32.const 0x180))";
    let wasm = wat::parse_str(program_4gib(&data, body)).unwrap();
    let mut pattern = vec![0x5A; 0x10000];
    pattern[0xFFFC..].copy_from_slice(b"ABCD");
    for engine in Engine::ALL {
        let run = RunState::new(
            engine.name(),
            None,
            Path::new("test.wasm"),
            granted("storage", dir.path()),
            Box::new(Log::default()),
        );
        // The memory seen afterwards stops a byte short of 4 GiB (a `u32`
        // length); the last byte is checked through the file.
        let (end, (records, tail)) =
            run_main_on(engine, RuntimeConfig::new(), &run, &wasm, |memory| {
                (
                    memory[0x1000..0x10C0].to_vec(),
                    memory[0xFFFF_0000..].to_vec(),
                )
            })
            .unwrap();
        assert!(matches!(end, TaskEnd::Exit(0)), "{engine}: {end:?}");
        let field = |at: usize| u32::from_le_bytes(records[at..at + 4].try_into().unwrap());
        for (record, size) in [(0x20, 0x10000), (0x40, 4), (0x60, 0x10000), (0x80, 0x10000)] {
            assert_eq!(
                (field(record + 24), field(record + 16)),
                (0, size),
                "{engine}: the record at {:#x}",
                0x1000 + record
            );
        }
        assert_eq!(field(0xA0 + 8), 0x20004, "{engine}: the file's length");
        assert_eq!(tail, pattern[..0xFFFF], "{engine}: read back");
        let file = std::fs::read(dir.path().join("storage/big")).unwrap();
        assert_eq!(file[..0x10000], pattern, "{engine}: written");
        assert_eq!(file[0x10000..0x20000], pattern, "{engine}: read back whole");
    }
    // Past the end: the payload trap, never a host panic. (Each run costs
    // wasmi 4 GiB of RAM and seconds: it zero-fills its memory when it
    // makes it; wasmtime maps it lazily.)
    let beyond = |record: String, storage: Vec<u32>| {
        records(0x100, &[(0, 1, 40, 0x1000), (1, 1, 40, 0x1020)])
            + &format!(
                "(data (i32.const 0x1000) \"{}\")",
                le(&storage_op(0, 1, 0, 3, 0x2000))
            )
            + "(data (i32.const 0x2000) \"big\")"
            + &format!("(data (i32.const 0x1020) \"{}\")", le(&storage))
            + &record
    };
    let cases = [
        // A READ or WRITE one byte too long, or starting one byte late.
        beyond(String::new(), storage_op(1, 0, 0, 0x10001, 0xFFFF_0000)),
        beyond(String::new(), storage_op(2, 0, 0, 0x10000, 0xFFFF_0001)),
        // A `Storage` record whose last bytes lie past the end.
        records(0x100, &[(0, 1, 40, 0xFFFF_FFF0)]),
        // A `Print` whose `Text` would be at 2^32.
        records(0x100, &[(0, 1, 19, 0xFFFF_FFFC)]),
    ];
    for data in &cases {
        let body = "(call $ar (i32.const 2) (i32.const 0x100))";
        let body = if data.contains("0x1020") {
            body.to_owned()
        } else {
            body.replace("i32.const 2", "i32.const 1")
        };
        let wasm = wat::parse_str(program_4gib(data, &body)).unwrap();
        for engine in Engine::ALL {
            let run = RunState::new(
                engine.name(),
                None,
                Path::new("test.wasm"),
                granted("storage", dir.path()),
                Box::new(Log::default()),
            );
            let (end, ()) = run_main_on(engine, RuntimeConfig::new(), &run, &wasm, |_| ()).unwrap();
            let TaskEnd::Trap(CallError::Trap(message)) = &end else {
                panic!("{engine}: {end:?}\n{data}");
            };
            assert!(
                message.contains("payload out of bounds"),
                "{engine}: {message}\n{data}"
            );
        }
    }
}

/// Options granting `grants` (as [`granted`]) under a budget of host
/// memory of `limit` bytes, which the test keeps to look at.
fn budgeted(grants: &str, dir: &Path, limit: u64) -> (DakuOptions, HostBudget) {
    let mut options = granted(grants, dir);
    options.budget = HostBudget::new(limit);
    let budget = options.budget.clone();
    (options, budget)
}

/// [`program`] with a memory of `pages` pages.
fn program_pages(pages: u32, data: &str, body: &str) -> String {
    program(data, body).replace(
        "(memory (export \"memory\") 17)",
        &format!("(memory (export \"memory\") {pages})"),
    )
}

#[test]
fn a_spawn_past_the_runs_host_memory_traps() {
    let dir = tempfile::tempdir().unwrap();
    // A module of 1 MiB (zeros: it would not load) under a budget of 512
    // KiB: the copy is refused before it is made.
    let data = records(0x100, &[(0, 1, 17, 0x200)])
        + &format!(
            "(data (i32.const 0x200) \"{}\")",
            le(&[1 << 20, 0x1000, 4, 0x300])
        );
    let wat = program(&data, "(call $ar (i32.const 1) (i32.const 0x100))");
    let wasm = wat::parse_str(&wat).unwrap();
    for engine in Engine::ALL {
        let (options, budget) = budgeted("spawn", dir.path(), 512 << 10);
        let run = run_on(engine, &wasm, options).unwrap();
        let trap = run.trap();
        assert!(
            trap.lines().any(|line| line.contains(
                "daku.ar: record 0: host memory limit reached: the module needs 1048576 bytes, \
                 523968 of 524288 left"
            )),
            "{engine}: {trap}"
        );
        assert_eq!(budget.used(), 0, "{engine}: all given back");
        // Under a budget that holds it, the spawn goes on: the child
        // cannot be loaded, and its copy is given back.
        let (options, budget) = budgeted("spawn", dir.path(), 2 << 20);
        let run = run_on(engine, &wasm, options).unwrap();
        assert_eq!(run.exit(), 0, "{engine}");
        assert_eq!(run.u32(0x200), STATUS_UNLOADABLE, "{engine}");
        assert_eq!(budget.used(), 0, "{engine}");
    }
}

/// A child that connects with a region of `size` bytes at 0x10000 (its
/// memory is 4 MiB), sends one message holding 7 and exits 0 if the reply
/// (7 + 1, from [`parent`]) landed there.
fn child_with_region(size: u32) -> Vec<u8> {
    let data = records(0x100, &[(0, 1, 18, 0x200)])
        + &records(0x140, &[(1, 1, 18, 0)])
        + &format!("(data (i32.const 0x200) \"{}\")", le(&[size, 0x10000]))
        + &format!("(data (i32.const 0x10000) \"{}\")", le(&[7]));
    let body = "(call $ar (i32.const 1) (i32.const 0x100))
        (call $ar (i32.const 1) (i32.const 0x140))
        (call $exit (i32.ne (i32.load (i32.const 0x10000)) (i32.const 8)))";
    wat::parse_str(program_pages(64, &data, body)).unwrap()
}

#[test]
fn a_message_past_the_runs_host_memory_traps_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let child = child_with_region(2 << 20);
    let wasm = wat::parse_str(parent(&child)).unwrap();
    for engine in Engine::ALL {
        // The child's 2 MiB message does not fit in 1 MiB: the child
        // traps at its send, and the parent sees no message.
        let (options, budget) = budgeted("spawn", dir.path(), 1 << 20);
        let run = run_on(engine, &wasm, options).unwrap();
        assert_eq!(run.exit(), 0, "{engine}: no message came");
        assert_eq!(run.u32(0x200), STATUS_TRAPPED, "{engine}");
        assert_eq!(budget.used(), 0, "{engine}: all given back");
        // In 4 MiB it fits (the module's copy is given back once
        // compiled); the reply comes back in the message's buffer.
        let (options, budget) = budgeted("spawn", dir.path(), 4 << 20);
        let run = run_on(engine, &wasm, options).unwrap();
        assert_eq!(run.exit(), 1, "{engine}: one message");
        assert_eq!(run.u32(0x200), 0, "{engine}: the reply landed");
        assert_eq!(budget.used(), 0, "{engine}: all given back");
    }
}

#[test]
fn channels_past_the_runs_host_memory_trap() {
    let dir = tempfile::tempdir().unwrap();
    // 256 channels of 320 bytes fill 80 KiB: the 257th open traps.
    // Closing them and opening 256 others charges nothing more.
    let open = |first: u32| -> Vec<(u32, u32, u32, u32)> {
        (first..first + 256).map(|id| (0, id, 0, 0x6000)).collect()
    };
    let close: Vec<(u32, u32, u32, u32)> = (1..=256).map(|id| (id, 0, 0, 0)).collect();
    let data = records(0x1000, &open(1))
        + &records(0x2000, &close)
        + &records(0x3000, &open(1001))
        + &records(0x5000, &[(0, 5000, 0, 0x6000)]);
    let body = "(call $ar (i32.const 256) (i32.const 0x1000))
        (call $ar (i32.const 256) (i32.const 0x2000))
        (call $ar (i32.const 256) (i32.const 0x3000))
        (i32.store (i32.const 0x10) (i32.load (i32.const 0)))
        (call $ar (i32.const 1) (i32.const 0x5000))";
    let wasm = wat::parse_str(program(&data, body)).unwrap();
    for engine in Engine::ALL {
        let (options, budget) = budgeted("", dir.path(), 256 * CHANNEL_BYTES);
        let run = run_on(engine, &wasm, options).unwrap();
        let trap = run.trap();
        assert!(
            trap.lines().any(|line| line.contains(
                "daku.ar: record 0: host memory limit reached: channel 5000 needs 320 bytes, \
                 0 of 81920 left"
            )),
            "{engine}: {trap}"
        );
        assert_eq!(run.u32(0x10), 256, "{engine}: the second 256 opened");
        assert_eq!(budget.used(), 0, "{engine}: given back when the task ended");
    }
}

#[test]
fn log_names_are_charged_and_log_text_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // A text of 256 KiB, tabs among its letters, logged in full under a
    // budget that holds one channel and two names; the third name traps.
    let text: String = (0..256 << 10)
        .map(|i| if i % 1000 == 999 { '\t' } else { 'a' })
        .collect();
    let data = records(
        0x100,
        &[
            (0, 1, 19, 0x1000),
            (1, 1, 19, 0x1010),
            (1, 1, 19, 0x1000),
            (1, 1, 19, 0x1020),
            (1, 1, 19, 0x1030),
        ],
    ) + &print(0x1000, 0, 0b0001_0000, true, 0x2000, "zero")
        + &print(0x1010, 1, 0b0010_0000, true, 0x2100, "one")
        + &print(0x1020, 1, 0b0010, false, 0x10000, &text)
        + &print(0x1030, 2, 0b0001_0000, true, 0x2200, "two");
    let wasm =
        wat::parse_str(program(&data, "(call $ar (i32.const 5) (i32.const 0x100))")).unwrap();
    let escaped = text.replace('\t', "\\x09");
    for engine in Engine::ALL {
        let (options, budget) = budgeted("", dir.path(), CHANNEL_BYTES + 2 * LOG_NAME_BYTES);
        let run = run_on(engine, &wasm, options).unwrap();
        let trap = run.trap();
        assert!(
            trap.lines().any(|line| line.contains(
                "daku.ar: record 4: host memory limit reached: log 2's name needs 160 bytes, \
                 0 of 640 left"
            )),
            "{engine}: {trap}"
        );
        assert!(
            run.log == format!("daku[0] one INFO: {escaped}\n"),
            "{engine}"
        );
        assert_eq!(budget.used(), 0, "{engine}");
    }
}

#[test]
fn a_storage_batch_the_budget_cannot_grow_runs_sooner() {
    let dir = tempfile::tempdir().unwrap();
    // 200 one-byte WRITEs at adjacent offsets, in one call, under a budget
    // of one channel: the batch never grows past 64 operations, and every
    // byte lands as if it had.
    let mut words = storage_op(0, 3, 0, 1, 0x2F00); // 0x1000: OPEN "w" CREATE|TRUNCATE
    let mut list = vec![(0, 1, 40, 0x1000)];
    for i in 0..200u32 {
        words.extend(storage_op(2, 0, u64::from(i), 1, 0x3000 + i));
        list.push((1, 1, 40, 0x1020 + 32 * i));
    }
    let bytes: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(3)).collect();
    let data = records(0x100, &list)
        + &format!("(data (i32.const 0x1000) \"{}\")", le(&words))
        + "(data (i32.const 0x2F00) \"w\")"
        + &format!("(data (i32.const 0x3000) \"{}\")", hex(&bytes));
    let wasm = wat::parse_str(program(
        &data,
        "(call $ar (i32.const 201) (i32.const 0x100))",
    ))
    .unwrap();
    for engine in Engine::ALL {
        for io in [IoBackend::Sync, IoBackend::Uring, IoBackend::Auto] {
            let (mut options, budget) = budgeted("storage", dir.path(), CHANNEL_BYTES);
            options.io = io;
            let run = run_on(engine, &wasm, options).unwrap();
            assert_eq!(run.exit(), 0, "{engine} {io:?}");
            assert_eq!(run.u32(0), 1, "{engine} {io:?}: one channel ready");
            for i in 0..200 {
                let record = 0x1020 + 32 * i;
                assert_eq!(run.u32(record + 16), 1, "{engine} {io:?}: size of {i}");
                assert_eq!(run.u32(record + 24), 0, "{engine} {io:?}: status of {i}");
            }
            let file = std::fs::read(dir.path().join("storage/w")).unwrap();
            assert_eq!(file, bytes, "{engine} {io:?}");
            assert_eq!(budget.used(), 0, "{engine} {io:?}");
        }
    }
}
