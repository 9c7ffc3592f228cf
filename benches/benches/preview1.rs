//! Preview 1 hot paths on five columns: our host on wasmtime and on wasmi,
//! wasmtime's own preview 1 host (`wasmtime-wasi`), wasmi's (`wasmi_wasi`,
//! on wasi-common), and the same system calls made natively from Rust.
//!
//! Each scenario is a guest in `guests/NAME.wat` exporting `setup` (called
//! once, after instantiation) and `run(iterations: i64)`, which makes the call
//! being measured `iterations` times. Criterion's `iter_custom` times only
//! `run`: every host instantiates its guest once per scenario and reuses it.
//! Benchmark ids are `SCENARIO/HOST`; `cargo xtask bench` turns criterion's
//! estimates into `target/bench-report/report.{md,svg}`.
//!
//! Fixtures (a 1 GiB file, a 10,000-entry directory, sockets, an echo
//! server) are made on first use, so a filter that skips a scenario skips its
//! setup too.
//!
//! Two scenarios measure WADI (`wadi-devices`) rather than a preview 1 host:
//! 64 KiB reads of `/dev/zero` served by the `zero` driver through [`Wadi`],
//! and the same reads of a 64 KiB host file, on our host only; `cargo xtask
//! bench` reports the device's throughput as a fraction of the file's.

use std::cell::OnceCell;
use std::fs;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wadi_devices::Wadi;
use wadi_devices::driver_spec::DriverSpec;
use wasi_runner::{DRIVER_CONFIG, Devices, Module};
use wasi_unix::{IoBackend, UnixSystem};

/// The hosts, in column order.
const HOSTS: [&str; 5] = [
    "ours/wasmtime",
    "ours/wasmi",
    "wasmtime-wasi",
    "wasmi_wasi",
    "native",
];

/// Our host on wasmtime with each I/O backend forced (`ours/wasmtime` is
/// `auto`, the default), run on [`IO_SCENARIOS`] to show the backends side by
/// side.
const IO_HOSTS: [(&str, IoBackend); 2] = [
    ("ours/wasmtime+sync", IoBackend::Sync),
    ("ours/wasmtime+uring", IoBackend::Uring),
];

/// The scenarios where the I/O backend can matter.
const IO_SCENARIOS: [&str; 3] = [
    "poll_oneoff_1001_sockets",
    "fd_read_64KiB_of_1GiB",
    "tcp_echo_64B",
];

/// Why `wasmtime-wasi` has no socket cells. `cargo xtask bench` prints the
/// same reason in the report.
const WASMTIME_WASI_NO_SOCKETS: &str = "wasmtime-wasi's preview 1 host cannot be given a socket \
     (its WasiCtxBuilder preopens only directories) and its sock_send/sock_recv return ENOTSOCK";

/// Why only our hosts run the WADI scenarios. `cargo xtask bench` prints
/// the same reason in the report.
const WADI_OURS_ONLY: &str = "WADI devices are served by our host only; the host-file row is \
     their baseline, run on the same hosts";

/// How `wasmi_wasi` answers `poll_oneoff`. `cargo xtask bench` notes it in
/// the report.
const WASI_COMMON_POLL_ALL_READY: &str = "wasi-common reports every subscription as ready \
     (1,001 events, not 1) as soon as one is: it completes all of them after poll(2) returns";

/// Size of the file read by `fd_read`.
const BIG_FILE_LEN: u64 = 1 << 30;
/// Size of one `fd_read`, and of the host file read by `fd_read_64KiB_host_file`.
const READ_CHUNK: u64 = 64 << 10;
/// Entries of the directory listed by `fd_readdir`.
const DIR_ENTRIES: usize = 10_000;
/// Sockets polled by `poll_oneoff`, the last one ready.
const POLL_SOCKETS: usize = 1_001;
/// Bytes of one echo round trip (fixed by `guests/tcp_echo.wat`).
const ECHO_LEN: usize = 64;

/// A socket handed to the guest.
enum Socket {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl From<Socket> for OwnedFd {
    fn from(socket: Socket) -> Self {
        match socket {
            Socket::Unix(s) => s.into(),
            Socket::Tcp(s) => s.into(),
        }
    }
}

/// What one host's guest is given: directories (descriptors 3, 4, ...) then
/// sockets, plus whatever must stay alive meanwhile (socket peers). With
/// `wadi_zero`, our host is wrapped in [`Wadi`] with the `zero` driver loaded
/// (its `/dev` a virtual preopen after the directories).
#[derive(Default)]
struct Fixture {
    dirs: Vec<(PathBuf, &'static str)>,
    sockets: Vec<Socket>,
    peers: Vec<UnixStream>,
    wadi_zero: bool,
}

/// Files and servers shared by the scenarios, made on first use and removed
/// when the benchmarks end.
struct Workdir {
    root: tempfile::TempDir,
    small: OnceCell<PathBuf>,
    big: OnceCell<PathBuf>,
    listing: OnceCell<PathBuf>,
    zero: OnceCell<PathBuf>,
    echo: OnceCell<SocketAddr>,
}

impl Workdir {
    fn new() -> Self {
        Self {
            root: tempfile::Builder::new()
                .prefix("wasi-host-bench")
                .tempdir()
                .expect("cannot create the benchmarks' temporary directory"),
            small: OnceCell::new(),
            big: OnceCell::new(),
            listing: OnceCell::new(),
            zero: OnceCell::new(),
            echo: OnceCell::new(),
        }
    }

    /// A directory holding the small file `file`.
    fn small(&self) -> &Path {
        self.small.get_or_init(|| {
            let dir = self.root.path().join("small");
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("file"), b"hello\n").unwrap();
            fs::create_dir_all(dir.join("a/b/c")).unwrap();
            fs::write(dir.join("a/b/c/file"), b"hello\n").unwrap();
            dir
        })
    }

    /// A directory holding the 1 GiB file `big`, written once (real data,
    /// not a hole, so reads copy from the page cache).
    fn big(&self) -> &Path {
        self.big.get_or_init(|| {
            let dir = self.root.path().join("big");
            fs::create_dir(&dir).unwrap();
            let mut file = fs::File::create(dir.join("big")).unwrap();
            let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8 | 1).collect();
            for _ in 0..BIG_FILE_LEN / chunk.len() as u64 {
                file.write_all(&chunk).unwrap();
            }
            file.sync_all().unwrap();
            dir
        })
    }

    /// A directory of `DIR_ENTRIES` empty files.
    fn listing(&self) -> &Path {
        self.listing.get_or_init(|| {
            let dir = self.root.path().join("listing");
            fs::create_dir(&dir).unwrap();
            for i in 0..DIR_ENTRIES {
                fs::File::create(dir.join(format!("entry-{i:05}"))).unwrap();
            }
            dir
        })
    }

    /// A directory holding `zero`, a host file of `READ_CHUNK` zero bytes
    /// (written, not a hole), the baseline of the WADI `/dev/zero`.
    fn zero(&self) -> &Path {
        self.zero.get_or_init(|| {
            let dir = self.root.path().join("zero");
            fs::create_dir(&dir).unwrap();
            let mut file = fs::File::create(dir.join("zero")).unwrap();
            file.write_all(&[0; READ_CHUNK as usize]).unwrap();
            file.sync_all().unwrap();
            dir
        })
    }

    /// A loopback TCP echo server on its own threads (one per connection,
    /// ending when the client closes).
    fn echo(&self) -> SocketAddr {
        *self.echo.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    std::thread::spawn(move || {
                        stream.set_nodelay(true).unwrap();
                        let mut buf = [0; 4096];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
            addr
        })
    }
}

/// One scenario: its guest, its fixture and its native equivalent.
struct Scenario {
    name: &'static str,
    wat: &'static str,
    /// Bytes moved per iteration, reported as throughput.
    throughput: Option<u64>,
    /// Criterion samples (fewer for slow iterations).
    sample_size: usize,
    fixture: fn(&Workdir) -> Fixture,
    /// The native loop: runs `iterations` times, returns the time taken.
    native: fn(Fixture) -> Box<dyn FnMut(u64) -> Duration>,
    /// Hosts that cannot run the scenario, and why.
    unsupported: &'static [(&'static str, &'static str)],
    /// Hosts that run it but do not do quite the same work, and how.
    caveats: &'static [(&'static str, &'static str)],
}

fn dir_fixture(dir: &Path) -> Fixture {
    Fixture {
        dirs: vec![(dir.to_owned(), "/bench")],
        ..Fixture::default()
    }
}

/// Opens the fixture's first directory for the native loops.
fn open_dir(fixture: &Fixture) -> OwnedFd {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        &fixture.dirs[0].0,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap()
}

/// The native loop of the `path_open` scenarios: opens `path` beneath the
/// fixture's directory and closes it.
fn open_close(fixture: Fixture, path: &'static str) -> Box<dyn FnMut(u64) -> Duration> {
    use rustix::fs::{Mode, OFlags};
    let dir = open_dir(&fixture);
    Box::new(move |n| {
        timed(n, || {
            let file = rustix::fs::openat(
                &dir,
                black_box(path),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            );
            drop(file.unwrap());
        })
    })
}

/// Times `iterations` calls of `f`.
fn timed(iterations: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed()
}

fn scenarios() -> Vec<Scenario> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    vec![
        Scenario {
            name: "fd_write_1B",
            wat: include_str!("../guests/fd_write.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |_| Fixture {
                dirs: vec![("/dev".into(), "/dev")],
                ..Fixture::default()
            },
            native: |_| {
                let null =
                    rustix::fs::open("/dev/null", OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())
                        .unwrap();
                Box::new(move |n| {
                    timed(n, || {
                        assert_eq!(rustix::io::write(&null, black_box(b"x")).unwrap(), 1);
                    })
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "clock_time_get",
            wat: include_str!("../guests/clock_time_get.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |_| Fixture::default(),
            native: |_| {
                Box::new(|n| {
                    timed(n, || {
                        black_box(rustix::time::clock_gettime(
                            rustix::time::ClockId::Monotonic,
                        ));
                    })
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "random_get_32B",
            wat: include_str!("../guests/random_get.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |_| Fixture::default(),
            native: |_| {
                Box::new(|n| {
                    let mut buf = [0u8; 32];
                    timed(n, || {
                        let got = rustix::rand::getrandom(
                            black_box(&mut buf[..]),
                            rustix::rand::GetRandomFlags::empty(),
                        )
                        .unwrap();
                        assert_eq!(got, 32);
                    })
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "path_open_fd_close",
            wat: include_str!("../guests/path_open_close.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |work| dir_fixture(work.small()),
            native: |fixture| open_close(fixture, "file"),
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "path_open_nested_fd_close",
            wat: include_str!("../guests/path_open_nested.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |work| dir_fixture(work.small()),
            native: |fixture| open_close(fixture, "a/b/c/file"),
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "path_filestat_get",
            wat: include_str!("../guests/path_filestat_get.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |work| dir_fixture(work.small()),
            native: |fixture| {
                let dir = open_dir(&fixture);
                Box::new(move |n| {
                    timed(n, || {
                        black_box(
                            rustix::fs::statat(&dir, black_box("file"), AtFlags::SYMLINK_NOFOLLOW)
                                .unwrap(),
                        );
                    })
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "fd_read_64KiB_of_1GiB",
            wat: include_str!("../guests/fd_read.wat"),
            throughput: Some(READ_CHUNK),
            sample_size: 50,
            fixture: |work| dir_fixture(work.big()),
            native: |fixture| {
                let dir = open_dir(&fixture);
                let file = rustix::fs::openat(
                    &dir,
                    "big",
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .unwrap();
                let mut buf = vec![0u8; READ_CHUNK as usize];
                Box::new(move |n| {
                    let start = Instant::now();
                    let mut done = 0;
                    while done < n {
                        if rustix::io::read(&file, &mut buf[..]).unwrap() == 0 {
                            rustix::fs::seek(&file, rustix::fs::SeekFrom::Start(0)).unwrap();
                            continue;
                        }
                        done += 1;
                    }
                    black_box(&buf);
                    start.elapsed()
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "fd_readdir_10k",
            wat: include_str!("../guests/fd_readdir.wat"),
            throughput: None,
            sample_size: 20,
            fixture: |work| dir_fixture(work.listing()),
            native: |fixture| {
                let mut dir = rustix::fs::Dir::new(open_dir(&fixture)).unwrap();
                Box::new(move |n| {
                    timed(n, || {
                        dir.rewind();
                        let mut count = 0;
                        while let Some(entry) = dir.read() {
                            black_box(entry.unwrap());
                            count += 1;
                        }
                        assert_eq!(count, DIR_ENTRIES + 2);
                    })
                })
            },
            unsupported: &[],
            caveats: &[],
        },
        Scenario {
            name: "poll_oneoff_1001_sockets",
            wat: include_str!("../guests/poll_oneoff.wat"),
            throughput: None,
            sample_size: 50,
            fixture: |_| {
                let mut fixture = Fixture::default();
                for _ in 0..POLL_SOCKETS {
                    let (ours, mut peer) = UnixStream::pair().unwrap();
                    if fixture.sockets.len() == POLL_SOCKETS - 1 {
                        // Never read: the last socket stays readable.
                        peer.write_all(b"!").unwrap();
                    }
                    fixture.sockets.push(Socket::Unix(ours));
                    fixture.peers.push(peer);
                }
                fixture
            },
            native: |fixture| {
                use rustix::event::{PollFd, PollFlags};
                let fds: Vec<OwnedFd> = fixture.sockets.into_iter().map(OwnedFd::from).collect();
                Box::new(move |n| {
                    let _peers = &fixture.peers;
                    let mut polled: Vec<PollFd<'_>> = fds
                        .iter()
                        .map(|fd| PollFd::new(fd, PollFlags::IN))
                        .collect();
                    timed(n, || {
                        assert_eq!(rustix::event::poll(&mut polled, None).unwrap(), 1);
                    })
                })
            },
            unsupported: &[("wasmtime-wasi", WASMTIME_WASI_NO_SOCKETS)],
            caveats: &[("wasmi_wasi", WASI_COMMON_POLL_ALL_READY)],
        },
        Scenario {
            name: "tcp_echo_64B",
            wat: include_str!("../guests/tcp_echo.wat"),
            throughput: None,
            sample_size: 100,
            fixture: |work| {
                let stream = TcpStream::connect(work.echo()).unwrap();
                stream.set_nodelay(true).unwrap();
                Fixture {
                    sockets: vec![Socket::Tcp(stream)],
                    ..Fixture::default()
                }
            },
            native: |fixture| {
                let Some(Socket::Tcp(mut stream)) = fixture.sockets.into_iter().next() else {
                    unreachable!("the echo fixture is one TCP stream")
                };
                let message = [b'x'; ECHO_LEN];
                let mut echoed = [0u8; ECHO_LEN];
                Box::new(move |n| {
                    timed(n, || {
                        stream.write_all(&message).unwrap();
                        stream.read_exact(&mut echoed).unwrap();
                    })
                })
            },
            unsupported: &[("wasmtime-wasi", WASMTIME_WASI_NO_SOCKETS)],
            caveats: &[],
        },
        Scenario {
            name: "fd_read_64KiB_wadi_dev_zero",
            wat: include_str!("../guests/read_64KiB_rewind.wat"),
            throughput: Some(READ_CHUNK),
            sample_size: 50,
            fixture: |_| Fixture {
                wadi_zero: true,
                ..Fixture::default()
            },
            native: |_| unreachable!("{WADI_OURS_ONLY}"),
            unsupported: &WADI_UNSUPPORTED,
            caveats: &[],
        },
        Scenario {
            name: "fd_read_64KiB_host_file",
            wat: include_str!("../guests/read_64KiB_rewind.wat"),
            throughput: Some(READ_CHUNK),
            sample_size: 50,
            fixture: |work| Fixture {
                dirs: vec![(work.zero().to_owned(), "/dev")],
                ..Fixture::default()
            },
            native: |_| unreachable!("{WADI_OURS_ONLY}"),
            unsupported: &WADI_UNSUPPORTED,
            caveats: &[],
        },
    ]
}

/// The hosts that do not run the WADI scenarios.
const WADI_UNSUPPORTED: [(&str, &str); 3] = [
    ("wasmtime-wasi", WADI_OURS_ONLY),
    ("wasmi_wasi", WADI_OURS_ONLY),
    ("native", WADI_OURS_ONLY),
];

/// The `zero` driver (`/dev/zero` and `/dev/null`).
const ZERO_DRIVER: &str = include_str!("../../crates/wadi-devices/drivers/zero.wat");

/// Wraps `system` in WADI with the `zero` driver loaded on `drivers` (a
/// runtime with [`DRIVER_CONFIG`]), as `wasirun --device zero.wasm` does.
fn wadi_zero<R: wasi_core::runtime::Runtime>(
    system: UnixSystem,
    drivers: R,
) -> Result<Wadi<UnixSystem, R>> {
    let spec = DriverSpec::parse("zero").map_err(|e| anyhow!("{e}"))?;
    let mut devices = Devices::new();
    devices.driver(spec, Module::from_bytes("zero.wat", ZERO_DRIVER)?);
    Ok(devices.mount(wasi_core::mount::Mounts::new(system), drivers)?)
}

/// A guest instantiated on one host, ready to run.
trait Runner {
    /// Runs the guest's loop `iterations` times and returns the time taken.
    fn run(&mut self, iterations: u64) -> Result<Duration>;
    /// Calls an export taking nothing and returning an `i32`.
    fn get_i32(&mut self, export: &str) -> Result<i32>;
}

struct Engines {
    wasmtime: wasmtime::Engine,
    wasmi: wasmi::Engine,
}

/// A guest on wasmtime, whatever the WASI host in the store.
struct WasmtimeRunner<T: 'static> {
    store: wasmtime::Store<T>,
    instance: wasmtime::Instance,
    run: wasmtime::TypedFunc<i64, ()>,
}

impl<T: RemembersMemory<wasmtime::Memory> + 'static> WasmtimeRunner<T> {
    fn new(
        engine: &wasmtime::Engine,
        wasm: &[u8],
        data: T,
        new_store: fn(&wasmtime::Engine, T) -> wasmtime::Store<T>,
        link: impl FnOnce(&mut wasmtime::Linker<T>) -> Result<()>,
    ) -> Result<Self> {
        let module = wasmtime::Module::new(engine, wasm)?;
        let mut linker = wasmtime::Linker::new(engine);
        link(&mut linker)?;
        let mut store = new_store(engine, data);
        let instance = linker.instantiate(&mut store, &module)?;
        if let Some(memory) = instance.get_memory(&mut store, "memory") {
            store.data_mut().remember(memory);
        }
        instance
            .get_typed_func::<(), ()>(&mut store, "setup")?
            .call(&mut store, ())?;
        let run = instance.get_typed_func::<i64, ()>(&mut store, "run")?;
        Ok(Self {
            store,
            instance,
            run,
        })
    }
}

impl<T: 'static> Runner for WasmtimeRunner<T> {
    fn run(&mut self, iterations: u64) -> Result<Duration> {
        let start = Instant::now();
        self.run.call(&mut self.store, iterations as i64)?;
        Ok(start.elapsed())
    }

    fn get_i32(&mut self, export: &str) -> Result<i32> {
        let f = self
            .instance
            .get_typed_func::<(), i32>(&mut self.store, export)?;
        Ok(f.call(&mut self.store, ())?)
    }
}

/// A guest on wasmi, whatever the WASI host in the store.
struct WasmiRunner<T: 'static> {
    store: wasmi::Store<T>,
    instance: wasmi::Instance,
    run: wasmi::TypedFunc<i64, ()>,
}

impl<T: RemembersMemory<wasmi::Memory> + 'static> WasmiRunner<T> {
    fn new(
        engine: &wasmi::Engine,
        wasm: &[u8],
        data: T,
        link: impl FnOnce(&mut wasmi::Linker<T>) -> Result<()>,
    ) -> Result<Self> {
        let module = wasmi::Module::new(engine, wasm)?;
        let mut linker = wasmi::Linker::new(engine);
        link(&mut linker)?;
        let mut store = wasmi::Store::new(engine, data);
        let instance = linker.instantiate_and_start(&mut store, &module)?;
        if let Some(memory) = instance.get_memory(&store, "memory") {
            store.data_mut().remember(memory);
        }
        instance
            .get_typed_func::<(), ()>(&store, "setup")?
            .call(&mut store, ())
            .context("setup")?;
        let run = instance.get_typed_func::<i64, ()>(&store, "run")?;
        Ok(Self {
            store,
            instance,
            run,
        })
    }
}

impl<T: 'static> Runner for WasmiRunner<T> {
    fn run(&mut self, iterations: u64) -> Result<Duration> {
        let start = Instant::now();
        self.run.call(&mut self.store, iterations as i64)?;
        Ok(start.elapsed())
    }

    fn get_i32(&mut self, export: &str) -> Result<i32> {
        let f = self
            .instance
            .get_typed_func::<(), i32>(&self.store, export)?;
        Ok(f.call(&mut self.store, ())?)
    }
}

/// The native loop as a [`Runner`].
struct NativeRunner(Box<dyn FnMut(u64) -> Duration>);

impl Runner for NativeRunner {
    fn run(&mut self, iterations: u64) -> Result<Duration> {
        Ok((self.0)(iterations))
    }

    fn get_i32(&mut self, export: &str) -> Result<i32> {
        bail!("the native loop has no export `{export}`")
    }
}

/// Our host with I/O backend `io`, given the fixture's directories and
/// sockets (its `wadi_zero` is the caller's to handle).
fn unix_system(fixture: Fixture, io: IoBackend) -> Result<(UnixSystem, Vec<UnixStream>)> {
    let mut builder = UnixSystem::builder();
    builder.io(io);
    for (host, guest) in &fixture.dirs {
        builder.preopen_dir(host, guest)?;
    }
    for socket in fixture.sockets {
        builder.preopen_socket(socket.into())?;
    }
    Ok((builder.build()?, fixture.peers))
}

/// Our host with the socket peers it must keep alive, and on wasmtime where
/// the guest's memory export is and the store's view of it, emptied by the
/// store's limiter before any growth (what `WasmtimeRuntime` does too).
struct Ours<S, M> {
    system: S,
    memory: Option<M>,
    limits: wasi_wasmtime::ViewLimiter<wasi_wasmtime::Unlimited>,
    _peers: Vec<UnixStream>,
}

// SAFETY: an `Ours<_, wasmtime::Memory>` goes into a store only in
// `ours_on_wasmtime`, through `wasi_wasmtime::new_store` (which installs
// `limits` as the store's limiter); that store stays in its `WasmtimeRunner`,
// whose limiter is never replaced and whose data is never moved out.
unsafe impl<S: wasi_core::System + 'static> wasi_wasmtime::ViewedStore
    for Ours<S, wasmtime::Memory>
{
    type Limiter = wasi_wasmtime::Unlimited;

    fn view_limiter(&mut self) -> &mut wasi_wasmtime::ViewLimiter<Self::Limiter> {
        &mut self.limits
    }

    fn memory(&self) -> Option<wasmtime::Memory> {
        self.memory
    }
}

/// Store data that may keep the instance's memory handle: our adapters take
/// it (the fast path `WasmtimeRuntime` and `WasmiRuntime` use, and so
/// wasirun); the other hosts have no use for it.
trait RemembersMemory<M> {
    fn remember(&mut self, memory: M) {
        let _ = memory;
    }
}

impl<S, M> RemembersMemory<M> for Ours<S, M> {
    fn remember(&mut self, memory: M) {
        self.memory = Some(memory);
    }
}

impl RemembersMemory<wasmtime::Memory> for wasmtime_wasi::p1::WasiP1Ctx {}

impl RemembersMemory<wasmi::Memory> for WasiCommon {}

/// wasi-common (under `wasmi_wasi`), with the socket peers it must keep alive.
struct WasiCommon {
    ctx: wasmi_wasi::WasiCtx,
    _peers: Vec<UnixStream>,
}

fn wasi_common_ctx(fixture: Fixture) -> Result<WasiCommon> {
    let mut builder = wasmi_wasi::WasiCtxBuilder::new();
    for (host, guest) in &fixture.dirs {
        let dir = wasmi_wasi::Dir::open_ambient_dir(host, wasmi_wasi::ambient_authority())?;
        builder
            .preopened_dir(dir, guest)
            .map_err(|e| anyhow!("{e}"))?;
    }
    let first_socket = 3 + fixture.dirs.len() as u32;
    for (fd, socket) in (first_socket..).zip(fixture.sockets) {
        let result = match socket {
            Socket::Unix(s) => {
                builder.preopened_socket(fd, cap_std_3::os::unix::net::UnixStream::from_std(s))
            }
            Socket::Tcp(s) => builder.preopened_socket(fd, cap_std_3::net::TcpStream::from_std(s)),
        };
        result.map_err(|e| anyhow!("{e}"))?;
    }
    Ok(WasiCommon {
        ctx: builder.build(),
        _peers: fixture.peers,
    })
}

fn wasmtime_wasi_ctx(fixture: Fixture) -> Result<wasmtime_wasi::p1::WasiP1Ctx> {
    let mut builder = wasmtime_wasi::WasiCtxBuilder::new();
    // Its fastest configuration: file I/O on this thread rather than on a
    // blocking-task pool. Must come before the preopens, which copy it.
    builder.allow_blocking_current_thread(true);
    for (host, guest) in &fixture.dirs {
        builder.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)?;
    }
    if !fixture.sockets.is_empty() {
        bail!("{WASMTIME_WASI_NO_SOCKETS}");
    }
    Ok(builder.build_p1())
}

/// The guest on wasmtime with our host `system`.
fn ours_on_wasmtime<S: wasi_core::System + 'static>(
    engines: &Engines,
    wasm: &[u8],
    system: S,
    peers: Vec<UnixStream>,
) -> Result<Box<dyn Runner>> {
    let data = Ours {
        system,
        memory: None,
        limits: wasi_wasmtime::ViewLimiter::new(wasi_wasmtime::Unlimited),
        _peers: peers,
    };
    Ok(Box::new(WasmtimeRunner::new(
        &engines.wasmtime,
        wasm,
        data,
        wasi_wasmtime::new_store,
        |linker| {
            wasi_wasmtime::add_to_linker_viewed(linker, |ours: &mut Ours<S, wasmtime::Memory>| {
                &mut ours.system
            })?;
            Ok(())
        },
    )?))
}

/// The guest on wasmi with our host `system`.
fn ours_on_wasmi<S: wasi_core::System + 'static>(
    engines: &Engines,
    wasm: &[u8],
    system: S,
    peers: Vec<UnixStream>,
) -> Result<Box<dyn Runner>> {
    let data = Ours {
        system,
        memory: None,
        limits: wasi_wasmtime::ViewLimiter::new(wasi_wasmtime::Unlimited),
        _peers: peers,
    };
    Ok(Box::new(WasmiRunner::new(
        &engines.wasmi,
        wasm,
        data,
        |linker| {
            wasi_wasmi::add_to_linker_with_memory(
                linker,
                |ours: &mut Ours<S, wasmi::Memory>| &mut ours.system,
                |ours| ours.memory,
            )?;
            Ok(())
        },
    )?))
}

/// Instantiates `scenario` on `host`.
fn instantiate(
    engines: &Engines,
    wasm: &[u8],
    host: &str,
    scenario: &Scenario,
    work: &Workdir,
) -> Result<Box<dyn Runner>> {
    let fixture = (scenario.fixture)(work);
    Ok(match host {
        "ours/wasmtime" => {
            let wadi_zero = fixture.wadi_zero;
            let (system, peers) = unix_system(fixture, IoBackend::Auto)?;
            if wadi_zero {
                // The drivers' runtime as wasirun builds it (its own engine).
                let drivers = wasi_wasmtime::WasmtimeRuntime::new(DRIVER_CONFIG)?;
                ours_on_wasmtime(engines, wasm, self::wadi_zero(system, drivers)?, peers)?
            } else {
                ours_on_wasmtime(engines, wasm, system, peers)?
            }
        }
        "ours/wasmi" => {
            let wadi_zero = fixture.wadi_zero;
            let (system, peers) = unix_system(fixture, IoBackend::Auto)?;
            if wadi_zero {
                let drivers = wasi_wasmi::WasmiRuntime::new(DRIVER_CONFIG);
                ours_on_wasmi(engines, wasm, self::wadi_zero(system, drivers)?, peers)?
            } else {
                ours_on_wasmi(engines, wasm, system, peers)?
            }
        }
        "wasmtime-wasi" => {
            let ctx = wasmtime_wasi_ctx(fixture)?;
            Box::new(WasmtimeRunner::new(
                &engines.wasmtime,
                wasm,
                ctx,
                wasmtime::Store::new,
                |linker| Ok(wasmtime_wasi::p1::add_to_linker_sync(linker, |ctx| ctx)?),
            )?)
        }
        "wasmi_wasi" => {
            let ctx = wasi_common_ctx(fixture)?;
            Box::new(WasmiRunner::new(&engines.wasmi, wasm, ctx, |linker| {
                wasmi_wasi::add_to_linker(linker, |data: &mut WasiCommon| &mut data.ctx)
                    .map_err(|e| anyhow!("{e}"))
            })?)
        }
        "native" => Box::new(NativeRunner((scenario.native)(fixture))),
        _ => match IO_HOSTS.iter().find(|(name, _)| *name == host) {
            Some(&(_, io)) => {
                let (system, peers) = unix_system(fixture, io)?;
                ours_on_wasmtime(engines, wasm, system, peers)?
            }
            None => bail!("unknown host {host}"),
        },
    })
}

/// Checks that a host really does the work before timing it: a guest traps
/// (`unreachable`) on any unexpected errno or short transfer, and the
/// listing must see every entry.
fn check(scenario: &Scenario, host: &str, runner: &mut dyn Runner) -> Result<()> {
    runner.run(3).context("first run")?;
    if scenario.name == "fd_readdir_10k" && host != "native" {
        let entries = runner.get_i32("entries")?;
        // With or without "." and "..", depending on the host.
        if !(DIR_ENTRIES..=DIR_ENTRIES + 2).contains(&(entries as usize)) {
            bail!("listed {entries} entries, expected {DIR_ENTRIES} (+ \".\" and \"..\")");
        }
    }
    if scenario.name == "poll_oneoff_1001_sockets" && host != "native" {
        let events = runner.get_i32("events")?;
        if events != 1 {
            match scenario.caveats.iter().find(|(h, _)| *h == host) {
                Some((_, caveat)) => {
                    eprintln!("{}/{host}: {events} events; {caveat}", scenario.name)
                }
                None => bail!("{events} events, expected the ready socket's only"),
            }
        }
    }
    Ok(())
}

fn preview1(c: &mut Criterion) {
    // 1,001 socket pairs per host, and a few hosts alive at once.
    if let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(limit),
                maximum: Some(limit),
            },
        );
    }
    let mut wasmtime_config = wasmtime::Config::new();
    wasmtime_config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    let engines = Engines {
        wasmtime: wasmtime::Engine::new(&wasmtime_config).expect("wasmtime engine"),
        wasmi: wasmi::Engine::default(),
    };
    let work = Workdir::new();
    for scenario in scenarios() {
        let wasm = wat::parse_str(scenario.wat)
            .unwrap_or_else(|e| panic!("guests/{}: {e}", scenario.name));
        let mut group = c.benchmark_group(scenario.name);
        group.sample_size(scenario.sample_size);
        if let Some(bytes) = scenario.throughput {
            group.throughput(Throughput::Bytes(bytes));
        }
        let io_hosts = IO_HOSTS
            .iter()
            .filter(|_| IO_SCENARIOS.contains(&scenario.name))
            .map(|(name, _)| *name);
        for host in HOSTS.into_iter().chain(io_hosts) {
            if let Some((_, reason)) = scenario.unsupported.iter().find(|(h, _)| *h == host) {
                eprintln!("{}/{host}: n/a: {reason}", scenario.name);
                continue;
            }
            // Instantiated only when criterion's filter selects this id.
            let mut runner: Option<Box<dyn Runner>> = None;
            group.bench_function(host, |b| {
                let runner = runner.get_or_insert_with(|| {
                    let mut runner = instantiate(&engines, &wasm, host, &scenario, &work)
                        .unwrap_or_else(|e| panic!("{}/{host}: {e:#}", scenario.name));
                    check(&scenario, host, runner.as_mut())
                        .unwrap_or_else(|e| panic!("{}/{host}: {e:#}", scenario.name));
                    runner
                });
                b.iter_custom(|iterations| {
                    runner
                        .run(iterations)
                        .unwrap_or_else(|e| panic!("{}/{host}: {e:#}", scenario.name))
                });
            });
            // Dropped here: the host's descriptors close before the next one.
            drop(runner);
        }
        group.finish();
    }
}

criterion_group!(benches, preview1);
criterion_main!(benches);
