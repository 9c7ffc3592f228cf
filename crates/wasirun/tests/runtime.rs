//! The engine-independent module interface (`wasi_core::runtime`) behaves the
//! same on both engines: one generic test body, run on each.

use wasi_core::Errno;
use wasi_core::runtime::{
    CallError, Imports, Instance, LoadError, Runtime, RuntimeConfig, Val, ValType,
};
use wasi_unix::UnixSystem;
use wasi_wasmi::WasmiRuntime;
use wasi_wasmtime::WasmtimeRuntime;

const MODULE: &str = r#"
(module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "record" (func $record (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "from the guest")
  (func (export "sum") (param i32 i32) (result i32)
    (call $add (local.get 0) (local.get 1)))
  (func (export "send") (call $record (i32.const 64) (i32.const 14)))
  (func (export "send_out_of_bounds") (call $record (i32.const 65530) (i32.const 14)))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "boom") unreachable))
"#;

#[derive(Default)]
struct Data {
    records: Vec<Vec<u8>>,
}

fn imports() -> Imports<Data> {
    let mut imports = Imports::<Data>::new();
    imports
        .func(
            "host",
            "add",
            &[ValType::I32, ValType::I32],
            &[ValType::I32],
            |_, params, results| {
                let (a, b) = (params[0].i32().unwrap(), params[1].i32().unwrap());
                results[0] = Val::I32(a.wrapping_add(b));
                Ok(())
            },
        )
        .unwrap()
        .func(
            "host",
            "record",
            &[ValType::I32, ValType::I32],
            &[],
            |caller, params, _| {
                let (ptr, len) = (
                    params[0].i32().unwrap() as u32,
                    params[1].i32().unwrap() as u32,
                );
                let bytes = caller
                    .memory
                    .slice(ptr, len)
                    .map_err(|e| format!("record: {e}"))?
                    .to_vec();
                caller.data.records.push(bytes);
                Ok(())
            },
        )
        .unwrap();
    imports
}

fn exercise<R: Runtime>(runtime: &R) {
    let wasm = wat::parse_str(MODULE).unwrap();
    let mut instance = runtime
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();

    let mut out = [Val::I32(0)];
    instance
        .call("sum", &[Val::I32(40), Val::I32(2)], &mut out)
        .unwrap();
    assert_eq!(out, [Val::I32(42)]);

    instance.call("send", &[], &mut []).unwrap();
    assert_eq!(instance.data().records, [b"from the guest".to_vec()]);

    let err = instance
        .call("send_out_of_bounds", &[], &mut [])
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Trap(msg) if msg.contains("EFAULT")),
        "{err:?}"
    );

    instance.memory().write(100, 0xabu8).unwrap();
    instance.call("load", &[Val::I32(100)], &mut out).unwrap();
    assert_eq!(out, [Val::I32(0xab)]);
    assert_eq!(instance.memory().read::<u8>(70_000), Err(Errno::FAULT));

    assert!(matches!(
        instance.call("boom", &[], &mut []),
        Err(CallError::Trap(_))
    ));
    assert!(matches!(
        instance.call("nope", &[], &mut []),
        Err(CallError::NoSuchExport(_))
    ));
    assert!(matches!(
        instance.call("sum", &[Val::I64(1), Val::I32(2)], &mut out),
        Err(CallError::Signature(_))
    ));
    assert!(matches!(
        instance.call("sum", &[Val::I32(1), Val::I32(2)], &mut []),
        Err(CallError::Signature(_))
    ));
    assert!(instance.has_func("spin") && !instance.has_func("memory"));

    let err = runtime
        .instantiate(b"\0asm\x01\0\0\0\x05", &imports(), Data::default())
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Invalid(_)), "{err:?}");
    let err = runtime
        .instantiate(&wasm, &Imports::new(), Data::default())
        .err()
        .unwrap();
    assert!(
        matches!(&err, LoadError::Link(msg) if msg.contains("add")),
        "{err:?}"
    );
}

fn spin_runs_out_of_fuel<R: Runtime>(runtime: &R) {
    let wasm = wat::parse_str(MODULE).unwrap();
    let mut instance = runtime
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();
    assert_eq!(
        instance.call("spin", &[], &mut []),
        Err(CallError::OutOfFuel)
    );
    // Every call gets a fresh budget: the instance remains usable.
    let mut out = [Val::I32(0)];
    instance
        .call("sum", &[Val::I32(1), Val::I32(2)], &mut out)
        .unwrap();
    assert_eq!(out, [Val::I32(3)]);
}

/// `spin` loops with no limit but the instance's interrupter, which
/// another thread triggers; the instance answers `Interrupted` from then on.
fn spin_is_interrupted<R: Runtime>(runtime: &R)
where
    R::Instance<Data>: Send,
{
    let wasm = wat::parse_str(MODULE).unwrap();
    let mut instance = runtime
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();
    let interrupter = instance.interrupter().expect("an interruptible runtime");
    let started = std::time::Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        interrupter.interrupt();
    });
    assert_eq!(
        instance.call("spin", &[], &mut []),
        Err(CallError::Interrupted)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    stopper.join().unwrap();
    let mut out = [Val::I32(0)];
    assert_eq!(
        instance.call("sum", &[Val::I32(1), Val::I32(2)], &mut out),
        Err(CallError::Interrupted)
    );
}

#[test]
fn an_interruptible_instance_stops_when_told() {
    let config = RuntimeConfig {
        interruptible: true,
        ..RuntimeConfig::new()
    };
    spin_is_interrupted(&WasmtimeRuntime::new(config).unwrap());
    spin_is_interrupted(&WasmiRuntime::new(config));
    // With a timeout too, the timeout still applies.
    let config = RuntimeConfig {
        interruptible: true,
        timeout: Some(std::time::Duration::from_millis(50)),
        ..RuntimeConfig::new()
    };
    let wasm = wat::parse_str(MODULE).unwrap();
    let mut on_wasmtime = WasmtimeRuntime::new(config)
        .unwrap()
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();
    assert_eq!(
        on_wasmtime.call("spin", &[], &mut []),
        Err(CallError::Timeout)
    );
    let mut on_wasmi = WasmiRuntime::new(config)
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();
    assert_eq!(on_wasmi.call("spin", &[], &mut []), Err(CallError::Timeout));
    // Without the setting there is no interrupter.
    let plain = WasmiRuntime::new(RuntimeConfig::new())
        .instantiate(&wasm, &imports(), Data::default())
        .unwrap();
    assert!(plain.interrupter().is_none());
}

const WASI_MODULE: &str = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "argc") (result i32)
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (i32.load (i32.const 0)))
  (func (export "bad_pointer") (result i32) (call $sizes (i32.const 65534) (i32.const 4)))
  (func (export "quit") (call $exit (i32.const 7))))
"#;

fn wasi_imports<R: Runtime>(runtime: &R) {
    let wasm = wat::parse_str(WASI_MODULE).unwrap();
    let system = UnixSystem::builder()
        .arg("guest")
        .arg("one")
        .build()
        .unwrap();
    let mut imports = Imports::<UnixSystem>::new();
    imports.wasi(|sys: &mut UnixSystem| -> &mut dyn wasi_core::System { sys });
    let mut instance = runtime.instantiate(&wasm, &imports, system).unwrap();
    let mut out = [Val::I32(0)];
    instance.call("argc", &[], &mut out).unwrap();
    assert_eq!(out, [Val::I32(2)]);
    instance.call("bad_pointer", &[], &mut out).unwrap();
    assert_eq!(out, [Val::I32(Errno::FAULT.0.into())]);
    assert_eq!(instance.call("quit", &[], &mut []), Err(CallError::Exit(7)));
}

#[test]
fn wasmtime_runtime() {
    exercise(&WasmtimeRuntime::new(RuntimeConfig::default()).unwrap());
}

#[test]
fn wasmi_runtime() {
    exercise(&WasmiRuntime::new(RuntimeConfig::default()));
}

#[test]
fn fuel_stops_a_looping_module() {
    let config = RuntimeConfig {
        fuel_per_call: Some(100_000),
        ..RuntimeConfig::new()
    };
    spin_runs_out_of_fuel(&WasmtimeRuntime::new(config).unwrap());
    spin_runs_out_of_fuel(&WasmiRuntime::new(config));
}

#[test]
fn loaded_modules_can_import_wasi() {
    wasi_imports(&WasmtimeRuntime::new(RuntimeConfig::default()).unwrap());
    wasi_imports(&WasmiRuntime::new(RuntimeConfig::default()));
}

/// Imports two typed host functions (of the three offered): one that sums
/// 64-bit values and counts its calls in the instance data, one that reads
/// a guest string, bounds-checked.
const TYPED: &str = r#"
(module
  (import "ext" "sum" (func $sum (param i64 i32) (result i64)))
  (import "ext" "len" (func $len (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 8) "typed")
  (func (export "sum") (param i64 i32) (result i64)
    (call $sum (local.get 0) (local.get 1)))
  (func (export "len") (param i32 i32) (result i32)
    (call $len (local.get 0) (local.get 1))))
"#;

fn typed_imports<R: Runtime>(runtime: &R) {
    let mut imports = Imports::<u32>::new();
    imports
        .typed("ext", "sum", |caller, (a, b): (u64, u32)| {
            *caller.data += 1;
            Ok(a + u64::from(b))
        })
        .typed("ext", "len", |caller, (ptr, len): (u32, u32)| {
            let text = caller
                .memory
                .str(ptr, len)
                .map_err(|e| format!("len: {e}"))?;
            Ok(text.len() as i32)
        })
        // Offered, not imported: never linked.
        .typed("ext", "unused", |_, (): ()| Ok(()));
    let wasm = wat::parse_str(TYPED).unwrap();
    let mut instance = runtime.instantiate(&wasm, &imports, 0).unwrap();
    let mut out = [Val::I64(0)];
    instance
        .call("sum", &[Val::I64(1 << 40), Val::I32(-1)], &mut out)
        .unwrap();
    // -1 as u32 is 4294967295.
    assert_eq!(out, [Val::I64((1 << 40) + 4_294_967_295)]);
    assert_eq!(*instance.data(), 1);
    let mut out = [Val::I32(0)];
    instance
        .call("len", &[Val::I32(8), Val::I32(5)], &mut out)
        .unwrap();
    assert_eq!(out, [Val::I32(5)]);
    // Out of bounds: the host function fails, the call traps, the host lives.
    let err = instance
        .call("len", &[Val::I32(65534), Val::I32(5)], &mut out)
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Trap(msg) if msg.contains("EFAULT")),
        "{err:?}"
    );
}

#[test]
fn typed_host_functions_on_both_engines() {
    typed_imports(&WasmtimeRuntime::new(RuntimeConfig::default()).unwrap());
    typed_imports(&WasmiRuntime::new(RuntimeConfig::default()));
}

const COUNTER: &str = r#"
(module
  (import "ext" "seen" (func $seen (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (call $seen (i32.load (i32.const 0)))))
"#;

/// A prepared module makes independent instances, on any thread, and its
/// typed imports reach each instance's own data.
fn prepared_instances<R: Runtime>(runtime: &R)
where
    R::Prepared<u32>: 'static,
{
    use wasi_core::runtime::Prepared;
    let mut imports = Imports::<u32>::new();
    imports.typed("ext", "seen", |caller, (count,): (u32,)| {
        *caller.data += 10;
        Ok(count + *caller.data)
    });
    let wasm = wat::parse_str(COUNTER).unwrap();
    let prepared = std::sync::Arc::new(runtime.prepare(&wasm, &imports).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let prepared = std::sync::Arc::clone(&prepared);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let mut instance = prepared.instantiate(0).unwrap();
                    let mut out = [Val::I32(0)];
                    instance.call("bump", &[], &mut out).unwrap();
                    // Fresh memory, globals and data every time.
                    assert_eq!(out, [Val::I32(11)]);
                    instance.call("bump", &[], &mut out).unwrap();
                    assert_eq!(out, [Val::I32(22)]);
                    assert_eq!(*instance.data(), 20);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    // A missing import is a link error, from `prepare` or the instantiation.
    let none = Imports::<u32>::new();
    let err = runtime
        .prepare(&wasm, &none)
        .and_then(|prepared| prepared.instantiate(0).map(drop))
        .unwrap_err();
    assert!(matches!(err, LoadError::Link(_)), "{err:?}");
}

#[test]
fn prepared_modules_instantiate_many_times_on_both_engines() {
    prepared_instances(&WasmtimeRuntime::new(RuntimeConfig::default()).unwrap());
    prepared_instances(&WasmiRuntime::new(RuntimeConfig::default()));
    let pooled = RuntimeConfig {
        instance_pool: Some(8),
        max_memory: Some(1 << 20),
        ..RuntimeConfig::new()
    };
    prepared_instances(&WasmtimeRuntime::new(pooled).unwrap());
}

#[test]
fn the_instance_pool_bounds_live_instances() {
    use wasi_core::runtime::Prepared;
    let config = RuntimeConfig {
        instance_pool: Some(2),
        max_memory: Some(1 << 20),
        ..RuntimeConfig::new()
    };
    let runtime = WasmtimeRuntime::new(config).unwrap();
    let wasm = wat::parse_str("(module (memory (export \"memory\") 1))").unwrap();
    let prepared = runtime.prepare(&wasm, &Imports::<()>::new()).unwrap();
    let a = prepared.instantiate(()).unwrap();
    let _b = prepared.instantiate(()).unwrap();
    let err = prepared.instantiate(()).map(drop).unwrap_err();
    assert!(matches!(err, LoadError::Link(_)), "{err:?}");
    // A slot comes back when its instance is dropped.
    drop(a);
    prepared.instantiate(()).unwrap();
    // A module declaring more memory than a slot holds does not load.
    let big = wat::parse_str("(module (memory 32))").unwrap();
    let err = runtime
        .prepare(&big, &Imports::<()>::new())
        .and_then(|p| p.instantiate(()).map(drop))
        .unwrap_err();
    assert!(
        matches!(err, LoadError::Invalid(_) | LoadError::Link(_)),
        "{err:?}"
    );
}
