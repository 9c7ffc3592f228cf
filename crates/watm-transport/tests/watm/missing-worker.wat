;; missing-worker.wat: a WATER v0 module without `_water_worker`; loading it
;; fails with one line naming that export.
(module
  (memory (export "memory") 1)
  (global (export "_water_v0") i32 (i32.const 0))
  (func (export "_water_init") (result i32) (i32.const 0))
  (func (export "_water_cancel_with") (param i32) (result i32) (i32.const 0))
  (func (export "_water_dial") (param i32) (result i32) (i32.const 0))
  (func (export "_water_accept") (param i32) (result i32) (i32.const 0))
  (func (export "_water_associate") (result i32) (i32.const 0)))
