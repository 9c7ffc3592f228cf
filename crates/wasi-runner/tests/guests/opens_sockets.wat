;; Opens WasmEdge sockets (sock_open(inet4, stream), which needs no
;; grant) until one fails, keeping them open. Exits with the number opened
;; when the failure is EMFILE (33), 128 + that number for ENFILE (41),
;; 255 for anything else.
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $n i32) (local $errno i32)
    (loop $more
      (local.set $errno (call $sock_open (i32.const 1) (i32.const 2) (i32.const 0)))
      (if (i32.eqz (local.get $errno)) (then
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $more))))
    (if (i32.eq (local.get $errno) (i32.const 33)) (then (call $exit (local.get $n))))
    (if (i32.eq (local.get $errno) (i32.const 41))
      (then (call $exit (i32.add (i32.const 128) (local.get $n)))))
    (call $exit (i32.const 255))))
