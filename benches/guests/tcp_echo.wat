;; One 64-byte round trip per iteration on the connected TCP socket at
;; descriptor 3: sock_send the message, then sock_recv until all 64 bytes
;; have come back from the echo server.
(module
  (import "wasi_snapshot_preview1" "sock_send"
    (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv"
    (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0: send ciovec {buf = 1024, len = 64}; 16: recv iovec; 32: sent;
  ;; 36: received; 40: roflags; 1024: message; 2048: receive buffer.
  (data (i32.const 0) "\00\04\00\00\40\00\00\00")
  (data (i32.const 1024) "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
  (func (export "setup"))
  (func (export "run") (param $n i64)
    (local $got i32) (local $len i32)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $sock_send (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 32))
          (then unreachable))
        (if (i32.ne (i32.load (i32.const 32)) (i32.const 64)) (then unreachable))
        (local.set $got (i32.const 0))
        (loop $recv
          (i32.store (i32.const 16) (i32.add (i32.const 2048) (local.get $got)))
          (i32.store (i32.const 20) (i32.sub (i32.const 64) (local.get $got)))
          (if (call $sock_recv (i32.const 3) (i32.const 16) (i32.const 1) (i32.const 0)
                (i32.const 36) (i32.const 40))
            (then unreachable))
          (local.set $len (i32.load (i32.const 36)))
          (if (i32.eqz (local.get $len)) (then unreachable))
          (local.set $got (i32.add (local.get $got) (local.get $len)))
          (br_if $recv (i32.lt_u (local.get $got) (i32.const 64))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
