;; proc_exit: the exit code reaches the process; nothing runs after it.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; ---- prelude: shared by every test of this suite (keep the copies identical) ----
  ;; Memory map: 0x0-0xff prelude scratch; 0x100-0xfff results; 0x1000-0x7fff
  ;; buffers; 0x8000-0xffff data strings; 0x10000-0x1ffff check names.
  ;; Two pages: 0x20000 is the first out-of-bounds address.
  ;; A check compares a value with the expected one; on mismatch it prints
  ;; "FAIL <check-name>: got N want M" to stderr and exits with code 1.
  (memory (export "memory") 2)
  (data (i32.const 0x80) "FAIL \00: got \00 want \00\n\00")
  (func $strlen (param $s i32) (result i32) (local $n i32)
    (block $end (loop $next
      (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $n))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $puts (param $fd i32) (param $s i32)
    (call $write (local.get $fd) (local.get $s) (call $strlen (local.get $s))))
  (func $putn (param $fd i32) (param $v i64) (local $p i32) (local $neg i32)
    (local.set $p (i32.const 0x40))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then (local.set $neg (i32.const 1))
            (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (if (local.get $neg)
      (then (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (i32.store8 (local.get $p) (i32.const 45))))
    (call $write (local.get $fd) (local.get $p) (i32.sub (i32.const 0x40) (local.get $p))))
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
    (call $check64 (local.get $name)
      (i64.extend_i32_s (local.get $got)) (i64.extend_i32_s (local.get $want))))
  (func $memeq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $ne (loop $next
      (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $ne (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $n)))
                         (i32.load8_u (i32.add (local.get $b) (local.get $n)))))
      (br $next)))
    (i32.const 0))
  ;; ---- end of prelude ----
  (func (export "_start")
    (call $puts (i32.const 1) (i32.const 0x8000 (; "before exit\n" ;)))
    (call $proc_exit (i32.const 42))
    (call $puts (i32.const 1) (i32.const 0x800d (; "after exit\n" ;))))
  ;; ---- strings: check names (0x10000..) and data (0x8000..), NUL-terminated ----
  (data (i32.const 0x8000) "before exit\n\00")
  (data (i32.const 0x800d) "after exit\n\00")
)
