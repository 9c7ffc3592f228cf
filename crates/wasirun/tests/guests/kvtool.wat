;; kvtool: reads and writes /beta/kv through plain preview 1 file calls, as
;; any language's file API does (spec/wasi-cloud.md, "Key-value store").
;;
;;   kvtool put PATH VALUE     open(O_CREAT|O_TRUNC), write VALUE, close
;;   kvtool excl PATH VALUE    open(O_CREAT|O_EXCL), write VALUE, close
;;   kvtool append PATH VALUE  open(O_CREAT, O_APPEND), write VALUE, close
;;   kvtool get PATH           open, read to the end onto stdout, close
;;   kvtool fill PATH C        open(O_CREAT|O_TRUNC), write 256 KiB of the
;;                             byte C in 1 KiB writes, close
;;   kvtool loop PATH          for i = 0, 1, ...: put decimal i at PATH, then
;;                             print "i\n" once its close returned 0
;;
;; PATH is relative to /beta, the first preopen (descriptor 3). The exit
;; code is the errno of the first call that failed, 0 when none did.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; 128: argv pointers; 1024: argv strings; 8192: iovec; 8208: count;
  ;; 8212: opened fd; 9000-9040: decimal digits; 16384: 64 KiB buffer.
  (memory (export "memory") 2)

  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $arg (param $i i32) (result i32)
    (i32.load (i32.add (i32.const 128) (i32.shl (local.get $i) (i32.const 2)))))

  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))

  ;; Opens argv[2] under /beta with every right.
  (func $open (param $oflags i32) (param $fdflags i32) (result i32)
    (call $check
      (call $path_open (i32.const 3) (i32.const 0)
        (call $arg (i32.const 2)) (call $strlen (call $arg (i32.const 2)))
        (local.get $oflags) (i64.const -1) (i64.const -1) (local.get $fdflags)
        (i32.const 8212)))
    (i32.load (i32.const 8212)))

  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 8192) (local.get $ptr))
        (i32.store (i32.const 8196) (local.get $len))
        (call $check (call $fd_write (local.get $fd) (i32.const 8192) (i32.const 1) (i32.const 8208)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 8208))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8208))))
        (br $next))))

  ;; Writes argv[3] to argv[2] opened with these flags, and closes it.
  (func $store (param $oflags i32) (param $fdflags i32) (local $fd i32)
    (local.set $fd (call $open (local.get $oflags) (local.get $fdflags)))
    (call $write (local.get $fd) (call $arg (i32.const 3)) (call $strlen (call $arg (i32.const 3))))
    (call $check (call $fd_close (local.get $fd))))

  (func $get (local $fd i32) (local $n i32)
    (local.set $fd (call $open (i32.const 0) (i32.const 0)))
    (block $done
      (loop $next
        (i32.store (i32.const 8192) (i32.const 16384))
        (i32.store (i32.const 8196) (i32.const 65536))
        (call $check (call $fd_read (local.get $fd) (i32.const 8192) (i32.const 1) (i32.const 8208)))
        (local.set $n (i32.load (i32.const 8208)))
        (br_if $done (i32.eqz (local.get $n)))
        (call $write (i32.const 1) (i32.const 16384) (local.get $n))
        (br $next)))
    (call $check (call $fd_close (local.get $fd))))

  (func $fill (local $fd i32) (local $i i32)
    (memory.fill (i32.const 16384) (i32.load8_u (call $arg (i32.const 3))) (i32.const 1024))
    (local.set $fd (call $open (i32.const 9) (i32.const 0)))
    (block $done
      (loop $next
        (br_if $done (i32.eq (local.get $i) (i32.const 256)))
        (call $write (local.get $fd) (i32.const 16384) (i32.const 1024))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $check (call $fd_close (local.get $fd))))

  ;; The decimal digits of $n and a newline, ending at 9040; returns
  ;; where they start.
  (func $itoa (param $n i64) (result i32) (local $p i32)
    (local.set $p (i32.const 9039))
    (i32.store8 (local.get $p) (i32.const 10))
    (loop $next
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $next (i64.ne (local.get $n) (i64.const 0))))
    (local.get $p))

  (func $loop (local $i i64) (local $p i32) (local $fd i32)
    (loop $next
      (local.set $p (call $itoa (local.get $i)))
      (local.set $fd (call $open (i32.const 9) (i32.const 0)))
      (call $write (local.get $fd) (local.get $p) (i32.sub (i32.const 9039) (local.get $p)))
      (call $check (call $fd_close (local.get $fd)))
      (call $write (i32.const 1) (local.get $p) (i32.sub (i32.const 9040) (local.get $p)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $next)))

  (func (export "_start") (local $op i32)
    (call $check (call $args_sizes_get (i32.const 64) (i32.const 68)))
    (call $check (call $args_get (i32.const 128) (i32.const 1024)))
    (local.set $op (i32.load8_u (call $arg (i32.const 1))))
    ;; oflags: CREAT 1, EXCL 4, TRUNC 8; fdflags: APPEND 1.
    (if (i32.eq (local.get $op) (i32.const 112)) ;; p
      (then (call $store (i32.const 9) (i32.const 0)) (return)))
    (if (i32.eq (local.get $op) (i32.const 101)) ;; e
      (then (call $store (i32.const 5) (i32.const 0)) (return)))
    (if (i32.eq (local.get $op) (i32.const 97)) ;; a
      (then (call $store (i32.const 1) (i32.const 1)) (return)))
    (if (i32.eq (local.get $op) (i32.const 103)) ;; g
      (then (call $get) (return)))
    (if (i32.eq (local.get $op) (i32.const 102)) ;; f
      (then (call $fill) (return)))
    (if (i32.eq (local.get $op) (i32.const 108)) ;; l
      (then (call $loop) (return)))
    (call $proc_exit (i32.const 100)))
)
