//! Checking a module against `spec/watm-v0.md` §2 before it runs.

use crate::Error;
use std::collections::HashMap;
use std::fmt;
use wasmparser::{CompositeInnerType, ExternalKind, Parser, Payload, TypeRef, ValType};

/// The role a WATM plays (`spec/watm-v0.md` §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Joins the application's connection to one the host dials.
    Dialer,
    /// Joins a connection the host accepted to the application's.
    Listener,
    /// Joins a connection the host accepted to one the host dials.
    Relay,
}

impl Role {
    /// The export the role calls, and whether it takes the caller
    /// connection's descriptor.
    pub(crate) fn entry(self) -> (&'static str, bool) {
        match self {
            Role::Dialer => ("_water_dial", true),
            Role::Listener => ("_water_accept", true),
            Role::Relay => ("_water_associate", false),
        }
    }
}

/// A function type, as far as WATER cares.
#[derive(Clone, PartialEq, Eq)]
struct Sig {
    params: Vec<ValType>,
    results: Vec<ValType>,
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |types: &[ValType]| {
            types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ", list(&self.params))?;
        match self.results.as_slice() {
            [one] => write!(f, "{one}"),
            more => write!(f, "({})", list(more)),
        }
    }
}

/// What an export is.
enum Export {
    Func(Option<Sig>),
    Other(&'static str),
}

/// The module's exports by name, with the types of the functions.
fn exports(wasm: &[u8]) -> Result<HashMap<String, Export>, Error> {
    let invalid = |e: wasmparser::BinaryReaderError| Error::Invalid(format!("invalid module: {e}"));
    // Function types by type index (`None` for the GC proposal's others).
    let mut types: Vec<Option<Sig>> = Vec::new();
    // Type index of every function, imported ones first.
    let mut funcs: Vec<u32> = Vec::new();
    let mut exports = HashMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(invalid)?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(Sig {
                                params: f.params().to_vec(),
                                results: f.results().to_vec(),
                            }),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(ty) | TypeRef::FuncExact(ty) = import.map_err(invalid)?.ty
                    {
                        funcs.push(ty);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    funcs.push(ty.map_err(invalid)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    let kind = match export.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => {
                            // The function section precedes the exports.
                            let sig = funcs
                                .get(export.index as usize)
                                .and_then(|ty| types.get(*ty as usize))
                                .and_then(Clone::clone);
                            Export::Func(sig)
                        }
                        ExternalKind::Global => Export::Other("a global"),
                        ExternalKind::Memory => Export::Other("a memory"),
                        ExternalKind::Table => Export::Other("a table"),
                        ExternalKind::Tag => Export::Other("a tag"),
                    };
                    exports.insert(export.name.to_owned(), kind);
                }
            }
            Payload::CodeSectionStart { .. } => break,
            _ => {}
        }
    }
    Ok(exports)
}

const I32: ValType = ValType::I32;

/// Checks `wasm` against `spec/watm-v0.md` §2 (points 2 to 4) for `role`;
/// the error is one line naming the first missing or mistyped export.
pub(crate) fn validate(wasm: &[u8], role: Role) -> Result<(), Error> {
    let exports = exports(wasm)?;
    if !exports.contains_key("_water_v0") {
        return Err(Error::Invalid(
            "not a WATER v0 module: no export `_water_v0`".into(),
        ));
    }
    match exports.get("memory") {
        None => return Err(Error::Invalid("WATM has no export `memory`".into())),
        Some(Export::Other("a memory")) => {}
        Some(Export::Other(kind)) => {
            return Err(Error::Invalid(format!(
                "WATM export `memory` is {kind}, not a memory"
            )));
        }
        Some(Export::Func(_)) => {
            return Err(Error::Invalid(
                "WATM export `memory` is a function, not a memory".into(),
            ));
        }
    }
    let (entry, takes_fd) = role.entry();
    let entry_params = if takes_fd { vec![I32] } else { vec![] };
    let required = [
        ("_water_init", vec![], vec![I32]),
        ("_water_cancel_with", vec![I32], vec![I32]),
        ("_water_worker", vec![], vec![I32]),
        (entry, entry_params, vec![I32]),
    ];
    for (name, params, results) in required {
        let want = Sig { params, results };
        match exports.get(name) {
            None => {
                return Err(Error::Invalid(format!(
                    "WATM has no export `{name}` (required: {want})"
                )));
            }
            Some(Export::Other(kind)) => {
                return Err(Error::Invalid(format!(
                    "WATM export `{name}` is {kind}, not a function {want}"
                )));
            }
            Some(Export::Func(Some(sig))) if *sig == want => {}
            Some(Export::Func(Some(sig))) => {
                return Err(Error::Invalid(format!(
                    "WATM export `{name}` has type {sig}, expected {want}"
                )));
            }
            Some(Export::Func(None)) => {
                return Err(Error::Invalid(format!(
                    "WATM export `{name}` has no function type, expected {want}"
                )));
            }
        }
    }
    Ok(())
}

/// Whether the module exports function `name` with type `() -> ()`.
pub(crate) fn exports_nullary(wasm: &[u8], name: &str) -> bool {
    matches!(
        exports(wasm).ok().and_then(|mut e| e.remove(name)),
        Some(Export::Func(Some(Sig { params, results }))) if params.is_empty() && results.is_empty()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str, role: Role) -> Result<(), String> {
        validate(&wat::parse_str(wat).unwrap(), role).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"(module
        (memory (export "memory") 1)
        (global (export "_water_v0") i32 (i32.const 0))
        (func (export "_water_init") (result i32) (i32.const 0))
        (func (export "_water_cancel_with") (param i32) (result i32) (i32.const 0))
        (func (export "_water_worker") (result i32) (i32.const 0))
        (func (export "_water_dial") (param i32) (result i32) (i32.const 0)))"#;

    #[test]
    fn a_complete_dialer_passes_and_other_roles_name_their_export() {
        assert_eq!(check(GOOD, Role::Dialer), Ok(()));
        assert_eq!(
            check(GOOD, Role::Relay),
            Err("WATM has no export `_water_associate` (required: () -> i32)".into())
        );
        assert_eq!(
            check(GOOD, Role::Listener),
            Err("WATM has no export `_water_accept` (required: (i32) -> i32)".into())
        );
    }

    #[test]
    fn version_may_be_a_function() {
        let tinygo = GOOD.replace(
            r#"(global (export "_water_v0") i32 (i32.const 0))"#,
            r#"(func (export "_water_v0"))"#,
        );
        assert_eq!(check(&tinygo, Role::Dialer), Ok(()));
        let none = GOOD.replace(r#"(export "_water_v0")"#, "");
        assert_eq!(
            check(&none, Role::Dialer),
            Err("not a WATER v0 module: no export `_water_v0`".into())
        );
    }

    #[test]
    fn mistyped_exports_are_named() {
        let wrong = GOOD.replace(
            r#"(func (export "_water_init") (result i32) (i32.const 0))"#,
            r#"(func (export "_water_init") (result i64) (i64.const 0))"#,
        );
        assert_eq!(
            check(&wrong, Role::Dialer),
            Err("WATM export `_water_init` has type () -> i64, expected () -> i32".into())
        );
        let global = GOOD.replace(
            r#"(func (export "_water_worker") (result i32) (i32.const 0))"#,
            r#"(global (export "_water_worker") i32 (i32.const 0))"#,
        );
        assert_eq!(
            check(&global, Role::Dialer),
            Err("WATM export `_water_worker` is a global, not a function () -> i32".into())
        );
        let no_memory = GOOD.replace(r#"(memory (export "memory") 1)"#, "");
        assert_eq!(
            check(&no_memory, Role::Dialer),
            Err("WATM has no export `memory`".into())
        );
    }

    #[test]
    fn imported_functions_shift_the_index_space() {
        let imported = GOOD.replace(
            "(memory",
            r#"(import "env" "host_dial" (func (result i32))) (memory"#,
        );
        assert_eq!(check(&imported, Role::Dialer), Ok(()));
        assert!(exports_nullary(
            &wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
            "_start"
        ));
    }
}
