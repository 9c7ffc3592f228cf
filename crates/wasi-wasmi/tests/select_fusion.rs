//! `select` whose condition is `i32.eqz` (or `i32.eq`/`i32.ne` with 0) of a
//! value in a stack slot (a parameter or local): wasmi 2.0.0 fused the
//! compare into the `select` but read the condition from the compare's
//! result register, which the fusion had dropped, so
//! `(select (i32.const 48) (i32.const 88) (i32.eqz (local.get $p)))` gave
//! 48 for p = 80. The workspace patches wasmi (`vendor/wasmi/PATCHES.md`);
//! these run each shape on plain wasmi and through `WasmiRuntime`, with and
//! without fuel, against the values the Wasm semantics give.

use wasi_core::runtime::{Imports, Instance, Prepared, Runtime, RuntimeConfig, Val};
use wasi_wasmi::WasmiRuntime;

const MODULE: &str = r#"(module
  (func $id (param i32) (result i32) (local.get 0))
  (func $id64 (param i64) (result i64) (local.get 0))

  ;; i32.eqz of a parameter, constants selected.
  (func (export "eqz_consts") (param $p i32) (result i32)
    (select (i32.const 48) (i32.const 88) (i32.eqz (local.get $p))))
  ;; The parameter itself selected.
  (func (export "eqz_param") (param $p i32) (result i32)
    (select (i32.const 48) (local.get $p) (i32.eqz (local.get $p))))
  ;; The true value in the register before the compare (right by luck for
  ;; most p; p = 32 leaves 0 there).
  (func (export "eqz_reg_true") (param $p i32) (result i32)
    (select (i32.add (local.get $p) (i32.const -32)) (i32.const 88)
      (i32.eqz (local.get $p))))
  ;; Typed select.
  (func (export "eqz_typed") (param $p i32) (result i32)
    (select (result i32) (i32.const 48) (i32.const 88) (i32.eqz (local.get $p))))
  ;; i32.eq and i32.ne with 0, either operand order.
  (func (export "eq0") (param $p i32) (result i32)
    (select (i32.const 48) (i32.const 88) (i32.eq (local.get $p) (i32.const 0))))
  (func (export "eq0_swapped") (param $p i32) (result i32)
    (select (i32.const 48) (i32.const 88) (i32.eq (i32.const 0) (local.get $p))))
  (func (export "ne0") (param $p i32) (result i32)
    (select (i32.const 48) (i32.const 88) (i32.ne (local.get $p) (i32.const 0))))
  (func (export "ne0_param") (param $p i32) (result i32)
    (select (i32.const 48) (local.get $p) (i32.ne (local.get $p) (i32.const 0))))
  ;; A local set from a call's result.
  (func (export "eqz_local_from_call") (param $p i32) (result i32) (local $x i32)
    (local.set $x (call $id (local.get $p)))
    (select (i32.const 48) (i32.const 88) (i32.eqz (local.get $x))))
  (func (export "ne0_local_from_call") (param $p i32) (result i32) (local $x i32)
    (local.set $x (call $id (local.get $p)))
    (select (local.get $x) (i32.const 88) (i32.ne (local.get $x) (i32.const 0))))
  ;; The compare's input in the register (the fused form that was right).
  (func (export "eqz_of_reg") (param $p i32) (result i32)
    (select (i32.const 48) (i32.const 88) (i32.eqz (i32.add (local.get $p) (i32.const 1)))))
  ;; Other selected types: i64, f32, f64, v128.
  (func (export "eqz_select_i64") (param $p i32) (result i64)
    (select (i64.const 48) (i64.const 88) (i32.eqz (local.get $p))))
  (func (export "eqz_select_f32") (param $p i32) (result f32)
    (select (f32.const 1.5) (f32.const 2.5) (i32.eqz (local.get $p))))
  (func (export "eqz_select_f64") (param $p i32) (result f64)
    (select (f64.const 1.5) (f64.const 2.5) (i32.eqz (local.get $p))))
  (func (export "eqz_select_v128") (param $p i32) (result i32)
    (i32x4.extract_lane 0
      (select (v128.const i32x4 48 0 0 0) (v128.const i32x4 88 0 0 0)
        (i32.eqz (local.get $p)))))
  ;; i64 compares with 0 as the condition.
  (func (export "i64_eqz") (param $q i64) (result i64)
    (select (i64.const 48) (i64.const 88) (i64.eqz (local.get $q))))
  (func (export "i64_eqz_param") (param $q i64) (result i64)
    (select (i64.const 48) (local.get $q) (i64.eqz (local.get $q))))
  (func (export "i64_eq0") (param $q i64) (result i32)
    (select (i32.const 48) (i32.const 88) (i64.eq (local.get $q) (i64.const 0))))
  (func (export "i64_ne0") (param $q i64) (result i32)
    (select (i32.const 48) (i32.const 88) (i64.ne (local.get $q) (i64.const 0))))
  (func (export "i64_eqz_local_from_call") (param $q i64) (result i64) (local $x i64)
    (local.set $x (call $id64 (local.get $q)))
    (select (i64.const 48) (i64.const 88) (i64.eqz (local.get $x))))
  ;; Branches fuse the same compares (their own way): checked alongside.
  (func (export "if_eqz") (param $p i32) (result i32)
    (if (result i32) (i32.eqz (local.get $p))
      (then (i32.const 48)) (else (i32.const 88))))
  (func (export "br_if_eqz") (param $p i32) (result i32)
    (block $b (result i32)
      (br_if $b (i32.const 48) (i32.eqz (local.get $p)))
      (drop) (i32.const 88)))
)"#;

/// An export, whether it takes an `i64` (else an `i32`), and what it returns
/// for a parameter.
type Case = (&'static str, bool, fn(i64) -> Val);

fn i32_of(p: i64) -> i32 {
    p as i32
}

const CASES: &[Case] = &[
    ("eqz_consts", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("eqz_param", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { i32_of(p) })
    }),
    ("eqz_reg_true", false, |p| {
        Val::I32(if i32_of(p) == 0 {
            i32_of(p).wrapping_sub(32)
        } else {
            88
        })
    }),
    ("eqz_typed", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("eq0", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("eq0_swapped", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("ne0", false, |p| {
        Val::I32(if i32_of(p) != 0 { 48 } else { 88 })
    }),
    ("ne0_param", false, |p| {
        Val::I32(if i32_of(p) != 0 { 48 } else { 0 })
    }),
    ("eqz_local_from_call", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("ne0_local_from_call", false, |p| {
        Val::I32(if i32_of(p) != 0 { i32_of(p) } else { 88 })
    }),
    ("eqz_of_reg", false, |p| {
        Val::I32(if i32_of(p).wrapping_add(1) == 0 {
            48
        } else {
            88
        })
    }),
    ("eqz_select_i64", false, |p| {
        Val::I64(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("eqz_select_f32", false, |p| {
        Val::F32(if i32_of(p) == 0 { 1.5f32 } else { 2.5 }.to_bits())
    }),
    ("eqz_select_f64", false, |p| {
        Val::F64(if i32_of(p) == 0 { 1.5f64 } else { 2.5 }.to_bits())
    }),
    ("eqz_select_v128", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("i64_eqz", true, |q| Val::I64(if q == 0 { 48 } else { 88 })),
    ("i64_eqz_param", true, |q| {
        Val::I64(if q == 0 { 48 } else { q })
    }),
    ("i64_eq0", true, |q| Val::I32(if q == 0 { 48 } else { 88 })),
    ("i64_ne0", true, |q| Val::I32(if q != 0 { 48 } else { 88 })),
    ("i64_eqz_local_from_call", true, |q| {
        Val::I64(if q == 0 { 48 } else { 88 })
    }),
    ("if_eqz", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
    ("br_if_eqz", false, |p| {
        Val::I32(if i32_of(p) == 0 { 48 } else { 88 })
    }),
];

/// Parameters: zero, the reported 80, 32 (which zeroes `eqz_reg_true`'s
/// register), and values whose low 32 bits are zero for the `i64` cases.
const PARAMS: &[i64] = &[0, 1, 32, 80, -1, i32::MIN as i64, 1 << 32, i64::MIN];

/// Every case and parameter, with the argument as the case's type.
fn calls() -> impl Iterator<Item = (&'static str, Val, Val)> {
    CASES.iter().flat_map(|&(name, is_i64, expect)| {
        PARAMS.iter().map(move |&p| {
            let arg = match is_i64 {
                true => Val::I64(p),
                false => Val::I32(i32_of(p)),
            };
            (name, arg, expect(p))
        })
    })
}

fn zero_like(val: Val) -> Val {
    match val {
        Val::I32(_) => Val::I32(0),
        Val::I64(_) => Val::I64(0),
        Val::F32(_) => Val::F32(0),
        Val::F64(_) => Val::F64(0),
    }
}

fn to_wasmi(val: Val) -> wasmi::Val {
    match val {
        Val::I32(v) => wasmi::Val::I32(v),
        Val::I64(v) => wasmi::Val::I64(v),
        Val::F32(v) => wasmi::Val::F32(wasmi_core::F32::from_bits(v)),
        Val::F64(v) => wasmi::Val::F64(wasmi_core::F64::from_bits(v)),
    }
}

fn from_wasmi(val: &wasmi::Val) -> Val {
    match *val {
        wasmi::Val::I32(v) => Val::I32(v),
        wasmi::Val::I64(v) => Val::I64(v),
        wasmi::Val::F32(v) => Val::F32(v.to_bits()),
        wasmi::Val::F64(v) => Val::F64(v.to_bits()),
        ref other => panic!("unexpected result {other:?}"),
    }
}

/// The calls whose result differs from the expected one, as messages.
fn wrong_results(mut call: impl FnMut(&str, Val, Val) -> Val) -> Vec<String> {
    calls()
        .filter_map(|(name, arg, expected)| {
            let got = call(name, arg, zero_like(expected));
            (got != expected).then(|| format!("{name}({arg:?}) = {got:?}, expected {expected:?}"))
        })
        .collect()
}

#[test]
fn plain_wasmi_with_the_default_config() {
    let engine = wasmi::Engine::default();
    let wasm = wat::parse_str(MODULE).unwrap();
    let module = wasmi::Module::new(&engine, &wasm[..]).unwrap();
    let mut store = wasmi::Store::new(&engine, ());
    let instance = wasmi::Linker::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .unwrap();
    let wrong = wrong_results(|name, arg, result| {
        let func = instance.get_func(&store, name).unwrap();
        let mut results = [to_wasmi(result)];
        func.call(&mut store, &[to_wasmi(arg)], &mut results)
            .unwrap();
        from_wasmi(&results[0])
    });
    assert!(wrong.is_empty(), "wrong results:\n{}", wrong.join("\n"));
}

fn through_runtime(config: RuntimeConfig) {
    let runtime = WasmiRuntime::new(config);
    let wasm = wat::parse_str(MODULE).unwrap();
    let prepared = runtime.prepare(&wasm, &Imports::<()>::new()).unwrap();
    let mut instance = prepared.instantiate(()).unwrap();
    let wrong = wrong_results(|name, arg, result| {
        let mut results = [result];
        instance.call(name, &[arg], &mut results).unwrap();
        results[0]
    });
    assert!(wrong.is_empty(), "wrong results:\n{}", wrong.join("\n"));
}

#[test]
fn wasmi_runtime_without_limits() {
    through_runtime(RuntimeConfig::default());
}

#[test]
fn wasmi_runtime_with_fuel() {
    through_runtime(RuntimeConfig {
        fuel_per_call: Some(1_000_000),
        ..RuntimeConfig::default()
    });
}
