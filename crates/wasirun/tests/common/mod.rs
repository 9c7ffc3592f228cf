//! What the tests of `wasirun serve` as a process share: starting it on a
//! free port, and stopping it whatever happens.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// A child process, killed when dropped (a failed test leaves no server).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `wasirun serve` started by [`spawn_server`].
pub struct Spawned {
    pub child: Child,
    /// Its first stderr line, which names the address it serves on.
    pub first: String,
    /// That address.
    pub addr: SocketAddr,
    /// Its stderr lines after the first, as they come.
    pub lines: mpsc::Receiver<String>,
}

/// Spawns `command`, a `wasirun serve` on a free port, and reads the
/// address its first stderr line reports (`... on http://IP:PORT`);
/// its later lines are passed on as they come.
pub fn spawn_server(command: &mut Command) -> Spawned {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .rsplit_once("://")
        .unwrap_or_else(|| panic!("{first}"))
        .1
        .parse()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Spawned {
        child,
        first,
        addr,
        lines: rx,
    }
}
