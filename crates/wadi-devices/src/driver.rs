//! Loading a driver module and calling it (spec/wadi.md §1).

use crate::driver_abi::{
    self, IMPORT_MODULE, INITIAL_TRANSFER, Kind, MAX_TRANSFER, PATH_ROOM, Stat,
};
use crate::driver_spec::DriverSpec;
use crate::path;
use crate::restricted::DriverSystem;
use std::fmt;
use std::io::{IoSlice, IoSliceMut};
use std::sync::{Arc, Mutex};
use wasi_core::budget::{HostBudget, Reservation};
use wasi_core::mount::path::{hash, overlaps};
use wasi_core::runtime::{CallError, Caller, Imports, Instance, Prepared, Runtime, Val};
use wasi_core::sync::lock;
use wasi_core::vfs::copy_to_iovs;
use wasi_core::{Errno, StringList, System};

/// The data of a driver instance: what its imports reach.
pub struct DriverData {
    name: String,
    sys: DriverSystem,
    /// Scopes already taken when the driver loads: `(scope, owner)`.
    taken: Vec<(String, String)>,
    /// While `init` runs: the registrations so far.
    registering: Option<Vec<Registration>>,
}

/// One `register_device` call made during `init`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registration {
    scope: String,
    kind: Option<Kind>,
    result: Result<(), Errno>,
    why: String,
}

/// Why a driver could not be loaded: the errno the control file gives, and
/// a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadFailure {
    /// The errno of a run-time load (spec/wadi.md §2.2).
    pub errno: Errno,
    /// What went wrong, naming the driver.
    pub message: String,
}

impl LoadFailure {
    pub(crate) fn new(errno: Errno, message: impl Into<String>) -> Self {
        Self {
            errno,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadFailure {}

/// How a call into a driver failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The application gets this errno; the driver stays loaded.
    Errno(Errno),
    /// The driver trapped, ran out of fuel or exited: it must be unloaded.
    Dead(String),
}

impl From<Errno> for Fault {
    fn from(errno: Errno) -> Self {
        Fault::Errno(errno)
    }
}

/// The operations of a loaded driver, engine-independent.
pub trait DriverOps: Send {
    /// `read` at `offset` into `iovs` (at most [`MAX_TRANSFER`] bytes).
    fn read(&mut self, path: &str, offset: u64, iovs: &mut [IoSliceMut<'_>]) -> Result<u32, Fault>;
    /// `write` at `offset` from `iovs` (at most [`MAX_TRANSFER`] bytes).
    fn write(&mut self, path: &str, offset: u64, iovs: &[IoSlice<'_>]) -> Result<u32, Fault>;
    /// `query`.
    fn query(&mut self, path: &str) -> Result<Stat, Fault>;
    /// `truncate`, or `None` when the driver does not export it.
    fn truncate(&mut self, path: &str, size: u64) -> Option<Result<(), Fault>>;
}

/// A driver instance on engine `R`, with its transfer buffer.
pub struct Driver<R: Runtime> {
    instance: R::Instance<DriverData>,
    /// Address and size of the transfer buffer (0 when there is none).
    buf: u32,
    cap: u32,
    has_truncate: bool,
    /// The application's host memory the driver's linear memory (which
    /// holds the transfer buffer) is charged to ([`Driver::charge_to`]):
    /// as many bytes as the memory has, or more while a larger buffer is
    /// being made.
    reserved: Option<Reservation>,
}

impl<R: Runtime> Driver<R> {
    /// Charges the driver's linear memory, which holds its transfer
    /// buffer, to `budget` (the application's host memory, spec/wadi.md
    /// §1.1), now and as it grows: `ENOMEM` when the memory it has does
    /// not fit; later, a call whose larger buffer could not fit fails with
    /// `ENOMEM`, the driver untouched, and a driver whose memory grows
    /// past the budget is unloaded.
    pub fn charge_to(&mut self, budget: &HostBudget) -> Result<(), Errno> {
        self.reserved = Some(budget.try_reserve(self.memory_len())?);
        Ok(())
    }

    /// The size of the driver's linear memory.
    fn memory_len(&mut self) -> u64 {
        self.instance.memory().len() as u64
    }

    /// Sets the charge to the memory's size after a call into the driver
    /// (giving back never fails): a memory that grew past what the budget
    /// has left cannot shrink, and the driver is dead.
    fn settle(&mut self) -> Result<(), Fault> {
        let len = self.memory_len();
        let Some(reserved) = &mut self.reserved else {
            return Ok(());
        };
        reserved.try_resize(len).map_err(|_| {
            Fault::Dead(format!(
                "its memory ({len} bytes) passed the application's host-memory budget"
            ))
        })
    }
}

fn register_device(
    caller: &mut Caller<'_, DriverData>,
    (ptr, len, kind): (u32, u32, i32),
) -> Result<i32, wasi_core::runtime::HostError> {
    let data = &mut *caller.data;
    let Some(registering) = data.registering.as_mut() else {
        return Ok(Errno::PERM.0.into());
    };
    let (scope, result, why) = match caller.memory.slice(ptr, len) {
        Err(errno) => (
            "<bad pointer>".to_string(),
            Err(errno),
            "bad pointer".into(),
        ),
        Ok(bytes) => match core::str::from_utf8(bytes) {
            Err(_) => (
                String::from_utf8_lossy(bytes).into_owned(),
                Err(Errno::INVAL),
                "not UTF-8".into(),
            ),
            Ok(text) => {
                let (scope, result, why) = check_registration(text, kind, &data.taken, registering);
                (scope, result, why)
            }
        },
    };
    registering.push(Registration {
        scope,
        kind: Kind::from_abi(kind),
        result,
        why,
    });
    Ok(result.err().map_or(0, |e| e.0.into()))
}

/// Checks one registration against the rules of spec/wadi.md §1.2.
fn check_registration(
    text: &str,
    kind: i32,
    taken: &[(String, String)],
    earlier: &[Registration],
) -> (String, Result<(), Errno>, String) {
    let scope = match path::check_scope(text) {
        Ok(scope) => scope.to_string(),
        Err(errno) => {
            return (
                text.to_string(),
                Err(errno),
                "not an absolute normalized path of two or more components".into(),
            );
        }
    };
    if Kind::from_abi(kind).is_none() {
        return (scope, Err(Errno::NOTSUP), format!("unknown kind {kind}"));
    }
    let mine = earlier
        .iter()
        .filter(|r| r.result.is_ok())
        .map(|r| (r.scope.as_str(), "this driver"));
    let others = taken.iter().map(|(s, owner)| (s.as_str(), owner.as_str()));
    for (other, owner) in others.chain(mine) {
        if overlaps(&scope, other) {
            let why = format!("overlaps {other} ({owner})");
            return (scope, Err(Errno::EXIST), why);
        }
    }
    (scope, Ok(()), String::new())
}

fn error(
    caller: &mut Caller<'_, DriverData>,
    (ptr, len): (u32, u32),
) -> Result<(), wasi_core::runtime::HostError> {
    let message = match caller.memory.slice(ptr, len.min(1024)) {
        Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Err(_) => "<bad pointer>".into(),
    };
    eprintln!("wadi[{}]: {}", caller.data.name, message.escape_debug());
    Ok(())
}

fn imports() -> Imports<DriverData> {
    let mut imports = Imports::new();
    imports
        .typed(IMPORT_MODULE, "register_device", register_device)
        .typed(IMPORT_MODULE, "error", error);
    imports.wasi(|data: &mut DriverData| -> &mut (dyn System + 'static) { &mut data.sys });
    imports
}

/// The exports every driver must have.
const REQUIRED: [&str; 6] = ["init", "malloc", "free", "read", "write", "query"];

/// A driver that [`load`] instantiated and initialized, with the scopes it
/// registered.
pub struct Loaded<R: Runtime> {
    /// The driver.
    pub driver: Driver<R>,
    /// Its scopes, in registration order.
    pub scopes: Vec<(String, Kind)>,
}

fn dead(error: CallError) -> Fault {
    Fault::Dead(error.to_string())
}

/// Compiles and links `wasm` as a driver module on `runtime`, once: a host
/// that loads the same driver into many guests (a server) prepares it
/// here and loads it with [`load_prepared`].
pub fn prepare<R: Runtime>(
    runtime: &R,
    wasm: &[u8],
    spec: &DriverSpec,
) -> Result<R::Prepared<DriverData>, LoadFailure> {
    runtime
        .prepare(wasm, &imports())
        .map_err(|e| LoadFailure::new(Errno::NOEXEC, format!("driver {}: {e}", spec.name())))
}

/// Instantiates `wasm` as the driver `spec`, runs `_initialize` and `init`,
/// checks its registrations against `taken` (`(scope, owner)` pairs) and
/// allocates its transfer buffer.
pub fn load<R: Runtime>(
    runtime: &R,
    wasm: &[u8],
    spec: &DriverSpec,
    host: Box<dyn System + Send>,
    taken: Vec<(String, String)>,
) -> Result<Loaded<R>, LoadFailure> {
    load_prepared::<R>(&prepare(runtime, wasm, spec)?, spec, host, taken)
}

/// [`load`], from a driver module [`prepare`]d before.
pub fn load_prepared<R: Runtime>(
    prepared: &R::Prepared<DriverData>,
    spec: &DriverSpec,
    host: Box<dyn System + Send>,
    taken: Vec<(String, String)>,
) -> Result<Loaded<R>, LoadFailure> {
    let name = spec.name();
    let fail = |errno, what: String| LoadFailure::new(errno, format!("driver {name}: {what}"));
    let env = StringList::new(spec.config.iter().map(|(k, v)| format!("{k}={v}")))
        .map_err(|_| fail(Errno::INVAL, "configuration contains a NUL byte".into()))?;
    let files = spec.values("dir").next().is_some();
    let data = DriverData {
        name: name.clone(),
        sys: DriverSystem::new(host, &name, env, files),
        taken,
        registering: None,
    };
    let mut instance = prepared
        .instantiate(data)
        .map_err(|e| fail(Errno::NOEXEC, e.to_string()))?;
    for export in REQUIRED {
        if !instance.has_func(export) {
            return Err(fail(
                Errno::NOEXEC,
                format!("no exported function `{export}`"),
            ));
        }
    }
    if instance.memory().slice(0, 1).is_err() {
        return Err(fail(Errno::NOEXEC, "no exported memory".into()));
    }
    let call_failed = |what: &str, e: CallError| fail(Errno::NOEXEC, format!("{what}: {e}"));
    if instance.has_func("_initialize") {
        instance
            .call("_initialize", &[], &mut [])
            .map_err(|e| call_failed("_initialize", e))?;
    }
    instance.data().registering = Some(Vec::new());
    let mut out = [Val::I32(0)];
    let called = instance.call("init", &[], &mut out);
    let registrations = instance.data().registering.take().unwrap_or_default();
    called.map_err(|e| call_failed("init", e))?;
    if let Some(refused) = registrations.iter().find(|r| r.result.is_err()) {
        let errno = refused.result.unwrap_err();
        return Err(fail(
            errno,
            format!("scope {} refused: {} ({errno})", refused.scope, refused.why),
        ));
    }
    match out[0] {
        Val::I32(0) => {}
        Val::I32(code) => {
            return Err(fail(
                Errno::NOEXEC,
                format!("init failed with {}", driver_abi::errno_of(-code)),
            ));
        }
        _ => return Err(fail(Errno::NOEXEC, "init returned a non-i32".into())),
    }
    let has_truncate = instance.has_func("truncate");
    let mut driver = Driver {
        instance,
        buf: 0,
        cap: 0,
        has_truncate,
        reserved: None,
    };
    match driver.reserve(PATH_ROOM + INITIAL_TRANSFER) {
        Ok(()) => {}
        Err(Fault::Errno(errno)) => {
            return Err(fail(errno, "cannot allocate its transfer buffer".into()));
        }
        Err(Fault::Dead(why)) => return Err(fail(Errno::NOEXEC, format!("malloc: {why}"))),
    }
    let scopes = registrations
        .into_iter()
        .filter_map(|r| Some((r.scope, r.kind?)))
        .collect();
    Ok(Loaded { driver, scopes })
}

/// `n` rounded up to a multiple of 8.
fn align8(n: u32) -> u32 {
    n.div_ceil(8) * 8
}

impl<R: Runtime> Driver<R> {
    /// Makes the transfer buffer at least `size` bytes.
    fn reserve(&mut self, size: u32) -> Result<(), Fault> {
        if size <= self.cap {
            return Ok(());
        }
        let step = size.max(self.cap.saturating_mul(2));
        // Charged before the driver is asked, as if its memory grew by the
        // whole buffer: a step when it fits, else exactly `size`, else
        // `ENOMEM` with the driver untouched. Then the charge is what the
        // memory has become.
        let len = self.memory_len();
        let size = match &mut self.reserved {
            None => step,
            Some(reserved) => match reserved.try_resize(len + u64::from(step)) {
                Ok(()) => step,
                Err(_) => {
                    reserved.try_resize(len + u64::from(size))?;
                    size
                }
            },
        };
        let result = self.replace_buffer(size);
        self.settle()?;
        result
    }

    /// Frees the transfer buffer and allocates one of `size` bytes.
    fn replace_buffer(&mut self, size: u32) -> Result<(), Fault> {
        if self.buf != 0 {
            let old = core::mem::take(&mut self.buf);
            self.cap = 0;
            self.instance
                .call("free", &[Val::I32(old as i32)], &mut [])
                .map_err(dead)?;
        }
        let mut out = [Val::I32(0)];
        self.instance
            .call("malloc", &[Val::I32(size as i32)], &mut out)
            .map_err(dead)?;
        let ptr = out[0].i32().unwrap_or(0) as u32;
        if ptr == 0 {
            return Err(Errno::NOMEM.into());
        }
        if self.instance.memory().slice(ptr, size).is_err() {
            return Err(Errno::IO.into());
        }
        self.buf = ptr;
        self.cap = size;
        Ok(())
    }

    /// Places `path` and its NUL at the start of a transfer buffer with
    /// room for `data` bytes after it; returns the address of the data.
    fn place(&mut self, path: &str, data: u32) -> Result<u32, Fault> {
        let len = u32::try_from(path.len()).map_err(|_| Errno::NAMETOOLONG)?;
        let at = align8(len + 1);
        self.reserve(at.checked_add(data).ok_or(Errno::NOMEM)?)?;
        let mut memory = self.instance.memory();
        let dst = memory.slice_mut(self.buf, len + 1).map_err(|_| Errno::IO)?;
        dst[..path.len()].copy_from_slice(path.as_bytes());
        dst[path.len()] = 0;
        // A driver's buffer may end at the top of a 4 GiB memory.
        Ok(self.buf.checked_add(at).ok_or(Errno::IO)?)
    }

    /// Calls a data export and returns its `i32` result.
    fn call_i32(&mut self, name: &str, args: &[Val]) -> Result<i32, Fault> {
        let mut out = [Val::I32(0)];
        self.instance.call(name, args, &mut out).map_err(dead)?;
        self.settle()?;
        out[0]
            .i32()
            .ok_or_else(|| Fault::Dead(format!("`{name}` returned a non-i32")))
    }

    /// A count returned by `read` or `write` for a request of `len` bytes.
    fn count(ret: i32, len: u32) -> Result<u32, Fault> {
        match u32::try_from(ret) {
            Ok(n) if n <= len => Ok(n),
            Ok(_) => Err(Errno::IO.into()),
            Err(_) => Err(driver_abi::errno_of(ret).into()),
        }
    }

    fn path_args(&self, path: &str) -> [Val; 2] {
        [Val::I32(self.buf as i32), Val::I32(path.len() as i32)]
    }
}

fn total_len(lens: impl Iterator<Item = usize>) -> u32 {
    lens.fold(0usize, |a, b| a.saturating_add(b))
        .min(MAX_TRANSFER as usize) as u32
}

impl<R: Runtime> DriverOps for Driver<R> {
    fn read(&mut self, path: &str, offset: u64, iovs: &mut [IoSliceMut<'_>]) -> Result<u32, Fault> {
        let len = total_len(iovs.iter().map(|b| b.len()));
        let data = self.place(path, len)?;
        let [p, l] = self.path_args(path);
        let ret = self.call_i32(
            "read",
            &[
                p,
                l,
                Val::I64(offset as i64),
                Val::I32(data as i32),
                Val::I32(len as i32),
            ],
        )?;
        let n = Self::count(ret, len)?;
        let memory = self.instance.memory();
        let src = memory.slice(data, n).map_err(|_| Errno::IO)?;
        copy_to_iovs(src, iovs);
        Ok(n)
    }

    fn write(&mut self, path: &str, offset: u64, iovs: &[IoSlice<'_>]) -> Result<u32, Fault> {
        let len = total_len(iovs.iter().map(|b| b.len()));
        let data = self.place(path, len)?;
        {
            let mut memory = self.instance.memory();
            let mut dst = memory.slice_mut(data, len).map_err(|_| Errno::IO)?;
            for iov in iovs {
                if dst.is_empty() {
                    break;
                }
                let k = iov.len().min(dst.len());
                dst[..k].copy_from_slice(&iov[..k]);
                dst = &mut dst[k..];
            }
        }
        let [p, l] = self.path_args(path);
        let ret = self.call_i32(
            "write",
            &[
                p,
                l,
                Val::I64(offset as i64),
                Val::I32(data as i32),
                Val::I32(len as i32),
            ],
        )?;
        Self::count(ret, len)
    }

    fn query(&mut self, path: &str) -> Result<Stat, Fault> {
        let mut room = self
            .cap
            .saturating_sub(align8(path.len() as u32 + 1))
            .max(4096);
        for _ in 0..2 {
            let out = self.place(path, room)?;
            let [p, l] = self.path_args(path);
            let ret = self.call_i32(
                "query",
                &[p, l, Val::I32(out as i32), Val::I32(room as i32)],
            )?;
            let Ok(len) = u32::try_from(ret) else {
                return Err(driver_abi::errno_of(ret).into());
            };
            if len <= room {
                let memory = self.instance.memory();
                let bytes = memory.slice(out, len).map_err(|_| Errno::IO)?;
                return Ok(Stat::parse(bytes)?);
            }
            if len > MAX_TRANSFER {
                return Err(Errno::IO.into());
            }
            room = len;
        }
        Err(Errno::IO.into())
    }

    fn truncate(&mut self, path: &str, size: u64) -> Option<Result<(), Fault>> {
        if !self.has_truncate {
            return None;
        }
        Some((|| {
            self.place(path, 0)?;
            let [p, l] = self.path_args(path);
            match self.call_i32("truncate", &[p, l, Val::I64(size as i64)])? {
                0 => Ok(()),
                ret => Err(driver_abi::errno_of(ret).into()),
            }
        })())
    }
}

/// A loaded driver shared by the registry and the files open on it. When a
/// call finds it dead, it is unloaded: its instance is dropped and its
/// scopes are removed (the `on_unload` hook).
pub struct DriverHandle {
    name: String,
    dev: u64,
    ops: Mutex<Option<Box<dyn DriverOps>>>,
    on_unload: Box<dyn Fn(&DriverHandle) + Send + Sync>,
}

impl fmt::Debug for DriverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverHandle")
            .field("name", &self.name)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl DriverHandle {
    /// Shares `ops`, the driver called `name`; `on_unload` runs once if
    /// the driver dies.
    pub fn new(
        name: String,
        ops: Box<dyn DriverOps>,
        on_unload: Box<dyn Fn(&DriverHandle) + Send + Sync>,
    ) -> Arc<Self> {
        Arc::new(Self {
            dev: hash(&name),
            name,
            ops: Mutex::new(Some(ops)),
            on_unload,
        })
    }

    /// The driver's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device number its files report.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// Whether the driver is still loaded.
    pub fn is_loaded(&self) -> bool {
        lock(&self.ops).is_some()
    }

    /// Runs `f` on the driver; a dead driver is unloaded and the result is
    /// `EIO`, as is any call after that.
    fn with<T>(&self, f: impl FnOnce(&mut dyn DriverOps) -> Result<T, Fault>) -> Result<T, Errno> {
        let mut ops = lock(&self.ops);
        let Some(driver) = ops.as_mut() else {
            return Err(Errno::IO);
        };
        match f(driver.as_mut()) {
            Ok(value) => Ok(value),
            Err(Fault::Errno(errno)) => Err(errno),
            Err(Fault::Dead(why)) => {
                *ops = None;
                drop(ops);
                eprintln!("wadi[{}]: unloaded: {why}", self.name);
                (self.on_unload)(self);
                Err(Errno::IO)
            }
        }
    }

    /// `read` (spec/wadi.md §1.1).
    pub fn read(&self, path: &str, offset: u64, iovs: &mut [IoSliceMut<'_>]) -> Result<u32, Errno> {
        self.with(|d| d.read(path, offset, iovs))
    }

    /// `write`.
    pub fn write(&self, path: &str, offset: u64, iovs: &[IoSlice<'_>]) -> Result<u32, Errno> {
        self.with(|d| d.write(path, offset, iovs))
    }

    /// `query`.
    pub fn query(&self, path: &str) -> Result<Stat, Errno> {
        self.with(|d| d.query(path))
    }

    /// `truncate`; `None` when the driver has none.
    pub fn truncate(&self, path: &str, size: u64) -> Option<Result<(), Errno>> {
        let mut missing = false;
        let result = self.with(|d| match d.truncate(path, size) {
            Some(result) => result,
            None => {
                missing = true;
                Ok(())
            }
        });
        if missing { None } else { Some(result) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_checked() {
        let taken = vec![("/dev/wadi/driver".to_string(), "host".to_string())];
        let ok = |s: &str, k| check_registration(s, k, &taken, &[]).1;
        assert_eq!(ok("/dev/zero", 2), Ok(()));
        assert_eq!(ok("/dev/usb/*", 3), Ok(()));
        assert_eq!(ok("/dev", 2), Err(Errno::INVAL));
        assert_eq!(ok("/dev/zero", 9), Err(Errno::NOTSUP));
        assert_eq!(ok("/dev/wadi", 3), Err(Errno::EXIST));
        let earlier = [Registration {
            scope: "/dev/zero".into(),
            kind: Some(Kind::Char),
            result: Ok(()),
            why: String::new(),
        }];
        let (_, result, why) = check_registration("/dev/zero", 2, &taken, &earlier);
        assert_eq!(result, Err(Errno::EXIST));
        assert_eq!(why, "overlaps /dev/zero (this driver)");
        assert_eq!(align8(1), 8);
        assert_eq!(align8(8), 8);
        assert_eq!(align8(0), 0);
    }
}
