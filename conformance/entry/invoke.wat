;; `--invoke mix` (NAME.json's `wasirun_args`): `_initialize` first, then
;; `mix` instead of `_start`, its arguments parsed from the ones after the
;; module by type, its results printed one per line as wasmtime prints
;; them.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "_initialize\n")
  (data (i32.const 80) "_start\n")
  (func $puts (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize") (call $puts (i32.const 64) (i32.const 12)))
  (func (export "_start") (call $puts (i32.const 80) (i32.const 7)))
  ;; (a, b, c, d) -> (a + 1, b * 2, c / 2, -d, a as an unsigned i64)
  (func (export "mix") (param $a i32) (param $b i64) (param $c f32) (param $d f64)
    (result i32 i64 f32 f64 i64)
    (i32.add (local.get $a) (i32.const 1))
    (i64.mul (local.get $b) (i64.const 2))
    (f32.div (local.get $c) (f32.const 2))
    (f64.neg (local.get $d))
    (i64.extend_i32_u (local.get $a))))
