//! What the host keeps for a connection beyond its instance is charged to
//! the instance's host-memory budget (its system's: `spec/watm-v0.md`,
//! "Limits"): `pipe`'s two 64 KiB copy buffers, on both engines.

mod common;

use common::*;
use std::io::{ErrorKind, Write};
use std::sync::Arc;
use wasi_core::budget::HostBudget;
use wasi_core::vfs::VirtualFds;
use wasi_unix::{IoBackend, UnixSystem};
use watm_transport::{Config, Dialer, pipe};

/// `plain.wat` whose instances all charge `budget`.
fn config_with(budget: &HostBudget) -> Config {
    let mut config = config("plain.wat");
    let budget = budget.clone();
    config.system(Some(Arc::new(move |stdin, stdout, stderr| {
        let system = UnixSystem::builder()
            .arg("watm")
            .stdio(stdin, stdout, stderr)
            .io(IoBackend::Sync)
            .host_budget(budget.clone())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Box::new(system) as Box<dyn VirtualFds + Send>)
    })));
    config
}

#[test]
fn pipe_buffers_past_the_budget_close_the_connection() {
    each_engine!(|runtime, engine| {
        // Too small for the two buffers: the connection ends at once.
        let budget = HostBudget::new(100 << 10);
        let dialer = Dialer::new(&runtime, &config_with(&budget)).unwrap();
        let (server, addr) = listener();
        let conn = dialer.dial(addr).unwrap();
        let mut remote = accept(&server);
        let (client, plain) = listener();
        let app = std::net::TcpStream::connect(plain).unwrap();
        let mut user = accept(&client);
        let error = pipe(conn, app).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OutOfMemory, "{engine}: {error}");
        assert_eq!(read_to_end(&mut user), b"", "{engine}");
        assert_eq!(read_to_end(&mut remote), b"", "{engine}");
        eventually("the instance to end", || dialer.live_connections() == 0);
        assert_eq!(budget.used(), 0, "{engine}");

        // With room for them, the bytes go through, and the buffers are
        // given back at the end.
        let budget = HostBudget::new(256 << 10);
        let dialer = Dialer::new(&runtime, &config_with(&budget)).unwrap();
        let conn = dialer.dial(addr).unwrap();
        let mut remote = accept(&server);
        let app = std::net::TcpStream::connect(plain).unwrap();
        let mut user = accept(&client);
        let copying = std::thread::spawn(move || pipe(conn, app));
        user.write_all(b"hello").unwrap();
        user.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = [0; 5];
        std::io::Read::read_exact(&mut remote, &mut got).unwrap();
        assert_eq!(&got, b"hello", "{engine}");
        assert_eq!(budget.used(), 128 << 10, "{engine}");
        drop(remote);
        copying.join().unwrap().unwrap();
        assert_eq!(budget.used(), 0, "{engine}");
    });
}
