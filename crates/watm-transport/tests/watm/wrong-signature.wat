;; wrong-signature.wat: `_water_dial` takes no caller descriptor; loading it
;; as a dialer fails with one line naming that export and both types.
(module
  (memory (export "memory") 1)
  (func (export "_water_v0"))
  (func (export "_water_init") (result i32) (i32.const 0))
  (func (export "_water_cancel_with") (param i32) (result i32) (i32.const 0))
  (func (export "_water_worker") (result i32) (i32.const 0))
  (func (export "_water_dial") (result i32) (i32.const 0)))
