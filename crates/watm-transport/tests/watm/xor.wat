;; xor.wat: XORs every byte with a key read from its configuration file.
;;
;; A WATER v0 transport module written by hand (spec/watm-v0.md), usable
;; in the three roles. The worker waits in poll_oneoff on both connections
;; and the cancellation channel; it moves each chunk it reads to the other
;; side, each byte XORed with the key (the
;; first byte of the file pull_config gives; without one, _water_init fails
;; with -EACCES). End of stream on one side shuts the other down for writing;
;; the worker returns 0 once both sides ended, -ECANCELED when cancelled.
(module
  (import "env" "host_dial" (func $host_dial (result i32)))
  (import "env" "host_accept" (func $host_accept (result i32)))
  (import "env" "host_defer" (func $host_defer))
  (import "env" "pull_config" (func $pull_config (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown"
    (func $sock_shutdown (param i32 i32) (result i32)))

  ;; 0: subscriptions (48 bytes each); 256: events (32 bytes each);
  ;; 400: event count; 416: iovec; 424: bytes read; 428: bytes written;
  ;; 432: write iovec; 65536: the 64 KiB transfer buffer.
  (memory (export "memory") 2)
  (data (i32.const 1024) "xor: key loaded\n")
  ;; The version as a global, as Rust builds have it.
  (global (export "_water_v0") i32 (i32.const 0))
  (global $a (mut i32) (i32.const -1))
  (global $b (mut i32) (i32.const -1))
  (global $a_open (mut i32) (i32.const 0))
  (global $b_open (mut i32) (i32.const 0))
  (global $cancel (mut i32) (i32.const -1))
  (global $key (mut i32) (i32.const 0))

  (func (export "_water_init") (result i32)
    ;; The key is the first byte of the configuration file (mandatory).
    (local $fd i32) (local $errno i32)
    (local.set $fd (call $pull_config))
    (if (i32.lt_s (local.get $fd) (i32.const 0)) (then (return (local.get $fd))))
    (i32.store (i32.const 416) (i32.const 512))
    (i32.store (i32.const 420) (i32.const 1))
    (local.set $errno (call $fd_read (local.get $fd) (i32.const 416) (i32.const 1) (i32.const 424)))
    (drop (call $fd_close (local.get $fd)))
    (if (local.get $errno) (then (return (i32.sub (i32.const 0) (local.get $errno)))))
    ;; An empty file: -EINVAL.
    (if (i32.eqz (i32.load (i32.const 424))) (then (return (i32.const -28))))
    (global.set $key (i32.load8_u (i32.const 512)))
    ;; Says so on stderr (the host prefixes or forwards the module's output).
    (i32.store (i32.const 432) (i32.const 1024))
    (i32.store (i32.const 436) (i32.const 16))
    (drop (call $fd_write (i32.const 2) (i32.const 432) (i32.const 1) (i32.const 428)))
    (i32.const 0))

  (func (export "_water_cancel_with") (param $fd i32) (result i32)
    (global.set $cancel (local.get $fd))
    (i32.const 0))

  (func $pair (param $a i32) (param $b i32)
    (global.set $a (local.get $a))
    (global.set $b (local.get $b))
    (global.set $a_open (i32.const 1))
    (global.set $b_open (i32.const 1)))

  (func (export "_water_dial") (param $caller i32) (result i32)
    (local $remote i32)
    (local.set $remote (call $host_dial))
    (if (i32.lt_s (local.get $remote) (i32.const 0)) (then (return (local.get $remote))))
    (call $pair (local.get $caller) (local.get $remote))
    (local.get $remote))

  (func (export "_water_accept") (param $caller i32) (result i32)
    (local $source i32)
    (local.set $source (call $host_accept))
    (if (i32.lt_s (local.get $source) (i32.const 0)) (then (return (local.get $source))))
    (call $pair (local.get $caller) (local.get $source))
    (local.get $source))

  (func (export "_water_associate") (result i32)
    (local $source i32) (local $remote i32)
    (local.set $source (call $host_accept))
    (if (i32.lt_s (local.get $source) (i32.const 0)) (then (return (local.get $source))))
    (local.set $remote (call $host_dial))
    (if (i32.lt_s (local.get $remote) (i32.const 0)) (then (return (local.get $remote))))
    (call $pair (local.get $source) (local.get $remote))
    (i32.const 0))

  ;; The transformation of one chunk, in place.
  (func $transform (param $ptr i32) (param $len i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (i32.store8 (local.get $ptr)
          (i32.xor (i32.load8_u (local.get $ptr)) (global.get $key)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $each))))

  ;; Writes all of [ptr, ptr+len) to fd; 0 when it cannot.
  (func $write_all (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 432) (local.get $ptr))
        (i32.store (i32.const 436) (local.get $len))
        (if (call $fd_write (local.get $fd) (i32.const 432) (i32.const 1) (i32.const 428))
          (then (return (i32.const 0))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.load (i32.const 428))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 428))))
        (br $more)))
    (i32.const 1))

  ;; Moves one chunk from `from` to `to`; 0 when `from` ended or `to` failed.
  (func $pump (param $from i32) (param $to i32) (result i32)
    (local $errno i32) (local $n i32)
    (i32.store (i32.const 416) (i32.const 65536))
    (i32.store (i32.const 420) (i32.const 65536))
    (local.set $errno (call $fd_read (local.get $from) (i32.const 416) (i32.const 1) (i32.const 424)))
    ;; EAGAIN: nothing after all.
    (if (i32.eq (local.get $errno) (i32.const 6)) (then (return (i32.const 1))))
    (if (local.get $errno) (then (return (i32.const 0))))
    (local.set $n (i32.load (i32.const 424)))
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (call $transform (i32.const 65536) (local.get $n))
    (call $write_all (local.get $to) (i32.const 65536) (local.get $n)))

  ;; Subscription `index`: read readiness of fd, with userdata `tag`.
  (func $subscribe (param $index i32) (param $fd i32) (param $tag i64)
    (local $at i32)
    (local.set $at (i32.mul (local.get $index) (i32.const 48)))
    (i64.store (local.get $at) (local.get $tag))
    (i32.store8 offset=8 (local.get $at) (i32.const 1))
    (i32.store offset=16 (local.get $at) (local.get $fd)))

  (func (export "_water_worker") (result i32)
    (local $n i32) (local $errno i32) (local $i i32) (local $tag i64)
    (loop $serve
      (local.set $n (i32.const 0))
      (if (global.get $a_open) (then
        (call $subscribe (local.get $n) (global.get $a) (i64.const 0))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (if (global.get $b_open) (then
        (call $subscribe (local.get $n) (global.get $b) (i64.const 1))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (call $subscribe (local.get $n) (global.get $cancel) (i64.const 2))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $errno
        (call $poll_oneoff (i32.const 0) (i32.const 256) (local.get $n) (i32.const 400)))
      (if (local.get $errno) (then (return (i32.sub (i32.const 0) (local.get $errno)))))
      (local.set $i (i32.const 0))
      (block $events_done
        (loop $events
          (br_if $events_done (i32.ge_u (local.get $i) (i32.load (i32.const 400))))
          (local.set $tag (i64.load (i32.add (i32.const 256) (i32.mul (local.get $i) (i32.const 32)))))
          ;; Cancelled: -ECANCELED.
          (if (i64.eq (local.get $tag) (i64.const 2)) (then (return (i32.const -11))))
          (if (i64.eqz (local.get $tag))
            (then
              (if (i32.eqz (call $pump (global.get $a) (global.get $b)))
                (then
                  (global.set $a_open (i32.const 0))
                  (drop (call $sock_shutdown (global.get $b) (i32.const 2))))))
            (else
              (if (i32.eqz (call $pump (global.get $b) (global.get $a)))
                (then
                  (global.set $b_open (i32.const 0))
                  (drop (call $sock_shutdown (global.get $a) (i32.const 2)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $events)))
      (br_if $serve (i32.or (global.get $a_open) (global.get $b_open))))
    (i32.const 0)))
