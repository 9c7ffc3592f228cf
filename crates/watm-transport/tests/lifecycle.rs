//! The steps of a connection's setup and what the host functions return in
//! each role (`spec/watm-v0.md` §3, §4), with modules written for the
//! purpose. Both engines.

mod common;

use common::*;
use std::io::Read;
use std::time::Duration;
use wasi_core::runtime::{Runtime, RuntimeConfig};
use watm_transport::{Config, Dialer, Listener};

/// A TinyGo-shaped module: `_start` runs first and ends with
/// `proc_exit(0)`; `_water_init` fails unless it ran. Each entry checks what
/// the host functions it should not use return, giving -1000 - n for the
/// n-th surprise, then returns its connection. The worker returns at once.
const CHECKER: &str = r#"
(module
  (import "env" "host_dial" (func $dial (result i32)))
  (import "env" "host_accept" (func $accept (result i32)))
  (import "env" "host_defer" (func $defer))
  (import "env" "pull_config" (func $pull_config (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (func (export "_water_v0"))
  (func (export "_start")
    (global.set $started (i32.const 1))
    (call $exit (i32.const 0)))
  (func (export "_water_init") (result i32)
    (if (i32.eqz (global.get $started)) (then (return (i32.const -1001))))
    (call $defer)
    ;; No configuration file: -EACCES.
    (if (i32.ne (call $pull_config) (i32.const -2)) (then (return (i32.const -1002))))
    (i32.const 0))
  (func (export "_water_cancel_with") (param i32) (result i32) (i32.const 0))
  (func (export "_water_worker") (result i32) (i32.const 0))
  (func (export "_water_dial") (param i32) (result i32)
    ;; A dialer has no accepted connection: -ENODEV.
    (if (i32.ne (call $accept) (i32.const -43)) (then (return (i32.const -1003))))
    (call $dial))
  (func (export "_water_accept") (param i32) (result i32)
    (local $fd i32)
    ;; A listener has no remote address: -ENODEV.
    (if (i32.ne (call $dial) (i32.const -43)) (then (return (i32.const -1004))))
    (local.set $fd (call $accept))
    ;; Only one connection to accept: then -ENOTCONN.
    (if (i32.ne (call $accept) (i32.const -53)) (then (return (i32.const -1005))))
    (local.get $fd)))
"#;

fn checker() -> Config {
    Config::new(CHECKER).unwrap()
}

#[test]
fn host_functions_answer_as_the_role_has_it() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let dialer = Dialer::new(&runtime, &checker()).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let _peer = accept(&server);
        // The worker returned at once: the connection ended.
        assert_eq!(conn.read(&mut [0; 4]).unwrap(), 0, "{engine}");

        let listener = Listener::bind(&runtime, &checker(), "127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let conn = listener.accept().unwrap();
        let mut client = client.join().unwrap();
        assert_eq!(read_to_end(&mut client), b"", "{engine}");
        drop(conn);
    });
}

#[test]
fn a_failing_start_function_fails_the_connection() {
    each_engine!(|runtime, engine| {
        let failing = CHECKER.replace("(call $exit (i32.const 0))", "(call $exit (i32.const 3))");
        let config = Config::new(failing).unwrap();
        let error = Dialer::new(&runtime, &config)
            .unwrap()
            .dial(unreachable_addr())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "WATM: _start: module exited with code 3",
            "{engine}"
        );
    });
}

#[test]
fn a_module_text_that_does_not_parse_is_invalid() {
    let error = Config::new("(module (func $f (result i32)))(").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot parse the module text")
    );
}

#[test]
fn the_limits_are_the_configs_whatever_the_runtime_was_created_with() {
    each_engine!(|runtime, engine| {
        let config = config("plain.wat");
        // Created with the WATM's limits: used as it is.
        let exact = runtime.with_config(config.runtime_config()).unwrap();
        // Created with a limit no module can run under: derived again.
        let starved = runtime
            .with_config(RuntimeConfig {
                fuel: Some(1),
                ..RuntimeConfig::new()
            })
            .unwrap();
        for runtime in [exact, starved] {
            let (server, addr) = listener();
            let dialer = Dialer::new(&runtime, &config).unwrap();
            let mut conn = dialer.dial(addr).unwrap();
            let mut peer = accept(&server);
            exchange("plain.wat", &mut conn, &mut peer, 9);
            conn.close().unwrap();
            assert!(conn.wait_closed(Duration::from_secs(10)), "{engine}");
        }
    });
}
