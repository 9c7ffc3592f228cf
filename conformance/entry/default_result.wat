;; A default export `""` that returns values: they are printed one per line,
;; as `--invoke ""` would print them, and the run exits 0.
(module
  (func (export "") (result i32 f64) (i32.const -42) (f64.const 0.5)))
