;; fd_write of one byte to /dev/null, per iteration. The host preopens /dev
;; as descriptor 3; `setup` opens "null" beneath it for writing.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $fd (mut i32) (i32.const -1))
  ;; 0: ciovec {buf = 32, len = 1}; 8: nwritten; 12: opened fd; 32: the byte; 64: path.
  (data (i32.const 0) "\20\00\00\00\01\00\00\00")
  (data (i32.const 32) "x")
  (data (i32.const 64) "null")
  (func (export "setup")
    ;; rights: FD_WRITE (1 << 6).
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 4)
          (i32.const 0) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 12))
      (then unreachable))
    (global.set $fd (i32.load (i32.const 12))))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $fd_write (global.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
          (then unreachable))
        (if (i32.ne (i32.load (i32.const 8)) (i32.const 1)) (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
