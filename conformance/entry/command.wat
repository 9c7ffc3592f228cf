;; A command: `_start` only, called with no arguments; its return ends the
;; run with exit code 0 (spec/preview1.md, "Entry points").
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "_start\n")
  ;; Writes the `len` bytes at `ptr` to stdout.
  (func $puts (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $puts (i32.const 64) (i32.const 7))))
