//! `Server`: HTTP functions, daemons and WAGI modules answering a real HTTP
//! client (hyper's) on loopback, every rule of `spec/wasi-cloud.md`, "HTTP
//! functions", that a client can see.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wasi_core::types::{Filestat, Filetype};
use wasi_core::vfs::{BytesFile, OpenHow, VirtualDir, VirtualFile};
use wasi_runner::{
    Devices, DriverSpec, Engine, KvConfig, Module, RunOptions, ServeConfig, ServeMode,
    ServeOptions, Server,
};

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;

#[test]
fn echo_txt_on_both_engines_with_keep_alive() {
    for engine in Engine::ALL {
        let server = Running::functions(echo(), engine);
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            // Three requests on one connection: keep-alive.
            for i in 0..3 {
                let request = Request::post(format!("/echo/{i}?x=1"))
                    .header("host", "test")
                    .header("x-a", "b")
                    .body(full(format!("body {i}")))
                    .unwrap();
                let (status, headers, body) = send(&mut client, request).await;
                assert_eq!(status, 200, "{engine}");
                assert_eq!(headers["x-handler"], "echo");
                // No content-length from the guest: chunked.
                assert_eq!(headers["transfer-encoding"], "chunked");
                let body = String::from_utf8(body.unwrap().to_vec()).unwrap();
                assert!(
                    body.starts_with(&format!("POST /echo/{i}?x=1 HTTP/1.1\r\n")),
                    "{body}"
                );
                assert!(body.contains("\r\nx-a: b\r\n"), "{body}");
                assert!(body.contains("\r\ncontent-length: 6\r\n"), "{body}");
                assert!(body.ends_with(&format!("\r\n\r\nbody {i}")), "{body}");
            }
        });
    }
}

#[test]
fn request_json_and_response_json() {
    let json_echo = handler(
        r#"(func (export "_start") (local $in i32) (local $out i32)
             (local.set $in (call $open (i32.const 3) (i32.const 8) (i32.const 4) (i64.const 2)))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
             (call $copy (local.get $in) (local.get $out)))"#,
        &["HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"],
    );
    let respond = handler(
        r#"(func (export "_start") (local $out i32)
             (local.set $out (call $open (i32.const 4) (i32.const 8) (i32.const 4) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
        &[r#"{"status": 201, "headers": [["x-a", "1"]], "body": "made\n"}"#],
    );
    let server = Running::functions(json_echo, Engine::Wasmtime);
    let other = Running::functions(respond, Engine::Wasmi);
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let request = Request::put("/p/q?x=1")
            .header("host", "test")
            .body(full(vec![0xff, 0x00]))
            .unwrap();
        let (status, _, body) = send(&mut client, request).await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body.unwrap()).unwrap();
        assert_eq!(json["method"], "PUT");
        assert_eq!(json["path"], "/p/q");
        assert_eq!(json["query"], "x=1");
        assert_eq!(json["body_base64"], "/wA=");
        assert_eq!(json["headers"][0], serde_json::json!(["host", "test"]));

        let mut client = connect(other.addr).await;
        let (status, headers, body) = send(&mut client, get("/")).await;
        assert_eq!(status, 201);
        assert_eq!(headers["x-a"], "1");
        assert_eq!(headers["content-length"], "5");
        assert_eq!(body.unwrap(), "made\n");
    });
}

/// Each way a handler can fail, and what the client gets.
#[test]
fn failures_map_to_statuses() {
    let cases: Vec<(&str, Module, StatusCode)> = vec![
        (
            "trap",
            handler(r#"(func (export "_start") unreachable)"#, &[]),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            "exit 3",
            handler(
                r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#,
                &[],
            ),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            "garbage",
            handler(
                r#"(func (export "_start") (local $out i32)
                     (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
                     (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
                &["garbage\r\n\r\n"],
            ),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "incomplete head",
            handler(
                r#"(func (export "_start") (local $out i32)
                     (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
                     (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
                &["HTTP/1.1 200 OK\r\nx-a: 1\r\n"],
            ),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "malformed json",
            handler(
                r#"(func (export "_start") (local $out i32)
                     (local.set $out (call $open (i32.const 4) (i32.const 8) (i32.const 4) (i64.const 64)))
                     (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
                &[r#"{"status": "ok"}"#],
            ),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "no response",
            handler(r#"(func (export "_start"))"#, &[]),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "past --max-memory",
            handler(
                r#"(func (export "_start")
                     (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
                     unreachable)"#,
                &[],
            ),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ];
    for engine in Engine::ALL {
        for (name, module, expected) in &cases {
            let server = Running::start(
                module.clone(),
                engine,
                ServeMode::Functions,
                |_, options| {
                    options.max_memory(Some(1 << 20));
                },
            );
            rt().block_on(async {
                let mut client = connect(server.addr).await;
                let (status, headers, body) = send(&mut client, get("/")).await;
                assert_eq!(status, *expected, "{name} on {engine}");
                assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
                assert!(body.unwrap().ends_with(b"\n"));
                // The connection stays usable.
                let (status, _, _) = send(&mut client, get("/")).await;
                assert_eq!(status, *expected, "{name} on {engine}, again");
            });
        }
    }
}

#[test]
fn both_files_written_the_second_is_busy() {
    // Opens /response/txt, then /response/json: the second open fails and
    // the guest traps on it, after the txt head went out: an abort.
    let module = handler(
        r#"(func (export "_start") (local $out i32)
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
             (call $write_all (local.get $out) (i32.const $S1) (i32.const $L1))
             (if (i32.eq (call $path_open (i32.const 4) (i32.const 0) (i32.const 8) (i32.const 4)
                   (i32.const 0) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 112))
                   (i32.const 10))
               (then (call $proc_exit (i32.const 0))))
             unreachable)"#,
        &["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", "ok"],
    );
    let server = Running::functions(module, Engine::Wasmtime);
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (status, _, body) = send(&mut client, get("/")).await;
        assert_eq!(status, 200);
        // EBUSY (10) made the guest exit 0: the txt response stands.
        assert_eq!(body.unwrap(), "ok");
    });
}

/// A handler that writes each of `writes` to `/response/txt`, in a write
/// call of its own, then traps.
fn writes_then_traps(writes: &[&str]) -> Module {
    let calls: String = (0..writes.len())
        .map(|i| {
            format!("(call $write_all (local.get $out) (i32.const $S{i}) (i32.const $L{i}))\n")
        })
        .collect();
    handler(
        &format!(
            r#"(func (export "_start") (local $out i32)
                 (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
                 {calls}
                 unreachable)"#
        ),
        writes,
    )
}

#[test]
fn trap_after_the_head_aborts_the_response() {
    let module = writes_then_traps(&["HTTP/1.1 200 OK\r\n\r\npartial"]);
    let server = Running::functions(module, Engine::Wasmi);
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        client.ready().await.unwrap();
        // The abort may come before hyper sent the head (the client sees
        // the connection close), or after (a chunked body without its end).
        match client.send_request(get("/")).await {
            Err(error) => assert!(error.is_incomplete_message(), "{error}"),
            Ok(response) => {
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await;
                assert!(body.is_err(), "an aborted chunked body is an error");
            }
        }
    });
}

#[test]
fn a_failure_after_the_whole_body_leaves_the_response_complete() {
    // The body's `content-length` bytes all written, then a trap: the
    // response is complete, whether the head and body came in one write
    // or two.
    let one_write = writes_then_traps(&["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nwhole"]);
    let two_writes = writes_then_traps(&["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", "whole"]);
    for module in [one_write, two_writes] {
        for engine in Engine::ALL {
            let server = Running::functions(module.clone(), engine);
            rt().block_on(async {
                let mut client = connect(server.addr).await;
                for _ in 0..3 {
                    let (status, _, body) = send(&mut client, get("/")).await;
                    assert_eq!(status, 200, "{engine}");
                    assert_eq!(body.unwrap(), "whole", "{engine}");
                }
            });
        }
    }
}

#[test]
fn timeout_gives_504() {
    let spin = handler(r#"(func (export "_start") (loop $l (br $l)))"#, &[]);
    // Blocked reading a body that never comes: the host call is not
    // interrupted, the server's watchdog answers.
    let blocked = handler(
        r#"(func (export "_start") (local $in i32)
             (local.set $in (call $open (i32.const 3) (i32.const 0) (i32.const 3) (i64.const 2)))
             (loop $l (br_if $l (call $read (local.get $in)))))"#,
        &[],
    );
    for engine in Engine::ALL {
        for module in [&spin, &blocked] {
            // The guest starts before the body (which never ends) came.
            let server = Running::start(module.clone(), engine, ServeMode::Functions, |http, _| {
                http.timeout = Duration::from_millis(300);
                http.body_before_slot = 0;
            });
            rt().block_on(async {
                let mut client = connect(server.addr).await;
                let (tx, rx) = mpsc::channel::<Bytes>(1);
                tx.send(Bytes::from("start")).await.unwrap();
                let request = Request::post("/")
                    .header("host", "test")
                    .body(Streamed(rx).boxed())
                    .unwrap();
                let started = Instant::now();
                let (status, _, _) = send(&mut client, request).await;
                assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{engine}");
                assert!(started.elapsed() < Duration::from_secs(5));
                drop(tx);
            });
        }
    }
}

#[test]
fn request_and_response_stream_both_ways() {
    // The echo answers each part of the body before the client sends the
    // next: the guest reads the body while it arrives, and the client gets
    // what the guest writes as it is written (the server starts the guest
    // before any body came).
    let server = Running::start(echo(), Engine::Wasmtime, ServeMode::Functions, |http, _| {
        http.body_before_slot = 0;
    });
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        let request = Request::post("/")
            .header("host", "test")
            .body(Streamed(rx).boxed())
            .unwrap();
        client.ready().await.unwrap();
        let response = client.send_request(request);
        tx.send(Bytes::from("ping-1")).await.unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut seen = Vec::new();
        for round in 1..=3 {
            let want = format!("ping-{round}");
            while !String::from_utf8_lossy(&seen).ends_with(&want) {
                let frame = body.frame().await.unwrap().unwrap();
                seen.extend_from_slice(&frame.into_data().unwrap());
            }
            if round < 3 {
                tx.send(Bytes::from(format!("ping-{}", round + 1)))
                    .await
                    .unwrap();
            }
        }
        drop(tx);
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    });
}

#[test]
fn a_100_mb_body_streams_through() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 100;
    let server = Running::functions(echo(), Engine::Wasmtime);
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (tx, rx) = mpsc::channel::<Bytes>(2);
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'x'; CHUNK]);
            for _ in 0..CHUNKS {
                tx.send(chunk.clone()).await.unwrap();
            }
        });
        let request = Request::post("/")
            .header("host", "test")
            .header("content-length", (CHUNK * CHUNKS).to_string())
            .body(Streamed(rx).boxed())
            .unwrap();
        client.ready().await.unwrap();
        let response = client.send_request(request).await.unwrap();
        let mut body = response.into_body();
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            total += frame.unwrap().into_data().unwrap().len();
        }
        // The echoed head, then the 100 MB.
        assert!(
            total > CHUNK * CHUNKS && total < CHUNK * CHUNKS + 1024,
            "{total}"
        );
    });
}

#[test]
fn request_size_limit_gives_413() {
    let server = Running::start(echo(), Engine::Wasmtime, ServeMode::Functions, |http, _| {
        http.max_body = 1000;
    });
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let request = Request::post("/")
            .header("host", "test")
            .body(full(vec![b'x'; 1001]))
            .unwrap();
        let (status, _, _) = send(&mut client, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    });
    // A client still sending a large body after the 413 went out can
    // finish sending and then read the 413: the server drains what follows
    // rather than resetting the connection.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = 2 << 20;
    let head = format!("POST / HTTP/1.1\r\nhost: test\r\ncontent-length: {body}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // By now the 413 is sent and the server has stopped reading the body.
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&vec![b'x'; body]).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
}

#[test]
fn thousand_concurrent_connections() {
    let server = Running::start(echo(), Engine::Wasmtime, ServeMode::Functions, |http, _| {
        http.max_concurrency = 8;
    });
    let addr = server.addr;
    rt().block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                tokio::spawn(async move {
                    let mut client = connect(addr).await;
                    let (status, _, body) = send(&mut client, get(&format!("/{i}"))).await;
                    assert_eq!(status, 200);
                    assert!(body.unwrap().starts_with(format!("GET /{i} ").as_bytes()));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn daemons_keep_state_between_requests() {
    let counter = handler(
        r#"(global $count (mut i32) (i32.const 0))
           (func $itoa (param $v i32) (result i32) (local $p i32)
             (local.set $p (i32.const 3100))
             (loop $d
               (local.set $p (i32.sub (local.get $p) (i32.const 1)))
               (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
               (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
               (br_if $d (local.get $v)))
             (local.get $p))
           (func (export "_start") (local $in i32) (local $out i32) (local $p i32)
             (loop $serve
               ;; ECANCELED when the server stops: return, exit 0.
               (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3)
                     (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 112))
                 (then (return)))
               (local.set $in (i32.load (i32.const 112)))
               (drop (call $read (local.get $in)))
               (drop (call $fd_close (local.get $in)))
               (global.set $count (i32.add (global.get $count) (i32.const 1)))
               (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
               (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
               (local.set $p (call $itoa (global.get $count)))
               (call $write_all (local.get $out) (local.get $p) (i32.sub (i32.const 3100) (local.get $p)))
               (drop (call $fd_close (local.get $out)))
               (br $serve)))"#,
        &["HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n"],
    );
    for engine in Engine::ALL {
        let server = Running::start(counter.clone(), engine, ServeMode::Daemons(1), |_, _| {});
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for expected in 1..=5 {
                let (status, _, body) = send(&mut client, get("/")).await;
                assert_eq!(status, 200, "{engine}");
                assert_eq!(body.unwrap(), expected.to_string(), "{engine}");
            }
        });
        // Two daemons share the requests; each counts its own.
        let server = Running::start(counter.clone(), engine, ServeMode::Daemons(2), |_, _| {});
        rt().block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|_| {
                    let addr = server.addr;
                    tokio::spawn(async move {
                        let mut client = connect(addr).await;
                        let (_, _, body) = send(&mut client, get("/")).await;
                        String::from_utf8(body.unwrap().to_vec())
                            .unwrap()
                            .parse::<u32>()
                            .unwrap()
                    })
                })
                .collect();
            let mut counts = Vec::new();
            for task in tasks {
                counts.push(task.await.unwrap());
            }
            // Each daemon counts 1, 2, ... up to what it served: every
            // count from 1 up appears, at most twice, and no more often
            // than the one below it.
            let max = *counts.iter().max().unwrap();
            let seen = |k: u32| counts.iter().filter(|&&c| c == k).count();
            for k in 1..=max {
                assert!((1..=2).contains(&seen(k)), "{counts:?}");
                assert!(k == 1 || seen(k) <= seen(k - 1), "{counts:?}");
            }
        });
    }
}

#[test]
fn wagi_modules_run_unchanged() {
    let module = handler(
        r#"(func (export "_start")
             (call $write_all (i32.const 1) (i32.const $S0) (i32.const $L0))
             (call $copy (i32.const 0) (i32.const 1)))"#,
        &["status: 201\ncontent-type: text/plain\nx-wagi: yes\n\n"],
    );
    let garbage = handler(
        r#"(func (export "_start")
             (call $write_all (i32.const 1) (i32.const $S0) (i32.const $L0)))"#,
        &["x-a: no content type\n\nbody"],
    );
    for engine in Engine::ALL {
        let server = Running::start(module.clone(), engine, ServeMode::Wagi, |_, _| {});
        let bad = Running::start(garbage.clone(), engine, ServeMode::Wagi, |_, _| {});
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            let request = Request::post("/cgi?a=1")
                .header("host", "test")
                .body(full("from stdin"))
                .unwrap();
            let (status, headers, body) = send(&mut client, request).await;
            assert_eq!(status, 201, "{engine}");
            assert_eq!(headers["x-wagi"], "yes");
            assert_eq!(body.unwrap(), "from stdin");
            let mut client = connect(bad.addr).await;
            let (status, _, _) = send(&mut client, get("/")).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{engine}");
        });
    }
}

#[test]
fn stopping_answers_requests_in_flight() {
    // The handler answers after the body ends; the server is told to stop
    // while the request is in flight, and still answers it.
    let mut server = Running::functions(echo(), Engine::Wasmtime);
    let addr = server.addr;
    let runtime = rt();
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let request = runtime.spawn(async move {
        let mut client = connect(addr).await;
        let request = Request::post("/")
            .header("host", "test")
            .body(Streamed(rx).boxed())
            .unwrap();
        send(&mut client, request).await
    });
    std::thread::sleep(Duration::from_millis(200));
    let stopper = std::thread::spawn(move || server.stop());
    std::thread::sleep(Duration::from_millis(200));
    runtime.block_on(async {
        tx.send(Bytes::from("late")).await.unwrap();
        drop(tx);
        let (status, _, body) = request.await.unwrap();
        assert_eq!(status, 200);
        assert!(body.unwrap().ends_with(b"late"));
    });
    stopper.join().unwrap();
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn handlers_share_the_key_value_store() {
    // Each request appends `x` to /beta/kv/local/hits (descriptor 5: the
    // `/beta` preopen comes after `/request` and `/response`), then answers
    // with what the key holds: a fresh instance each time, the store shared.
    let module = handler(
        r#"(func (export "_start") (local $kv i32) (local $out i32)
             (if (call $path_open (i32.const 5) (i32.const 0) (i32.const $S0) (i32.const $L0)
                   (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 1) (i32.const 112))
               (then (unreachable)))
             (local.set $kv (i32.load (i32.const 112)))
             (call $write_all (local.get $kv) (i32.const $S1) (i32.const $L1))
             (drop (call $fd_close (local.get $kv)))
             (local.set $kv (call $open (i32.const 5) (i32.const $S0) (i32.const $L0) (i64.const 2)))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S2) (i32.const $L2))
             (call $copy (local.get $kv) (local.get $out)))"#,
        &["kv/local/hits", "x", "HTTP/1.1 200 OK\r\n\r\n"],
    );
    let dir = tempfile::tempdir().unwrap();
    for engine in Engine::ALL {
        let store = dir.path().join(format!("{engine}.redb"));
        let server = Running::start(
            module.clone(),
            engine,
            ServeMode::Functions,
            |_, options| {
                options.kv(Some(KvConfig::new(store)));
            },
        );
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for expected in ["x", "xx", "xxx"] {
                let (status, _, body) = send(&mut client, get("/")).await;
                assert_eq!(status, 200, "{engine}");
                assert_eq!(body.unwrap(), expected, "{engine}");
            }
        });
    }
}

#[test]
fn dirs_are_opened_once_and_a_bad_one_stops_the_server() {
    // `--dir` is descriptor 3, before `/request` (4) and `/response` (5).
    // Each request answers with /data/f. The directory is opened when the
    // server starts: one renamed and replaced since is still the one the
    // guests see; one that cannot be opened stops the server there.
    let module = handler(
        r#"(func (export "_start") (local $f i32) (local $out i32)
             (local.set $f (call $open (i32.const 3) (i32.const $S0) (i32.const $L0) (i64.const 2)))
             (local.set $out (call $open (i32.const 5) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S1) (i32.const $L1))
             (call $copy (local.get $f) (local.get $out)))"#,
        &["f", "HTTP/1.1 200 OK\r\n\r\n"],
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for engine in Engine::ALL {
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("f"), "first").unwrap();
        let server = Running::start(
            module.clone(),
            engine,
            ServeMode::Functions,
            |_, options| {
                options.dir(&data, "/data");
            },
        );
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            let (status, _, body) = send(&mut client, get("/")).await;
            assert_eq!(status, 200, "{engine}");
            assert_eq!(body.unwrap(), "first", "{engine}");
            std::fs::rename(&data, tmp.path().join(format!("old-{engine}"))).unwrap();
            std::fs::create_dir(&data).unwrap();
            std::fs::write(data.join("f"), "second").unwrap();
            let (status, _, body) = send(&mut client, get("/")).await;
            assert_eq!(status, 200, "{engine}");
            assert_eq!(body.unwrap(), "first", "{engine}");
        });
        drop(server);
        std::fs::remove_dir_all(&data).unwrap();
    }
    let mut options = RunOptions::new();
    options.dir(tmp.path().join("missing"), "/data");
    let serve = ServeOptions {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        mode: ServeMode::Functions,
        http: ServeConfig::default(),
        background: None,
    };
    let error = Server::bind(module.clone(), options, serve.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("missing"), "{error}");
    // A listening socket cannot be every guest's: refused, not ignored.
    let mut options = RunOptions::new();
    options.listen(SocketAddr::from(([127, 0, 0, 1], 0)));
    let error = Server::bind(module, options, serve).err().unwrap();
    assert_eq!(
        error.to_string(),
        "RunOptions::listen does not apply to an HTTP server"
    );
}

/// Sends `request` raw on a new connection and reads until the server
/// closes it or 2 s pass: what came back.
fn raw(addr: SocketAddr, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn request_head_limits_give_431() {
    let server = Running::functions(echo(), Engine::Wasmtime);
    let mut many = String::from("GET / HTTP/1.1\r\nhost: test\r\n");
    for i in 0..100 {
        many.push_str(&format!("x-{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    assert!(raw(server.addr, many.as_bytes()).starts_with("HTTP/1.1 431 "));
    let big = format!(
        "GET / HTTP/1.1\r\nhost: test\r\nx-big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let answer = raw(server.addr, big.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    // 99 fields and a few KiB are fine.
    let ok = "GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
    assert!(raw(server.addr, ok.as_bytes()).starts_with("HTTP/1.1 200 "));
}

#[test]
fn slow_clients_are_cut_off() {
    let server = Running::start(echo(), Engine::Wasmtime, ServeMode::Functions, |http, _| {
        http.header_timeout = Duration::from_millis(300);
    });
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    // Half a head, then nothing: the connection is closed.
    stream.write_all(b"GET / HTTP/1.1\r\nhost: te").unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // A kept-alive connection left idle after its response: closed too.
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    assert!(out.starts_with(b"HTTP/1.1 200 "));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Meanwhile, and after, other clients are served.
    let ok = "GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";
    assert!(raw(server.addr, ok.as_bytes()).starts_with("HTTP/1.1 200 "));
}

#[test]
fn a_c_handler_with_plain_stdio() {
    // tests/handlers/echo.c, built by `cargo xtask build-guests`.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/handlers/echo.wasm");
    for engine in Engine::ALL {
        let server = Running::functions(Module::from_file(path).unwrap(), engine);
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for _ in 0..2 {
                let request = Request::post("/c?x")
                    .header("host", "test")
                    .body(full("from C"))
                    .unwrap();
                let (status, headers, body) = send(&mut client, request).await;
                assert_eq!(status, 200, "{engine}");
                assert_eq!(headers["content-type"], "text/plain");
                let body = body.unwrap();
                assert!(body.starts_with(b"POST /c?x HTTP/1.1\r\n"), "{engine}");
                assert!(body.ends_with(b"\r\n\r\nfrom C"), "{engine}");
            }
        });
    }
}

#[test]
fn poll_oneoff_waits_for_the_request_body() {
    // Like the echo, but before each read the guest waits in poll_oneoff
    // for /request/txt to be readable (an fd_read subscription, and a
    // 10-second clock one that would trap): the body arrives in parts.
    let module = handler(
        r#"(func (export "_start") (local $in i32) (local $out i32) (local $n i32)
             (local.set $in (call $open (i32.const 3) (i32.const 0) (i32.const 3) (i64.const 2)))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
             ;; subscription 0 at 2048: fd_read (tag 1) on $in, userdata 1
             (i64.store (i32.const 2048) (i64.const 1))
             (i32.store8 (i32.const 2056) (i32.const 1))
             (i32.store (i32.const 2064) (local.get $in))
             ;; subscription 1 at 2096: clock (tag 0), monotonic, 10 s, userdata 2
             (i64.store (i32.const 2096) (i64.const 2))
             (i32.store8 (i32.const 2104) (i32.const 0))
             (i32.store (i32.const 2112) (i32.const 1))
             (i64.store (i32.const 2120) (i64.const 10000000000))
             (loop $l
               (if (call $poll (i32.const 2048) (i32.const 2400) (i32.const 2) (i32.const 2600))
                 (then unreachable))
               ;; the first event must be the read one
               (if (i64.ne (i64.load (i32.const 2400)) (i64.const 1)) (then unreachable))
               (local.set $n (call $read (local.get $in)))
               (if (local.get $n) (then
                 (call $write_all (local.get $out) (i32.const 4096) (local.get $n))
                 (br $l)))))"#,
        &["HTTP/1.1 200 OK\r\n\r\n"],
    );
    for engine in Engine::ALL {
        let server = Running::start(module.clone(), engine, ServeMode::Functions, |http, _| {
            http.body_before_slot = 0;
        });
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            let (tx, rx) = mpsc::channel::<Bytes>(1);
            let request = Request::post("/")
                .header("host", "test")
                .body(Streamed(rx).boxed())
                .unwrap();
            client.ready().await.unwrap();
            let response = client.send_request(request);
            tx.send(Bytes::from("part-1")).await.unwrap();
            let mut body = response.await.unwrap().into_body();
            let mut seen = Vec::new();
            for round in 1..=3 {
                let want = format!("part-{round}");
                while !String::from_utf8_lossy(&seen).ends_with(&want) {
                    let frame = body.frame().await.unwrap().unwrap();
                    seen.extend_from_slice(&frame.into_data().unwrap());
                }
                // The guest waits in poll_oneoff meanwhile.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if round < 3 {
                    tx.send(Bytes::from(format!("part-{}", round + 1)))
                        .await
                        .unwrap();
                }
            }
            drop(tx);
            while let Some(frame) = body.frame().await {
                frame.unwrap();
            }
            let text = String::from_utf8(seen).unwrap();
            assert!(text.ends_with("part-1part-2part-3"), "{engine}: {text}");
        });
    }
}

#[test]
fn a_chunked_body_past_the_limit_gives_413() {
    // No content-length: the limit is found while the body streams; the
    // guest's read fails (EIO), it traps, and the client gets 413.
    let server = Running::start(echo(), Engine::Wasmtime, ServeMode::Functions, |http, _| {
        http.max_body = 100_000;
    });
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for _ in 0..10 {
                if tx.send(Bytes::from(vec![b'x'; 20_000])).await.is_err() {
                    return;
                }
            }
        });
        let request = Request::post("/")
            .header("host", "test")
            .body(Streamed(rx).boxed())
            .unwrap();
        client.ready().await.unwrap();
        // The echo wrote its head at once: the response is aborted, or, if
        // the limit came first, a 413.
        match client.send_request(request).await {
            Ok(response) if response.status() == StatusCode::PAYLOAD_TOO_LARGE => {}
            Ok(response) => {
                assert_eq!(response.status(), 200);
                assert!(response.into_body().collect().await.is_err());
            }
            Err(error) => panic!("{error}"),
        }
    });
    // A handler that reads the whole body before answering gets the 413.
    let reader = handler(
        r#"(func (export "_start") (local $in i32)
             (local.set $in (call $open (i32.const 3) (i32.const 0) (i32.const 3) (i64.const 2)))
             (loop $l (br_if $l (call $read (local.get $in)))))"#,
        &[],
    );
    let server = Running::start(reader, Engine::Wasmi, ServeMode::Functions, |http, _| {
        http.max_body = 100_000;
    });
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        tokio::spawn(async move {
            for _ in 0..10 {
                if tx.send(Bytes::from(vec![b'x'; 20_000])).await.is_err() {
                    return;
                }
            }
        });
        let request = Request::post("/")
            .header("host", "test")
            .body(Streamed(rx).boxed())
            .unwrap();
        let (status, _, _) = send(&mut client, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    });
}

#[test]
fn a_daemon_spinning_past_the_timeout_is_interrupted_and_replaced() {
    // GET /spin loops in wasm forever; anything else answers with the
    // daemon's count of requests. One daemon: what follows /spin is served
    // only if the spinning instance is stopped and replaced.
    let module = handler(
        r#"(global $count (mut i32) (i32.const 0))
           (func (export "_start") (local $in i32) (local $out i32)
             (loop $serve
               (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3)
                     (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 112))
                 (then (return)))
               (local.set $in (i32.load (i32.const 112)))
               (drop (call $read (local.get $in)))
               (drop (call $fd_close (local.get $in)))
               (global.set $count (i32.add (global.get $count) (i32.const 1)))
               (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 115))
                 (then (loop $spin (br $spin))))
               (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
               (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
               (i32.store8 (i32.const 3000) (i32.add (i32.const 48) (global.get $count)))
               (call $write_all (local.get $out) (i32.const 3000) (i32.const 1))
               (drop (call $fd_close (local.get $out)))
               (br $serve)))"#,
        &["HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n"],
    );
    for engine in [Engine::Wasmtime, Engine::Wasmi] {
        let server = Running::start(module.clone(), engine, ServeMode::Daemons(1), |http, _| {
            http.timeout = Duration::from_millis(300);
        });
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            let (status, _, body) = send(&mut client, get("/a")).await;
            assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::from("1")));
            let (status, _, _) = send(&mut client, get("/spin")).await;
            assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
            // The replacement counts from 1 again.
            let (status, _, body) = send(&mut client, get("/b")).await;
            assert_eq!(
                (status, body.unwrap()),
                (StatusCode::OK, Bytes::from("1")),
                "{engine:?}"
            );
        });
    }
}

#[test]
fn daemons_past_the_timeout_or_trapping_are_replaced_or_skipped() {
    // GET /loop spins, GET /trap traps, anything else answers with the
    // daemon's count of requests.
    let module = handler(
        r#"(global $count (mut i32) (i32.const 0))
           (func (export "_start") (local $in i32) (local $out i32)
             (loop $serve
               (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 3)
                     (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 112))
                 (then (return)))
               (local.set $in (i32.load (i32.const 112)))
               (drop (call $read (local.get $in)))
               (drop (call $fd_close (local.get $in)))
               (global.set $count (i32.add (global.get $count) (i32.const 1)))
               ;; /loop: sleeps 1 s in poll_oneoff, past the timeout; its
               ;; response is then refused (EPIPE) and it traps.
               (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 108))
                 (then
                   (call $sleep (i64.const 1000000000))))
               (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 116))
                 (then unreachable))
               (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
               (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0))
               (i32.store8 (i32.const 3000) (i32.add (i32.const 48) (global.get $count)))
               (call $write_all (local.get $out) (i32.const 3000) (i32.const 1))
               (drop (call $fd_close (local.get $out)))
               (br $serve)))"#,
        &["HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n"],
    );
    let server = Running::start(
        module,
        Engine::Wasmtime,
        ServeMode::Daemons(2),
        |http, _| {
            http.timeout = Duration::from_millis(300);
        },
    );
    rt().block_on(async {
        let mut client = connect(server.addr).await;
        let (status, _, body) = send(&mut client, get("/a")).await;
        assert_eq!((status, body.unwrap()), (StatusCode::OK, Bytes::from("1")));
        // A trap: 500, and the daemon is replaced by a fresh one.
        let (status, _, _) = send(&mut client, get("/trap")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        // A daemon past the timeout: 504 at the deadline, without waiting
        // for it; the other daemon (or the replacement) serves what follows.
        let (status, _, _) = send(&mut client, get("/loop")).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        for _ in 0..3 {
            let (status, _, body) = send(&mut client, get("/b")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!body.unwrap().is_empty());
        }
    });
}

#[test]
fn a_large_response_to_a_slow_reader_completes() {
    // A GET's guest may run inline on an async worker (spec/wasi-cloud.md,
    // "Where guests run"): when its response outgrows the server's buffer
    // it must wait for the client without holding up the connection that
    // drains it. Several requests in a row, so that both ways are taken.
    for engine in Engine::ALL {
        // 2 MiB: far more than the server buffers between a guest and its
        // client.
        let server = Running::functions(streams(32), engine);
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for _ in 0..3 {
                client.ready().await.unwrap();
                let response = client.send_request(get("/")).await.unwrap();
                assert_eq!(response.status(), 200, "{engine}");
                let mut body = response.into_body();
                let mut total = 0;
                while let Some(frame) = body.frame().await {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    total += frame.unwrap().into_data().map_or(0, |data| data.len());
                }
                assert_eq!(total, 2 << 20, "{engine}");
            }
        });
    }
}

#[test]
fn http2_with_prior_knowledge() {
    // h2c: the guest sees the same HTTP/1.1-shaped head, with `host` made
    // from `:authority`; streams of one connection run concurrently.
    for engine in Engine::ALL {
        let server = Running::functions(echo(), engine);
        rt().block_on(async {
            let stream = TcpStream::connect(server.addr).await.unwrap();
            let (client, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let mut client = client.clone();
                    tokio::spawn(async move {
                        let request = Request::post(format!("http://test/h2?i={i}"))
                            .body(full(format!("body {i}")))
                            .unwrap();
                        client.ready().await.unwrap();
                        let response = client.send_request(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                        assert_eq!(response.version(), hyper::Version::HTTP_2);
                        assert_eq!(response.headers()["x-handler"], "echo");
                        let body = response.into_body().collect().await.unwrap().to_bytes();
                        let text = String::from_utf8(body.to_vec()).unwrap();
                        let head = format!("POST /h2?i={i} HTTP/1.1\r\nhost: test\r\n");
                        assert!(text.starts_with(&head), "{text:?}");
                        assert!(text.ends_with(&format!("\r\n\r\nbody {i}")), "{text:?}");
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    }
}

#[test]
fn instances_never_see_an_earlier_ones_memory() {
    // Pooled slots are reused and reset (on wasmtime, only the pages an
    // instance wrote): each request's guest checks that the words it
    // writes, in its first memory and in a page it grows, start at zero.
    let snoop = handler(
        r#"(func (export "_start") (local $out i32)
             (if (i32.load (i32.const 70000)) (then (unreachable)))
             (i32.store (i32.const 70000) (i32.const 0xdeadbeef))
             (if (i32.ne (memory.grow (i32.const 1)) (i32.const 2)) (then (unreachable)))
             (if (i32.load (i32.const 140000)) (then (unreachable)))
             (i32.store (i32.const 140000) (i32.const 0xdeadbeef))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
        &[OK_HEAD],
    );
    for engine in Engine::ALL {
        let server = Running::functions(snoop.clone(), engine);
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for _ in 0..50 {
                assert_eq!(send(&mut client, get("/")).await.0, 200, "{engine}");
            }
        });
    }
}

#[test]
fn handlers_get_devices_and_the_embedders_mounts() {
    // WADI's `/dev` is descriptor 3, before `/request` (4) and `/response`
    // (5); the handler reads 4 bytes of `/dev/zero` (the zero driver) and
    // answers with the embedder's `/dev/motd`.
    let module = handler(
        r#"(func (export "_start") (local $zero i32) (local $motd i32) (local $out i32)
             (local.set $zero (call $open (i32.const 3) (i32.const $S0) (i32.const $L0) (i64.const 2)))
             (if (i32.eqz (call $read (local.get $zero))) (then (unreachable)))
             (local.set $motd (call $open (i32.const 3) (i32.const $S1) (i32.const $L1) (i64.const 2)))
             (local.set $out (call $open (i32.const 5) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S2) (i32.const $L2))
             (call $copy (local.get $motd) (local.get $out)))"#,
        &["zero", "motd", "HTTP/1.1 200 OK\r\n\r\n"],
    );
    let zero = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wadi-devices/drivers/zero.wat"
    );
    for engine in Engine::ALL {
        let server = Running::start(
            module.clone(),
            engine,
            ServeMode::Functions,
            |_, options| {
                let mut devices = Devices::new();
                devices.driver(
                    DriverSpec::parse("zero").unwrap(),
                    Module::from_file(zero).unwrap(),
                );
                options.devices(devices).mount("/dev/motd", Arc::new(Motd));
            },
        );
        rt().block_on(async {
            let mut client = connect(server.addr).await;
            for _ in 0..2 {
                let (status, _, body) = send(&mut client, get("/")).await;
                assert_eq!(status, 200, "{engine}");
                assert_eq!(body.unwrap(), "hello\n", "{engine}");
            }
        });
    }
}

/// `/dev/motd`: one file reading `hello\n`.
struct Motd;

impl VirtualDir for Motd {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn stat(&self, _: &str) -> wasi_core::system::Result<Filestat> {
        Ok(Filestat::file(6))
    }

    fn open_file(&self, _: &str, _: &OpenHow) -> wasi_core::system::Result<Box<dyn VirtualFile>> {
        Ok(Box::new(BytesFile::new(b"hello\n")))
    }
}
