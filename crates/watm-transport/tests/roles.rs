//! The three roles end to end over loopback TCP, through the plain and
//! reverse WATMs, on both engines (what water-go's suite tests).

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use watm_transport::{Dialer, Listener, Relay};

#[test]
fn dialer_carries_both_ways_and_closes() {
    each_engine!(|runtime, engine| {
        for name in CARRIERS {
            let (server, addr) = listener();
            let dialer = Dialer::new(&runtime, &config(name)).unwrap();
            let mut conn = dialer.dial(addr).unwrap();
            let mut peer = accept(&server);
            exchange(name, &mut conn, &mut peer, 1);

            // Half-close: the module passes end of stream on, and the
            // other direction still works.
            conn.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&mut peer), b"");
            peer.write_all(b"after").unwrap();
            let mut got = [0; 5];
            conn.read_exact(&mut got).unwrap();
            assert_eq!(got.to_vec(), transform(name, b"after"));

            conn.close().unwrap();
            let mut buf = [0; 1];
            let error = conn.read(&mut buf).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::NotConnected, "{engine} {name}");
            assert_eq!(
                conn.write(b"x").unwrap_err().kind(),
                ErrorKind::NotConnected
            );
            eventually("the instance to end", || dialer.live_connections() == 0);
        }
    });
}

#[test]
fn listener_carries_both_ways() {
    each_engine!(|runtime, engine| {
        for name in CARRIERS {
            let listener = Listener::bind(&runtime, &config(name), "127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || TcpStream::connect(addr).unwrap());
            let mut conn = listener.accept().unwrap();
            let mut peer = client.join().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            exchange(name, &mut conn, &mut peer, 2);
            conn.close().unwrap();
            assert_eq!(read_to_end(&mut peer), b"");
            eventually("the instance to end", || listener.live_connections() == 0);
        }
    });
}

#[test]
fn relay_carries_both_ways_for_many_clients() {
    each_engine!(|runtime, engine| {
        for name in CARRIERS {
            let (server, remote) = listener();
            let relay = Relay::bind(&runtime, &config(name), "127.0.0.1:0", remote).unwrap();
            let addr = relay.local_addr().unwrap();
            let closer = relay.closer();
            std::thread::scope(|scope| {
                let serving = scope.spawn(|| relay.serve());
                // Three connections at once.
                let mut pairs: Vec<_> = (0..3)
                    .map(|_| {
                        let client = TcpStream::connect(addr).unwrap();
                        client
                            .set_read_timeout(Some(Duration::from_secs(10)))
                            .unwrap();
                        (client, accept(&server))
                    })
                    .collect();
                for (i, (client, peer)) in pairs.iter_mut().enumerate() {
                    exchange(name, client, peer, 3 + i as u64);
                }
                drop(pairs.pop());
                eventually("one instance to end", || relay.live_connections() == 2);
                closer.close();
                serving.join().unwrap().unwrap();
                // Closing the relay cancelled the other two.
                for (mut client, _) in pairs {
                    assert_eq!(read_to_end(&mut client), b"");
                }
                assert_eq!(relay.live_connections(), 0);
            });
        }
    });
}

#[test]
fn reads_time_out() {
    each_engine!(|runtime, engine| {
        let (server, addr) = listener();
        let dialer = Dialer::new(&runtime, &config("plain.wat")).unwrap();
        let mut conn = dialer.dial(addr).unwrap();
        let _peer = accept(&server);
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let error = conn.read(&mut [0; 8]).unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{error}"
        );
    });
}

#[test]
fn closing_a_listener_wakes_its_accept() {
    let listener = Listener::bind(&wasmi(), &config("plain.wat"), "127.0.0.1:0").unwrap();
    let closer = listener.closer();
    std::thread::scope(|scope| {
        let accepting = scope.spawn(|| listener.accept());
        std::thread::sleep(Duration::from_millis(50));
        closer.close();
        let Err(watm_transport::Error::Io(error)) = accepting.join().unwrap() else {
            panic!("accept did not fail");
        };
        assert_eq!(error.kind(), ErrorKind::NotConnected);
    });
}
