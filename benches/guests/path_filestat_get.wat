;; path_filestat_get of the existing file "file", per iteration. The host
;; preopens the directory holding it as descriptor 3.
(module
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 64: path; 128: the filestat (64 bytes).
  (data (i32.const 64) "file")
  (func (export "setup"))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 4)
              (i32.const 128))
          (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
