;; zero.wat: /dev/zero and /dev/null as character devices (spec/wadi.md §4).
;; Reads of /dev/zero fill the buffer with zero bytes; reads of /dev/null
;; give end of file; writes to either are discarded.
(module
  (import "wadi" "register_device" (func $register (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "/dev/zero")
  (data (i32.const 32) "/dev/null")
  (global $heap (mut i32) (i32.const 4096))

  ;; A bump allocator; freeing the last block gives its memory back.
  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr)
      (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.lt_u (local.get $end) (local.get $ptr)) (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $pages (i32.sub
          (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
          (memory.size)))
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func (export "free") (param $ptr i32)
    (if (i32.lt_u (local.get $ptr) (global.get $heap))
      (then (global.set $heap (local.get $ptr)))))

  (func (export "init") (result i32)
    (local $err i32)
    (local.set $err (call $register (i32.const 16) (i32.const 9) (i32.const 2)))
    (if (local.get $err) (then (return (local.get $err))))
    (call $register (i32.const 32) (i32.const 9) (i32.const 2)))

  ;; Whether the path is /dev/zero (both paths are 9 bytes; they differ at 5).
  (func $is_zero (param $path i32) (param $len i32) (result i32)
    (i32.and (i32.eq (local.get $len) (i32.const 9))
             (i32.eq (i32.load8_u offset=5 (local.get $path)) (i32.const 0x7a))))

  (func (export "read") (param $path i32) (param $plen i32) (param $off i64)
                        (param $buf i32) (param $len i32) (result i32)
    (if (call $is_zero (local.get $path) (local.get $plen))
      (then
        (memory.fill (local.get $buf) (i32.const 0) (local.get $len))
        (return (local.get $len))))
    (i32.const 0))

  (func (export "write") (param $path i32) (param $plen i32) (param $off i64)
                         (param $buf i32) (param $len i32) (result i32)
    (local.get $len))

  ;; A character device, size 0, no entries: a 56-byte record of zeros but
  ;; for its type.
  (func (export "query") (param $path i32) (param $plen i32)
                         (param $out i32) (param $olen i32) (result i32)
    (if (i32.ge_u (local.get $olen) (i32.const 56))
      (then
        (memory.fill (local.get $out) (i32.const 0) (i32.const 56))
        (i32.store8 (local.get $out) (i32.const 2))))
    (i32.const 56)))
