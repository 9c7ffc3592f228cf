;; ramdisk.wat: /dev/ram, a directory tree (spec/wadi.md §4). A flat RAM
;; disk of up to 16 files of up to 1 MiB each, names up to 32 bytes. A file
;; is created by a zero-length write to a new name (what the host does for
;; path_open with O_CREAT); the root directory lists the files; truncate is
;; supported.
;;
;; Memory: the path "/dev/ram" at 16; the file table at 1024 (16 slots of 48
;; bytes: used, name_len, size (i64 at +8), name at +16); the malloc heap
;; from 4096 up to 4 MiB; file i's data at 4 MiB + i MiB, grown on creation.
(module
  (import "wadi" "register_device" (func $register (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "/dev/ram")
  (global $heap (mut i32) (i32.const 4096))

  (func $grow_to (param $end i32) (result i32)
    (local $pages i32)
    (if (i32.le_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then (return (i32.const 1))))
    (local.set $pages (i32.sub
      (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
      (memory.size)))
    (i32.ne (memory.grow (local.get $pages)) (i32.const -1)))

  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr)
      (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.or (i32.lt_u (local.get $end) (local.get $ptr))
                (i32.gt_u (local.get $end) (i32.const 0x400000)))
      (then (return (i32.const 0))))
    (if (i32.eqz (call $grow_to (local.get $end))) (then (return (i32.const 0))))
    (global.set $heap (local.get $end))
    (local.get $ptr))
  (func (export "free") (param $ptr i32)
    (if (i32.lt_u (local.get $ptr) (global.get $heap))
      (then (global.set $heap (local.get $ptr)))))

  (func (export "init") (result i32)
    (call $register (i32.const 16) (i32.const 8) (i32.const 3)))

  (func $slot (param $i i32) (result i32)
    (i32.add (i32.const 1024) (i32.mul (local.get $i) (i32.const 48))))
  (func $data (param $i i32) (result i32)
    (i32.add (i32.const 0x400000) (i32.shl (local.get $i) (i32.const 20))))

  ;; What a path names: -1 the root, -2 nothing of ours, else the address of
  ;; the file name (which is path_len - 9 bytes long).
  (func $name (param $path i32) (param $plen i32) (result i32)
    (if (i32.lt_u (local.get $plen) (i32.const 8)) (then (return (i32.const -2))))
    (if (i64.ne (i64.load (local.get $path)) (i64.load (i32.const 16)))
      (then (return (i32.const -2))))
    (if (i32.eq (local.get $plen) (i32.const 8)) (then (return (i32.const -1))))
    (if (i32.or (i32.lt_u (local.get $plen) (i32.const 10))
                (i32.ne (i32.load8_u offset=8 (local.get $path)) (i32.const 0x2f)))
      (then (return (i32.const -2))))
    (i32.add (local.get $path) (i32.const 9)))

  (func $memeq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; The slot holding the file called (name, nlen), or -1.
  (func $find (param $name i32) (param $nlen i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 16)))
        (local.set $s (call $slot (local.get $i)))
        (if (i32.and (i32.load (local.get $s))
                     (i32.eq (i32.load offset=4 (local.get $s)) (local.get $nlen)))
          (then
            (if (call $memeq (i32.add (local.get $s) (i32.const 16)) (local.get $name) (local.get $nlen))
              (then (return (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const -1))

  ;; Creates an empty file: 0, or -ENOENT (a '/' in the name: no
  ;; subdirectories), -ENAMETOOLONG, -ENOSPC.
  (func $create (param $name i32) (param $nlen i32) (result i32)
    (local $i i32) (local $s i32)
    (loop $scan
      (if (i32.lt_u (local.get $i) (local.get $nlen))
        (then
          (if (i32.eq (i32.load8_u (i32.add (local.get $name) (local.get $i))) (i32.const 0x2f))
            (then (return (i32.const -44))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $scan))))
    (if (i32.gt_u (local.get $nlen) (i32.const 32)) (then (return (i32.const -37))))
    (local.set $i (i32.const 0))
    (block $found
      (loop $next
        (if (i32.ge_u (local.get $i) (i32.const 16)) (then (return (i32.const -51))))
        (br_if $found (i32.eqz (i32.load (call $slot (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (i32.eqz (call $grow_to (i32.add (call $data (local.get $i)) (i32.const 0x100000))))
      (then (return (i32.const -51))))
    (local.set $s (call $slot (local.get $i)))
    (i32.store (local.get $s) (i32.const 1))
    (i32.store offset=4 (local.get $s) (local.get $nlen))
    (i64.store offset=8 (local.get $s) (i64.const 0))
    (memory.copy (i32.add (local.get $s) (i32.const 16)) (local.get $name) (local.get $nlen))
    (i32.const 0))

  ;; The slot of the file a path names, or a negative errno.
  (func $lookup (param $path i32) (param $plen i32) (result i32)
    (local $name i32) (local $i i32)
    (local.set $name (call $name (local.get $path) (local.get $plen)))
    (if (i32.eq (local.get $name) (i32.const -1)) (then (return (i32.const -31))))
    (if (i32.eq (local.get $name) (i32.const -2)) (then (return (i32.const -44))))
    (local.set $i (call $find (local.get $name) (i32.sub (local.get $plen) (i32.const 9))))
    (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (i32.const -44))))
    (local.get $i))

  (func (export "read") (param $path i32) (param $plen i32) (param $off i64)
                        (param $buf i32) (param $len i32) (result i32)
    (local $i i32) (local $size i64) (local $n i64)
    (local.set $i (call $lookup (local.get $path) (local.get $plen)))
    (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (local.get $i))))
    (local.set $size (i64.load offset=8 (call $slot (local.get $i))))
    (if (i64.ge_u (local.get $off) (local.get $size)) (then (return (i32.const 0))))
    (local.set $n (i64.sub (local.get $size) (local.get $off)))
    (if (i64.gt_u (local.get $n) (i64.extend_i32_u (local.get $len)))
      (then (local.set $n (i64.extend_i32_u (local.get $len)))))
    (memory.copy (local.get $buf)
      (i32.add (call $data (local.get $i)) (i32.wrap_i64 (local.get $off)))
      (i32.wrap_i64 (local.get $n)))
    (i32.wrap_i64 (local.get $n)))

  (func (export "write") (param $path i32) (param $plen i32) (param $off i64)
                         (param $buf i32) (param $len i32) (result i32)
    (local $i i32) (local $s i32) (local $n i64) (local $end i64)
    (local.set $i (call $lookup (local.get $path) (local.get $plen)))
    (if (i32.eq (local.get $i) (i32.const -44))
      (then
        (if (i32.and (i32.eqz (local.get $len))
                     (i32.ge_s (call $name (local.get $path) (local.get $plen)) (i32.const 0)))
          (then (return (call $create (i32.add (local.get $path) (i32.const 9))
                                      (i32.sub (local.get $plen) (i32.const 9))))))))
    (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (local.get $i))))
    (if (i32.eqz (local.get $len)) (then (return (i32.const 0))))
    (if (i64.ge_u (local.get $off) (i64.const 0x100000)) (then (return (i32.const -22))))
    (local.set $n (i64.sub (i64.const 0x100000) (local.get $off)))
    (if (i64.gt_u (local.get $n) (i64.extend_i32_u (local.get $len)))
      (then (local.set $n (i64.extend_i32_u (local.get $len)))))
    (memory.copy
      (i32.add (call $data (local.get $i)) (i32.wrap_i64 (local.get $off)))
      (local.get $buf) (i32.wrap_i64 (local.get $n)))
    (local.set $s (call $slot (local.get $i)))
    (local.set $end (i64.add (local.get $off) (local.get $n)))
    (if (i64.gt_u (local.get $end) (i64.load offset=8 (local.get $s)))
      (then (i64.store offset=8 (local.get $s) (local.get $end))))
    (i32.wrap_i64 (local.get $n)))

  (func (export "truncate") (param $path i32) (param $plen i32) (param $size i64) (result i32)
    (local $i i32) (local $s i32) (local $cur i64)
    (local.set $i (call $lookup (local.get $path) (local.get $plen)))
    (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (local.get $i))))
    (if (i64.gt_u (local.get $size) (i64.const 0x100000)) (then (return (i32.const -22))))
    (local.set $s (call $slot (local.get $i)))
    (local.set $cur (i64.load offset=8 (local.get $s)))
    (if (i64.lt_u (local.get $size) (local.get $cur))
      (then
        (memory.fill
          (i32.add (call $data (local.get $i)) (i32.wrap_i64 (local.get $size)))
          (i32.const 0)
          (i32.wrap_i64 (i64.sub (local.get $cur) (local.get $size))))))
    (i64.store offset=8 (local.get $s) (local.get $size))
    (i32.const 0))

  (func (export "query") (param $path i32) (param $plen i32)
                         (param $out i32) (param $olen i32) (result i32)
    (local $name i32) (local $i i32) (local $s i32) (local $total i32)
    (local $count i32) (local $at i32) (local $nlen i32)
    (local.set $name (call $name (local.get $path) (local.get $plen)))
    (if (i32.eq (local.get $name) (i32.const -2)) (then (return (i32.const -44))))
    (if (i32.ge_s (local.get $name) (i32.const 0))
      (then
        (local.set $i (call $lookup (local.get $path) (local.get $plen)))
        (if (i32.lt_s (local.get $i) (i32.const 0)) (then (return (local.get $i))))
        (if (i32.lt_u (local.get $olen) (i32.const 56)) (then (return (i32.const 56))))
        (memory.fill (local.get $out) (i32.const 0) (i32.const 56))
        (i32.store8 (local.get $out) (i32.const 4))
        (i64.store offset=8 (local.get $out)
          (i64.load offset=8 (call $slot (local.get $i))))
        (return (i32.const 56))))
    ;; The root: a directory listing every file.
    (local.set $total (i32.const 56))
    (loop $size
      (if (i32.lt_u (local.get $i) (i32.const 16))
        (then
          (local.set $s (call $slot (local.get $i)))
          (if (i32.load (local.get $s))
            (then
              (local.set $count (i32.add (local.get $count) (i32.const 1)))
              (local.set $total (i32.add (local.get $total)
                (i32.add (i32.const 8) (i32.load offset=4 (local.get $s)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $size))))
    (if (i32.lt_u (local.get $olen) (local.get $total)) (then (return (local.get $total))))
    (memory.fill (local.get $out) (i32.const 0) (i32.const 56))
    (i32.store8 (local.get $out) (i32.const 3))
    (i64.store offset=8 (local.get $out) (i64.extend_i32_u (local.get $count)))
    (i32.store offset=48 (local.get $out) (local.get $count))
    (local.set $at (i32.add (local.get $out) (i32.const 56)))
    (local.set $i (i32.const 0))
    (loop $entries
      (if (i32.lt_u (local.get $i) (i32.const 16))
        (then
          (local.set $s (call $slot (local.get $i)))
          (if (i32.load (local.get $s))
            (then
              (local.set $nlen (i32.load offset=4 (local.get $s)))
              (i32.store (local.get $at) (i32.const 4))
              (i32.store offset=4 (local.get $at) (local.get $nlen))
              (memory.copy (i32.add (local.get $at) (i32.const 8))
                           (i32.add (local.get $s) (i32.const 16)) (local.get $nlen))
              (local.set $at (i32.add (local.get $at) (i32.add (i32.const 8) (local.get $nlen))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $entries))))
    (local.get $total)))
