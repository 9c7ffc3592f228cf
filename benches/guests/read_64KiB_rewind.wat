;; fd_read of 64 KiB then fd_seek back to 0, per iteration, from "zero" in
;; the directory the host preopens as descriptor 3 ("/dev"): either the WADI
;; device /dev/zero (served by the `zero` driver) or a 64 KiB host file of
;; zero bytes. Both get the same two calls per iteration; the device, a
;; character device, refuses the seek (ESPIPE, or ENOTCAPABLE as it has no
;; FD_SEEK right), which is accepted. Every read must return 64 KiB.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek"
    (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  ;; The second page is the buffer.
  (memory (export "memory") 2)
  (global $fd (mut i32) (i32.const -1))
  ;; 0: iovec {buf = 65536, len = 65536}; 8: nread; 12: opened fd;
  ;; 16: new offset; 64: path.
  (data (i32.const 0) "\00\00\01\00\00\00\01\00")
  (data (i32.const 64) "zero")
  (func (export "setup")
    ;; rights: FD_READ | FD_SEEK (the device's rights keep only FD_READ).
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 4)
          (i32.const 0) (i64.const 6) (i64.const 0) (i32.const 0) (i32.const 12))
      (then unreachable))
    (global.set $fd (i32.load (i32.const 12))))
  (func (export "run") (param $n i64)
    (local $err i32)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $fd_read (global.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
          (then unreachable))
        (if (i32.ne (i32.load (i32.const 8)) (i32.const 65536))
          (then unreachable))
        (local.set $err
          (call $fd_seek (global.get $fd) (i64.const 0) (i32.const 0) (i32.const 16)))
        ;; 0, or ESPIPE (70) / ENOTCAPABLE (76) from the device.
        (if (i32.and (i32.ne (local.get $err) (i32.const 0))
              (i32.and (i32.ne (local.get $err) (i32.const 70))
                       (i32.ne (local.get $err) (i32.const 76))))
          (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
