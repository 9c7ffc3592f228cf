//! The view of the guest's memory kept in the store data (`view.rs`): host
//! calls see the memory's new size and contents after the guest's
//! `memory.grow` and the host's `Memory::grow`, on a pooled and an unpooled
//! `WasmtimeRuntime` and through `add_to_linker_viewed`.

use wasi_core::System;
use wasi_core::runtime::{Imports, Instance, Prepared, Runtime, RuntimeConfig, Val};
use wasi_unix::UnixSystem;
use wasi_wasmtime::{Unlimited, ViewLimiter, ViewedStore, WasmtimeRuntime};

const PAGE: i32 = 65536;
const EFAULT: i32 = 21;

/// `clock_at(ptr)` writes the time at `ptr` and answers the errno; `grow`
/// is `memory.grow`; `load` reads 8 bytes as the guest sees them.
const GUEST: &str = r#"
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "clock_at") (param i32) (result i32)
    (call $clock (i32.const 0) (i64.const 1) (local.get 0)))
  (func (export "grow") (param i32) (result i32)
    (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i64)
    (i64.load (local.get 0))))
"#;

fn system() -> UnixSystem {
    UnixSystem::builder().build().unwrap()
}

fn call_i32<I: Instance<UnixSystem>>(instance: &mut I, name: &str, arg: i32) -> i32 {
    let mut out = [Val::I32(0)];
    instance.call(name, &[Val::I32(arg)], &mut out).unwrap();
    out[0].i32().unwrap()
}

fn load<I: Instance<UnixSystem>>(instance: &mut I, ptr: i32) -> i64 {
    let mut out = [Val::I64(0)];
    instance.call("load", &[Val::I32(ptr)], &mut out).unwrap();
    out[0].i64().unwrap()
}

/// The 8 bytes at `ptr` as the host sees them.
fn host_bytes<I: Instance<UnixSystem>>(instance: &mut I, ptr: u32) -> i64 {
    let (memory, _) = instance.memory_and_data();
    memory.read::<u64>(ptr).unwrap() as i64
}

fn grows_between_calls(config: RuntimeConfig) {
    let runtime = WasmtimeRuntime::new(config).unwrap();
    let wasm = wat::parse_str(GUEST).unwrap();
    let mut imports = Imports::new();
    imports.wasi(|system: &mut UnixSystem| system as &mut (dyn System + 'static));
    let prepared = runtime.prepare(&wasm, &imports).unwrap();
    for _ in 0..2 {
        // A second instance reuses the pool's slot (or a new mapping).
        let mut instance = prepared.instantiate(system()).unwrap();
        // The view is taken with one page...
        assert_eq!(call_i32(&mut instance, "clock_at", PAGE - 8), 0);
        assert_eq!(call_i32(&mut instance, "clock_at", PAGE - 4), EFAULT);
        assert_eq!(call_i32(&mut instance, "clock_at", PAGE), EFAULT);
        // ... and the guest grows the memory.
        assert_eq!(call_i32(&mut instance, "grow", 1), 1);
        assert_eq!(call_i32(&mut instance, "clock_at", PAGE), 0);
        let time = load(&mut instance, PAGE);
        assert_ne!(time, 0);
        assert_eq!(host_bytes(&mut instance, PAGE as u32), time);
        assert_eq!(call_i32(&mut instance, "clock_at", 2 * PAGE - 8), 0);
        assert_eq!(call_i32(&mut instance, "clock_at", 2 * PAGE - 7), EFAULT);
        // A growth the budget refuses (at most 2 pages) leaves the size.
        assert_eq!(call_i32(&mut instance, "grow", 1), -1);
        assert_eq!(call_i32(&mut instance, "clock_at", 2 * PAGE - 8), 0);
        assert_eq!(call_i32(&mut instance, "clock_at", 2 * PAGE), EFAULT);
        assert_eq!(call_i32(&mut instance, "clock_at", -1), EFAULT);
    }
}

#[test]
fn guest_growth_unpooled() {
    grows_between_calls(RuntimeConfig {
        max_memory: Some(2 * PAGE as u64),
        ..RuntimeConfig::new()
    });
}

#[test]
fn guest_growth_pooled() {
    grows_between_calls(RuntimeConfig {
        max_memory: Some(2 * PAGE as u64),
        instance_pool: Some(2),
        ..RuntimeConfig::new()
    });
}

/// Store data of an embedder using the viewed path.
struct Data {
    system: UnixSystem,
    memory: Option<wasmtime::Memory>,
    limits: ViewLimiter<Unlimited>,
}

// SAFETY: a `Data` goes into a store only through `new_store` below, and
// that store's limiter is never replaced nor its data moved.
unsafe impl ViewedStore for Data {
    type Limiter = Unlimited;

    fn view_limiter(&mut self) -> &mut ViewLimiter<Unlimited> {
        &mut self.limits
    }

    fn memory(&self) -> Option<wasmtime::Memory> {
        self.memory
    }
}

#[test]
fn host_growth_viewed() {
    // No reservation beyond the memory's size: every growth moves it.
    let mut config = wasmtime::Config::new();
    config
        .memory_reservation(0)
        .memory_guard_size(0)
        .memory_reservation_for_growth(0);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let module = wasmtime::Module::new(&engine, GUEST).unwrap();
    let mut linker = wasmtime::Linker::new(&engine);
    wasi_wasmtime::add_to_linker_viewed(&mut linker, |data: &mut Data| &mut data.system).unwrap();
    let data = Data {
        system: system(),
        memory: None,
        limits: ViewLimiter::new(Unlimited),
    };
    let mut store = wasi_wasmtime::new_store(&engine, data);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let clock_at = instance
        .get_typed_func::<i32, i32>(&mut store, "clock_at")
        .unwrap();
    // Before the handle is known, calls look the export up by name.
    assert_eq!(clock_at.call(&mut store, PAGE - 8).unwrap(), 0);
    assert_eq!(clock_at.call(&mut store, PAGE).unwrap(), EFAULT);
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    store.data_mut().memory = Some(memory);
    assert_eq!(clock_at.call(&mut store, PAGE - 8).unwrap(), 0);
    assert_eq!(clock_at.call(&mut store, PAGE).unwrap(), EFAULT);
    // The host grows the memory, which moves, and writes past the old end.
    let base = memory.data_ptr(&store);
    assert_eq!(memory.grow(&mut store, 15).unwrap(), 1);
    assert_ne!(memory.data_ptr(&store), base);
    memory.data_mut(&mut store)[PAGE as usize..][..8].fill(0xAB);
    let load = instance
        .get_typed_func::<i32, i64>(&mut store, "load")
        .unwrap();
    assert_eq!(
        load.call(&mut store, PAGE).unwrap(),
        0xABAB_ABAB_ABAB_ABABu64 as i64
    );
    assert_eq!(clock_at.call(&mut store, PAGE).unwrap(), 0);
    let time = load.call(&mut store, PAGE).unwrap();
    assert_ne!(time, 0xABAB_ABAB_ABAB_ABABu64 as i64);
    let bytes = memory.data(&store)[PAGE as usize..][..8]
        .try_into()
        .unwrap();
    assert_eq!(i64::from_le_bytes(bytes), time);
    assert_eq!(clock_at.call(&mut store, 16 * PAGE - 8).unwrap(), 0);
    assert_eq!(clock_at.call(&mut store, 16 * PAGE - 7).unwrap(), EFAULT);
    // The guest grows it, and it moves again.
    let grow = instance
        .get_typed_func::<i32, i32>(&mut store, "grow")
        .unwrap();
    let base = memory.data_ptr(&store);
    assert_eq!(grow.call(&mut store, 16).unwrap(), 16);
    assert_ne!(memory.data_ptr(&store), base);
    assert_eq!(load.call(&mut store, PAGE).unwrap(), time);
    assert_eq!(clock_at.call(&mut store, 16 * PAGE).unwrap(), 0);
    assert_eq!(clock_at.call(&mut store, 32 * PAGE - 8).unwrap(), 0);
    assert_eq!(clock_at.call(&mut store, 32 * PAGE - 7).unwrap(), EFAULT);
    assert_ne!(load.call(&mut store, 32 * PAGE - 8).unwrap(), 0);
}
