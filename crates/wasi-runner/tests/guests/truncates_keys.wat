;; Opens /beta/kv/local/k00 .. k23 (O_CREAT|O_TRUNC, write rights)
;; and ftruncates each to 64 MiB, keeping them all open. Exits 0 when
;; every ftruncate gave ENOSPC (51), 1 when one succeeded, 2 + errno
;; for another error, 200 when an open failed.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "kv/local/k00")
  (func (export "_start") (local $i i32) (local $errno i32)
    (loop $keys
      ;; The key's two digits.
      (i32.store8 (i32.const 10) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 10))))
      (i32.store8 (i32.const 11) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      ;; fd 3 is the virtual preopen /beta; O_CREAT|O_TRUNC; fd_write|fd_filestat_set_size.
      (if (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 12)
            (i32.const 9) (i64.const 4194368) (i64.const 0) (i32.const 0) (i32.const 16))
        (then (call $exit (i32.const 200))))
      (local.set $errno (call $set_size (i32.load (i32.const 16)) (i64.const 67108864)))
      (if (i32.eqz (local.get $errno)) (then (call $exit (i32.const 1))))
      (if (i32.ne (local.get $errno) (i32.const 51))
        (then (call $exit (i32.add (i32.const 2) (local.get $errno)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $keys (i32.lt_u (local.get $i) (i32.const 24))))
    (call $exit (i32.const 0))))
