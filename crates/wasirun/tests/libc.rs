//! C programs built with wasi-libc run under `wasirun` exactly as they do
//! natively.
//!
//! Each program in `conformance/libc/` is compiled natively with the system C
//! compiler (`$CC`, else `cc`) and run three times, each on a fresh copy of
//! its fixture directories: natively, and with its committed `NAME.wasm`
//! under `wasirun` on wasmtime and on wasmi. The runs get the same arguments
//! and environment (nothing else) and stdin from `/dev/null`; natively the
//! working directory holds the fixture copies, under `wasirun` the same
//! directory is the working directory and each fixture is preopened under
//! its own name (`--dir NAME`), so the relative paths the programs use name
//! the same files. Stdout, stderr, exit code and the resulting directory
//! tree (names, types, contents, symlink targets) must be identical, and the
//! native run must also match what `NAME.json` pins for the conformance
//! runner. No clang is needed: the `.wasm` files are committed.
//!
//! On x86-64, each program also runs under `wasirun` in a process whose
//! seccomp filter refuses `openat2` (`ENOSYS`, as Linux before 5.6) and
//! `io_uring_setup` (`EPERM`, as Docker's default profile): paths are then
//! walked in user space (`spec/preview1.md`, "Path resolution without
//! openat2"), with the same results.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ENGINES: [&str; 2] = ["wasmtime", "wasmi"];

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/libc")
}

/// The parts of a wasi-testsuite `NAME.json` these programs use.
#[derive(Debug, Default)]
struct Spec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    dirs: Vec<String>,
    exit_code: i32,
    stdout: Option<String>,
    stderr: Option<String>,
}

/// A JSON value, parsed by the small reader below (the test crate has no
/// JSON dependency).
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) {
        assert!(self.eat(c), "JSON: expected {c:?} at byte {}", self.pos);
    }

    fn value(&mut self) -> Json {
        self.skip_ws();
        match self.peek().expect("JSON: unexpected end") {
            '{' => {
                self.pos += 1;
                let mut fields = Vec::new();
                if !self.eat('}') {
                    loop {
                        self.skip_ws();
                        let key = self.string();
                        self.expect(':');
                        fields.push((key, self.value()));
                        if !self.eat(',') {
                            break;
                        }
                    }
                    self.expect('}');
                }
                Json::Object(fields)
            }
            '[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(']') {
                    loop {
                        items.push(self.value());
                        if !self.eat(',') {
                            break;
                        }
                    }
                    self.expect(']');
                }
                Json::Array(items)
            }
            '"' => Json::String(self.string()),
            _ => {
                let rest = &self.text[self.pos..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                    .unwrap_or(rest.len());
                self.pos += len;
                match &rest[..len] {
                    "null" => Json::Null,
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    number => Json::Number(
                        number
                            .parse()
                            .unwrap_or_else(|_| panic!("JSON: bad token {number:?}")),
                    ),
                }
            }
        }
    }

    fn string(&mut self) -> String {
        assert_eq!(self.peek(), Some('"'), "JSON: expected a string");
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.text[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return out;
                }
                '\\' => {
                    let (_, e) = chars.next().expect("JSON: bad escape");
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                            let unit = u32::from_str_radix(&hex, 16).expect("JSON: bad \\u");
                            // Surrogate pairs do not occur in these files.
                            char::from_u32(unit).expect("JSON: surrogate in \\u")
                        }
                        other => other,
                    });
                }
                c => out.push(c),
            }
        }
        panic!("JSON: unterminated string");
    }
}

fn parse_json(text: &str) -> Json {
    let mut reader = Reader { text, pos: 0 };
    let value = reader.value();
    reader.skip_ws();
    assert_eq!(reader.pos, text.len(), "JSON: trailing text");
    value
}

fn strings(value: &Json) -> Vec<String> {
    match value {
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => s.clone(),
                other => panic!("expected a string, got {other:?}"),
            })
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn load_spec(name: &str) -> Spec {
    let path = suite().join(format!("{name}.json"));
    let Ok(text) = fs::read_to_string(&path) else {
        return Spec::default();
    };
    let Json::Object(fields) = parse_json(&text) else {
        panic!("{}: not an object", path.display());
    };
    let mut spec = Spec::default();
    for (key, value) in &fields {
        match (key.as_str(), value) {
            ("args", v) => spec.args = strings(v),
            ("dirs", v) => spec.dirs = strings(v),
            ("env", Json::Object(vars)) => {
                for (k, v) in vars {
                    let Json::String(v) = v else {
                        panic!("{}: env {k} is not a string", path.display())
                    };
                    spec.env.push((k.clone(), v.clone()));
                }
            }
            ("exit_code", Json::Number(n)) => spec.exit_code = *n as i32,
            ("stdout", Json::String(s)) => spec.stdout = Some(s.clone()),
            ("stderr", Json::String(s)) => spec.stderr = Some(s.clone()),
            (key, value) => panic!("{}: unsupported field {key}: {value:?}", path.display()),
        }
    }
    spec
}

/// Copies a fixture tree, symlinks as symlinks, leaving out `*.cleanup`
/// entries a conformance run may have left behind.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".cleanup") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let file_type = entry.file_type().unwrap();
        if file_type.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if file_type.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every entry under `dir`, sorted: its relative path, type and contents
/// (file bytes, escaped) or symlink target.
fn snapshot(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let file_type = entry.file_type().unwrap();
            let what = if file_type.is_symlink() {
                format!("symlink -> {}", fs::read_link(&path).unwrap().display())
            } else if file_type.is_dir() {
                walk(root, &path, out);
                "dir".to_string()
            } else if file_type.is_file() {
                let bytes = fs::read(&path).unwrap();
                let shown: String = bytes.iter().take(200).map(|&b| b as char).collect();
                format!("file {} bytes {:016x} {shown:?}", bytes.len(), fnv(&bytes))
            } else {
                format!("other {file_type:?}")
            };
            out.insert(rel, what);
        }
    }
    let mut entries = BTreeMap::new();
    walk(dir, dir, &mut entries);
    let mut out = String::new();
    for (path, what) in entries {
        writeln!(out, "{path}: {what}").unwrap();
    }
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// What one run did.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    status: String,
    stdout: String,
    stderr: String,
    tree: String,
}

/// The kernel a run sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// This machine's.
    AsIs,
    /// This machine's, with `openat2` and io_uring refused by seccomp.
    Old,
}

/// Makes `openat2` fail with `ENOSYS` and `io_uring_setup` with `EPERM`
/// in the process `command` starts, as on Linux before 5.6 under Docker's
/// default seccomp profile.
#[cfg(target_arch = "x86_64")]
fn refuse_new_syscalls(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: 0,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let ret = |k: u32| stmt(libc::BPF_RET | libc::BPF_K, k);
    // `struct seccomp_data`: `nr` at offset 0, `arch` at 4.
    let filter = [
        load(4),
        jump(AUDIT_ARCH_X86_64, 5),
        load(0),
        jump(libc::SYS_openat2 as u32, 1),
        ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        jump(libc::SYS_io_uring_setup as u32, 1),
        ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    // SAFETY: between fork and exec the closure only makes two `prctl`
    // calls (async-signal-safe) on a filter copied into it beforehand; it
    // allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The kernels the wasm runs see: on other architectures than x86-64 the
/// filter above is not written, and only this machine's is tried.
fn kernels() -> &'static [Kernel] {
    match cfg!(target_arch = "x86_64") {
        true => &[Kernel::AsIs, Kernel::Old],
        false => &[Kernel::AsIs],
    }
}

/// Runs `program` (with `args` before the spec's arguments) in a fresh
/// directory holding copies of the spec's fixtures.
fn run(spec: &Spec, program: &Path, args: &[String], kernel: Kernel) -> Run {
    let work = tempfile::tempdir().unwrap();
    for dir in &spec.dirs {
        copy_tree(&suite().join(dir), &work.path().join(dir));
    }
    let mut command = Command::new(program);
    if kernel == Kernel::Old {
        #[cfg(target_arch = "x86_64")]
        refuse_new_syscalls(&mut command);
    }
    let out = command
        .args(args)
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    Run {
        status: out.status.to_string(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        tree: snapshot(work.path()),
    }
}

/// The C compiler, or `None` (after saying why) if there is none.
fn c_compiler() -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    match Command::new(&cc).arg("--version").output() {
        Ok(out) if out.status.success() => Some(cc),
        Ok(out) => {
            eprintln!("skipping: `{cc} --version` failed ({})", out.status);
            None
        }
        Err(e) => {
            eprintln!("skipping: no C compiler `{cc}` ({e}); set CC or install gcc");
            None
        }
    }
}

/// Shows where two runs part, line by line.
fn diff(want: &str, got: &str) -> String {
    let (want, got): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    let differing = (0..want.len().max(got.len())).filter(|&i| want.get(i) != got.get(i));
    for (shown, i) in differing.enumerate() {
        if shown == 20 {
            out.push_str("  ...\n");
            break;
        }
        let (w, g) = (want.get(i), got.get(i));
        writeln!(
            out,
            "  line {}:\n    native: {w:?}\n    wasm:   {g:?}",
            i + 1
        )
        .unwrap();
    }
    out
}

fn check_program(name: &str) {
    let Some(cc) = c_compiler() else { return };
    let spec = load_spec(name);
    let build = tempfile::tempdir().unwrap();
    let native = build.path().join(name);
    let source = suite().join(format!("{name}.c"));
    let out = Command::new(&cc)
        .args(["-O2", "-o"])
        .arg(&native)
        .arg(&source)
        .arg("-lm")
        .output()
        .expect("running the C compiler");
    assert!(
        out.status.success(),
        "{cc} failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&out.stderr)
    );

    let want = run(&spec, &native, &[], Kernel::AsIs);
    // The pinned expectations must be what the program does natively.
    assert_eq!(
        want.status,
        format!("exit status: {}", spec.exit_code),
        "{name}: native exit status differs from {name}.json\nstderr: {}",
        want.stderr
    );
    if let Some(stdout) = &spec.stdout {
        assert!(
            *stdout == want.stdout,
            "{name}: native stdout differs from {name}.json:\n{}",
            diff(stdout, &want.stdout)
        );
    }
    if let Some(stderr) = &spec.stderr {
        assert_eq!(*stderr, want.stderr, "{name}: native stderr vs {name}.json");
    }

    let module = suite().join(format!("{name}.wasm"));
    let wasirun = Path::new(env!("CARGO_BIN_EXE_wasirun"));
    let mut failures = String::new();
    for (engine, &kernel) in ENGINES
        .iter()
        .flat_map(|e| kernels().iter().map(move |k| (e, k)))
    {
        let mut args = vec!["--runtime".to_string(), engine.to_string()];
        for dir in &spec.dirs {
            args.extend(["--dir".to_string(), dir.clone()]);
        }
        for (k, v) in &spec.env {
            args.extend(["--env".to_string(), format!("{k}={v}")]);
        }
        args.push(module.to_str().unwrap().to_string());
        let got = run(&spec, wasirun, &args, kernel);
        for (what, w, g) in [
            ("exit status", &want.status, &got.status),
            ("stdout", &want.stdout, &got.stdout),
            ("stderr", &want.stderr, &got.stderr),
            ("directory tree", &want.tree, &got.tree),
        ] {
            if w != g {
                writeln!(
                    failures,
                    "{name} on {engine} ({kernel:?} kernel): {what} differs:\n{}",
                    diff(w, g)
                )
                .unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Every program in the suite; `every_program_has_a_test` keeps it complete.
const PROGRAMS: [&str; 9] = [
    "cp", "env", "fmt", "fsops", "ls", "rename", "stat", "stdio", "time",
];

macro_rules! programs {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_program(stringify!($name));
            }
        )*
    };
}

programs!(cp, env, fmt, fsops, ls, rename, stat, stdio, time);

/// The filter does refuse what it should, and `wasirun info` says so.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_old_kernel_lacks_openat2_and_io_uring() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasirun"));
    refuse_new_syscalls(&mut command);
    let out = command.arg("info").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "openat2: not available (openat2: Function not implemented",
        "io_uring: not available (io_uring_setup: Operation not permitted",
        "guest paths: walked in user space",
        "guest I/O: plain system calls",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
}

#[test]
fn every_program_has_a_test() {
    let mut found = Vec::new();
    for entry in fs::read_dir(suite()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("c") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(
                path.with_extension("wasm").is_file(),
                "{name}.wasm is missing: run `cargo xtask build-guests conformance/libc`"
            );
            found.push(name);
        }
    }
    found.sort();
    assert_eq!(found, PROGRAMS, "conformance/libc programs vs PROGRAMS");
}

#[test]
fn json_reader() {
    let Json::Object(fields) =
        parse_json(r#" {"a": ["x\n\"y\"", "\u00e9"], "b": {"k": ""}, "n": -2, "t": true} "#)
    else {
        panic!("not an object")
    };
    assert_eq!(fields.len(), 4);
    assert_eq!(strings(&fields[0].1), ["x\n\"y\"", "é"]);
    assert!(matches!(&fields[2].1, Json::Number(n) if *n == -2.0));
    assert!(matches!(fields[3].1, Json::Bool(true)));
}
