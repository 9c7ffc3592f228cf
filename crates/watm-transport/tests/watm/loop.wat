;; loop.wat: sets connections up as plain.wat does, then loops in the worker
;; without ever calling the host (only a fuel or time limit stops it).
(module
  (import "env" "host_dial" (func $host_dial (result i32)))
  (import "env" "host_accept" (func $host_accept (result i32)))
  (memory (export "memory") 1)
  (global (export "_water_v0") i32 (i32.const 0))
  (func (export "_water_init") (result i32) (i32.const 0))
  (func (export "_water_cancel_with") (param i32) (result i32) (i32.const 0))
  (func (export "_water_dial") (param i32) (result i32) (call $host_dial))
  (func (export "_water_accept") (param i32) (result i32) (call $host_accept))
  (func (export "_water_associate") (result i32)
    (local $source i32)
    (local.set $source (call $host_accept))
    (if (i32.lt_s (local.get $source) (i32.const 0)) (then (return (local.get $source))))
    (call $host_dial))
  (func (export "_water_worker") (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
