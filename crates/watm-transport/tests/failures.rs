//! What a failing dial, a broken module, a trapping or looping worker and
//! a cancellation do: only the connection concerned ends, and nothing
//! panics. Both engines.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use watm_transport::{Config, Dialer, Error, Listener, Relay};

#[test]
fn a_failed_dial_is_an_error_for_the_module_not_a_panic() {
    each_engine!(|runtime, engine| {
        let dialer = Dialer::new(&runtime, &config("plain.wat")).unwrap();
        let error = dialer.dial(unreachable_addr()).unwrap_err();
        // host_dial gave -ENOTCONN, which plain.wat returns.
        assert_eq!(
            error.to_string(),
            "WATM: _water_dial returned -ENOTCONN",
            "{engine}"
        );
        eventually("the instance to end", || dialer.live_connections() == 0);
        // The dialer still works.
        let (server, addr) = listener();
        let mut conn = dialer.dial(addr).unwrap();
        let mut peer = accept(&server);
        exchange("plain.wat", &mut conn, &mut peer, 7);
    });
}

#[test]
fn invalid_modules_give_one_line_naming_the_export() {
    each_engine!(|runtime, engine| {
        let cases = [
            (
                "missing-worker.wat",
                "WATM has no export `_water_worker` (required: () -> i32)",
            ),
            (
                "wrong-signature.wat",
                "WATM export `_water_dial` has type () -> i32, expected (i32) -> i32",
            ),
        ];
        for (name, message) in cases {
            let error = Dialer::new(&runtime, &config(name)).err().unwrap();
            assert!(matches!(error, Error::Invalid(_)), "{error:?}");
            assert_eq!(error.to_string(), message);
        }
        // Not a module at all, and a module importing what the host lacks.
        let error = Dialer::new(&runtime, &Config::new(b"\0asm\x01\0\0\0\x7f").unwrap())
            .err()
            .unwrap();
        assert!(!error.to_string().contains('\n'), "{error}");
        let plain = std::fs::read_to_string(watm("plain.wat")).unwrap();
        let extra = plain.replace(
            r#"(import "env" "host_defer" (func $host_defer))"#,
            r#"(import "env" "host_teleport" (func $host_defer))"#,
        );
        let config = Config::new(extra).unwrap();
        let error = Relay::bind(&runtime, &config, "127.0.0.1:0", unreachable_addr())
            .err()
            .unwrap();
        assert!(matches!(error, Error::Invalid(_)), "{error:?}");
        assert!(error.to_string().contains("host_teleport"), "{error}");
    });
}

#[test]
fn a_trapping_worker_ends_only_its_connection() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let good = Dialer::new(&runtime, &config("plain.wat")).unwrap();
        let mut kept = good.dial(addr).unwrap();
        let mut kept_peer = accept(&server);

        let bad = Dialer::new(&runtime, &config("trap.wat")).unwrap();
        let mut conn = bad.dial(addr).unwrap();
        let mut peer = accept(&server);
        // The worker trapped: both ends see the connection end.
        assert_eq!(read_to_end(&mut conn), b"");
        assert_eq!(read_to_end(&mut peer), b"");
        eventually("the trapped instance to end", || {
            bad.live_connections() == 0
        });

        exchange("plain.wat", &mut kept, &mut kept_peer, 8);
        assert_eq!(good.live_connections(), 1);
    });
}

#[test]
fn a_looping_worker_is_stopped_by_its_fuel() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let mut config = config("loop.wat");
        config.fuel(Some(20_000_000));
        let dialer = Dialer::new(&runtime, &config).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let mut peer = accept(&server);
        assert_eq!(read_to_end(&mut peer), b"");
        assert_eq!(read_to_end(&mut conn), b"");
        eventually("the looping instance to end", || {
            dialer.live_connections() == 0
        });
    });
}

#[test]
fn a_looping_worker_is_stopped_by_its_timeout() {
    each_engine!(|runtime, engine| {
        let listener = {
            let mut config = config("loop.wat");
            config.timeout(Some(Duration::from_millis(200)));
            Listener::bind(&runtime, &config, "127.0.0.1:0").unwrap()
        };
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let conn = listener.accept().unwrap();
        let mut peer = client.join().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(read_to_end(&mut peer), b"");
        assert!(conn.wait_closed(Duration::from_secs(10)));
    });
}

#[test]
fn the_configuration_file_reaches_the_module() {
    each_engine!(|runtime, engine| {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("key");
        std::fs::write(&key_file, [0x5a]).unwrap();
        let mut with_key = config("xor.wat");
        with_key.config_file(Some(key_file));
        let (server, addr) = listener();
        let dialer = Dialer::new(&runtime, &with_key).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let mut peer = accept(&server);
        conn.write_all(b"key").unwrap();
        let mut got = [0; 3];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got, [b'k' ^ 0x5a, b'e' ^ 0x5a, b'y' ^ 0x5a]);

        // Without a file, pull_config gives -EACCES, which xor.wat's init
        // returns; with an unreadable one, -EBADF.
        let dialer = Dialer::new(&runtime, &config("xor.wat")).unwrap();
        let error = dialer.dial(addr).unwrap_err();
        assert_eq!(error.to_string(), "WATM: _water_init returned -EACCES");
        let mut missing = config("xor.wat");
        missing.config_file(Some(dir.path().join("absent")));
        let error = Dialer::new(&runtime, &missing)
            .unwrap()
            .dial(addr)
            .unwrap_err();
        assert_eq!(error.to_string(), "WATM: _water_init returned -EBADF");
    });
}

#[test]
fn a_setup_past_its_timeout_fails_the_dial() {
    each_engine!(|runtime, engine| {
        // `_water_dial` loops; the time limit ends the instance later.
        let looping = std::fs::read_to_string(watm("loop.wat"))
            .unwrap()
            .replace(
                r#"(func (export "_water_dial") (param i32) (result i32) (call $host_dial))"#,
                r#"(func (export "_water_dial") (param i32) (result i32) (loop $l (br $l)) (i32.const 0))"#,
            );
        let mut config = Config::new(looping).unwrap();
        config
            .setup_timeout(Duration::from_millis(100))
            .timeout(Some(Duration::from_millis(500)));
        let dialer = Dialer::new(&runtime, &config).unwrap();
        let start = Instant::now();
        let error = dialer.dial(unreachable_addr()).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            error.to_string(),
            "WATM: setting up the connection took more than 100ms"
        );
        eventually("the looping instance to end", || {
            dialer.live_connections() == 0
        });
    });
}

#[test]
fn connections_past_the_limit_are_refused() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let mut config = config("plain.wat");
        config.max_connections(2);
        let dialer = Dialer::new(&runtime, &config).unwrap();
        let mut first = dialer.dial(addr).unwrap();
        let _second = dialer.dial(addr).unwrap();
        let (_a, _b) = (accept(&server), accept(&server));
        let Err(Error::Io(error)) = dialer.dial(addr) else {
            panic!("{engine}: a third connection was made");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::QuotaExceeded);
        first.close().unwrap();
        let _third = dialer.dial(addr).unwrap();
        assert_eq!(dialer.live_connections(), 2);
    });
}
