//! Issue 20 ("Hostile load"), items 8 and 9, through `wasirun` on both
//! engines: `--max-fds` (`EMFILE`), the guests' share of the process's
//! descriptors under a low `RLIMIT_NOFILE` (`ENFILE`, the rest left to
//! wasirun), and `--max-host-memory` / `--max-memory` bounding the
//! key-value buffers a guest makes wasirun keep (`spec/preview1.md`,
//! "Running a module" and "File descriptors").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

/// A guest of wasi-runner's `tests/guests/`, which its `tests/hostile.rs`
/// runs through the library.
fn shared_guest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wasi-runner/tests/guests")
        .join(name)
}

/// Creates files `f000`, `f001`, ... beneath the preopen at fd 3 until one
/// fails; exits as `opens_sockets.wat` does.
const CREATES_FILES: &str = r#"
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f000")
  (func (export "_start") (local $n i32) (local $errno i32)
    (loop $more
      (i32.store8 (i32.const 1) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 100))))
      (i32.store8 (i32.const 2) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $n) (i32.const 10)) (i32.const 10))))
      (i32.store8 (i32.const 3) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      ;; O_CREAT, fd_write.
      (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
        (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
      (if (i32.eqz (local.get $errno)) (then
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more))))
    (if (i32.eq (local.get $errno) (i32.const 33)) (then (call $exit (local.get $n))))
    (if (i32.eq (local.get $errno) (i32.const 41))
      (then (call $exit (i32.add (i32.const 128) (local.get $n)))))
    (call $exit (i32.const 255))))
"#;

fn write_guest(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn wasirun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasirun"))
        .args(args)
        .output()
        .expect("wasirun runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn sockets_and_files_stop_at_max_fds_with_emfile() {
    let tmp = tempfile::tempdir().unwrap();
    let sockets = shared_guest("opens_sockets.wat");
    let files = write_guest(tmp.path(), "files.wat", CREATES_FILES);
    for engine in ENGINES {
        let out = wasirun(&[
            "run",
            "--runtime",
            engine,
            "--max-fds",
            "64",
            sockets.to_str().unwrap(),
        ]);
        // 64 descriptors, 3 of them stdio.
        assert_eq!(out.status.code(), Some(61), "{engine}: {}", stderr(&out));
        let dir = tempfile::tempdir().unwrap();
        let out = wasirun(&[
            "run",
            "--runtime",
            engine,
            "--max-fds",
            "40",
            "--dir",
            &format!("{}::/out", dir.path().display()),
            files.to_str().unwrap(),
        ]);
        // Stdio and the preopen take 4: 36 files, and not one more created.
        assert_eq!(out.status.code(), Some(36), "{engine}: {}", stderr(&out));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 36);
    }
}

#[test]
fn the_default_cap_is_1024() {
    let sockets = shared_guest("opens_sockets.wat");
    let out = wasirun(&["run", sockets.to_str().unwrap()]);
    // 1021 sockets and EMFILE: the exit code keeps 8 bits of 1021.
    assert_eq!(out.status.code(), Some(1021 % 256), "{}", stderr(&out));
}

#[test]
fn the_guests_share_of_a_low_nofile_limit_gives_enfile() {
    // RLIMIT_NOFILE 64 (soft and hard: nothing to raise): the guests hold
    // at most 48 host descriptors, the other 16 are wasirun's own. The
    // process's standard streams, borrowed, do not count.
    let sockets = shared_guest("opens_sockets.wat");
    for engine in ENGINES {
        let out = Command::new("sh")
            .args(["-c", "ulimit -n 64 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_wasirun"))
            .args([
                "run",
                "--runtime",
                engine,
                "--no-cache",
                "--max-fds",
                "1000",
            ])
            .arg(&sockets)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(128 + 48),
            "{engine}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn kv_buffers_stay_within_the_host_memory_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let guest = shared_guest("truncates_keys.wat");
    let store = tmp.path().join("kv.redb");
    for engine in ENGINES {
        for limits in [
            // The attack of issue 20: the budget follows --max-memory.
            &["--max-memory", "32M"][..],
            &["--max-host-memory", "16M"][..],
            // The default is 64 MiB: one key of 64 MiB fits it (the
            // guest exits 1 at the first `ftruncate` that succeeds).
            &[][..],
        ] {
            let mut args = vec!["run", "--runtime", engine, "--kv", "--kv-store"];
            args.push(store.to_str().unwrap());
            args.extend_from_slice(limits);
            args.push(guest.to_str().unwrap());
            let out = wasirun(&args);
            let expected = if limits.is_empty() { 1 } else { 0 };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{engine} {limits:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn help_names_the_limits() {
    let out = wasirun(&["run", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--max-fds", "--max-host-memory"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
