;; proc_exit in `_initialize` ends the run with its code: `_start` is not
;; called.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "_initialize\n")
  (data (i32.const 80) "_start\n")
  (func $puts (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize")
    (call $puts (i32.const 64) (i32.const 12))
    (call $proc_exit (i32.const 3)))
  (func (export "_start") (call $puts (i32.const 80) (i32.const 7))))
