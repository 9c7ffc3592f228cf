//! Decorators forward what they do not change: with a WADI device loaded,
//! the WasmEdge socket calls still reach the host (they gave `ENOSYS` when
//! WADI's method list was written by hand), on both engines.

use std::process::Command;

/// Opens a TCP socket and exits with the errno.
const SOCKET: &str = r#"
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $open (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $exit (call $open (i32.const 1) (i32.const 2) (i32.const 0)))))
"#;

#[test]
fn socket_calls_pass_through_wadi() {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("socket.wat");
    std::fs::write(&module, SOCKET).unwrap();
    let driver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wadi-devices/drivers/zero.wasm"
    );
    for engine in ["wasmtime", "wasmi"] {
        let out = Command::new(env!("CARGO_BIN_EXE_wasirun"))
            .args(["--runtime", engine, "--no-cache", "--allow-connect", "*"])
            .args(["--device", driver, module.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
