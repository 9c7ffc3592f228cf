;; random_get of 32 bytes, per iteration.
(module
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "setup"))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $random_get (i32.const 64) (i32.const 32))
          (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
