//! `wasirun run` on Daku programs (modules importing `daku.ar`,
//! spec/daku.md): options, exit codes and traps, on both engines.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn wasirun(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasirun runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Logs a line, writes storage file `f`, shows a 1x1 frame and reads a
/// console line (command 20), which it logs; then exits with the number
/// of channels its first two calls reported (4).
const PROGRAM: &str = r#"
(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; records: log, storage OPEN, storage WRITE, frame, console
  (data (i32.const 0x100)
    "\00\00\00\00\01\00\00\00\13\00\00\00\00\10\00\00"
    "\00\00\00\00\02\00\00\00\28\00\00\00\40\10\00\00"
    "\02\00\00\00\02\00\00\00\28\00\00\00\60\10\00\00"
    "\00\00\00\00\03\00\00\00\23\00\00\00\80\10\00\00"
    "\00\00\00\00\04\00\00\00\14\00\00\00\a0\10\00\00")
  ;; log the console line, then exit with the code at 0x21C
  (data (i32.const 0x200)
    "\01\00\00\00\01\00\00\00\13\00\00\00\c0\10\00\00"
    "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  ;; Print { which 0, level INFO, set_name 0, text "hello from daku" }
  (data (i32.const 0x1000) "\00\00\02\00\0f\00\00\00\00\20\00\00")
  (data (i32.const 0x2000) "hello from daku")
  ;; Storage OPEN "f" CREATE; WRITE "abc" at 0
  (data (i32.const 0x1040) "\00\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\01\00\00\00\10\20\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 0x1060) "\02\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\03\00\00\00\11\20\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 0x2010) "fabc")
  ;; Frame 1x1 RGBA, one red pixel
  (data (i32.const 0x1080) "\01\00\01\00\00\00\00\00\04\00\00\00\20\20\00\00")
  (data (i32.const 0x2020) "\ff\00\00\ff")
  ;; console Text: capacity 64 at 0x3000
  (data (i32.const 0x10a0) "\40\00\00\00\00\30\00\00")
  ;; Print of the console line
  (data (i32.const 0x10c0) "\00\00\02\00")
  (func (export "_start")
    ;; The console line may come within the first call or the second.
    (i32.store (i32.const 0x21c)
      (i32.add
        (call $ar (i32.const 5) (i32.const 0x100) (i32.const 0x800))
        (call $ar (i32.const 0) (i32.const 0) (i32.const 0x800))))
    (i64.store (i32.const 0x10c4) (i64.load (i32.const 0x10a0)))
    (drop (call $ar (i32.const 2) (i32.const 0x200) (i32.const 0x800)))))
"#;

#[test]
fn a_daku_program_runs_with_its_options_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("app.wat");
    std::fs::write(&module, PROGRAM).unwrap();
    for engine in ENGINES {
        let storage = dir.path().join(engine).join("storage");
        let output = dir.path().join(engine).join("out");
        std::fs::create_dir_all(&storage).unwrap();
        std::fs::create_dir_all(&output).unwrap();
        let log = dir.path().join(engine).join("log");
        let out = wasirun(
            &[
                "run",
                "--runtime",
                engine,
                "--daku-log",
                path(&log),
                "--daku-storage",
                path(&storage),
                "--daku-output",
                path(&output),
                "--daku-allow",
                "storage",
                path(&module),
            ],
            b"typed line\n",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{engine}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "daku[0] log0 INFO: hello from daku\ndaku[0] log0 INFO: typed line\n",
            "{engine}"
        );
        assert_eq!(std::fs::read(storage.join("f")).unwrap(), b"abc");
        let png = std::fs::read(output.join("frame-0-0-000000.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}

#[test]
fn a_daku_trap_is_one_line_and_exit_code_134() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("bad.wat");
    // Sends on channel 3, which is not open.
    std::fs::write(
        &module,
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\03\00\00\00\03\00\00\00\00\00\00\00\40\00\00\00")
  (func (export "_start") (drop (call $ar (i32.const 1) (i32.const 0) (i32.const 128)))))"#,
    )
    .unwrap();
    for engine in ENGINES {
        let out = wasirun(&["run", "--runtime", engine, path(&module)], b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(134), "{engine}: {stderr}");
        assert!(
            stderr.contains("daku.ar: record 0: channel 3 is not open"),
            "{engine}: {stderr}"
        );
    }
    // An unknown grant is a usage error, and so are WASI's options.
    let out = wasirun(&["run", "--daku-allow", "nope", path(&module)], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = wasirun(&["run", "--dir", ".", path(&module)], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--dir does not apply to a Daku program"),
        "{stderr}"
    );
    // And Daku's options are refused for a WASI command.
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.wat");
    let out = wasirun(&["run", "--daku-log", "log.txt", path(&hello)], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--daku-log applies only to Daku programs"),
        "{stderr}"
    );
}

#[test]
fn the_console_at_end_of_input_is_size_0_and_null() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("eof.wat");
    // Reads a console line into 16 bytes at 0x100 and exits with
    // size + 10 * (data != 0): 0 at end of input.
    std::fs::write(
        &module,
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\00\00\00\00\01\00\00\00\14\00\00\00\40\00\00\00")
  (data (i32.const 0x40) "\10\00\00\00\00\01\00\00")
  (func (export "_start")
    (if (i32.ne (call $ar (i32.const 1) (i32.const 0) (i32.const 0x200)) (i32.const 1))
      (then unreachable))
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (i32.store (i32.const 24) (i32.const 0))
    (i32.store (i32.const 28)
      (i32.add (i32.load (i32.const 0x40))
        (i32.mul (i32.const 10) (i32.ne (i32.load (i32.const 0x44)) (i32.const 0)))))
    (drop (call $ar (i32.const 1) (i32.const 16) (i32.const 0x200)))))"#,
    )
    .unwrap();
    for engine in ENGINES {
        let out = wasirun(&["run", "--runtime", engine, path(&module)], b"");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A line of 3 bytes fits: size 3, data kept.
        let out = wasirun(&["run", "--runtime", engine, path(&module)], b"abc\n");
        assert_eq!(out.status.code(), Some(13), "{engine}");
    }
}

/// Waits for one channel in `ar` with the records at 0x100, then exits 0;
/// `data` holds the records and what they need.
fn waiting_program(data: &str) -> String {
    format!(
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  {data}
  (func (export "_start")
    (drop (call $ar (i32.const 1) (i32.const 0x100) (i32.const 0x800)))))"#
    )
}

#[test]
fn a_daku_run_past_its_timeout_exits_124_whatever_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let spinning = wat::parse_str(
        r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (loop $spin (br $spin))))"#,
    )
    .unwrap();
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("\\{b:02x}")).collect() };
    let le = |words: &[u32]| -> String {
        hex(&words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>())
    };
    // Spawns the spinning child on channel 1 (Task at 0x200), or reads a
    // console line on channel 1 (Text at 0x200) that never comes.
    let child = waiting_program(&format!(
        "(data (i32.const 0x100) \"{}\") (data (i32.const 0x200) \"{}\") (data (i32.const 0x1000) \"{}\")",
        le(&[0, 1, 17, 0x200]),
        le(&[spinning.len() as u32, 0x1000, 4, 0x300]),
        hex(&spinning)
    ));
    let console = waiting_program(&format!(
        "(data (i32.const 0x100) \"{}\") (data (i32.const 0x200) \"{}\")",
        le(&[0, 1, 20, 0x200]),
        le(&[64, 0x400])
    ));
    for (what, wat) in [("a spinning child", child), ("a console line", console)] {
        let module = dir.path().join("wait.wat");
        std::fs::write(&module, wat).unwrap();
        for engine in ENGINES {
            let start = std::time::Instant::now();
            let mut run = Command::new(env!("CARGO_BIN_EXE_wasirun"))
                .args(["run", "--runtime", engine, "--timeout", "1s"])
                .args(["--daku-allow", "spawn", path(&module)])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Standard input stays open: no line, and no end of input.
            let stdin = run.stdin.take();
            let out = run.wait_with_output().unwrap();
            drop(stdin);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(124), "{engine}, {what}: {stderr}");
            assert!(
                stderr.contains("timed out after 1s"),
                "{engine}, {what}: {stderr}"
            );
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{engine}, {what}: {:?}",
                start.elapsed()
            );
        }
    }
}
