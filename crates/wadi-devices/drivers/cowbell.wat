;; cowbell.wat: /dev/cowbell, a block device (spec/wadi.md §4). Writing a
;; buffer that starts with "play" rings the bell: the driver synthesizes a
;; 0.25 s, 8 kHz, 8-bit mono bell tone (880 Hz, decaying) as a WAV file of
;; 2044 bytes, which reads from offset 0 then return. Its size is 0 until the
;; first ring. Other writes give EINVAL.
;;
;; Configuration: with `out=NAME` (and a directory granted by `dir=HOST`),
;; each ring also writes the WAV to NAME in that directory (descriptor 3):
;;     wasirun --device cowbell.wasm:dir=/tmp,out=bell.wav app.wasm
;;
;; Memory: strings below 128; the environment at 128..4096; the WAV at
;; 0x10000 (its header is a data segment); the malloc heap from 0x20000.
(module
  (import "wadi" "register_device" (func $register (param i32 i32 i32) (result i32)))
  (import "wadi" "error" (func $error (param i32 i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 3)
  (data (i32.const 16) "/dev/cowbell")
  (data (i32.const 48) "out=")
  (data (i32.const 64) "cannot write the out file")
  ;; RIFF size 36 + 2000, PCM, 1 channel, 8000 Hz, 8000 B/s, 1-byte frames,
  ;; 8 bits, 2000 bytes of samples.
  (data (i32.const 0x10000)
    "RIFF\f4\07\00\00WAVEfmt \10\00\00\00\01\00\01\00\40\1f\00\00\40\1f\00\00\01\00\08\00data\d0\07\00\00")
  (global $heap (mut i32) (i32.const 0x20000))
  (global $wav_len (mut i32) (i32.const 0))
  (global $out_ptr (mut i32) (i32.const 0))
  (global $out_len (mut i32) (i32.const 0))

  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $pages i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr)
      (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.lt_u (local.get $end) (local.get $ptr)) (then (return (i32.const 0))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (local.set $pages (i32.sub
          (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
          (memory.size)))
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func (export "free") (param $ptr i32)
    (if (i32.lt_u (local.get $ptr) (global.get $heap))
      (then (global.set $heap (local.get $ptr)))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (loop $next
      (if (i32.load8_u (i32.add (local.get $p) (local.get $n)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $next))))
    (local.get $n))

  ;; Finds `out=` in the environment (the configuration).
  (func $config
    (local $count i32) (local $i i32) (local $p i32)
    (if (call $environ_sizes_get (i32.const 128) (i32.const 132)) (then (return)))
    (local.set $count (i32.load (i32.const 128)))
    (if (i32.or (i32.gt_u (local.get $count) (i32.const 64))
                (i32.gt_u (i32.load (i32.const 132)) (i32.const 3584)))
      (then (return)))
    (if (call $environ_get (i32.const 256) (i32.const 512)) (then (return)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $p (i32.load (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2)))))
        (if (i32.eq (i32.load (local.get $p)) (i32.load (i32.const 48)))
          (then
            (global.set $out_ptr (i32.add (local.get $p) (i32.const 4)))
            (global.set $out_len (call $strlen (global.get $out_ptr)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "init") (result i32)
    (local $err i32)
    (local.set $err (call $register (i32.const 16) (i32.const 12) (i32.const 1)))
    (if (local.get $err) (then (return (local.get $err))))
    (call $config)
    (i32.const 0))

  ;; Synthesizes the tone: a sine by the recurrence s[n+1] = 2cos(w) s[n] - s[n-1]
  ;; (w = 2 pi 880 / 8000), decaying by 0.9985 per sample.
  (func $ring
    (local $n i32) (local $s0 f64) (local $s1 f64) (local $s2 f64) (local $amp f64)
    (local.set $s1 (f64.const 0.6374239897486897))
    (local.set $amp (f64.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $n) (i32.const 2000)))
        (i32.store8 (i32.add (i32.const 0x1002c) (local.get $n))
          (i32.add (i32.const 128)
            (i32.trunc_f64_s (f64.mul (f64.const 100)
              (f64.mul (local.get $amp) (local.get $s0))))))
        (local.set $s2 (f64.sub (f64.mul (f64.const 1.5410264855515783) (local.get $s1))
                                (local.get $s0)))
        (local.set $s0 (local.get $s1))
        (local.set $s1 (local.get $s2))
        (local.set $amp (f64.mul (local.get $amp) (f64.const 0.9985)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (global.set $wav_len (i32.const 2044))
    (if (global.get $out_len) (then (call $save))))

  ;; Writes the WAV to the configured file, in the first granted directory.
  (func $save
    (if (call $path_open (i32.const 3) (i32.const 0)
          (global.get $out_ptr) (global.get $out_len)
          (i32.const 9) (; creat | trunc ;) (i64.const 64) (; fd_write ;) (i64.const 0)
          (i32.const 0) (i32.const 104))
      (then (call $error (i32.const 64) (i32.const 25)) (return)))
    (i32.store (i32.const 96) (i32.const 0x10000))
    (i32.store (i32.const 100) (global.get $wav_len))
    (if (call $fd_write (i32.load (i32.const 104)) (i32.const 96) (i32.const 1) (i32.const 108))
      (then (call $error (i32.const 64) (i32.const 25))))
    (drop (call $fd_close (i32.load (i32.const 104)))))

  (func (export "write") (param $path i32) (param $plen i32) (param $off i64)
                         (param $buf i32) (param $len i32) (result i32)
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (if (i32.and (i32.ge_u (local.get $len) (i32.const 4))
                 (i32.eq (i32.load (local.get $buf)) (i32.const 0x79616c70) (; "play" ;)))
      (then (call $ring) (return (local.get $len))))
    (i32.const -28))

  (func (export "read") (param $path i32) (param $plen i32) (param $off i64)
                        (param $buf i32) (param $len i32) (result i32)
    (local $n i32)
    (if (i64.ge_u (local.get $off) (i64.extend_i32_u (global.get $wav_len)))
      (then (return (i32.const 0))))
    (local.set $n (i32.sub (global.get $wav_len) (i32.wrap_i64 (local.get $off))))
    (if (i32.gt_u (local.get $n) (local.get $len)) (then (local.set $n (local.get $len))))
    (memory.copy (local.get $buf)
      (i32.add (i32.const 0x10000) (i32.wrap_i64 (local.get $off))) (local.get $n))
    (local.get $n))

  (func (export "query") (param $path i32) (param $plen i32)
                         (param $out i32) (param $olen i32) (result i32)
    (if (i32.ge_u (local.get $olen) (i32.const 56))
      (then
        (memory.fill (local.get $out) (i32.const 0) (i32.const 56))
        (i32.store8 (local.get $out) (i32.const 1))
        (i64.store offset=8 (local.get $out) (i64.extend_i32_u (global.get $wav_len)))))
    (i32.const 56)))
