//! The guest modules: the trampolines every host runs, and standalone
//! reproducers.
//!
//! The fuzzer's guest imports every call of [`IMPORTS`] and exports each
//! under its own name, unchanged, with a fixed memory of [`MEMORY_SIZE`]
//! bytes. The fuzzer calls those exports one at a time, writing each call's
//! inputs into memory before it and reading its outputs after it, so one
//! module, compiled once per engine, runs every sequence, and a trap in one
//! call (wasmtime-wasi traps on bad pointers) leaves the next ones to run.

use std::fmt::Write as _;

use crate::calls::*;

/// The import declarations of `imports`, and the wasm signature text of each.
fn signature(import: &Import) -> String {
    let params: Vec<&str> = import
        .wasm_params()
        .map(|wide| if wide { "i64" } else { "i32" })
        .collect();
    if params.is_empty() {
        "(result i32)".to_owned()
    } else {
        format!("(param {}) (result i32)", params.join(" "))
    }
}

fn import_decl(wat: &mut String, import: &Import) {
    let _ = writeln!(
        wat,
        "  (import \"wasi_snapshot_preview1\" \"{0}\" (func ${0} {1}))",
        import.name,
        signature(import)
    );
}

fn memory_decl(wat: &mut String) {
    let pages = MEMORY_SIZE / 65536;
    let _ = writeln!(wat, "  (memory (export \"memory\") {pages} {pages})");
}

/// The fuzzer's guest, as WAT.
pub fn trampolines() -> String {
    let mut wat = String::from("(module\n");
    for import in IMPORTS {
        import_decl(&mut wat, import);
    }
    memory_decl(&mut wat);
    for import in IMPORTS {
        let args: String = (0..import.wasm_params().count())
            .map(|i| format!(" (local.get {i})"))
            .collect();
        let _ = writeln!(
            wat,
            "  (func (export \"{0}\") {1} (call ${0}{args}))",
            import.name,
            signature(import)
        );
    }
    wat.push_str(")\n");
    wat
}

/// `bytes` as a WAT string literal.
fn wat_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ' {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\{b:02x}");
        }
    }
    s.push('"');
    s
}

/// A standalone module whose `_start` makes `calls` in order as the fuzzer
/// does (output regions filled with `0xaa`, inputs written, loaded
/// arguments read from memory), dropping the results. `notes[i]`, if any, is
/// printed as a comment above call `i`. Run it with `wasirun --trace` on the
/// tree of [`crate::tree::script`] to see each result.
pub fn reproducer(calls: &[Call], notes: &[String]) -> String {
    let mut wat = String::from("(module\n");
    let mut used: Vec<&Import> = calls.iter().map(|c| c.func.import()).collect();
    used.sort_by_key(|i| i.name);
    used.dedup_by_key(|i| i.name);
    for import in used {
        import_decl(&mut wat, import);
    }
    memory_decl(&mut wat);
    let mut data = Vec::new();
    let mut body = String::new();
    let blank = vec![0u8; MEMORY_SIZE as usize];
    for (i, call) in calls.iter().enumerate() {
        let _ = writeln!(body, "    ;; {}. {call}", i + 1);
        if let Some(note) = notes.get(i) {
            for line in note.lines() {
                let _ = writeln!(body, "    ;;    {line}");
            }
        }
        // The static parts; loaded values are patched in below.
        let lowered = call.lower(&blank);
        for (ptr, len, _) in &lowered.outputs {
            let range = clamp(*ptr, *len);
            if !range.is_empty() {
                let _ = writeln!(
                    body,
                    "    (memory.fill (i32.const {}) (i32.const {FILL:#x}) (i32.const {}))",
                    range.start,
                    range.len()
                );
            }
        }
        for (ptr, bytes) in &lowered.inputs {
            let range = clamp(*ptr, bytes.len() as u32);
            if !range.is_empty() {
                let _ = writeln!(
                    body,
                    "    (memory.init {} (i32.const {}) (i32.const 0) (i32.const {}))",
                    data.len(),
                    range.start,
                    range.len()
                );
                data.push(bytes[..range.len()].to_vec());
            }
        }
        patch_poll_fds(&mut body, call);
        let mut args = Vec::new();
        let mut values = lowered.args.iter();
        for (param, arg) in call.func.import().params.iter().zip(&call.args) {
            for &wide in param.wasm() {
                let value = values.next().copied().unwrap_or(0);
                let ty = if wide { "i64" } else { "i32" };
                args.push(match arg {
                    Arg::Int(Value::Load(addr)) => format!("({ty}.load (i32.const {addr}))"),
                    _ if wide => format!("(i64.const {})", value as i64),
                    _ => format!("(i32.const {})", value as u32 as i32),
                });
            }
        }
        let _ = writeln!(
            body,
            "    (drop (call ${} {}))",
            call.func.name(),
            args.join(" ")
        );
    }
    let _ = writeln!(wat, "  (func (export \"_start\")");
    wat.push_str(&body);
    wat.push_str("  )\n");
    for bytes in data {
        let _ = writeln!(wat, "  (data {})", wat_string(&bytes));
    }
    wat.push_str(")\n");
    wat
}

/// Stores the descriptors of `poll_oneoff` subscriptions that are read from
/// memory into the subscription array.
fn patch_poll_fds(body: &mut String, call: &Call) {
    for arg in &call.args {
        let Arg::Poll { subs, list, .. } = arg else {
            continue;
        };
        for (i, sub) in list.iter().enumerate() {
            if let Sub::FdRead(Value::Load(addr)) | Sub::FdWrite(Value::Load(addr)) = sub {
                let field = u64::from(*subs) + SUBSCRIPTION_SIZE as u64 * i as u64 + 16;
                if field + 4 <= u64::from(MEMORY_SIZE) {
                    let _ = writeln!(
                        body,
                        "    (i32.store (i32.const {field}) (i32.load (i32.const {addr})))"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Rng, sequence};

    #[test]
    fn guests_are_valid() {
        wat::parse_str(trampolines()).unwrap();
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let calls = sequence(&mut rng, 30);
            let wat = reproducer(&calls, &[]);
            wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"));
        }
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(wat_string(b"a \"b\"\\\n\xff"), r#""a \22b\22\5c\0a\ff""#);
    }
}
