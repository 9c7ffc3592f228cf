//! `wasirun serve --manifest FILE`: several modules on one server, read
//! from a TOML file in the format of WAGI's `modules.toml`, extended with
//! our kinds and limits (`spec/wasi-cloud.md`, "Several modules").

use crate::routes::Route;
use crate::syntax::parse_bytes;
use crate::{Module, RunOptions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A manifest that cannot be used: the file, the line (when the error has
/// one) and why, shown on one line as `FILE:LINE: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest's path.
    pub file: PathBuf,
    /// The line the error is on, from 1.
    pub line: Option<usize>,
    /// Why, on one line.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// How a module of a manifest serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    /// A WAGI (CGI) module, a fresh instance per request (`--wagi`): the
    /// default, so that WAGI's own files run unchanged.
    Wagi,
    /// A function, a fresh instance per request, through the `/request` and
    /// `/response` files.
    Function,
    /// This many long-lived function instances (`--daemon N`).
    Daemons(usize),
    /// No route: one instance beside the server, restarted when it ends
    /// (`--background`).
    Background,
}

/// One `[[module]]` of a manifest, checked, its paths resolved and its
/// module read.
#[derive(Clone, Debug)]
pub struct ManifestModule {
    /// The route it serves; `None` for a background module.
    pub route: Option<Route>,
    /// How it serves.
    pub kind: ModuleKind,
    /// The module, read.
    pub module: Module,
    /// The line of its `[[module]]` table.
    pub line: usize,
    /// At most this many of its instances run at once.
    pub max_concurrency: Option<usize>,
    /// Host directory and guest path of each volume, by guest path.
    volumes: Vec<(PathBuf, String)>,
    environment: Vec<(String, String)>,
    args: Vec<String>,
    max_memory: Option<u64>,
    fuel: Option<u64>,
    timeout: Option<Duration>,
    kv: bool,
}

impl ManifestModule {
    /// The module's file name, naming it in logs.
    pub fn name(&self) -> String {
        self.module.path().file_name().map_or_else(
            || self.module.path().display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// The module's options: `base` (the command line's), with its volumes,
    /// variables and arguments added, its limits in place of `base`'s, and
    /// the key-value store unless it opted out.
    pub fn options(&self, base: &RunOptions) -> RunOptions {
        let mut options = base.clone();
        for (host, guest) in &self.volumes {
            options.dir(host, guest.as_str());
        }
        for (key, value) in &self.environment {
            options.env(key, value);
        }
        options.args(&self.args);
        if let Some(bytes) = self.max_memory {
            options.max_memory(Some(bytes));
        }
        if let Some(fuel) = self.fuel {
            options.fuel(Some(fuel));
        }
        if let Some(timeout) = self.timeout {
            options.timeout(Some(timeout));
        }
        if !self.kv {
            options.kv(None);
        }
        options
    }
}

/// A manifest: the modules `wasirun serve --manifest` serves, in the
/// file's order, and warnings about what of WAGI's it ignores.
#[derive(Clone, Debug)]
pub struct Manifest {
    path: PathBuf,
    modules: Vec<ManifestModule>,
    warnings: Vec<String>,
}

impl Manifest {
    /// Reads, checks and resolves the manifest at `path`, and reads its
    /// modules.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ManifestError {
            file: path.to_owned(),
            line: None,
            message: format!("cannot read: {error}"),
        })?;
        Self::parse(&text, path)
    }

    /// Checks and resolves `text`, the manifest at `path` (relative paths
    /// in it are resolved against `path`'s directory), and reads its
    /// modules.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let error = |span: Option<Range<usize>>, message: String| ManifestError {
            file: path.to_owned(),
            line: span.map(|span| line_of(text, span.start)),
            message,
        };
        let file: File =
            toml::from_str(text).map_err(|e| error(e.span(), one_line(e.message())))?;
        if file.module.is_empty() {
            return Err(error(None, "no [[module]] in the manifest".into()));
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut manifest = Self {
            path: path.to_owned(),
            modules: Vec::new(),
            warnings: Vec::new(),
        };
        for entry in file.module {
            let line = line_of(text, entry.span().start);
            let entry = entry.into_inner();
            let at = |span: Range<usize>, message: String| error(Some(span), message);
            let module = manifest.module(entry, line, dir, &at)?;
            if let Some(route) = &module.route
                && let Some(other) = manifest
                    .modules
                    .iter()
                    .find(|other| other.route.as_ref() == Some(route))
            {
                return Err(error(
                    Some(line_start(text, module.line)),
                    format!("route {route} is also line {}'s", other.line),
                ));
            }
            manifest.modules.push(module);
        }
        Ok(manifest)
    }

    /// The manifest's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its modules, in the file's order.
    pub fn modules(&self) -> &[ManifestModule] {
        &self.modules
    }

    /// What of WAGI's the manifest asks for and this host ignores, one line
    /// each (`FILE:LINE: ...`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Checks `entry`, the `[[module]]` at `line`.
    fn module(
        &mut self,
        entry: Entry,
        line: usize,
        dir: &Path,
        at: &dyn Fn(Range<usize>, String) -> ManifestError,
    ) -> Result<ManifestModule, ManifestError> {
        let route = match &entry.route {
            Some(route) => Some(
                route
                    .get_ref()
                    .parse::<Route>()
                    .map_err(|why| at(route.span(), why))?,
            ),
            None => None,
        };
        let kind = match (&entry.kind, &route) {
            (Some(kind), None) => {
                return Err(at(
                    kind.span(),
                    "`kind` needs a `route` (a module without one is a background daemon)".into(),
                ));
            }
            (None, None) => ModuleKind::Background,
            (None, Some(_)) => ModuleKind::Wagi,
            (Some(kind), Some(_)) => match kind.get_ref().as_str() {
                "wagi" => ModuleKind::Wagi,
                "function" => ModuleKind::Function,
                other => {
                    return Err(at(
                        kind.span(),
                        format!("unknown kind `{other}` (expected \"wagi\" or \"function\")"),
                    ));
                }
            },
        };
        let kind = match (&entry.daemon, kind) {
            (None, kind) => kind,
            (Some(n), ModuleKind::Function) if *n.get_ref() > 0 => {
                ModuleKind::Daemons(*n.get_ref())
            }
            (Some(n), ModuleKind::Function) => {
                return Err(at(n.span(), "`daemon` must be at least 1".into()));
            }
            (Some(n), _) => {
                return Err(at(n.span(), "`daemon` needs kind = \"function\"".into()));
            }
        };
        if let (Some(args), ModuleKind::Wagi) = (&entry.args, kind) {
            return Err(at(
                args.span(),
                "`args` does not apply to a WAGI module (its arguments are the query)".into(),
            ));
        }
        if let Some(n) = &entry.max_concurrency {
            if matches!(kind, ModuleKind::Daemons(_) | ModuleKind::Background) {
                return Err(at(
                    n.span(),
                    "`max_concurrency` applies to instances per request (not with `daemon`, nor without `route`)".into(),
                ));
            }
            if *n.get_ref() == 0 {
                return Err(at(n.span(), "`max_concurrency` must be at least 1".into()));
            }
        }
        if let (Some(timeout), ModuleKind::Daemons(_) | ModuleKind::Background) =
            (&entry.timeout, kind)
        {
            return Err(at(
                timeout.span(),
                "`timeout` applies to instances per request (not with `daemon`, nor without `route`)".into(),
            ));
        }
        if let Some(entrypoint) = &entry.entrypoint
            && entrypoint.get_ref() != "_start"
        {
            return Err(at(
                entrypoint.span(),
                format!(
                    "entrypoint `{}`: only `_start` is supported (every module runs as a command)",
                    entrypoint.get_ref()
                ),
            ));
        }
        if let Some(server) = &entry.bindle_server {
            return Err(at(
                server.span(),
                "`bindle_server`: bindles are not supported; `module` must be a file".into(),
            ));
        }
        for (key, given) in [
            ("allowed_hosts", entry.allowed_hosts.is_some()),
            ("http_max_concurrency", entry.http_max_concurrency.is_some()),
        ] {
            if given {
                self.warnings.push(format!(
                    "{}:{line}: `{key}` ignored: this host offers no outbound HTTP",
                    self.path.display()
                ));
            }
        }
        let module_path = entry.module.get_ref();
        let file = module_path.strip_prefix("file://").unwrap_or(module_path);
        if file.contains("://") || file.starts_with("bindle:") || file.starts_with("oci:") {
            return Err(at(
                entry.module.span(),
                format!("module `{module_path}`: only files are supported"),
            ));
        }
        let module = Module::from_file(dir.join(file)).map_err(|error| {
            at(
                entry.module.span(),
                format!("module {file}: {}", chain(&error)),
            )
        })?;
        let max_memory = match &entry.max_memory {
            Some(bytes) => Some(match bytes.get_ref() {
                Bytes::Count(n) => *n,
                Bytes::Text(text) => parse_bytes(text)
                    .map_err(|why| at(bytes.span(), format!("max_memory: {why}")))?,
            }),
            None => None,
        };
        let timeout = match &entry.timeout {
            Some(text) => Some(
                humantime::parse_duration(text.get_ref())
                    .map_err(|why| at(text.span(), format!("timeout: {why}")))?,
            ),
            None => None,
        };
        Ok(ManifestModule {
            route,
            kind,
            module,
            line,
            max_concurrency: entry.max_concurrency.map(Spanned::into_inner),
            volumes: entry
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|(guest, host)| (dir.join(host), guest))
                .collect(),
            environment: entry.environment.unwrap_or_default().into_iter().collect(),
            args: entry.args.map(Spanned::into_inner).unwrap_or_default(),
            max_memory,
            fuel: entry.fuel,
            timeout,
            kv: entry.kv.unwrap_or(true),
        })
    }
}

/// The file: `[[module]]` tables, nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    module: Vec<Spanned<Entry>>,
}

/// A `[[module]]` table, as written: WAGI's keys, then ours.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    module: Spanned<String>,
    route: Option<Spanned<String>>,
    entrypoint: Option<Spanned<String>>,
    bindle_server: Option<Spanned<String>>,
    volumes: Option<BTreeMap<String, String>>,
    environment: Option<BTreeMap<String, String>>,
    allowed_hosts: Option<Vec<String>>,
    http_max_concurrency: Option<u32>,
    kind: Option<Spanned<String>>,
    daemon: Option<Spanned<usize>>,
    args: Option<Spanned<Vec<String>>>,
    max_memory: Option<Spanned<Bytes>>,
    fuel: Option<u64>,
    timeout: Option<Spanned<String>>,
    max_concurrency: Option<Spanned<usize>>,
    kv: Option<bool>,
}

/// A byte count: a number, or a string with a unit (`"64M"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Bytes {
    Count(u64),
    Text(String),
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The span of line `line`'s first byte.
fn line_start(text: &str, line: usize) -> Range<usize> {
    let start = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum::<usize>();
    start..start
}

/// `message` on one line.
fn one_line(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

/// `error` and its sources, as `anyhow` shows them with `{:#}`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    one_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = "(module (memory (export \"memory\") 1) (func (export \"_start\")))";

    /// A directory with `a.wat`, `b.wat` and the manifest `text`.
    fn parse(text: &str) -> (tempfile::TempDir, Result<Manifest, ManifestError>) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.wat", "b.wat"] {
            std::fs::write(dir.path().join(name), WAT).unwrap();
        }
        let path = dir.path().join("modules.toml");
        std::fs::write(&path, text).unwrap();
        let manifest = Manifest::from_file(&path);
        (dir, manifest)
    }

    /// The error of `text`, without the file's name.
    fn error(text: &str) -> String {
        let (dir, manifest) = parse(text);
        let error = manifest.unwrap_err().to_string();
        let file = format!("{}", dir.path().join("modules.toml").display());
        error.strip_prefix(&file).unwrap().to_owned()
    }

    #[test]
    fn wagi_keys_and_ours_are_read() {
        let (dir, manifest) = parse(
            r#"
[[module]]
route = "/hello"
module = "a.wat"
volumes = { "/data" = "data" }
environment = { MODE = "test" }
allowed_hosts = ["https://example.com"]

[[module]]
route = "/api/..."
module = "file://b.wat"
kind = "function"
max_concurrency = 4
max_memory = "64M"
timeout = "5s"

[[module]]
route = "/d"
module = "b.wat"
kind = "function"
daemon = 2

[[module]]
module = "b.wat"
args = ["--tick"]
kv = false
"#,
        );
        let manifest = manifest.map_err(|e| e.to_string()).unwrap();
        let modules = manifest.modules();
        assert_eq!(modules.len(), 4);
        assert_eq!(modules[0].kind, ModuleKind::Wagi);
        assert_eq!(modules[0].line, 2);
        assert_eq!(
            modules[0].volumes,
            [(dir.path().join("data"), "/data".into())]
        );
        assert_eq!(modules[1].kind, ModuleKind::Function);
        assert_eq!(modules[1].max_concurrency, Some(4));
        assert_eq!(modules[2].kind, ModuleKind::Daemons(2));
        assert_eq!(modules[1].max_memory, Some(64 << 20));
        assert_eq!(modules[1].timeout, Some(Duration::from_secs(5)));
        assert_eq!(modules[3].kind, ModuleKind::Background);
        assert!(!modules[3].kv);
        assert_eq!(modules[3].name(), "b.wat");
        assert_eq!(manifest.warnings().len(), 1);
        assert!(
            manifest.warnings()[0]
                .ends_with(":2: `allowed_hosts` ignored: this host offers no outbound HTTP")
        );
    }

    #[test]
    fn bad_manifests_are_one_line_errors_naming_the_line() {
        assert_eq!(
            error("[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\nrout = \"/b\"\n"),
            ":4: unknown field `rout`, expected one of `module`, `route`, `entrypoint`, `bindle_server`, `volumes`, `environment`, `allowed_hosts`, `http_max_concurrency`, `kind`, `daemon`, `args`, `max_memory`, `fuel`, `timeout`, `max_concurrency`, `kv`"
        );
        assert_eq!(
            error(
                "[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\n\n[[module]]\nroute = \"/a\"\nmodule = \"b.wat\"\n"
            ),
            ":5: route /a is also line 1's"
        );
        let missing = error("[[module]]\nroute = \"/a\"\nmodule = \"gone.wasm\"\n");
        assert!(
            missing.starts_with(":3: module gone.wasm: cannot read "),
            "{missing}"
        );
        assert!(!missing.contains('\n'), "{missing}");
        assert_eq!(
            error("[[module]]\nroute = \"a\"\nmodule = \"a.wat\"\n"),
            ":2: route `a` must start with /"
        );
        assert_eq!(
            error("[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\ndaemon = 2\n"),
            ":4: `daemon` needs kind = \"function\""
        );
        assert_eq!(
            error("[[module]]\nmodule = \"a.wat\"\ntimeout = \"1s\"\n"),
            ":3: `timeout` applies to instances per request (not with `daemon`, nor without `route`)"
        );
        assert_eq!(
            error("port = 80\n"),
            ":1: unknown field `port`, expected `module`"
        );
        assert_eq!(error(""), ": no [[module]] in the manifest");
        assert_eq!(
            error("[[module]]\nroute = \"/a\"\nmodule = \"a.wat\"\nentrypoint = \"main\"\n"),
            ":4: entrypoint `main`: only `_start` is supported (every module runs as a command)"
        );
    }
}
