;; Lists the whole preopened directory (descriptor 3, 10,000 entries) per
;; iteration: fd_readdir into a 64 KiB buffer, resuming each call at the
;; d_next cookie of the last complete entry, until a call leaves the buffer
;; unfilled. `entries` tells how many entries the last listing saw.
(module
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  ;; The second page is the buffer.
  (memory (export "memory") 2)
  (global $entries (mut i32) (i32.const 0))
  (func (export "setup"))
  (func (export "entries") (result i32) (global.get $entries))
  (func (export "run") (param $n i64)
    (local $cookie i64) (local $used i32) (local $p i32) (local $end i32)
    (local $next_p i32) (local $count i32)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $cookie (i64.const 0))
        (local.set $count (i32.const 0))
        (loop $call
          ;; buf = 65536, len = 65536, used at 8.
          (if (call $fd_readdir (i32.const 3) (i32.const 65536) (i32.const 65536)
                (local.get $cookie) (i32.const 8))
            (then unreachable))
          (local.set $used (i32.load (i32.const 8)))
          (local.set $p (i32.const 65536))
          (local.set $end (i32.add (i32.const 65536) (local.get $used)))
          ;; Walk the complete entries: a 24-byte header (d_next u64,
          ;; d_ino u64, d_namlen u32, d_type u8) and the name.
          (block $walked
            (loop $entry
              (br_if $walked (i32.gt_u (i32.add (local.get $p) (i32.const 24)) (local.get $end)))
              (local.set $next_p
                (i32.add (i32.add (local.get $p) (i32.const 24))
                         (i32.load offset=16 (local.get $p))))
              (br_if $walked (i32.gt_u (local.get $next_p) (local.get $end)))
              (local.set $cookie (i64.load (local.get $p)))
              (local.set $count (i32.add (local.get $count) (i32.const 1)))
              (local.set $p (local.get $next_p))
              (br $entry)))
          (br_if $call (i32.eq (local.get $used) (i32.const 65536))))
        (global.set $entries (local.get $count))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
