;; clock_time_get of the monotonic clock, per iteration.
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "setup"))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        ;; clock 1 = monotonic, precision 0, result at 8.
        (if (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 8))
          (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
