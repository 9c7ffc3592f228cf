//! Descriptor caps (`spec/preview1.md`, "File descriptors"): a guest's
//! table holds at most `Builder::max_fds` descriptors (`EMFILE`), checked
//! before anything is opened or created, and the host descriptors of the
//! guests sharing an `FdPool` stay within its share (`ENFILE`).

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasi_core::budget::HostBudget;
use wasi_core::mount::Mounts;
use wasi_core::types::*;
use wasi_core::vfs::{BytesFile, OpenHow, VirtualDir, VirtualFds, VirtualFile};
use wasi_core::{Errno, System};
use wasi_unix::{FdPool, UnixSystem};

/// Opens WasmEdge sockets (which need no grant) until a call fails;
/// returns the descriptors opened and the error.
fn open_sockets(sys: &mut impl System) -> (Vec<Fd>, Errno) {
    let mut fds = Vec::new();
    loop {
        match sys.sock_open(AddressFamily::INET4, SockType::STREAM) {
            Ok(fd) => fds.push(fd),
            Err(errno) => return (fds, errno),
        }
        assert!(fds.len() < 100_000, "sock_open never stopped");
    }
}

fn open(sys: &mut impl System, dir: Fd, path: &str, oflags: Oflags) -> Result<Fd, Errno> {
    sys.path_open(
        dir,
        Lookupflags::empty(),
        path,
        oflags,
        Rights::FD_READ | Rights::FD_WRITE,
        Rights::empty(),
        Fdflags::empty(),
    )
}

#[test]
fn the_default_cap_is_1024_descriptors() {
    let sys = UnixSystem::builder().build().unwrap();
    assert_eq!(sys.max_fds(), 1024);
    let mut sys = UnixSystem::builder()
        .fd_pool(FdPool::with_share(usize::MAX))
        .build()
        .unwrap();
    // Stdio takes three.
    let (fds, errno) = open_sockets(&mut sys);
    assert_eq!((fds.len(), errno), (1021, Errno::MFILE));
}

#[test]
fn sock_open_stops_at_max_fds_with_emfile() {
    let mut sys = UnixSystem::builder().max_fds(8).build().unwrap();
    let (fds, errno) = open_sockets(&mut sys);
    // 0, 1 and 2 are stdio: five sockets fit.
    assert_eq!(fds, [3, 4, 5, 6, 7]);
    assert_eq!(errno, Errno::MFILE);
    // Closing one makes room for one; renumbering needs none.
    sys.fd_close(5).unwrap();
    assert_eq!(sys.sock_open(AddressFamily::INET6, SockType::DGRAM), Ok(5));
    sys.fd_renumber(7, 3).unwrap();
    assert_eq!(sys.sock_open(AddressFamily::INET4, SockType::STREAM), Ok(7));
    assert_eq!(
        sys.sock_open(AddressFamily::INET4, SockType::STREAM),
        Err(Errno::MFILE)
    );
}

#[test]
fn a_full_table_creates_and_truncates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("kept"), b"contents").unwrap();
    let mut builder = UnixSystem::builder();
    builder.preopen_dir(tmp.path(), "/tmp").unwrap();
    builder.allow_bind("127.0.0.1:*".parse().unwrap());
    // stdio, the preopen and one more.
    let mut sys = builder.max_fds(5).build().unwrap();
    let fd = open(&mut sys, 3, "a", Oflags::CREAT).unwrap();
    assert_eq!(open(&mut sys, 3, "b", Oflags::CREAT), Err(Errno::MFILE));
    assert!(
        !tmp.path().join("b").exists(),
        "a full table created a file"
    );
    assert_eq!(open(&mut sys, 3, "kept", Oflags::TRUNC), Err(Errno::MFILE));
    assert_eq!(std::fs::read(tmp.path().join("kept")).unwrap(), b"contents");
    // The argument checks come first.
    assert_eq!(open(&mut sys, 9, "b", Oflags::CREAT), Err(Errno::BADF));
    // A `tcp+listen://` path too (after its bind rule is checked).
    let listen = "tcp+listen://127.0.0.1:0";
    assert_eq!(
        open(&mut sys, 3, listen, Oflags::empty()),
        Err(Errno::MFILE)
    );
    sys.fd_close(fd).unwrap();
    assert!(open(&mut sys, 3, "b", Oflags::CREAT).is_ok());
}

#[test]
fn virtual_and_inserted_descriptors_count() {
    let mut sys = UnixSystem::builder().max_fds(5).build().unwrap();
    let file = || Box::new(BytesFile::new(b"x")) as Box<dyn VirtualFile>;
    let rights = Rights::REGULAR_FILE;
    assert_eq!(sys.fd_room(), Ok(()));
    assert_eq!(
        VirtualFds::insert_virtual(&mut sys, file(), rights, Rights::empty(), None),
        Ok(3)
    );
    let socket: OwnedFd = TcpListener::bind("127.0.0.1:0").unwrap().into();
    assert_eq!(
        sys.insert_host(socket, Rights::SOCKET, Rights::empty()),
        Ok(4)
    );
    assert_eq!(sys.fd_room(), Err(Errno::MFILE));
    assert_eq!(
        VirtualFds::insert_virtual(&mut sys, file(), rights, Rights::empty(), None),
        Err(Errno::MFILE)
    );
    let socket: OwnedFd = TcpListener::bind("127.0.0.1:0").unwrap().into();
    assert_eq!(
        sys.insert_host(socket, Rights::SOCKET, Rights::empty()),
        Err(Errno::MFILE)
    );
}

/// A mount counting its opens.
struct Counted(AtomicUsize);

impl VirtualDir for Counted {
    fn stat(&self, path: &str) -> wasi_core::system::Result<Filestat> {
        match path {
            "" => Ok(Filestat::directory()),
            _ => Ok(Filestat::file(1)),
        }
    }

    fn open_file(&self, _: &str, how: &OpenHow) -> wasi_core::system::Result<Box<dyn VirtualFile>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        // Every open is given the guest's budget.
        assert_eq!(how.budget.limit(), 12345);
        Ok(Box::new(BytesFile::new(b"x")))
    }
}

#[test]
fn a_mount_is_not_asked_to_open_when_the_table_is_full() {
    let sys = UnixSystem::builder()
        .max_fds(5)
        .host_budget(HostBudget::new(12345))
        .build()
        .unwrap();
    let mut sys = Mounts::new(sys);
    let dir = Arc::new(Counted(AtomicUsize::new(0)));
    // The virtual preopen `/m` is descriptor 3.
    sys.mount("/m/d", dir.clone()).unwrap();
    assert_eq!(sys.host_budget().limit(), 12345);
    open(&mut sys, 3, "d/a", Oflags::empty()).unwrap();
    assert_eq!(dir.0.load(Ordering::SeqCst), 1);
    assert_eq!(open(&mut sys, 3, "d/b", Oflags::CREAT), Err(Errno::MFILE));
    assert_eq!(open(&mut sys, 3, "d", Oflags::DIRECTORY), Err(Errno::MFILE));
    assert_eq!(dir.0.load(Ordering::SeqCst), 1);
    // Missing paths are still missing.
    assert_eq!(
        open(&mut sys, 3, "nope", Oflags::empty()),
        Err(Errno::NOENT)
    );
}

#[test]
fn guests_sharing_a_pool_stop_at_its_share_with_enfile() {
    let pool = FdPool::with_share(6);
    let build = || UnixSystem::builder().fd_pool(pool.clone()).build().unwrap();
    let (mut a, mut b) = (build(), build());
    // The process's own stdio is borrowed: not counted.
    assert_eq!(pool.held(), 0);
    for _ in 0..4 {
        a.sock_open(AddressFamily::INET4, SockType::STREAM).unwrap();
    }
    let (fds, errno) = open_sockets(&mut b);
    assert_eq!((fds.len(), errno), (2, Errno::NFILE));
    assert_eq!(pool.held(), 6);
    // A descriptor handed over past the share is closed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let socket: OwnedFd = listener.into();
    assert_eq!(
        b.insert_host(socket, Rights::SOCKET, Rights::empty()),
        Err(Errno::NFILE)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the refused listener is still open"
    );
    // Closing gives back: by fd_close, and by dropping a system.
    b.fd_close(fds[0]).unwrap();
    assert_eq!(pool.held(), 5);
    drop(a);
    assert_eq!(pool.held(), 1);
    let (fds, errno) = open_sockets(&mut b);
    assert_eq!((fds.len(), errno), (5, Errno::NFILE));
}

#[test]
fn a_system_whose_streams_do_not_fit_the_pool_is_not_built() {
    let pool = FdPool::with_share(2);
    let stream = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
    let error = UnixSystem::builder()
        .fd_pool(pool.clone())
        .stdio(stream(), stream(), stream())
        .build()
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(23), "{error}"); // ENFILE
    assert_eq!(pool.held(), 0);
    let error = UnixSystem::builder()
        .max_fds(2)
        .stdio(stream(), stream(), stream())
        .build()
        .unwrap_err();
    assert_eq!(error.raw_os_error(), Some(24), "{error}"); // EMFILE
}

#[test]
fn the_systems_own_ring_and_eventfd_count_in_its_pool() {
    // A canceller's eventfd is made by the first wait, and counted.
    let pool = FdPool::with_share(1);
    let mut sys = UnixSystem::builder().fd_pool(pool.clone()).build().unwrap();
    let canceller = sys.canceller();
    let sleep = Subscription::new(
        1,
        SubscriptionKind::Clock(SubscriptionClock {
            id: Clockid::MONOTONIC,
            timeout: 1_000_000,
            ..Default::default()
        }),
    );
    let mut events = [Event::default()];
    assert_eq!(sys.poll_oneoff(&[sleep], &mut events), Ok(1));
    assert_eq!(pool.held(), 1);
    // The guests' share is full: opening fails, and a second cancellable
    // system's first wait fails with `ENFILE`.
    assert_eq!(
        sys.sock_open(AddressFamily::INET4, SockType::STREAM),
        Err(Errno::NFILE)
    );
    let mut other = UnixSystem::builder().fd_pool(pool.clone()).build().unwrap();
    let _canceller = other.canceller();
    assert_eq!(other.poll_oneoff(&[sleep], &mut events), Err(Errno::NFILE));
    // It is closed with the last of the system and its cancellers.
    drop(sys);
    assert_eq!(pool.held(), 1);
    drop(canceller);
    assert_eq!(pool.held(), 0);
    // An io_uring made at build counts; without room, the build fails.
    if wasi_unix::features::io_uring().is_available() {
        let pool = FdPool::with_share(1);
        let build = || {
            UnixSystem::builder()
                .fd_pool(pool.clone())
                .io(wasi_unix::IoBackend::Uring)
                .build()
        };
        let ring = build().unwrap();
        assert_eq!(pool.held(), 1);
        let error = build().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(23), "{error}"); // ENFILE
        drop(ring);
        assert_eq!(pool.held(), 0);
    }
}
