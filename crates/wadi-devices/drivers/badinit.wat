;; badinit.wat: a test driver whose init fails (returns EIO): it is not
;; loaded (spec/wadi.md §1.1).
(module
  (import "wadi" "register_device" (func $register (param i32 i32 i32) (result i32)))
  (import "wadi" "error" (func $error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/dev/bad")
  (data (i32.const 32) "no hardware found")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "free") (param i32))
  (func (export "init") (result i32)
    (drop (call $register (i32.const 16) (i32.const 8) (i32.const 2)))
    (call $error (i32.const 32) (i32.const 17))
    (i32.const 29))
  (func (export "read") (param i32 i32 i64 i32 i32) (result i32) (i32.const 0))
  (func (export "write") (param i32 i32 i64 i32 i32) (result i32) (local.get 4))
  (func (export "query") (param i32 i32 i32 i32) (result i32) (i32.const -44)))
