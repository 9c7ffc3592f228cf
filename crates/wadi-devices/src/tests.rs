//! Unit tests of [`Wadi`] with the example drivers on both engines, over a
//! small in-memory test double of the inner system (the real `UnixSystem`
//! is exercised by `tests/` and `conformance/wadi/`).

use super::*;
use crate::driver_abi::DRIVER_FUEL;
use wasi_core::DirentWriter;
use wasi_core::budget::HostBudget;
use wasi_core::fdtable::{FdEntry, FdTable};
use wasi_core::mount::Mounts;
use wasi_core::runtime::RuntimeConfig;
use wasi_core::system::Unsupported;
use wasi_core::vfs::VirtualFile;

/// Stdio placeholder.
struct Null;
impl VirtualFile for Null {
    fn filetype(&self) -> Filetype {
        Filetype::CHARACTER_DEVICE
    }
    fn filestat(&mut self) -> Result<Filestat> {
        Ok(Filestat::default())
    }
}

/// An inner system holding only virtual files: descriptor calls reach them
/// with the rights checks of the fd table; anything else is `ENOSYS`
/// ([`Unsupported`]).
struct Fake {
    table: FdTable<Box<dyn VirtualFile>>,
    base: Unsupported,
    budget: HostBudget,
}

impl Fake {
    fn new() -> Self {
        let mut table = FdTable::<Box<dyn VirtualFile>>::new();
        for _ in 0..3 {
            table
                .insert(FdEntry::new(
                    Box::new(Null),
                    Rights::CHARACTER_DEVICE,
                    Rights::empty(),
                ))
                .unwrap();
        }
        Self {
            table,
            base: Unsupported::default(),
            budget: HostBudget::default(),
        }
    }
    fn with_budget(budget: HostBudget) -> Self {
        Self {
            budget,
            ..Self::new()
        }
    }
    fn file(&mut self, fd: Fd, rights: Rights) -> Result<&mut Box<dyn VirtualFile>> {
        Ok(&mut self.table.get_mut(fd, rights)?.file)
    }
}

impl VirtualFds for Fake {
    fn insert_virtual(
        &mut self,
        file: Box<dyn VirtualFile>,
        rights: Rights,
        inheriting: Rights,
        preopen: Option<&str>,
    ) -> Result<Fd> {
        let mut entry = FdEntry::new(file, rights, inheriting);
        entry.preopen = preopen.map(Into::into);
        self.table.insert(entry)
    }

    /// Only virtual files here.
    fn insert_host(&mut self, _: std::os::fd::OwnedFd, _: Rights, _: Rights) -> Result<Fd> {
        Err(Errno::NOTSUP)
    }

    fn fd_room(&self) -> Result<()> {
        self.table.check_room()
    }

    fn host_budget(&self) -> &HostBudget {
        &self.budget
    }
}

impl wasi_core::system::Decorator for Fake {
    type Inner = Unsupported;

    fn inner(&mut self) -> &mut Unsupported {
        &mut self.base
    }
    fn clock_res_get(&mut self, _: Clockid) -> Result<Timestamp> {
        Ok(1)
    }
    fn clock_time_get(&mut self, _: Clockid, _: Timestamp) -> Result<Timestamp> {
        Ok(1)
    }
    fn fd_advise(&mut self, _: Fd, _: Filesize, _: Filesize, _: Advice) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_allocate(&mut self, _: Fd, _: Filesize, _: Filesize) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_close(&mut self, fd: Fd) -> Result<()> {
        self.table.remove(fd).map(drop)
    }
    fn fd_datasync(&mut self, _: Fd) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_fdstat_get(&mut self, fd: Fd) -> Result<Fdstat> {
        let e = self.table.entry(fd)?;
        Ok(Fdstat::new(
            e.file.filetype(),
            Fdflags::empty(),
            e.rights,
            e.inheriting,
        ))
    }
    fn fd_fdstat_set_flags(&mut self, _: Fd, _: Fdflags) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_fdstat_set_rights(&mut self, fd: Fd, base: Rights, inheriting: Rights) -> Result<()> {
        self.table.set_rights(fd, base, inheriting)
    }
    fn fd_filestat_get(&mut self, fd: Fd) -> Result<Filestat> {
        self.file(fd, Rights::FD_FILESTAT_GET)?.filestat()
    }
    fn fd_filestat_set_size(&mut self, fd: Fd, size: Filesize) -> Result<()> {
        self.file(fd, Rights::FD_FILESTAT_SET_SIZE)?.set_size(size)
    }
    fn fd_filestat_set_times(
        &mut self,
        _: Fd,
        _: Timestamp,
        _: Timestamp,
        _: Fstflags,
    ) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_pread(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>], offset: Filesize) -> Result<Size> {
        self.file(fd, Rights::FD_READ | Rights::FD_SEEK)?
            .pread(iovs, offset)
    }
    fn fd_prestat_get(&mut self, fd: Fd) -> Result<Prestat> {
        let len = System::fd_prestat_dir_name(self, fd)?.len();
        Ok(Prestat::dir(len as Size))
    }
    fn fd_prestat_dir_name(&mut self, fd: Fd) -> Result<&str> {
        self.table.entry(fd)?.preopen.as_deref().ok_or(Errno::BADF)
    }
    fn fd_pwrite(&mut self, fd: Fd, iovs: &[IoSlice<'_>], offset: Filesize) -> Result<Size> {
        self.file(fd, Rights::FD_WRITE | Rights::FD_SEEK)?
            .pwrite(iovs, offset)
    }
    fn fd_read(&mut self, fd: Fd, iovs: &mut [IoSliceMut<'_>]) -> Result<Size> {
        self.file(fd, Rights::FD_READ)?.read(iovs)
    }
    fn fd_readdir(&mut self, fd: Fd, cookie: Dircookie, out: &mut DirentWriter<'_>) -> Result<()> {
        self.file(fd, Rights::FD_READDIR)?.readdir(cookie, out)
    }
    fn fd_renumber(&mut self, from: Fd, to: Fd) -> Result<()> {
        self.table.renumber(from, to).map(drop)
    }
    fn fd_seek(&mut self, fd: Fd, offset: Filedelta, whence: Whence) -> Result<Filesize> {
        self.file(fd, Rights::FD_SEEK)?.seek(offset, whence)
    }
    fn fd_sync(&mut self, _: Fd) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn fd_tell(&mut self, fd: Fd) -> Result<Filesize> {
        self.file(fd, Rights::FD_TELL)?.seek(0, Whence::CUR)
    }
    fn fd_write(&mut self, fd: Fd, iovs: &[IoSlice<'_>]) -> Result<Size> {
        self.file(fd, Rights::FD_WRITE)?.write(iovs)
    }
    fn path_create_directory(&mut self, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_filestat_get(&mut self, _: Fd, _: Lookupflags, _: &str) -> Result<Filestat> {
        Err(Errno::NOTDIR)
    }
    fn path_filestat_set_times(
        &mut self,
        _: Fd,
        _: Lookupflags,
        _: &str,
        _: Timestamp,
        _: Timestamp,
        _: Fstflags,
    ) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_link(&mut self, _: Fd, _: Lookupflags, _: &str, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_open(
        &mut self,
        _: Fd,
        _: Lookupflags,
        _: &str,
        _: Oflags,
        _: Rights,
        _: Rights,
        _: Fdflags,
    ) -> Result<Fd> {
        Err(Errno::NOTDIR)
    }
    fn path_readlink(&mut self, _: Fd, _: &str, _: &mut [u8]) -> Result<Size> {
        Err(Errno::NOTDIR)
    }
    fn path_remove_directory(&mut self, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_rename(&mut self, _: Fd, _: &str, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_symlink(&mut self, _: &str, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn path_unlink_file(&mut self, _: Fd, _: &str) -> Result<()> {
        Err(Errno::NOTDIR)
    }
    fn poll_oneoff(&mut self, _: &[Subscription], _: &mut [Event]) -> Result<Size> {
        Err(Errno::NOSYS)
    }
    fn proc_raise(&mut self, _: Signal) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn random_get(&mut self, _: &mut [u8]) -> Result<()> {
        Err(Errno::NOSYS)
    }
    fn sched_yield(&mut self) -> Result<()> {
        Ok(())
    }
}

fn host() -> HostFactory {
    Box::new(|_: &DriverSpec| Ok(Box::new(Fake::new()) as Box<dyn System + Send>))
}

fn driver(name: &str) -> Vec<u8> {
    let path = format!("{}/drivers/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(path).unwrap()
}

fn load<R: Runtime + 'static>(
    wadi: &mut Wadi<Fake, R>,
    name: &str,
) -> std::result::Result<(), LoadFailure> {
    wadi.load_driver(&DriverSpec::parse(name).unwrap(), &driver(name))
}

const READ: Rights = Rights::FD_READ
    .union(Rights::FD_WRITE)
    .union(Rights::FD_SEEK)
    .union(Rights::FD_TELL)
    .union(Rights::FD_FILESTAT_GET)
    .union(Rights::FD_READDIR)
    .union(Rights::FD_FILESTAT_SET_SIZE);

fn open<S: System>(sys: &mut S, dir: Fd, path: &str, oflags: Oflags) -> Result<Fd> {
    sys.path_open(
        dir,
        Lookupflags::empty(),
        path,
        oflags,
        READ | Rights::DIRECTORY,
        Rights::DIRECTORY_INHERITING,
        Fdflags::empty(),
    )
}

fn read_all<S: System>(sys: &mut S, fd: Fd, n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0xaa; n];
    let got = sys.fd_read(fd, &mut [IoSliceMut::new(&mut buf)])?;
    buf.truncate(got as usize);
    Ok(buf)
}

fn names(buf: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 24 <= buf.len() {
        let len = u32::from_le_bytes(buf[at + 16..at + 20].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&buf[at + 24..(at + 24 + len).min(buf.len())]).into());
        at += 24 + len;
    }
    out
}

fn exercise<R: Runtime + 'static>(runtime: R) {
    let mut sys = Wadi::new(Mounts::new(Fake::new()), runtime, host()).unwrap();
    assert_eq!(sys.fd_prestat_dir_name(3), Ok("/dev"));
    assert_eq!(sys.fd_prestat_get(4), Err(Errno::BADF));
    for name in ["zero", "ramdisk", "cowbell", "trap"] {
        load(&mut sys, name).unwrap();
    }
    // Overlap, failing init.
    let err = load(&mut sys, "zero2").unwrap_err();
    assert_eq!(err.errno, Errno::EXIST);
    assert!(err.message.contains("overlaps /dev/zero (zero)"), "{err}");
    assert_eq!(load(&mut sys, "badinit").unwrap_err().errno, Errno::NOEXEC);

    // /dev lists every top-level name.
    let mut buf = [0u8; 512];
    let dev = open(&mut sys, 3, ".", Oflags::DIRECTORY).unwrap();
    let mut out = DirentWriter::new(&mut buf);
    sys.fd_readdir(dev, 0, &mut out).unwrap();
    let n = out.len();
    assert_eq!(
        names(&buf[..n]),
        [
            ".", "..", "wadi", "zero", "null", "ram", "cowbell", "trap", "trap-bad"
        ]
    );

    // /dev/zero: a stream of zeros, no seek.
    let zero = open(&mut sys, 3, "zero", Oflags::empty()).unwrap();
    assert_eq!(read_all(&mut sys, zero, 65536).unwrap(), vec![0; 65536]);
    assert_eq!(sys.fd_seek(zero, 0, Whence::SET), Err(Errno::NOTCAPABLE));
    assert_eq!(sys.fd_write(zero, &[IoSlice::new(b"x")]), Ok(1));
    assert_eq!(
        sys.fd_filestat_get(zero).unwrap().filetype,
        Filetype::CHARACTER_DEVICE
    );
    let null = open(&mut sys, dev, "null", Oflags::empty()).unwrap();
    assert_eq!(read_all(&mut sys, null, 10).unwrap(), b"");
    assert_eq!(
        open(&mut sys, 3, "zero/", Oflags::empty()),
        Err(Errno::NOTDIR)
    );
    assert_eq!(
        open(&mut sys, 3, "nope", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(open(&mut sys, 3, "nope", Oflags::CREAT), Err(Errno::NOTSUP));
    assert_eq!(
        open(&mut sys, 3, "../etc", Oflags::empty()),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        open(&mut sys, 3, "zero", Oflags::CREAT | Oflags::EXCL),
        Err(Errno::EXIST)
    );

    // cowbell: ring, then read the WAV back.
    let bell = open(&mut sys, 3, "cowbell", Oflags::empty()).unwrap();
    assert_eq!(sys.fd_filestat_get(bell).unwrap().size, 0);
    assert_eq!(
        sys.fd_write(bell, &[IoSlice::new(b"ding")]),
        Err(Errno::INVAL)
    );
    assert_eq!(sys.fd_write(bell, &[IoSlice::new(b"play")]), Ok(4));
    let stat = sys.fd_filestat_get(bell).unwrap();
    assert_eq!((stat.filetype, stat.size), (Filetype::BLOCK_DEVICE, 2044));
    assert_eq!(sys.fd_seek(bell, 0, Whence::SET), Ok(0));
    let wav = read_all(&mut sys, bell, 4096).unwrap();
    assert_eq!(wav.len(), 2044);
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(sys.fd_tell(bell), Ok(2044));
    assert_eq!(sys.fd_seek(bell, -1, Whence::SET), Err(Errno::INVAL));
    assert_eq!(sys.fd_seek(bell, -4, Whence::END), Ok(2040));
    let mut four = [0u8; 4];
    assert_eq!(
        sys.fd_pread(bell, &mut [IoSliceMut::new(&mut four)], u64::MAX),
        Err(Errno::INVAL)
    );
    assert_eq!(
        sys.fd_pread(bell, &mut [IoSliceMut::new(&mut four)], 8),
        Ok(4)
    );
    assert_eq!(&four, b"WAVE");

    // The RAM disk: create by O_CREAT, write, list, truncate.
    let file = open(&mut sys, 3, "ram/notes.txt", Oflags::CREAT).unwrap();
    assert_eq!(
        sys.fd_write(file, &[IoSlice::new(b"hello "), IoSlice::new(b"world")]),
        Ok(11)
    );
    assert_eq!(sys.fd_pwrite(file, &[IoSlice::new(b"W")], 6), Ok(1));
    assert_eq!(sys.fd_seek(file, 0, Whence::SET), Ok(0));
    assert_eq!(read_all(&mut sys, file, 100).unwrap(), b"hello World");
    assert_eq!(sys.fd_filestat_set_size(file, 5), Ok(()));
    assert_eq!(
        sys.path_filestat_get(3, Lookupflags::empty(), "ram/notes.txt")
            .unwrap()
            .size,
        5
    );
    assert_eq!(
        open(&mut sys, 3, "ram/missing", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(
        open(&mut sys, 3, "ram/notes.txt", Oflags::CREAT | Oflags::EXCL),
        Err(Errno::EXIST)
    );
    assert_eq!(
        open(&mut sys, 3, "ram/a/b", Oflags::CREAT),
        Err(Errno::NOENT)
    );
    let ram = open(&mut sys, 3, "ram", Oflags::DIRECTORY).unwrap();
    let second = open(&mut sys, ram, "second", Oflags::CREAT | Oflags::TRUNC).unwrap();
    assert_eq!(sys.fd_close(second), Ok(()));
    let mut out = DirentWriter::new(&mut buf);
    sys.fd_readdir(ram, 0, &mut out).unwrap();
    let n = out.len();
    assert_eq!(names(&buf[..n]), [".", "..", "notes.txt", "second"]);
    assert_eq!(sys.path_unlink_file(ram, "second"), Err(Errno::NOTSUP));
    assert_eq!(
        sys.path_readlink(ram, "second", &mut buf),
        Err(Errno::INVAL)
    );
    assert_eq!(
        sys.fd_renumber(ram, 20).map_err(|e| e.0),
        Err(Errno::BADF.0)
    );
    assert_eq!(sys.fd_renumber(ram, null), Ok(()));
    assert!(
        sys.path_filestat_get(null, Lookupflags::empty(), "notes.txt")
            .is_ok()
    );
    assert_eq!(
        sys.path_filestat_get(ram, Lookupflags::empty(), "x"),
        Err(Errno::NOTDIR)
    );

    // The control file: listing; loading is off.
    let control = open(&mut sys, 3, "wadi/driver", Oflags::empty()).unwrap();
    let listing = String::from_utf8(read_all(&mut sys, control, 4096).unwrap()).unwrap();
    assert!(
        listing.starts_with("zero char /dev/zero\nzero char /dev/null\nramdisk dir /dev/ram\n"),
        "{listing}"
    );
    assert_eq!(
        sys.fd_write(control, &[IoSlice::new(b"/x.wasm")]),
        Err(Errno::PERM)
    );
    sys.allow_loading(true);
    assert_eq!(
        sys.fd_write(control, &[IoSlice::new(b"/x.wasm:dir=/")]),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        sys.fd_write(control, &[IoSlice::new(b"/nope/x.wasm")]),
        Err(Errno::NOTCAPABLE)
    );

    // Misbehaving drivers: EIO; a trap unloads the driver.
    let bad = open(&mut sys, 3, "trap-bad", Oflags::empty()).unwrap();
    assert_eq!(read_all(&mut sys, bad, 8), Err(Errno::IO));
    let trap = open(&mut sys, 3, "trap", Oflags::empty()).unwrap();
    assert_eq!(sys.fd_write(trap, &[IoSlice::new(b"x")]), Err(Errno::IO));
    assert_eq!(read_all(&mut sys, trap, 8), Err(Errno::IO));
    assert_eq!(read_all(&mut sys, bad, 8), Err(Errno::IO));
    assert_eq!(
        open(&mut sys, 3, "trap", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(sys.fd_close(trap), Ok(()));
    assert!(!sys.scopes().iter().any(|(name, _, _)| name == "trap"));
    // Everything else goes on.
    assert_eq!(read_all(&mut sys, zero, 3).unwrap(), [0, 0, 0]);
}

/// A driver's linear memory, which holds its transfer buffer, is charged
/// to the application's host-memory budget (spec/wadi.md §1.1, "Host
/// memory").
fn drivers_memory_is_charged<R: Runtime + 'static>(runtime: R) {
    // `zero` has two pages, which hold its first buffer.
    const LOADED: u64 = 2 << 16;
    // A budget that cannot hold the memory: the load fails.
    let budget = HostBudget::new(LOADED - 1);
    let mut sys = Wadi::new(
        Mounts::new(Fake::with_budget(budget.clone())),
        runtime.clone(),
        host(),
    )
    .unwrap();
    assert_eq!(load(&mut sys, "zero").unwrap_err().errno, Errno::NOMEM);
    assert_eq!(budget.used(), 0);

    let budget = HostBudget::new(200 << 10);
    let mut sys = Wadi::new(
        Mounts::new(Fake::with_budget(budget.clone())),
        runtime.clone(),
        host(),
    )
    .unwrap();
    load(&mut sys, "zero").unwrap();
    assert_eq!(budget.used(), LOADED);
    let zero = open(&mut sys, 3, "zero", Oflags::empty()).unwrap();
    assert_eq!(read_all(&mut sys, zero, 64 << 10).unwrap().len(), 64 << 10);
    // A transfer whose buffer could not fit beside the memory: ENOMEM,
    // the driver untouched.
    assert_eq!(read_all(&mut sys, zero, 100 << 10), Err(Errno::NOMEM));
    assert_eq!(budget.used(), LOADED);
    assert_eq!(read_all(&mut sys, zero, 3).unwrap(), [0, 0, 0]);
    drop(sys);
    assert_eq!(budget.used(), 0);

    // With room, the memory grows for the buffer, and its charge with it.
    let budget = HostBudget::new(1 << 20);
    let mut sys = Wadi::new(
        Mounts::new(Fake::with_budget(budget.clone())),
        runtime.clone(),
        host(),
    )
    .unwrap();
    load(&mut sys, "zero").unwrap();
    let zero = open(&mut sys, 3, "zero", Oflags::empty()).unwrap();
    assert_eq!(
        read_all(&mut sys, zero, 200 << 10).unwrap().len(),
        200 << 10
    );
    assert!(budget.used() > 200 << 10, "{}", budget.used());

    // A driver whose memory grows past the budget in a call (here, in
    // `init`'s allocation loop of `hog`: no buffer asked for) is dead:
    // the load fails, and nothing stays charged.
    let budget = HostBudget::new(1 << 20);
    let mut sys = Wadi::new(
        Mounts::new(Fake::with_budget(budget.clone())),
        runtime,
        host(),
    )
    .unwrap();
    let hog = wat::parse_str(HOG).unwrap();
    let spec = DriverSpec::parse("hog").unwrap();
    assert_eq!(
        sys.load_driver(&spec, &hog).unwrap_err().errno,
        Errno::NOMEM
    );
    assert_eq!(budget.used(), 0);
}

/// A driver that grows its memory to 4 MiB in `init`, then registers
/// `/dev/hog`.
const HOG: &str = r#"(module
  (import "wadi" "register_device" (func $register (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/dev/hog")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "free") (param i32))
  (func (export "read") (param i32 i32 i64 i32 i32) (result i32) (i32.const 0))
  (func (export "write") (param i32 i32 i64 i32 i32) (result i32) (i32.const 0))
  (func (export "query") (param i32 i32 i32 i32) (result i32) (i32.const 0))
  (func (export "init") (result i32)
    (drop (memory.grow (i32.const 63)))
    (drop (call $register (i32.const 16) (i32.const 8) (i32.const 2)))
    (i32.const 0)))"#;

#[test]
fn drivers_memory_is_charged_on_both_engines() {
    let config = RuntimeConfig {
        fuel_per_call: Some(DRIVER_FUEL),
        ..RuntimeConfig::new()
    };
    drivers_memory_is_charged(wasi_wasmi::WasmiRuntime::new(config));
    drivers_memory_is_charged(wasi_wasmtime::WasmtimeRuntime::new(config).unwrap());
}

#[test]
fn devices_on_wasmi() {
    exercise(wasi_wasmi::WasmiRuntime::new(RuntimeConfig {
        fuel_per_call: Some(DRIVER_FUEL),
        ..RuntimeConfig::new()
    }));
}

#[test]
fn devices_on_wasmtime() {
    exercise(
        wasi_wasmtime::WasmtimeRuntime::new(RuntimeConfig {
            fuel_per_call: Some(DRIVER_FUEL),
            ..RuntimeConfig::new()
        })
        .unwrap(),
    );
}
