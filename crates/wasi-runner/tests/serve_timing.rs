//! A timing rule of `Server`, in a process of its own: while a guest
//! sleeps inline on one of the server's async workers, the requests sent
//! meanwhile are answered at once. (The sleep runs through
//! `wasi_http_server::off_worker`, which moves the worker's other tasks to
//! another thread; before it, a task left in the sleeping worker's queue
//! now and then waited for the sleep to end.)

// The helpers this file does not use are the other tests'.
#[allow(dead_code)]
mod common;

use common::*;
use std::time::Duration;
use wasi_runner::Engine;

#[test]
fn a_sleeping_guest_holds_up_no_other_request() {
    // `GET /s` sleeps 3 s in poll_oneoff; other requests answer at once.
    // Whether the sleeper runs inline or not, a quick request sent while
    // it sleeps is answered before it.
    let sleeper = handler(
        r#"(func (export "_start") (local $in i32) (local $out i32)
             (local.set $in (call $open (i32.const 3) (i32.const 0) (i32.const 3) (i64.const 2)))
             (drop (call $read (local.get $in)))
             (if (i32.eq (i32.load8_u (i32.const 4101)) (i32.const 115)) (then
               (call $sleep (i64.const 3000000000))))
             (local.set $out (call $open (i32.const 4) (i32.const 0) (i32.const 3) (i64.const 64)))
             (call $write_all (local.get $out) (i32.const $S0) (i32.const $L0)))"#,
        &[OK_HEAD],
    );
    let server = Running::functions(sleeper, Engine::Wasmtime);
    let addr = server.addr;
    rt().block_on(async {
        let slow = tokio::spawn(async move {
            let mut client = connect(addr).await;
            send(&mut client, get("/s")).await.0
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..10 {
            let mut client = connect(addr).await;
            assert_eq!(send(&mut client, get("/")).await.0, 200);
        }
        assert!(
            !slow.is_finished(),
            "the quick requests waited for the sleeper"
        );
        assert_eq!(slow.await.unwrap(), 200);
    });
}
