//! `cargo xtask conformance`: runs test suites laid out as the official
//! [wasi-testsuite](https://github.com/WebAssembly/wasi-testsuite) lays them
//! out against `wasirun`, on each runtime.
//!
//! A suite is a directory with a `manifest.json` (`{"name": ..., "version":
//! "wasm32-wasip1"}`) and, for each test `NAME`, a `NAME.wasm` and an optional
//! `NAME.json` ([`TestSpec`]). Each test runs as a `wasirun` subprocess whose
//! working directory is the suite directory, with a timeout.

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The only suite version this host runs.
const VERSION: &str = "wasm32-wasip1";

/// Options of `cargo xtask conformance`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// A suite directory to run (repeatable; default: every suite under
    /// `conformance/`).
    #[arg(long = "suite", value_name = "DIR")]
    suites: Vec<PathBuf>,
    /// A runtime to run on (repeatable; default: wasmtime and wasmi).
    #[arg(long = "runtime", value_enum)]
    runtimes: Vec<Runtime>,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// The wasirun binary to test (default: the one `cargo test --workspace`
    /// builds, built with `cargo test --workspace --no-run`).
    #[arg(long, value_name = "PATH")]
    wasirun: Option<PathBuf>,
    /// Per-test timeout in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Only run tests whose name contains this string.
    #[arg(long)]
    filter: Option<String>,
}

/// A runtime `wasirun` can run a module on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// The wasmtime JIT.
    Wasmtime,
    /// The wasmi interpreter.
    Wasmi,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Wasmtime => "wasmtime",
            Runtime::Wasmi => "wasmi",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suite's `manifest.json`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The suite's name, used in reports.
    pub name: String,
    /// The target the suite is for; absent means `wasm32-wasip1`.
    #[serde(default)]
    pub version: Option<String>,
}

impl Manifest {
    /// Parses a manifest, rejecting suites for another target.
    pub fn parse(text: &str) -> Result<Self> {
        let manifest: Manifest = serde_json::from_str(text).context("invalid manifest.json")?;
        match manifest.version.as_deref() {
            None | Some(VERSION) => Ok(manifest),
            Some(other) => bail!("suite version {other:?} is not {VERSION:?}"),
        }
    }
}

/// A test's `NAME.json`; every field is optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TestSpec {
    /// Arguments after the module (the guest sees the module path as `argv[0]`).
    pub args: Vec<String>,
    /// Environment variables (nothing else is passed to the guest).
    pub env: BTreeMap<String, String>,
    /// Directories, relative to the suite directory, preopened under the
    /// same name.
    pub dirs: Vec<String>,
    /// A directory preopened as `/`.
    pub root: Option<String>,
    /// The expected exit code.
    pub exit_code: i32,
    /// The exact expected stdout, if pinned.
    pub stdout: Option<String>,
    /// The exact expected stderr, if pinned.
    pub stderr: Option<String>,
    /// Extra `wasirun` options placed before the module (an extension of
    /// the wasi-testsuite layout, e.g. `["--device", "zero.wasm"]`).
    pub wasirun_args: Vec<String>,
}

impl TestSpec {
    /// Parses a `NAME.json`.
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("invalid test json")
    }

    /// The `wasirun` arguments that run `module` with this spec on `runtime`.
    pub fn command_args(&self, runtime: Runtime, module: &str) -> Vec<String> {
        let mut args = vec!["--runtime".to_string(), runtime.name().to_string()];
        for dir in &self.dirs {
            args.push("--dir".into());
            args.push(format!("{dir}::{dir}"));
        }
        if let Some(root) = &self.root {
            args.push("--dir".into());
            args.push(format!("{root}::/"));
        }
        for (key, value) in &self.env {
            args.push("--env".into());
            args.push(format!("{key}={value}"));
        }
        args.extend(self.wasirun_args.iter().cloned());
        args.push(module.to_string());
        args.extend(self.args.iter().cloned());
        args
    }

    /// The directories whose `.cleanup` entries are removed around a run.
    fn preopens(&self) -> impl Iterator<Item = &str> {
        self.dirs
            .iter()
            .map(String::as_str)
            .chain(self.root.as_deref())
    }
}

/// How a test process ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The exit code, or `None` if killed by a signal or the timeout.
    pub code: Option<i32>,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// Whether the timeout expired.
    pub timed_out: bool,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Quotes the start of an output for a one-line reason.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        out.push('…');
    }
    format!("{out:?}")
}

/// The first non-empty stderr line, for context in a reason.
fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| line.chars().take(160).collect())
}

/// Compares an outcome with its spec: `Ok` if the test passed, else a
/// one-line reason.
pub fn judge(spec: &TestSpec, outcome: &Outcome) -> Result<(), String> {
    let context = || {
        first_line(&outcome.stderr)
            .map(|line| format!(" (stderr: {line})"))
            .unwrap_or_default()
    };
    if outcome.timed_out {
        return Err(format!("timed out{}", context()));
    }
    match outcome.code {
        None => {
            let signal = outcome
                .signal
                .map_or_else(|| "?".to_string(), |s| s.to_string());
            return Err(format!("killed by signal {signal}{}", context()));
        }
        Some(code) if code != spec.exit_code => {
            return Err(format!(
                "exit code {code}, want {}{}",
                spec.exit_code,
                context()
            ));
        }
        Some(_) => {}
    }
    if let Some(want) = &spec.stdout
        && outcome.stdout != want.as_bytes()
    {
        return Err(format!(
            "stdout {} != expected {}",
            excerpt(&outcome.stdout),
            excerpt(want.as_bytes())
        ));
    }
    if let Some(want) = &spec.stderr
        && outcome.stderr != want.as_bytes()
    {
        return Err(format!(
            "stderr {} != expected {}",
            excerpt(&outcome.stderr),
            excerpt(want.as_bytes())
        ));
    }
    Ok(())
}

/// Whether an entry named `name` is removed before and after each test.
pub fn is_cleanup(name: &str) -> bool {
    name.ends_with(".cleanup")
}

/// Removes every `.cleanup` entry under `dir` (symlinks are not followed).
pub fn cleanup(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if is_cleanup(&entry.file_name().to_string_lossy()) {
            if file_type.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            }
            .with_context(|| format!("removing {}", path.display()))?;
        } else if file_type.is_dir() {
            cleanup(&path)?;
        }
    }
    Ok(())
}

/// One test of a suite.
#[derive(Clone, Debug)]
pub struct TestCase {
    /// The test's name (its `.wasm` file without extension).
    pub name: String,
    /// Its spec (the default when there is no `NAME.json`).
    pub spec: TestSpec,
}

/// A suite: a directory, its manifest and its tests, sorted by name.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The suite directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its tests.
    pub tests: Vec<TestCase>,
}

impl Suite {
    /// Loads the suite in `dir`. Without a `manifest.json` (the official
    /// runner accepts that) the suite is named by its path.
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join("manifest.json");
        let manifest = if manifest_path.exists() {
            let text = fs::read_to_string(&manifest_path)
                .with_context(|| format!("reading {}", manifest_path.display()))?;
            Manifest::parse(&text).with_context(|| format!("in {}", manifest_path.display()))?
        } else {
            Manifest {
                name: dir.display().to_string(),
                version: None,
            }
        };
        let mut tests = Vec::new();
        for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wasm") || !path.is_file() {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let json = path.with_extension("json");
            let spec = if json.exists() {
                let text = fs::read_to_string(&json)
                    .with_context(|| format!("reading {}", json.display()))?;
                TestSpec::parse(&text).with_context(|| format!("in {}", json.display()))?
            } else {
                TestSpec::default()
            };
            tests.push(TestCase {
                name: name.to_string(),
                spec,
            });
        }
        tests.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            tests,
        })
    }
}

/// Every directory under `root` that holds a `manifest.json` (not looking
/// inside suites), sorted.
pub fn find_suites(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if root.join("manifest.json").is_file() {
        found.push(root.to_path_buf());
        return Ok(found);
    }
    for entry in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            found.extend(find_suites(&entry.path())?);
        }
    }
    found.sort();
    Ok(found)
}

/// The suites `--suite DIR` names: DIR itself if it holds a `manifest.json`,
/// else every suite beneath it (e.g. a checkout of the official suite, whose
/// suites for other targets, such as `wasm32-wasip3`, are skipped with a
/// message), else DIR alone as a suite without a manifest.
pub fn suites_at(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let found = find_suites(dir)?;
    if found.is_empty() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut suites = Vec::new();
    for suite in found {
        match other_target(&suite)? {
            Some(version) => eprintln!("skip {}: a {version} suite", suite.display()),
            None => suites.push(suite),
        }
    }
    Ok(suites)
}

/// The target a suite's manifest names, if it is not the one this host runs.
fn other_target(suite: &Path) -> Result<Option<String>> {
    let path = suite.join("manifest.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(manifest["version"]
        .as_str()
        .filter(|version| *version != VERSION)
        .map(str::to_owned))
}

/// The result of one test on one runtime, as written by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct TestResult {
    /// The suite's manifest name.
    pub suite: String,
    /// The runtime.
    pub runtime: Runtime,
    /// The test name.
    pub test: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed.
    pub reason: Option<String>,
    /// Wall-clock seconds.
    pub duration: f64,
}

fn exit_signal(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// Runs `program` (`wasirun`, in the suites) with `args` in `cwd`, killing
/// it after `timeout`.
pub fn execute(program: &Path, cwd: &Path, args: &[String], timeout: Duration) -> Result<Outcome> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {}", program.display()))?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Outcome {
        code: if timed_out { None } else { status.code() },
        signal: exit_signal(&status),
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs one test: cleanup, execute, cleanup, judge.
fn run_test(
    wasirun: &Path,
    suite: &Suite,
    test: &TestCase,
    runtime: Runtime,
    timeout: Duration,
) -> Result<Result<(), String>> {
    for dir in test.spec.preopens() {
        cleanup(&suite.dir.join(dir))?;
    }
    let module = format!("{}.wasm", test.name);
    let args = test.spec.command_args(runtime, &module);
    let outcome = execute(wasirun, &suite.dir, &args, timeout);
    for dir in test.spec.preopens() {
        cleanup(&suite.dir.join(dir))?;
    }
    Ok(judge(&test.spec, &outcome?))
}

/// Formats the summary table: one row per suite and runtime, then the failures.
pub fn summary(results: &[TestResult]) -> String {
    let mut rows: BTreeMap<(&str, Runtime), (usize, Vec<&TestResult>)> = BTreeMap::new();
    for result in results {
        let row = rows.entry((&result.suite, result.runtime)).or_default();
        if result.passed {
            row.0 += 1;
        } else {
            row.1.push(result);
        }
    }
    let width = rows.keys().map(|(s, _)| s.len()).max().unwrap_or(5).max(5);
    let mut out = format!(
        "{:width$}  {:8}  {:>6}  {:>6}\n",
        "suite", "runtime", "passed", "failed"
    );
    for ((suite, runtime), (passed, failed)) in &rows {
        out += &format!(
            "{suite:width$}  {:8}  {passed:>6}  {:>6}\n",
            runtime.name(),
            failed.len()
        );
        for failure in failed {
            out += &format!(
                "    FAIL {}: {}\n",
                failure.test,
                failure.reason.as_deref().unwrap_or("")
            );
        }
    }
    out
}

/// Runs the suites; returns whether every test passed.
pub fn run(options: &Options) -> Result<bool> {
    let root = crate::workspace_root();
    let wasirun = match &options.wasirun {
        Some(path) => {
            fs::canonicalize(path).with_context(|| format!("wasirun binary {}", path.display()))?
        }
        None => crate::build::test_build(&["wasirun"])?.remove(0),
    };
    let suite_dirs = if options.suites.is_empty() {
        find_suites(&root.join("conformance"))?
    } else {
        options
            .suites
            .iter()
            .map(|dir| {
                let dir =
                    fs::canonicalize(dir).with_context(|| format!("suite {}", dir.display()))?;
                suites_at(&dir)
            })
            .collect::<Result<Vec<_>>>()?
            .concat()
    };
    let mut runtimes = if options.runtimes.is_empty() {
        vec![Runtime::Wasmtime, Runtime::Wasmi]
    } else {
        options.runtimes.clone()
    };
    runtimes.dedup();
    let timeout = Duration::from_secs(options.timeout);

    let mut results = Vec::new();
    // Tests of a suite share its directories, so everything runs
    // sequentially: simple, and correct.
    for dir in &suite_dirs {
        let suite = Suite::load(dir)?;
        for &runtime in &runtimes {
            for test in &suite.tests {
                if let Some(filter) = &options.filter
                    && !test.name.contains(filter.as_str())
                {
                    continue;
                }
                let start = Instant::now();
                let verdict = run_test(&wasirun, &suite, test, runtime, timeout)
                    .with_context(|| format!("running {} on {runtime}", test.name))?;
                let duration = start.elapsed().as_secs_f64();
                let mark = if verdict.is_ok() { "ok" } else { "FAIL" };
                eprintln!(
                    "{mark:4} {}/{} [{runtime}] {duration:.2}s",
                    suite.manifest.name, test.name
                );
                results.push(TestResult {
                    suite: suite.manifest.name.clone(),
                    runtime,
                    test: test.name.clone(),
                    passed: verdict.is_ok(),
                    reason: verdict.err(),
                    duration,
                });
            }
        }
    }

    print!("{}", summary(&results));
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&results)?;
        fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_version_is_optional_but_checked() {
        let m = Manifest::parse(r#"{"name": "wasi p1", "version": "wasm32-wasip1"}"#).unwrap();
        assert_eq!(m.name, "wasi p1");
        assert_eq!(m.version.as_deref(), Some("wasm32-wasip1"));
        let m = Manifest::parse(r#"{"name": "old"}"#).unwrap();
        assert_eq!(m.version, None);
        assert!(Manifest::parse(r#"{"name": "p3", "version": "wasm32-wasip3"}"#).is_err());
        assert!(Manifest::parse(r#"{"version": "wasm32-wasip1"}"#).is_err());
        assert!(Manifest::parse("not json").is_err());
    }

    #[test]
    fn test_spec_defaults_and_fields() {
        assert_eq!(TestSpec::parse("{}").unwrap(), TestSpec::default());
        let spec = TestSpec::parse(
            r#"{"args": ["a", "b c"], "env": {"Z": "1", "A": "x=y"}, "dirs": ["fs-tests.dir"],
                "root": "root.dir", "exit_code": 3, "stdout": "hi\n", "stderr": "",
                "wasirun_args": ["--device", "d.wasm"],
                "unknown_field": true}"#,
        )
        .unwrap();
        assert_eq!(spec.args, ["a", "b c"]);
        assert_eq!(spec.exit_code, 3);
        assert_eq!(spec.stdout.as_deref(), Some("hi\n"));
        assert_eq!(spec.stderr.as_deref(), Some(""));
        assert_eq!(
            spec.command_args(Runtime::Wasmi, "t.wasm"),
            [
                "--runtime",
                "wasmi",
                "--dir",
                "fs-tests.dir::fs-tests.dir",
                "--dir",
                "root.dir::/",
                "--env",
                "A=x=y",
                "--env",
                "Z=1",
                "--device",
                "d.wasm",
                "t.wasm",
                "a",
                "b c",
            ]
        );
        assert_eq!(
            spec.preopens().collect::<Vec<_>>(),
            ["fs-tests.dir", "root.dir"]
        );
        assert!(TestSpec::parse(r#"{"args": "a"}"#).is_err());
        assert!(TestSpec::parse(r#"{"exit_code": "1"}"#).is_err());
    }

    fn exited(code: i32, stdout: &str, stderr: &str) -> Outcome {
        Outcome {
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            ..Outcome::default()
        }
    }

    #[test]
    fn judging_outcomes() {
        let any = TestSpec::default();
        assert_eq!(judge(&any, &exited(0, "whatever", "noise")), Ok(()));
        let err = judge(&any, &exited(1, "", "\nFAIL x: got 8 want 0\nmore")).unwrap_err();
        assert_eq!(err, "exit code 1, want 0 (stderr: FAIL x: got 8 want 0)");

        let pinned = TestSpec {
            exit_code: 7,
            stdout: Some("ok\n".into()),
            stderr: Some(String::new()),
            ..TestSpec::default()
        };
        assert_eq!(judge(&pinned, &exited(7, "ok\n", "")), Ok(()));
        assert_eq!(
            judge(&pinned, &exited(7, "ok", "")).unwrap_err(),
            r#"stdout "ok" != expected "ok\n""#
        );
        assert!(
            judge(&pinned, &exited(7, "ok\n", "warning"))
                .unwrap_err()
                .starts_with("stderr")
        );
        let killed = Outcome {
            signal: Some(9),
            ..Outcome::default()
        };
        assert_eq!(judge(&pinned, &killed).unwrap_err(), "killed by signal 9");
        let slow = Outcome {
            timed_out: true,
            signal: Some(9),
            ..Outcome::default()
        };
        assert_eq!(judge(&pinned, &slow).unwrap_err(), "timed out");
    }

    #[test]
    fn cleanup_removes_only_cleanup_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("sub/dir.cleanup/inner")).unwrap();
        fs::write(d.join("sub/dir.cleanup/inner/f"), "").unwrap();
        fs::write(d.join("keep.txt"), "").unwrap();
        fs::write(d.join("file.cleanup"), "").unwrap();
        fs::write(d.join("sub/x.cleanup"), "").unwrap();
        std::os::unix::fs::symlink("/nonexistent", d.join("dangling.cleanup")).unwrap();
        std::os::unix::fs::symlink("sub", d.join("link-to-dir.cleanup")).unwrap();
        cleanup(d).unwrap();
        let mut left: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["keep.txt", "sub"]);
        assert_eq!(fs::read_dir(d.join("sub")).unwrap().count(), 0);
        assert!(is_cleanup("a.cleanup") && !is_cleanup("a.cleanup.txt"));
        // A missing directory is nothing to clean.
        cleanup(&d.join("missing")).unwrap();
    }

    #[test]
    fn suites_are_discovered_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let suite = dir.path().join("nested/s1");
        fs::create_dir_all(suite.join("fs-tests.dir")).unwrap();
        fs::write(suite.join("manifest.json"), r#"{"name": "s1"}"#).unwrap();
        fs::write(suite.join("b.wasm"), "").unwrap();
        fs::write(suite.join("a.wasm"), "").unwrap();
        fs::write(suite.join("a.json"), r#"{"exit_code": 2}"#).unwrap();
        fs::write(suite.join("a.wat"), "").unwrap();
        fs::create_dir_all(dir.path().join("other")).unwrap();
        assert_eq!(find_suites(dir.path()).unwrap(), vec![suite.clone()]);
        let loaded = Suite::load(&suite).unwrap();
        assert_eq!(loaded.manifest.name, "s1");
        let names: Vec<_> = loaded.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(loaded.tests[0].spec.exit_code, 2);
        assert_eq!(loaded.tests[1].spec, TestSpec::default());
    }

    #[test]
    fn summary_lists_failures_per_suite_and_runtime() {
        let result = |runtime, test: &str, reason: Option<&str>| TestResult {
            suite: "preview1".into(),
            runtime,
            test: test.into(),
            passed: reason.is_none(),
            reason: reason.map(String::from),
            duration: 0.5,
        };
        let results = [
            result(Runtime::Wasmtime, "a", None),
            result(Runtime::Wasmtime, "b", None),
            result(Runtime::Wasmi, "a", None),
            result(Runtime::Wasmi, "b", Some("exit code 1, want 0")),
        ];
        let table = summary(&results);
        assert_eq!(
            table,
            "suite     runtime   passed  failed\n\
             preview1  wasmtime       2       0\n\
             preview1  wasmi          1       1\n    \
             FAIL b: exit code 1, want 0\n"
        );
        let json = serde_json::to_value(&results[3]).unwrap();
        assert_eq!(json["runtime"], "wasmi");
        assert_eq!(json["passed"], false);
    }

    #[test]
    fn suite_option_recurses_and_accepts_manifestless_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        for sub in [
            "tests/c/testsuite/wasm32-wasip1",
            "tests/rust/testsuite/wasm32-wasip1",
        ] {
            fs::create_dir_all(top.join(sub)).unwrap();
            fs::write(top.join(sub).join("manifest.json"), r#"{"name": "x"}"#).unwrap();
        }
        assert_eq!(
            suites_at(&top.join("tests")).unwrap(),
            [
                top.join("tests/c/testsuite/wasm32-wasip1"),
                top.join("tests/rust/testsuite/wasm32-wasip1")
            ]
        );
        let c = top.join("tests/c/testsuite/wasm32-wasip1");
        assert_eq!(suites_at(&c).unwrap(), std::slice::from_ref(&c));
        let bare = top.join("bare");
        fs::create_dir_all(&bare).unwrap();
        fs::write(bare.join("t.wasm"), "").unwrap();
        assert_eq!(suites_at(&bare).unwrap(), std::slice::from_ref(&bare));
        let suite = Suite::load(&bare).unwrap();
        assert_eq!(suite.manifest.name, bare.display().to_string());
        assert_eq!(suite.tests.len(), 1);
    }

    #[test]
    fn other_targets_are_skipped_when_recursing_only() {
        let dir = tempfile::tempdir().unwrap();
        let tests = dir.path().join("tests");
        for (sub, version) in [("p1", "wasm32-wasip1"), ("p3", "wasm32-wasip3")] {
            fs::create_dir_all(tests.join(sub)).unwrap();
            let manifest = format!(r#"{{"name": "{sub}", "version": "{version}"}}"#);
            fs::write(tests.join(sub).join("manifest.json"), manifest).unwrap();
        }
        assert_eq!(suites_at(&tests).unwrap(), [tests.join("p1")]);
        // Named directly, a suite for another target is an error when loaded.
        let p3 = tests.join("p3");
        assert_eq!(suites_at(&p3).unwrap(), std::slice::from_ref(&p3));
        assert!(Suite::load(&p3).is_err());
    }
}
