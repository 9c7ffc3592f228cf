//! Which exports a command's run calls, and with what: `_initialize`, then
//! the main function (`spec/preview1.md`, "Running a module", "Entry
//! points"), checked against the module's exports before it is
//! instantiated.

use crate::RunError;
use std::ffi::OsStr;
use std::path::Path;
use wasi_core::runtime::{CallError, Export, FuncType, Instance, TypeList, Val, ValType};

/// The export a reactor initializes itself in.
const INITIALIZE: &str = "_initialize";

/// The main functions looked for without `--invoke`, in order: the default
/// export, then a command's `_start`.
const MAINS: [&str; 2] = ["", "_start"];

/// What a run calls once its module is instantiated.
#[derive(Clone, Debug)]
pub(crate) struct EntryPoints {
    /// Whether `_initialize` is called first.
    initialize: bool,
    /// The main function's name.
    main: String,
    /// Its arguments.
    args: Vec<Val>,
    /// How many results it returns.
    results: usize,
}

impl EntryPoints {
    /// The entry points of the module at `path`, whose exports `export`
    /// tells: the function `invoke` names, else the default export or
    /// `_start`; `args` (the guest's arguments after `argv[0]`) are the
    /// arguments of the one `invoke` names.
    pub(crate) fn new<A: AsRef<OsStr>>(
        path: &Path,
        export: impl Fn(&str) -> Option<Export>,
        invoke: Option<&str>,
        args: &[A],
    ) -> Result<Self, RunError> {
        let cannot = |name: &str, reason: String| RunError::Entry {
            path: path.to_owned(),
            name: name.to_owned(),
            reason,
        };
        // The type of the function exported as `name`; `None` when no
        // function has that name.
        let function = |name: &str| match export(name) {
            Some(Export::Func(ty)) => Ok(Some(ty)),
            Some(Export::OpaqueFunc(ty)) => Err(cannot(
                name,
                format!(
                    "it takes or returns a {ty}; only i32, i64, f32 and f64 can be passed and printed"
                ),
            )),
            Some(Export::Other(_)) | None => Ok(None),
        };
        let (main, ty) = match invoke {
            Some(name) => match function(name)? {
                Some(ty) => (name, ty),
                None => {
                    return Err(cannot(
                        name,
                        match export(name) {
                            Some(Export::Other(kind)) => format!("it is a {kind}, not a function"),
                            _ => "the module exports nothing of that name".into(),
                        },
                    ));
                }
            },
            None => {
                let mut found = None;
                for name in MAINS {
                    if let Some(ty) = function(name)? {
                        found = Some((name, ty));
                        break;
                    }
                }
                found.ok_or_else(|| RunError::NoEntryPoint {
                    path: path.to_owned(),
                })?
            }
        };
        let initialize = match function(INITIALIZE)? {
            Some(ty) if ty != FuncType::default() => {
                return Err(cannot(
                    INITIALIZE,
                    format!("it has type {ty}, not () -> ()"),
                ));
            }
            // `--invoke _initialize` calls it once.
            found => found.is_some() && main != INITIALIZE,
        };
        // Without `--invoke`, the arguments are only the guest's `argv`.
        let given = if invoke.is_some() { args } else { &[] };
        if given.len() != ty.params.len() {
            let takes = match ty.params.len() {
                1 => format!("it takes 1 argument {}", TypeList(&ty.params)),
                n => format!("it takes {n} arguments {}", TypeList(&ty.params)),
            };
            return Err(cannot(
                main,
                if invoke.is_some() {
                    format!("{takes}, {} given", given.len())
                } else {
                    format!("{takes}; only --invoke passes arguments")
                },
            ));
        }
        let args = ty
            .params
            .iter()
            .zip(given)
            .enumerate()
            .map(|(i, (&ty, arg))| {
                let arg = arg.as_ref();
                parse(ty, arg).ok_or_else(|| {
                    cannot(main, format!("argument {} ({arg:?}) is not an {ty}", i + 1))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            initialize,
            main: main.to_owned(),
            args,
            results: ty.results.len(),
        })
    }

    /// Calls the entry points on `instance`: `_initialize`, then the main
    /// function, whose results it returns.
    pub(crate) fn call<D: 'static>(
        &self,
        instance: &mut impl Instance<D>,
    ) -> Result<Vec<Val>, CallError> {
        if self.initialize {
            instance.call(INITIALIZE, &[], &mut [])?;
        }
        let mut results = vec![Val::I32(0); self.results];
        instance.call(&self.main, &self.args, &mut results)?;
        Ok(results)
    }
}

/// `text` as a value of type `ty`, as the spec's "Entry points" has
/// arguments parsed.
fn parse(ty: ValType, text: &OsStr) -> Option<Val> {
    let text = text.to_str()?;
    Some(match ty {
        // Truncating keeps the two's complement bits `integer` checked.
        ValType::I32 => Val::I32(integer(text, 32)? as u32 as i32),
        ValType::I64 => Val::I64(integer(text, 64)? as i64),
        ValType::F32 => Val::F32(text.parse::<f32>().ok()?.to_bits()),
        ValType::F64 => Val::F64(text.parse::<f64>().ok()?.to_bits()),
    })
}

/// An integer of `bits` bits, as its two's complement bits: decimal, or
/// hexadecimal after `0x` or `0X`, after an optional `-`, in the range of
/// the signed or the unsigned integer of that width.
fn integer(text: &str, bits: u32) -> Option<u64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (radix, digits) = match unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, unsigned),
    };
    // `from_str_radix` alone would take a sign after the prefix.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    let max = u64::MAX >> (64 - bits);
    if negative {
        (magnitude <= max / 2 + 1).then(|| magnitude.wrapping_neg() & max)
    } else {
        (magnitude <= max).then_some(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn integers_take_either_range_and_hexadecimal() {
        let i32s = |text: &str| parse(ValType::I32, OsStr::new(text));
        assert_eq!(i32s("7"), Some(Val::I32(7)));
        assert_eq!(i32s("-2147483648"), Some(Val::I32(i32::MIN)));
        assert_eq!(i32s("4294967295"), Some(Val::I32(-1)));
        assert_eq!(i32s("0xffffffff"), Some(Val::I32(-1)));
        assert_eq!(i32s("-0X10"), Some(Val::I32(-16)));
        for bad in [
            "",
            "-",
            "0x",
            "4294967296",
            "-2147483649",
            "0x-1",
            "1.0",
            "x",
            "+-1",
        ] {
            assert_eq!(i32s(bad), None, "{bad:?}");
        }
        let i64s = |text: &str| parse(ValType::I64, OsStr::new(text));
        assert_eq!(i64s("18446744073709551615"), Some(Val::I64(-1)));
        assert_eq!(i64s("-9223372036854775808"), Some(Val::I64(i64::MIN)));
        assert_eq!(i64s("-9223372036854775809"), None);
        assert_eq!(i64s("18446744073709551616"), None);
    }

    #[test]
    fn floats_parse_as_rust_parses_them() {
        assert_eq!(
            parse(ValType::F32, OsStr::new("1.5")),
            Some(Val::F32(1.5f32.to_bits()))
        );
        assert_eq!(
            parse(ValType::F64, OsStr::new("-inf")),
            Some(Val::F64(f64::NEG_INFINITY.to_bits()))
        );
        assert_eq!(parse(ValType::F64, OsStr::new("one")), None);
    }

    /// The entry points of a module exporting `exports`, or the error's
    /// message.
    fn entry(
        exports: &[(&str, Export)],
        invoke: Option<&str>,
        args: &[&str],
    ) -> Result<EntryPoints, String> {
        let exports: HashMap<_, _> = exports.iter().cloned().collect();
        EntryPoints::new(
            Path::new("m.wasm"),
            |name| exports.get(name).cloned(),
            invoke,
            args,
        )
        .map_err(|error| error.to_string())
    }

    fn func(params: &[ValType], results: &[ValType]) -> Export {
        Export::Func(FuncType {
            params: params.to_vec(),
            results: results.to_vec(),
        })
    }

    #[test]
    fn the_default_export_comes_before_start_and_initialize_before_both() {
        let nullary = func(&[], &[]);
        let both = [
            ("_start", nullary.clone()),
            ("", func(&[], &[ValType::I32])),
            ("_initialize", nullary.clone()),
        ];
        let points = entry(&both, None, &["argv", "only"]).unwrap();
        assert!(points.initialize);
        assert_eq!((points.main.as_str(), points.results), ("", 1));
        assert!(points.args.is_empty());
        // Only functions count.
        let global = [("", Export::Other("global")), ("_start", nullary.clone())];
        assert_eq!(entry(&global, None, &[]).unwrap().main, "_start");
        // `--invoke _initialize` calls it once.
        let reactor = [("_initialize", nullary)];
        let points = entry(&reactor, Some("_initialize"), &[]).unwrap();
        assert!(!points.initialize);
        assert_eq!(
            entry(&reactor, None, &[]).unwrap_err(),
            "m.wasm has no entry point: it exports no function \"\" or \"_start\" \
             (call one of its functions with --invoke NAME)"
        );
    }

    #[test]
    fn refusals_name_the_function_and_what_is_wrong() {
        use ValType::{F64, I32};
        let exports = [
            ("add", func(&[I32, I32], &[I32])),
            ("half", func(&[F64], &[F64])),
            ("memory", Export::Other("memory")),
            ("simd", Export::OpaqueFunc("v128".into())),
            ("_start", func(&[I32], &[])),
        ];
        let cases: [(Option<&str>, &[&str], &str); 8] = [
            (
                Some("nope"),
                &[],
                r#"cannot call "nope": the module exports nothing of that name"#,
            ),
            (
                Some("memory"),
                &[],
                r#"cannot call "memory": it is a memory, not a function"#,
            ),
            (
                Some("simd"),
                &[],
                r#"cannot call "simd": it takes or returns a v128; only i32, i64, f32 and f64 can be passed and printed"#,
            ),
            (
                Some("add"),
                &["1"],
                r#"cannot call "add": it takes 2 arguments (i32, i32), 1 given"#,
            ),
            (
                Some("half"),
                &[],
                r#"cannot call "half": it takes 1 argument (f64), 0 given"#,
            ),
            (
                Some("add"),
                &["1", "x"],
                r#"cannot call "add": argument 2 ("x") is not an i32"#,
            ),
            (
                Some("half"),
                &["1,5"],
                r#"cannot call "half": argument 1 ("1,5") is not an f64"#,
            ),
            (
                None,
                &["5"],
                r#"cannot call "_start": it takes 1 argument (i32); only --invoke passes arguments"#,
            ),
        ];
        for (invoke, args, message) in cases {
            assert_eq!(
                entry(&exports, invoke, args).unwrap_err(),
                format!("m.wasm: {message}"),
                "{invoke:?} {args:?}"
            );
        }
        let points = entry(&exports, Some("add"), &["-1", "0x10"]).unwrap();
        assert_eq!(points.args, [Val::I32(-1), Val::I32(16)]);
        let initialize = [("_initialize", func(&[I32], &[])), ("", func(&[], &[]))];
        assert_eq!(
            entry(&initialize, None, &[]).unwrap_err(),
            r#"m.wasm: cannot call "_initialize": it has type (i32) -> (), not () -> ()"#
        );
    }
}
