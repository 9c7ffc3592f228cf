;; A reactor, as the ITK-Wasm pipelines are: `_initialize`, then the default
;; export `""`, which reads its arguments from argv as a command would (the
;; arguments after the module are the guest's, not the function's). It
;; prints its argument count (argv[0] included) as one digit.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $initialized (mut i32) (i32.const 0))
  (data (i32.const 64) "_initialize\n")
  (data (i32.const 80) "default: argc 0\n")
  (data (i32.const 96) "default: not initialized\n")
  (func $puts (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize")
    (global.set $initialized (i32.const 1))
    (call $puts (i32.const 64) (i32.const 12)))
  (func (export "")
    (if (i32.eqz (global.get $initialized))
      (then (call $puts (i32.const 96) (i32.const 25)) (return)))
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    ;; The digit at "argc 0".
    (i32.store8 (i32.const 94) (i32.add (i32.const 48) (i32.load (i32.const 16))))
    (call $puts (i32.const 80) (i32.const 16))))
