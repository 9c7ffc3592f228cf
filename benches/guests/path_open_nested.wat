;; path_open of "a/b/c/file", three directories down, for reading, then
;; fd_close, per iteration: what resolving a path costs per component beside
;; path_open_close.wat. The host preopens the directory holding "a" as
;; descriptor 3.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; 12: opened fd; 64: path.
  (data (i32.const 64) "a/b/c/file")
  (func (export "setup"))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        ;; rights: FD_READ (1 << 1).
        (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 10)
              (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12))
          (then unreachable))
        (if (call $fd_close (i32.load (i32.const 12)))
          (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
