;; poll_oneoff for reading on 1,001 sockets, descriptors 3 to 1003, of which
;; only the last is ready, per iteration. `setup` writes the subscriptions;
;; `events` returns the number of events of the last call, or -1 if it had
;; just one and that one was not the ready socket's, without error.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  ;; 0: 1,001 subscriptions of 48 bytes; 65536: the events (32 bytes each);
  ;; 131072: nevents.
  (memory (export "memory") 3)
  (func (export "setup")
    (local $i i32) (local $p i32)
    (loop $sub
      (local.set $p (i32.mul (local.get $i) (i32.const 48)))
      ;; userdata = the descriptor; tag = 1 (fd_read); file_descriptor.
      (i64.store (local.get $p) (i64.extend_i32_u (i32.add (local.get $i) (i32.const 3))))
      (i32.store8 offset=8 (local.get $p) (i32.const 1))
      (i32.store offset=16 (local.get $p) (i32.add (local.get $i) (i32.const 3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $sub (i32.lt_u (local.get $i) (i32.const 1001)))))
  (func (export "events") (result i32)
    (if (i32.eq (i32.load (i32.const 131072)) (i32.const 1))
      (then
        (if (i64.ne (i64.load (i32.const 65536)) (i64.const 1003)) (then (return (i32.const -1))))
        (if (i32.load16_u offset=8 (i32.const 65536)) (then (return (i32.const -1))))))
    (i32.load (i32.const 131072)))
  (func (export "run") (param $n i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (if (call $poll_oneoff (i32.const 0) (i32.const 65536) (i32.const 1001) (i32.const 131072))
          (then unreachable))
        ;; At least one event (`events` tells the harness more).
        (if (i32.eqz (i32.load (i32.const 131072))) (then unreachable))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))))
