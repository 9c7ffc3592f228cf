//! The Redis backend when the server fails: `EIO` within the timeout,
//! reconnection once it is back, and no loss of acknowledged writes.

mod kv_support;

use kv_support::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasi_cloud_fs::kv::KvConfig;
use wasi_core::system::prelude::*;

#[test]
fn a_server_that_is_down_gives_eio_then_calls_recover() {
    let mut fx = Fixture::new(Backend::Redis);
    let sys = &mut guest(fx.build());
    put(sys, "kv/region/k", b"before").unwrap();
    let pending = open(
        sys,
        "kv/global/pending",
        Oflags::CREAT | Oflags::TRUNC,
        wo(),
        Fdflags::empty(),
    )
    .unwrap();
    write(sys, pending, b"not yet committed").unwrap();
    let server = fx.server.as_mut().unwrap();
    server.kill();
    let started = Instant::now();
    assert_eq!(get(sys, "kv/region/k"), Err(Errno::IO));
    assert_eq!(put(sys, "kv/global/k", b"x"), Err(Errno::IO));
    assert_eq!(
        sys.path_filestat_get(BETA, Lookupflags::empty(), "kv/region/k"),
        Err(Errno::IO)
    );
    assert_eq!(sys.path_unlink_file(BETA, "kv/region/k"), Err(Errno::IO));
    let dir = open(
        sys,
        "kv/region",
        Oflags::DIRECTORY,
        Rights::DIRECTORY,
        Fdflags::empty(),
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let mut out = wasi_core::system::DirentWriter::new(&mut buf);
    assert_eq!(sys.fd_readdir(dir, 2, &mut out), Err(Errno::IO));
    // The commit of a file opened before the outage fails on close.
    assert_eq!(sys.fd_close(pending), Err(Errno::IO));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // `local` is embedded: unaffected.
    put(sys, "kv/local/k", b"fine").unwrap();
    // Back (empty: this server keeps nothing): calls work again.
    server.restart();
    assert_eq!(get(sys, "kv/region/k"), Err(Errno::NOENT));
    put(sys, "kv/region/k", b"after").unwrap();
    assert_eq!(get(sys, "kv/region/k").unwrap(), b"after");
    assert_eq!(list(sys, dir, 4096), ["k"]);
}

#[test]
fn acknowledged_writes_survive_a_server_crash_with_appendfsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start_with(
        dir.path(),
        &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
    );
    let mut config = KvConfig::new(dir.path().join("kv.redb"));
    config.redis(server.url()).timeout(Duration::from_secs(2));
    let kv = Arc::new(config.build().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (kv, stop) = (kv.clone(), stop.clone());
        std::thread::spawn(move || {
            let sys = &mut guest(kv);
            let mut acknowledged = None;
            for i in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match put(sys, "kv/region/counter", i.to_string().as_bytes()) {
                    Ok(()) => acknowledged = Some(i),
                    Err(errno) => {
                        assert_eq!(errno, Errno::IO);
                        break;
                    }
                }
            }
            acknowledged
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    let acknowledged = writer.join().unwrap().expect("no write was acknowledged");
    stop.store(true, Ordering::Relaxed);
    server.restart();
    let sys = &mut guest(kv);
    let value: u64 = String::from_utf8(get(sys, "kv/region/counter").unwrap())
        .unwrap()
        .parse()
        .unwrap();
    // The last acknowledged write, or the one whose reply was cut off.
    assert!(
        value == acknowledged || value == acknowledged + 1,
        "acknowledged {acknowledged}, found {value}"
    );
}

#[test]
fn a_server_that_never_answers_fails_calls_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let mut config = KvConfig::new(dir.path().join("kv.redb"));
    config.redis(url).timeout(Duration::from_millis(300));
    let sys = &mut guest(Arc::new(config.build().unwrap()));
    for _ in 0..2 {
        let started = Instant::now();
        assert_eq!(get(sys, "kv/global/k"), Err(Errno::IO));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    holder.join().unwrap();
}
