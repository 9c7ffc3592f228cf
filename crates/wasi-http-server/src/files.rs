//! `/request` and `/response`: the exchange's files, as mounts.

use crate::exchange::{Exchange, MAX_CHUNK, Writer};
use crate::socket::Session;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex};
use wasi_core::budget::Reservation;
use wasi_core::mount::Mounts;
use wasi_core::runtime::Interrupter;
use wasi_core::sync::lock;
use wasi_core::system::prelude::*;
use wasi_core::vfs::{Listing, OpenHow, VirtualDir, VirtualFds, VirtualFile};

/// Mounts the files of `source` at `/request` and `/response`.
pub fn mount<S: VirtualFds, E: ExchangeSource + 'static>(
    system: &mut Mounts<S>,
    source: Arc<E>,
) -> wasi_core::system::Result<()> {
    system.mount("/request", Arc::new(RequestDir(Arc::clone(&source))))?;
    system.mount("/response", Arc::new(ResponseDir(source)))
}

/// Where the files of a guest find its exchange.
pub trait ExchangeSource: Send + Sync {
    /// The current exchange: for a function its one exchange; for a daemon
    /// the one it serves, or the next one, waited for.
    fn current(&self) -> Result<Arc<Exchange>>;

    /// Whether a request file read once its response is done reads EOF
    /// (a daemon's: the next request comes through the next open).
    const STALE_AFTER_RESPONSE: bool = false;
}

/// A function's one exchange.
impl ExchangeSource for Arc<Exchange> {
    fn current(&self) -> Result<Arc<Exchange>> {
        Ok(Arc::clone(self))
    }
}

/// The requests queued for a pool of daemons: each daemon's files take the
/// next one when the daemon has none or its response is done
/// (`spec/wasi-cloud.md`, "Daemons").
#[derive(Clone)]
pub struct DaemonQueue {
    requests: crossbeam_channel::Receiver<Arc<Exchange>>,
}

impl DaemonQueue {
    /// A queue and the sending end the server pushes requests into;
    /// dropping every sender shuts the daemons down (their waiting opens
    /// fail with `ECANCELED`).
    pub fn new() -> (crossbeam_channel::Sender<Arc<Exchange>>, Self) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (tx, Self { requests: rx })
    }

    /// The source for one daemon instance.
    pub fn daemon(&self) -> Arc<DaemonSource> {
        Arc::new(DaemonSource {
            queue: self.clone(),
            current: Mutex::new(None),
            interrupter: Mutex::new(None),
        })
    }
}

/// One daemon's view of a [`DaemonQueue`].
pub struct DaemonSource {
    queue: DaemonQueue,
    current: Mutex<Option<Arc<Exchange>>>,
    /// The daemon instance's, once it runs: each request it takes stops
    /// it if the request runs past its time.
    interrupter: Mutex<Option<Interrupter>>,
}

impl DaemonSource {
    /// Records the daemon instance's interrupter, so that a request it
    /// takes past its time limit stops it (`spec/wasi-cloud.md`, daemons).
    pub fn set_interrupter(&self, interrupter: Option<Interrupter>) {
        *lock(&self.interrupter) = interrupter;
    }

    /// The exchange the daemon serves, if its response is not done.
    pub fn take_current(&self) -> Option<Arc<Exchange>> {
        let current = lock(&self.current).take();
        current.filter(|exchange| !exchange.is_done())
    }
}

impl ExchangeSource for DaemonSource {
    const STALE_AFTER_RESPONSE: bool = true;

    fn current(&self) -> Result<Arc<Exchange>> {
        let mut current = lock(&self.current);
        if let Some(exchange) = &*current
            && !exchange.is_done()
        {
            return Ok(Arc::clone(exchange));
        }
        // Only this daemon's guest thread waits on its own lock.
        let next = self.queue.requests.recv().map_err(|_| Errno::CANCELED)?;
        if let Some(interrupter) = &*lock(&self.interrupter) {
            next.interrupt_on_expiry(interrupter.clone());
        }
        *current = Some(Arc::clone(&next));
        Ok(next)
    }
}

fn file_stat(ino: u64, size: u64) -> Filestat {
    Filestat {
        ino,
        ..Filestat::file(size)
    }
}

/// Lists `names`: `txt` and `json`, and `/response`'s `socket`.
fn list(names: &[&str], cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
    for (i, name) in names.iter().enumerate().skip(cookie as usize) {
        if !out.push(i as u64 + 1, i as u64 + 1, Filetype::REGULAR_FILE, name) {
            break;
        }
    }
    Ok(())
}

/// The names `/request` holds.
const REQUEST_FILES: [&str; 2] = ["txt", "json"];

/// The names `/response` holds.
const RESPONSE_FILES: [&str; 3] = ["txt", "json", "socket"];

/// The inode of `name` among `names`.
fn ino(names: &[&str], name: &str) -> Result<u64> {
    names
        .iter()
        .position(|n| *n == name)
        .map(|i| i as u64 + 1)
        .ok_or(Errno::NOENT)
}

/// `/request`: `txt` and `json`, read-only.
pub struct RequestDir<S>(pub Arc<S>);

impl<S: ExchangeSource + 'static> VirtualDir for RequestDir<S> {
    fn stat(&self, path: &str) -> Result<Filestat> {
        if path.is_empty() {
            return Ok(Filestat::directory());
        }
        Ok(file_stat(ino(&REQUEST_FILES, path)?, 0))
    }

    fn open_file(&self, path: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        ino(&REQUEST_FILES, path)?;
        if how.oflags.intersects(Oflags::CREAT | Oflags::TRUNC)
            || how.rights.contains(Rights::FD_WRITE)
        {
            return Err(Errno::ROFS);
        }
        let exchange = self.0.current()?;
        if path == "txt" {
            Ok(Box::new(RequestTxt {
                exchange,
                pos: 0,
                stale_after_response: S::STALE_AFTER_RESPONSE,
            }))
        } else {
            let json = exchange.json(&how.budget)?;
            // Each open holds the text for as long as it is open.
            let held = how.budget.try_reserve(json.len() as u64)?;
            Ok(Box::new(RequestJson {
                json,
                pos: 0,
                _held: held,
            }))
        }
    }

    fn readdir(&self, path: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        if !path.is_empty() {
            return Err(Errno::NOTDIR);
        }
        list(&REQUEST_FILES, cookie, out)
    }
}

/// An open `/request/txt`: its own copy of the head, then the shared body.
struct RequestTxt {
    exchange: Arc<Exchange>,
    /// How much of the head was read.
    pos: usize,
    /// Whether it reads EOF once the exchange is done
    /// ([`ExchangeSource::STALE_AFTER_RESPONSE`]).
    stale_after_response: bool,
}

impl VirtualFile for RequestTxt {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(file_stat(1, 0))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let Some(buf) = iovs.iter_mut().find(|buf| !buf.is_empty()) else {
            return Ok(0);
        };
        if self.stale_after_response && self.exchange.is_done() {
            return Ok(0);
        }
        let head = &self.exchange.txt_head()[self.pos..];
        if !head.is_empty() {
            let n = head.len().min(buf.len());
            buf[..n].copy_from_slice(&head[..n]);
            self.pos += n;
            return Ok(n as Size);
        }
        let len = buf.len().min(MAX_CHUNK);
        Ok(self.exchange.read_body(&mut buf[..len])? as Size)
    }

    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        self.exchange.body().map(|body| body.as_fd())
    }
}

/// An open `/request/json`.
struct RequestJson {
    json: Arc<[u8]>,
    pos: usize,
    /// The text's bytes, charged to the guest's host memory.
    _held: Reservation,
}

impl VirtualFile for RequestJson {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(file_stat(2, self.json.len() as u64))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        let mut total = 0;
        for buf in iovs {
            let rest = &self.json[self.pos..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            total += n;
        }
        Ok(total as Size)
    }
}

/// `/response`: `txt` and `json`, write-only.
pub struct ResponseDir<S>(pub Arc<S>);

impl<S: ExchangeSource + 'static> VirtualDir for ResponseDir<S> {
    fn stat(&self, path: &str) -> Result<Filestat> {
        if path.is_empty() {
            return Ok(Filestat::directory());
        }
        Ok(file_stat(ino(&RESPONSE_FILES, path)?, 0))
    }

    fn open_file(&self, path: &str, how: &OpenHow) -> Result<Box<dyn VirtualFile>> {
        let writer = match path {
            "txt" => Writer::Txt,
            "json" => Writer::Json,
            "socket" => {
                let session = self.0.current()?.open_socket(&how.budget)?;
                return Ok(Box::new(SocketFile(session)));
            }
            _ => return Err(Errno::NOENT),
        };
        if how.rights.contains(Rights::FD_READ) {
            return Err(Errno::ACCES);
        }
        let exchange = self.0.current()?;
        exchange.open_writer(writer)?;
        Ok(Box::new(ResponseFile {
            exchange,
            writer,
            held: how.budget.reservation(),
        }))
    }

    fn readdir(&self, path: &str, cookie: Dircookie, out: &mut Listing<'_, '_>) -> Result<()> {
        if !path.is_empty() {
            return Err(Errno::NOTDIR);
        }
        list(&RESPONSE_FILES, cookie, out)
    }
}

/// An open `/response/txt` or `/response/json`; closing the last one
/// completes the response.
struct ResponseFile {
    exchange: Arc<Exchange>,
    writer: Writer,
    /// What its `json` writes keep until the response is complete,
    /// charged to the guest's host memory.
    held: Reservation,
}

impl VirtualFile for ResponseFile {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(file_stat(
            match self.writer {
                Writer::Txt => 1,
                Writer::Json => 2,
            },
            0,
        ))
    }

    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let mut total = 0;
        for buf in iovs.iter().filter(|buf| !buf.is_empty()) {
            let n = match self.writer {
                Writer::Txt => self.exchange.write_txt(buf),
                Writer::Json => {
                    let before = self.held.bytes();
                    if self.held.try_resize(before + buf.len() as u64).is_err() {
                        Err(Errno::NOSPC)
                    } else {
                        let written = self.exchange.write_json(buf);
                        if written.is_err() {
                            // Shrinking always succeeds.
                            let _ = self.held.try_resize(before);
                        }
                        written
                    }
                }
            };
            match n {
                Ok(n) => {
                    total += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total as Size)
    }
}

/// An open `/response/socket`: the WebSocket's messages, framed
/// (`spec/wasi-cloud.md`, "WebSocket daemons").
struct SocketFile(Arc<Session>);

impl VirtualFile for SocketFile {
    fn filetype(&self) -> Filetype {
        Filetype::REGULAR_FILE
    }

    fn filestat(&mut self) -> Result<Filestat> {
        Ok(file_stat(3, 0))
    }

    fn read(&mut self, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        match iovs.iter_mut().find(|buf| !buf.is_empty()) {
            Some(buf) => Ok(self.0.read(buf)? as Size),
            None => Ok(0),
        }
    }

    fn write(&mut self, iovs: &[IoSlice<'_>]) -> Result<Size> {
        let mut total = 0;
        for buf in iovs.iter().filter(|buf| !buf.is_empty()) {
            total += self.0.write(buf)?;
        }
        Ok(total as Size)
    }

    fn ready_fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.ready_fd()
    }
}

impl Drop for ResponseFile {
    fn drop(&mut self) {
        self.exchange.close_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::RequestHead;
    use std::io::Write;
    use wasi_unix::UnixSystem;

    fn open(
        system: &mut Mounts<UnixSystem>,
        dir: Fd,
        path: &str,
        oflags: Oflags,
        rights: Rights,
    ) -> Result<Fd> {
        system.path_open(
            dir,
            Lookupflags::empty(),
            path,
            oflags,
            rights,
            Rights::empty(),
            Fdflags::empty(),
        )
    }

    #[test]
    fn the_files_of_one_exchange() {
        let head = RequestHead {
            method: "POST".into(),
            target: "/x".into(),
            version: "HTTP/1.1",
            headers: vec![("host".into(), b"h".to_vec())],
            remote_addr: None,
            local_addr: None,
        };
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (exchange, mut reply) = Exchange::new(head, Some(reader), 1 << 20);
        let mut system = Mounts::new(UnixSystem::builder().build().unwrap());
        mount(&mut system, Arc::new(Arc::clone(&exchange))).unwrap();
        let (request, response) = (3, 4);

        // Request files are read-only, response files write-only.
        for (oflags, rights) in [
            (Oflags::CREAT, Rights::FD_READ),
            (Oflags::TRUNC, Rights::FD_READ),
            (Oflags::empty(), Rights::FD_WRITE),
        ] {
            assert_eq!(
                open(&mut system, request, "txt", oflags, rights),
                Err(Errno::ROFS)
            );
        }
        assert_eq!(
            open(
                &mut system,
                response,
                "txt",
                Oflags::empty(),
                Rights::FD_READ
            ),
            Err(Errno::ACCES)
        );
        for oflags in [Oflags::empty(), Oflags::CREAT] {
            assert_eq!(
                open(&mut system, request, "other", oflags, Rights::FD_READ),
                Err(Errno::NOENT)
            );
        }

        // The head at once, then the body as it arrives, to EOF.
        let txt = open(
            &mut system,
            request,
            "txt",
            Oflags::empty(),
            Rights::FD_READ,
        )
        .unwrap();
        writer.write_all(b"body").unwrap();
        drop(writer);
        let mut all = Vec::new();
        loop {
            let mut buf = [0; 7];
            let n = system
                .fd_read(txt, &mut [std::io::IoSliceMut::new(&mut buf)])
                .unwrap() as usize;
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, b"POST /x HTTP/1.1\r\nhost: h\r\n\r\nbody");

        // The first response file opened for writing is the response.
        let out = open(
            &mut system,
            response,
            "txt",
            Oflags::CREAT | Oflags::TRUNC,
            Rights::FD_WRITE,
        )
        .unwrap();
        assert_eq!(
            open(
                &mut system,
                response,
                "json",
                Oflags::empty(),
                Rights::FD_WRITE
            ),
            Err(Errno::BUSY)
        );
        let head = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            system.fd_write(out, &[std::io::IoSlice::new(head)]),
            Ok(head.len() as Size)
        );
        assert_eq!(reply.try_recv().unwrap().status(), 204);
        assert!(!exchange.is_done());
        system.fd_close(out).unwrap();
        assert!(exchange.is_done());
        // Done: no more writing.
        assert_eq!(
            open(
                &mut system,
                response,
                "txt",
                Oflags::empty(),
                Rights::FD_WRITE
            ),
            Err(Errno::PIPE)
        );
    }

    #[test]
    fn json_buffers_count_against_the_guests_host_memory() {
        let head = || RequestHead {
            method: "POST".into(),
            target: "/".into(),
            version: "HTTP/1.1",
            headers: Vec::new(),
            remote_addr: None,
            local_addr: None,
        };
        let (reader, mut writer) = std::io::pipe().unwrap();
        // More than a pipe holds: written while the open reads it.
        let feeder = std::thread::spawn(move || {
            let _ = writer.write_all(&[b'x'; 300_000]);
        });
        let (exchange, _reply) = Exchange::new(head(), Some(reader), 1 << 20);
        let budget = wasi_core::budget::HostBudget::new(256 << 10);
        let mut builder = UnixSystem::builder();
        builder.host_budget(budget.clone());
        let mut system = Mounts::new(builder.build().unwrap());
        mount(&mut system, Arc::new(Arc::clone(&exchange))).unwrap();
        let (request, response) = (3, 4);
        // A 300 KB body does not fit in 256 KiB: ENOMEM, nothing kept.
        assert_eq!(
            open(
                &mut system,
                request,
                "json",
                Oflags::empty(),
                Rights::FD_READ
            ),
            Err(Errno::NOMEM)
        );
        assert_eq!(budget.used(), 0);
        drop(system);
        drop(exchange);
        feeder.join().unwrap();
        let mut system = {
            let mut builder = UnixSystem::builder();
            builder.host_budget(budget.clone());
            Mounts::new(builder.build().unwrap())
        };
        let (exchange, _reply) = Exchange::new(head(), None, 0);
        mount(&mut system, Arc::new(exchange)).unwrap();
        // Writes of `/response/json` past it fail with ENOSPC, writing
        // nothing; closing gives the memory back.
        let out = open(
            &mut system,
            response,
            "json",
            Oflags::empty(),
            Rights::FD_WRITE,
        )
        .unwrap();
        let chunk = [b' '; 100 << 10];
        for _ in 0..2 {
            assert_eq!(
                system.fd_write(out, &[std::io::IoSlice::new(&chunk)]),
                Ok(chunk.len() as Size)
            );
        }
        assert_eq!(
            system.fd_write(out, &[std::io::IoSlice::new(&chunk)]),
            Err(Errno::NOSPC)
        );
        assert_eq!(budget.used(), 200 << 10);
        system.fd_close(out).unwrap();
        assert_eq!(budget.used(), 0);
    }
}
