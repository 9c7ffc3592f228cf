//! `wasirun run` on Daku programs (modules importing `daku.ar`,
//! spec/daku.md): options, exit codes and traps, on both engines.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn wasirun(args: &[&str], stdin: &[u8]) -> Output {
    wasirun_with_stdin(args, Some(stdin))
}

/// Runs wasirun with `stdin` as its standard input, or with `None` a pipe
/// that stays open and empty until it exits: its console reads stay
/// pending (and charged) for as long as it runs.
fn wasirun_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wasirun runs");
    let mut pipe = child.stdin.take().unwrap();
    match stdin {
        Some(bytes) => {
            // The child may end before it reads its input (a record past
            // the budget traps first): its output tells what it did.
            if let Err(error) = pipe.write_all(bytes) {
                assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
            }
            drop(pipe);
            child.wait_with_output().unwrap()
        }
        None => {
            let out = child.wait_with_output().unwrap();
            drop(pipe);
            out
        }
    }
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

/// Little-endian `u32`s as a WAT string.
fn le(words: &[u32]) -> String {
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

#[test]
fn max_host_memory_is_the_runs_budget_and_past_it_a_record_traps() {
    let dir = tempfile::tempdir().unwrap();
    // Spawns a module of 1 MiB (zeros) on channel 1: its copy is charged.
    let spawn = dir.path().join("spawn.wat");
    std::fs::write(
        &spawn,
        waiting_program(&format!(
            "(data (i32.const 0x100) \"{}\") (data (i32.const 0x200) \"{}\")",
            le(&[0, 1, 17, 0x200]),
            le(&[1 << 20, 0, 4, 0x300])
        ))
        .replace(
            "(memory (export \"memory\") 2)",
            "(memory (export \"memory\") 17)",
        ),
    )
    .unwrap();
    // Asks for two console lines at once: each read is charged 192 KiB.
    let console = dir.path().join("console.wat");
    std::fs::write(
        &console,
        format!(
            r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "{}")
  (data (i32.const 0x200) "{}")
  (func (export "_start")
    (drop (call $ar (i32.const 2) (i32.const 0x100) (i32.const 0x800)))))"#,
            le(&[0, 1, 20, 0x200, 0, 2, 20, 0x208]),
            le(&[64, 0x400, 64, 0x500])
        ),
    )
    .unwrap();
    for engine in ENGINES {
        let run_with = |args: &[&str], module: &Path, stdin: Option<&[u8]>| {
            let mut all = vec!["run", "--runtime", engine, "--daku-allow", "spawn"];
            all.extend_from_slice(args);
            all.push(path(module));
            let out = wasirun_with_stdin(&all, stdin);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status.code(), stderr)
        };
        let run = |args: &[&str], module: &Path| run_with(args, module, Some(b"one\ntwo\n"));
        let (code, stderr) = run(&["--max-host-memory", "512K"], &spawn);
        assert_eq!(code, Some(134), "{engine}: {stderr}");
        assert!(
            stderr.contains(
                "daku.ar: record 0: host memory limit reached: the module needs 1048576 bytes, \
                 523968 of 524288 left"
            ),
            "{engine}: {stderr}"
        );
        // In 2 MiB the spawn goes on (the child cannot be loaded).
        let (code, stderr) = run(&["--max-host-memory", "2M"], &spawn);
        assert_eq!(code, Some(0), "{engine}: {stderr}");
        // The second console read does not fit in 256 KiB, given by
        // --max-host-memory or, without it, by --max-memory.
        for limit in [["--max-host-memory", "256K"], ["--max-memory", "256K"]] {
            // The reader gives back what a read does not hold as soon as
            // its line is in: for the second read to find the first one's
            // whole charge still taken, no line may come.
            let (code, stderr) = run_with(&limit, &console, None);
            assert_eq!(code, Some(134), "{engine} {limit:?}: {stderr}");
            assert!(
                stderr.contains(
                    "daku.ar: record 1: host memory limit reached: the console read needs \
                     196608 bytes, 64896 of 262144 left"
                ),
                "{engine} {limit:?}: {stderr}"
            );
        }
        let (code, stderr) = run(&["--max-host-memory", "1M"], &console);
        assert_eq!(code, Some(0), "{engine}: {stderr}");
    }
}

/// The peak resident memory of process `pid`, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib << 10
}

/// Runs a program that fills `size` bytes of its memory, logs them as one
/// line and shows them as a frame 1024 pixels wide, under
/// --max-host-memory 1M, then waits for the console; returns wasirun's
/// peak resident memory by then.
fn peak_rss_logging_and_showing(engine: &str, dir: &Path, size: u32) -> u64 {
    let pages = (0x10000 + size).div_ceil(0x10000);
    let module = dir.join(format!("big-{size}.wat"));
    std::fs::write(
        &module,
        format!(
            r#"(module
  (import "daku" "ar" (func $ar (param i32 i32 i32) (result i32)))
  (memory (export "memory") {pages})
  (data (i32.const 0x100) "{records}")
  (data (i32.const 0x200) "{print}")
  (data (i32.const 0x210) "{frame}")
  (data (i32.const 0x220) "{text}")
  (func (export "_start")
    (memory.fill (i32.const 0x10000) (i32.const 0x61) (i32.const {size}))
    (drop (call $ar (i32.const 3) (i32.const 0x100) (i32.const 0x800)))
    ;; The log and frame channels were reported: now the console waits.
    (drop (call $ar (i32.const 0) (i32.const 0) (i32.const 0x800)))))"#,
            records = le(&[0, 1, 19, 0x200, 0, 2, 35, 0x210, 0, 3, 20, 0x220]),
            print = le(&[0x0002_0000, size, 0x10000]),
            frame = le(&[(size / 4096) << 16 | 1024, 0, size, 0x10000]),
            text = le(&[64, 0x300]),
        ),
    )
    .unwrap();
    let out_dir = dir.join(format!("out-{engine}-{size}"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let log = dir.join(format!("log-{engine}-{size}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(["run", "--runtime", engine, "--max-host-memory", "1M"])
        .args(["--daku-log", path(&log), "--daku-output", path(&out_dir)])
        .arg(&module)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The frame is renamed into place once written: the log line came
    // before it, and the program now waits for the console.
    let frame = out_dir.join("frame-0-0-000000.png");
    let start = std::time::Instant::now();
    while !frame.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "{engine}: no frame"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{engine}: ended early with {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let peak = peak_rss(child.id());
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{engine}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = "daku[0] log0 INFO: ";
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        (prefix.len() + size as usize + 1) as u64
    );
    peak
}

#[test]
fn a_long_log_line_and_a_large_frame_cost_the_host_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    for engine in ENGINES {
        let small = peak_rss_logging_and_showing(engine, dir.path(), 64 << 10);
        let big = peak_rss_logging_and_showing(engine, dir.path(), 32 << 20);
        // The program's own 32 MiB are resident; copies of the text or the
        // image (the host made three of each) would be 96 MiB more.
        let grown = big.saturating_sub(small);
        eprintln!("{engine}: small {} MiB, big {} MiB", small >> 20, big >> 20);
        assert!(
            grown < (32 + 24) << 20,
            "{engine}: peak grew by {} MiB",
            grown >> 20
        );
    }
}
