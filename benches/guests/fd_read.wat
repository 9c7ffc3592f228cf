;; fd_read of 64 KiB, per iteration, going through the 1 GiB file "big"
;; sequentially and starting over (fd_seek to 0) at its end. The host
;; preopens the directory holding it as descriptor 3.
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
  (data (i32.const 64) "big")
  (func (export "setup")
    ;; rights: FD_READ | FD_SEEK.
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 3)
          (i32.const 0) (i64.const 6) (i64.const 0) (i32.const 0) (i32.const 12))
      (then unreachable))
    (global.set $fd (i32.load (i32.const 12))))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $fd_read (global.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
          (then unreachable))
        (if (i32.eqz (i32.load (i32.const 8)))
          (then
            ;; End of file: rewind and read again, not counting this call.
            (if (call $fd_seek (global.get $fd) (i64.const 0) (i32.const 0) (i32.const 16))
              (then unreachable))
            (br $next)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
