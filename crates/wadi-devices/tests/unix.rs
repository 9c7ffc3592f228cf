//! WADI over the real `UnixSystem`, with the example drivers, on both
//! engines: devices reached through a host preopen of `/`, host files beside
//! them, and cowbell writing its WAV to a granted host directory. (The 64 KiB
//! device-read measurement is a criterion row in `benches/`.)

use std::io::{IoSlice, IoSliceMut};
use wadi_devices::driver_abi::DRIVER_FUEL;
use wadi_devices::driver_spec::DriverSpec;
use wadi_devices::{HostFactory, Wadi};
use wasi_core::mount::Mounts;
use wasi_core::runtime::{Runtime, RuntimeConfig};
use wasi_core::types::*;
use wasi_core::{Errno, System};
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

const FUEL: RuntimeConfig = RuntimeConfig {
    fuel_per_call: Some(DRIVER_FUEL),
    ..RuntimeConfig::new()
};

/// What `wasirun` gives drivers: a `UnixSystem` with their `dir=` preopens.
fn host() -> HostFactory {
    Box::new(|spec: &DriverSpec| {
        let mut builder = UnixSystem::builder();
        for (key, value) in &spec.config {
            builder.env(key, value);
        }
        for dir in spec.values("dir") {
            builder.preopen_dir(dir, dir).map_err(|e| e.to_string())?;
        }
        Ok(Box::new(builder.build().map_err(|e| e.to_string())?) as Box<dyn System + Send>)
    })
}

fn driver(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/drivers/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn load<R: Runtime + 'static>(wadi: &mut Wadi<UnixSystem, R>, spec: &str) {
    let spec = DriverSpec::parse(spec).unwrap();
    let wasm = driver(&spec.name());
    wadi.load_driver(&spec, &wasm).unwrap();
}

fn open<S: System>(sys: &mut S, dir: Fd, path: &str, oflags: Oflags) -> Result<Fd, Errno> {
    sys.path_open(
        dir,
        Lookupflags::SYMLINK_FOLLOW,
        path,
        oflags,
        Rights::all(),
        Rights::all(),
        Fdflags::empty(),
    )
}

fn under_a_root_preopen<R: Runtime + 'static>(runtime: R) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("host.txt"), "host file").unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut builder = UnixSystem::builder();
    builder.preopen_dir(root.path(), "/").unwrap();
    let mut sys = Wadi::new(Mounts::new(builder.build().unwrap()), runtime, host()).unwrap();
    load(&mut sys, "zero");
    let config = format!("cowbell:dir={},out=bell.wav", out.path().display());
    load(&mut sys, &config);
    // No virtual preopen: `/` covers /dev.
    assert_eq!(sys.fd_prestat_dir_name(4), Err(Errno::BADF));

    let zero = open(&mut sys, 3, "dev/zero", Oflags::empty()).unwrap();
    let mut buf = [0xffu8; 8];
    assert_eq!(sys.fd_read(zero, &mut [IoSliceMut::new(&mut buf)]), Ok(8));
    assert_eq!(buf, [0; 8]);
    assert_eq!(
        sys.path_filestat_get(3, Lookupflags::empty(), "./dev/../dev/null")
            .unwrap()
            .filetype,
        Filetype::CHARACTER_DEVICE
    );
    // The host file system is still there, and /dev is synthesized.
    let host_file = open(&mut sys, 3, "host.txt", Oflags::empty()).unwrap();
    let mut text = [0u8; 9];
    assert_eq!(
        sys.fd_read(host_file, &mut [IoSliceMut::new(&mut text)]),
        Ok(9)
    );
    assert_eq!(&text, b"host file");
    assert_eq!(
        open(&mut sys, 3, "dev/nothing", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(
        sys.path_rename(3, "host.txt", 3, "dev/zero"),
        Err(Errno::XDEV)
    );
    let dev = open(&mut sys, 3, "dev", Oflags::DIRECTORY).unwrap();
    assert_eq!(
        open(&mut sys, dev, "../host.txt", Oflags::empty()),
        Err(Errno::NOTCAPABLE)
    );

    // The synthesized /dev hides the host's /dev for every call, not only
    // for listings (spec/wadi.md §3.1): nothing below it that is not a
    // device exists, and nothing can be created there.
    std::fs::create_dir(root.path().join("dev")).unwrap();
    std::fs::write(root.path().join("dev/hostfile"), "hidden").unwrap();
    assert_eq!(
        open(&mut sys, 3, "dev/hostfile", Oflags::empty()),
        Err(Errno::NOENT)
    );
    assert_eq!(
        open(&mut sys, 3, "dev/new", Oflags::CREAT),
        Err(Errno::NOTSUP)
    );
    assert_eq!(sys.path_create_directory(3, "dev/sub"), Err(Errno::NOTSUP));
    assert!(!root.path().join("dev/new").exists());
    assert!(!root.path().join("dev/sub").exists());

    // A WADI directory has no position, as a host directory (§3.2).
    let host_dir = sys
        .path_open(
            3,
            Lookupflags::empty(),
            ".",
            Oflags::DIRECTORY,
            Rights::DIRECTORY,
            Rights::empty(),
            Fdflags::empty(),
        )
        .unwrap();
    for fd in [dev, host_dir] {
        assert_eq!(sys.fd_seek(fd, 0, Whence::SET), Err(Errno::BADF), "{fd}");
        assert_eq!(sys.fd_tell(fd), Err(Errno::BADF), "{fd}");
        let mut buf = [0u8; 4];
        assert_eq!(
            sys.fd_pread(fd, &mut [IoSliceMut::new(&mut buf)], 0),
            Err(Errno::BADF),
            "{fd}"
        );
        assert_eq!(
            sys.fd_pwrite(fd, &[IoSlice::new(b"x")], 0),
            Err(Errno::BADF),
            "{fd}"
        );
    }

    // cowbell rings into the granted directory.
    let bell = open(&mut sys, 3, "dev/cowbell", Oflags::empty()).unwrap();
    assert_eq!(sys.fd_write(bell, &[IoSlice::new(b"play")]), Ok(4));
    let wav = std::fs::read(out.path().join("bell.wav")).unwrap();
    assert_eq!(wav.len(), 2044);
    assert_eq!(&wav[..4], b"RIFF");
    let mut back = vec![0u8; 2044];
    assert_eq!(
        sys.fd_pread(bell, &mut [IoSliceMut::new(&mut back)], 0),
        Ok(2044)
    );
    assert_eq!(back, wav);
}

#[test]
fn devices_under_a_root_preopen_on_wasmtime() {
    under_a_root_preopen(WasmtimeRuntime::new(FUEL).unwrap());
}

#[test]
fn devices_under_a_root_preopen_on_wasmi() {
    under_a_root_preopen(WasmiRuntime::new(FUEL));
}

/// A driver file loaded through `/dev/wadi/driver` is charged to the
/// application's host-memory budget as it is read (spec/wadi.md §2.2):
/// one that does not fit is refused with `ENOMEM`, and what was charged
/// comes back.
fn run_time_loading_is_charged<R: Runtime + 'static>(runtime: R) {
    use wasi_core::budget::HostBudget;
    use wasi_core::vfs::VirtualFds;
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("zero.wasm"), driver("zero")).unwrap();
    let mut big = b"\0asm".to_vec();
    big.resize(200 << 10, 0);
    std::fs::write(root.path().join("big.wasm"), big).unwrap();
    let budget = HostBudget::new(160 << 10);
    let mut builder = UnixSystem::builder();
    builder.preopen_dir(root.path(), "/").unwrap();
    builder.host_budget(budget.clone());
    let mut sys = Wadi::new(Mounts::new(builder.build().unwrap()), runtime, host()).unwrap();
    sys.allow_loading(true);
    assert!(sys.host_budget().same(&budget));
    let control = open(&mut sys, 3, "dev/wadi/driver", Oflags::empty()).unwrap();
    let write = |sys: &mut Wadi<UnixSystem, R>, text: &str| {
        sys.fd_write(control, &[IoSlice::new(text.as_bytes())])
    };
    assert_eq!(write(&mut sys, "/big.wasm"), Err(Errno::NOMEM));
    assert_eq!(budget.used(), 0);
    assert_eq!(write(&mut sys, "/zero.wasm"), Ok(10));
    // The file's bytes are given back; the driver's memory (two pages,
    // which hold its transfer buffer) stays charged.
    assert_eq!(budget.used(), 2 << 16);
    drop(sys);
    assert_eq!(budget.used(), 0);
}

#[test]
fn run_time_loading_is_charged_on_both_engines() {
    run_time_loading_is_charged(WasmtimeRuntime::new(FUEL).unwrap());
    run_time_loading_is_charged(WasmiRuntime::new(FUEL));
}
