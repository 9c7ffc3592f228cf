;; WasmEdge v1's two-argument `sock_accept(fd, ret_fd)`: accepts one
;; connection on the preopened listener at fd 3, writes "v1\n" to it and
;; closes it. The host links this signature because the module imports it.
(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: accepted fd; 8: iovec; 16: written; 32: "v1\n"
  (data (i32.const 32) "v1\n")
  (func (export "_start")
    (if (call $accept (i32.const 3) (i32.const 0))
      (then (call $exit (i32.const 1))))
    (i32.store (i32.const 8) (i32.const 32))
    (i32.store (i32.const 12) (i32.const 3))
    (if (call $write (i32.load (i32.const 0)) (i32.const 8) (i32.const 1) (i32.const 16))
      (then (call $exit (i32.const 2))))
    (if (call $close (i32.load (i32.const 0)))
      (then (call $exit (i32.const 3))))))
