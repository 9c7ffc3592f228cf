//! `cargo xtask build-guests`: rebuilds committed `.wasm` guests from the
//! source beside them (`X.wat` with the `wat` crate, `X.c` with clang, plus
//! the arguments its `// clang:` lines give, e.g. `-mexec-model=reactor`).

use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to do with one source file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    /// A WebAssembly text file.
    Wat(PathBuf),
    /// A C file compiled for `wasm32-wasi`.
    C(PathBuf),
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Wat(path) | Source::C(path) => path,
        }
    }

    fn wasm_path(&self) -> PathBuf {
        self.path().with_extension("wasm")
    }
}

/// Every `.wat` and `.c` file under `dir`, sorted.
fn sources(dir: &Path) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_file() {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("wat") => out.push(Source::Wat(path)),
                    Some("c") => out.push(Source::C(path)),
                    _ => {}
                }
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// Assembles a `.wat` file into its binary, which must validate (the text
/// parser alone does not type-check).
pub fn assemble(path: &Path) -> Result<Vec<u8>> {
    let bytes = wat::parse_file(path).with_context(|| format!("assembling {}", path.display()))?;
    wasmparser::Validator::new()
        .validate_all(&bytes)
        .with_context(|| format!("validating {}", path.display()))?;
    Ok(bytes)
}

fn clang_available() -> bool {
    Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The clang arguments a C source asks for beyond the usual ones: the words
/// after `// clang:` at the start of a line.
fn clang_args(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("// clang:"))
        .flat_map(str::split_whitespace)
        .collect()
}

fn compile_c(source: &Path, output: &Path) -> Result<()> {
    let text =
        fs::read_to_string(source).with_context(|| format!("reading {}", source.display()))?;
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "--sysroot=/usr", "-O2"])
        .args(clang_args(&text))
        .arg("-o")
        .arg(output)
        .arg(source)
        .status()
        .context("running clang")?;
    if !status.success() {
        bail!("clang failed on {} ({status})", source.display());
    }
    Ok(())
}

/// Rebuilds (or, with `check`, verifies) every guest under `dirs` (default
/// `conformance/`, the WADI example drivers, the C transport modules of
/// `watm-transport`, wasi-runner's C HTTP handlers and C servers of their
/// own, wasirun's C WebSocket daemons and the benchmarks' C handlers).
/// Returns whether everything
/// was up to date / rebuilt.
pub fn run(dirs: &[PathBuf], check: bool) -> Result<bool> {
    let root = crate::workspace_root();
    let dirs = if dirs.is_empty() {
        vec![
            root.join("conformance"),
            root.join("crates/wadi-devices/drivers"),
            root.join("crates/watm-transport/tests/watm/c"),
            root.join("crates/wasi-runner/tests/handlers"),
            root.join("crates/wasi-runner/tests/servers"),
            root.join("crates/wasirun/tests/handlers"),
            root.join("benches/handlers"),
        ]
    } else {
        dirs.to_vec()
    };
    let clang = clang_available();
    let mut ok = true;
    let (mut built, mut unchanged) = (0, 0);
    for dir in &dirs {
        for source in sources(dir)? {
            let wasm = source.wasm_path();
            let shown = source
                .path()
                .strip_prefix(&root)
                .unwrap_or(source.path())
                .display()
                .to_string();
            match &source {
                Source::Wat(path) => {
                    let bytes = assemble(path)?;
                    let current = fs::read(&wasm).ok();
                    if current.as_deref() == Some(&bytes[..]) {
                        unchanged += 1;
                    } else if check {
                        let what = if current.is_some() {
                            "stale"
                        } else {
                            "missing"
                        };
                        eprintln!(
                            "{what}: {} (run `cargo xtask build-guests`)",
                            wasm.display()
                        );
                        ok = false;
                    } else {
                        fs::write(&wasm, &bytes)
                            .with_context(|| format!("writing {}", wasm.display()))?;
                        println!("built {shown}");
                        built += 1;
                    }
                }
                Source::C(path) => {
                    if check {
                        // clang output is not reproducible across versions:
                        // only require that the binary exists.
                        if !wasm.exists() {
                            eprintln!("missing: {}", wasm.display());
                            ok = false;
                        }
                    } else if !clang {
                        println!("skipped {shown}: clang not found (install clang and wasi-libc)");
                    } else {
                        compile_c(path, &wasm)?;
                        println!("built {shown}");
                        built += 1;
                    }
                }
            }
        }
    }
    if check {
        println!(
            "{}",
            if ok {
                "guests are up to date"
            } else {
                "guests are stale"
            }
        );
    } else {
        println!("{built} guest(s) rebuilt, {unchanged} unchanged");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_sources_name_their_own_clang_arguments() {
        let text = "// clang: -mexec-model=reactor -DX\n#include <stdio.h>\n  // clang: -Dnot\n";
        assert_eq!(clang_args(text), ["-mexec-model=reactor", "-DX"]);
        assert!(clang_args("int main(void) { return 0; }").is_empty());
    }

    #[test]
    fn finds_sources_and_checks_staleness() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("suite");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("a.wat"), "(module)").unwrap();
        fs::write(sub.join("b.c"), "int main(void){return 0;}").unwrap();
        fs::write(sub.join("c.json"), "{}").unwrap();
        let found = sources(dir.path()).unwrap();
        assert_eq!(
            found,
            [Source::Wat(sub.join("a.wat")), Source::C(sub.join("b.c"))]
        );
        assert_eq!(found[0].wasm_path(), sub.join("a.wasm"));

        let dirs = [dir.path().to_path_buf()];
        // A C guest only needs its binary to exist for --check.
        assert!(!run(&dirs, true).unwrap());
        fs::remove_file(sub.join("b.c")).unwrap();
        // Missing a.wasm: the check fails, a build fixes it.
        assert!(!run(&dirs, true).unwrap());
        assert!(run(&dirs, false).unwrap());
        assert_eq!(fs::read(sub.join("a.wasm")).unwrap(), b"\0asm\x01\0\0\0");
        assert!(run(&dirs, true).unwrap());
        // An invalid module is an error.
        fs::write(sub.join("a.wat"), "(module (func (result i32)))").unwrap();
        assert!(run(&dirs, true).is_err());
        // A stale binary is reported and left alone.
        fs::write(sub.join("a.wat"), "(module (memory 1))").unwrap();
        assert!(!run(&dirs, true).unwrap());
        assert_eq!(fs::read(sub.join("a.wasm")).unwrap(), b"\0asm\x01\0\0\0");
    }
}
