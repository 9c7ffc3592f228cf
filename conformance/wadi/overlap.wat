;; overlap: two drivers registering /dev/zero: wasirun refuses to start (exit code 2).
(module
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  ;; ---- prelude (shared by the tests of this suite) ----
  ;; 0x00-0xff scratch; 0x100 result slots; 0x1000-0x7fff buffers; strings from 0x8000.
  (memory (export "memory") 2)
  (data (i32.const 0x80) "FAIL \00: got \00 want \00\n\00")
  (func $strlen (param $s i32) (result i32) (local $n i32)
    (block $end (loop $next
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func $puts (param $fd i32) (param $s i32)
    (drop (call $write (local.get $fd) (local.get $s) (call $strlen (local.get $s)))))
  (func $putn (param $fd i32) (param $v i64) (local $p i32)
    (local.set $p (i32.const 0x40))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (drop (call $write (local.get $fd) (local.get $p) (i32.sub (i32.const 0x40) (local.get $p)))))
  ;; On mismatch: "FAIL <name>: got N want M" on stderr, exit 1.
  (func $check64 (param $name i32) (param $got i64) (param $want i64)
    (if (i64.ne (local.get $got) (local.get $want))
      (then
        (call $puts (i32.const 2) (i32.const 0x80))
        (call $puts (i32.const 2) (local.get $name))
        (call $puts (i32.const 2) (i32.const 0x86))
        (call $putn (i32.const 2) (local.get $got))
        (call $puts (i32.const 2) (i32.const 0x8d))
        (call $putn (i32.const 2) (local.get $want))
        (call $puts (i32.const 2) (i32.const 0x94))
        (call $proc_exit (i32.const 1)))))
  (func $check (param $name i32) (param $got i32) (param $want i32)
    (call $check64 (local.get $name) (i64.extend_i32_u (local.get $got)) (i64.extend_i32_u (local.get $want))))
  ;; path_open(dir, path, oflags) with file and directory rights; the new
  ;; descriptor goes to 0x100. Returns the errno.
  (func $open (param $dir i32) (param $path i32) (param $oflags i32) (result i32)
    (call $path_open (local.get $dir) (i32.const 0) (local.get $path) (call $strlen (local.get $path))
      (local.get $oflags) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 0x100)))
  (func $fd (result i32) (i32.load (i32.const 0x100)))
  ;; Reads up to $len bytes into 0x1000; the count goes to 0x104. Returns the errno.
  (func $read (param $fd i32) (param $len i32) (result i32)
    (i32.store (i32.const 0x10) (i32.const 0x1000))
    (i32.store (i32.const 0x14) (local.get $len))
    (call $fd_read (local.get $fd) (i32.const 0x10) (i32.const 1) (i32.const 0x104)))
  (func $nread (result i32) (i32.load (i32.const 0x104)))
  ;; Writes the string $s. Returns the errno.
  (func $send (param $fd i32) (param $s i32) (result i32)
    (call $write (local.get $fd) (local.get $s) (call $strlen (local.get $s))))

  (func (export "_start")

    (call $proc_exit (i32.const 9))

    (call $puts (i32.const 1) (i32.const 0x8000 (; overlap: ok\n ;))))
  (data (i32.const 0x8000) "overlap: ok\n\00"))
