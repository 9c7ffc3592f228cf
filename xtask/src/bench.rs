//! `cargo xtask bench [-- CRITERION ARGS]`: runs the preview 1 benchmarks
//! (`cargo bench -p benches`), then turns criterion's estimates into
//! `target/bench-report/report.md` (a table: scenarios by hosts, with each
//! host's ratio to native and whether the performance targets hold) and
//! `target/bench-report/report.svg` (the ratios as a grouped bar chart).
//! The WADI rows (64 KiB reads of a driver's `/dev/zero`, and of a host file
//! of that size) have no native cell: the report gives the device's
//! throughput as a fraction of the file's, per engine.
//!
//! Every cell is criterion's median estimate of one iteration, which is more
//! robust than the mean on a shared, noisy machine.

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Do not run the benchmarks: only write the report from the estimates
    /// criterion already has.
    #[arg(long)]
    report_only: bool,
    /// Passed to criterion: a filter such as `fd_write` or `/native`,
    /// `--quick`, `--measurement-time 2`, ...
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The hosts, in column order; `native` is the baseline.
const HOSTS: [&str; 5] = [
    "ours/wasmtime",
    "ours/wasmi",
    "wasmtime-wasi",
    "wasmi_wasi",
    "native",
];
const NATIVE: &str = "native";

/// Our host on wasmtime with each I/O backend forced, beside `ours/wasmtime`
/// (the default, `auto`) and native: the "I/O backends" table.
const IO_COLUMNS: [(&str, &str); 4] = [
    ("ours/wasmtime+sync", "sync"),
    ("ours/wasmtime+uring", "uring"),
    ("ours/wasmtime", "auto"),
    (NATIVE, "native"),
];

/// The scenarios in the bench's order; others found are listed after them.
const SCENARIOS: [&str; 12] = [
    "fd_write_1B",
    "clock_time_get",
    "random_get_32B",
    "path_open_fd_close",
    "path_open_nested_fd_close",
    "path_filestat_get",
    "fd_read_64KiB_of_1GiB",
    "fd_readdir_10k",
    "poll_oneoff_1001_sockets",
    "tcp_echo_64B",
    WADI_DEVICE,
    WADI_HOST_FILE,
];

/// 64 KiB reads of `/dev/zero` served by the `zero` WADI driver, and the
/// same reads of a 64 KiB host file: their ratio is a target.
const WADI_DEVICE: &str = "fd_read_64KiB_wadi_dev_zero";
const WADI_HOST_FILE: &str = "fd_read_64KiB_host_file";
/// The hosts that run the WADI rows (app and driver on the same engine).
const WADI_HOSTS: [&str; 2] = ["ours/wasmtime", "ours/wasmi"];
/// Device throughput at least this fraction of the host file's.
const WADI_TARGET: f64 = 0.5;
const WADI_OURS_ONLY: &str = "WADI devices are served by our host only; the host-file row is \
     their baseline, run on the same hosts";

/// Cells a host cannot run, and why (the bench skips them with the same
/// reason).
const NOT_AVAILABLE: [(&str, &str, &str); 8] = [
    (
        "poll_oneoff_1001_sockets",
        "wasmtime-wasi",
        WASMTIME_WASI_NO_SOCKETS,
    ),
    ("tcp_echo_64B", "wasmtime-wasi", WASMTIME_WASI_NO_SOCKETS),
    (WADI_DEVICE, "wasmtime-wasi", WADI_OURS_ONLY),
    (WADI_DEVICE, "wasmi_wasi", WADI_OURS_ONLY),
    (WADI_DEVICE, NATIVE, WADI_OURS_ONLY),
    (WADI_HOST_FILE, "wasmtime-wasi", WADI_OURS_ONLY),
    (WADI_HOST_FILE, "wasmi_wasi", WADI_OURS_ONLY),
    (WADI_HOST_FILE, NATIVE, WADI_OURS_ONLY),
];
/// Cells measured although the host does not do quite the same work, and
/// how (the bench prints the same).
const CAVEATS: [(&str, &str, &str); 1] = [(
    "poll_oneoff_1001_sockets",
    "wasmi_wasi",
    "wasi-common reports every subscription as ready (1,001 events, not 1) as soon as one is: \
     it completes all of them after poll(2) returns",
)];
const WASMTIME_WASI_NO_SOCKETS: &str = "wasmtime-wasi's preview 1 host cannot be given a socket \
     (its WasiCtxBuilder preopens only directories) and its sock_send/sock_recv return ENOTSOCK";

/// How a target compares a host with native.
#[derive(Clone, Copy, Debug)]
enum Bound {
    /// Time per call at most this many times native's.
    TimeAtMost(f64),
    /// Throughput at least this fraction of native's.
    ThroughputAtLeast(f64),
}

/// The targets of `ours/wasmtime` against native.
const TARGETS: [(&str, Bound); 4] = [
    ("fd_write_1B", Bound::TimeAtMost(1.25)),
    ("clock_time_get", Bound::TimeAtMost(2.0)),
    ("path_open_fd_close", Bound::TimeAtMost(1.25)),
    ("fd_read_64KiB_of_1GiB", Bound::ThroughputAtLeast(0.9)),
];

/// Runs the benchmarks, then writes the report.
pub fn run(root: &Path, options: &Options) -> Result<bool> {
    if !options.report_only {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["bench", "-p", "benches", "--bench", "preview1", "--"])
            .args(&options.args)
            .status()
            .context("running cargo bench")?;
        if !status.success() {
            bail!("cargo bench failed ({status})");
        }
    }
    let target = target_dir(root);
    let results = Results::load(&target.join("criterion"))?;
    if results.cells.is_empty() {
        bail!(
            "no estimates under {}: run the benchmarks first",
            target.join("criterion").display()
        );
    }
    let out = target.join("bench-report");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let markdown = results.markdown(&Machine::this());
    fs::write(out.join("report.md"), &markdown)?;
    results.chart(&out.join("report.svg"))?;
    println!("{markdown}");
    println!(
        "wrote {} and {}",
        out.join("report.md").display(),
        out.join("report.svg").display()
    );
    Ok(true)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` or `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// One measured cell.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Estimate {
    /// Median time of one iteration, in nanoseconds.
    ns: f64,
    /// Bytes moved per iteration, when the scenario reports throughput.
    bytes: Option<u64>,
}

impl Estimate {
    /// Bytes per nanosecond, that is GB/s.
    fn gb_per_s(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / self.ns)
    }
}

/// The machine the benchmarks ran on.
#[derive(Clone, Debug, PartialEq)]
struct Machine {
    cpus: usize,
    cpu: String,
    kernel: String,
}

impl Machine {
    fn this() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// Every `SCENARIO/HOST` estimate found.
#[derive(Debug, Default)]
struct Results {
    cells: BTreeMap<(String, String), Estimate>,
}

impl Results {
    /// Reads every `*/new/benchmark.json` + `estimates.json` under
    /// criterion's directory whose function is one of [`HOSTS`].
    fn load(criterion: &Path) -> Result<Self> {
        let mut results = Results::default();
        let mut stack = vec![criterion.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                if path.file_name().is_some_and(|name| name == "new") {
                    if let Some((key, estimate)) = read_estimate(&path)? {
                        results.cells.insert(key, estimate);
                    }
                } else {
                    stack.push(path);
                }
            }
        }
        Ok(results)
    }

    fn get(&self, scenario: &str, host: &str) -> Option<Estimate> {
        self.cells
            .get(&(scenario.to_string(), host.to_string()))
            .copied()
    }

    /// The scenarios measured, in the bench's order.
    fn scenarios(&self) -> Vec<String> {
        let mut found: Vec<String> = self.cells.keys().map(|(s, _)| s.clone()).collect();
        found.dedup();
        let rank = |s: &String| SCENARIOS.iter().position(|k| k == s).unwrap_or(usize::MAX);
        found.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        found
    }

    /// How many times native's time `host` takes (for a throughput scenario
    /// too: native throughput over the host's).
    fn time_ratio(&self, scenario: &str, host: &str) -> Option<f64> {
        Some(self.get(scenario, host)?.ns / self.get(scenario, NATIVE)?.ns)
    }

    /// The WADI device's throughput as a fraction of the host file's on
    /// `host` (the same bytes per read, so the file's time over the
    /// device's).
    fn device_ratio(&self, host: &str) -> Option<f64> {
        let device = self.get(WADI_DEVICE, host)?.gb_per_s()?;
        let file = self.get(WADI_HOST_FILE, host)?.gb_per_s()?;
        Some(device / file)
    }

    fn markdown(&self, machine: &Machine) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Preview 1 benchmarks\n");
        let _ = writeln!(
            md,
            "Machine: {} CPUs ({}), Linux {}. Median of criterion's samples; \
             a cell is the time of one call (or the throughput of 64 KiB reads), \
             then in parentheses the ratio to native: time over native's time, or for \
             throughput the fraction of native's throughput.\n",
            machine.cpus, machine.cpu, machine.kernel
        );
        let _ = writeln!(md, "| scenario | {} |", HOSTS.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(HOSTS.len()));
        let mut notes: Vec<&str> = Vec::new();
        for scenario in self.scenarios() {
            let mut row = format!("| {scenario} |");
            for host in HOSTS {
                let mut note = |text: &'static str| {
                    if !notes.contains(&text) {
                        notes.push(text);
                    }
                    notes.iter().position(|n| *n == text).unwrap_or_default() + 1
                };
                let cell = match self.get(&scenario, host) {
                    Some(estimate) => {
                        let cell = self.cell(&scenario, host, estimate);
                        match find_note(&CAVEATS, &scenario, host) {
                            Some(caveat) => format!("{cell} [{}]", note(caveat)),
                            None => cell,
                        }
                    }
                    None => match find_note(&NOT_AVAILABLE, &scenario, host) {
                        Some(reason) => format!("n/a [{}]", note(reason)),
                        None => "not run".into(),
                    },
                };
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(md, "{row}");
        }
        for (i, note) in notes.iter().enumerate() {
            let _ = writeln!(md, "\n[{}] {note}.", i + 1);
        }

        self.io_backends(&mut md);

        let _ = writeln!(md, "\n## Targets\n");
        for (scenario, bound) in TARGETS {
            let host = "ours/wasmtime";
            let (wanted, verdict) = match bound {
                Bound::TimeAtMost(max) => {
                    let ratio = self.time_ratio(scenario, host);
                    (
                        format!("time ≤ {max}x native"),
                        ratio.map(|r| (r <= max, format!("{r:.2}x"))),
                    )
                }
                Bound::ThroughputAtLeast(min) => {
                    let ratio = self.time_ratio(scenario, host).map(|r| 1.0 / r);
                    (
                        format!("throughput ≥ {min}x native"),
                        ratio.map(|r| (r >= min, format!("{r:.2}x"))),
                    )
                }
            };
            let _ = writeln!(
                md,
                "- {host} `{scenario}`: {wanted}: {}",
                verdict_text(verdict)
            );
        }
        let mut slower = Vec::new();
        let mut compared = 0;
        for scenario in self.scenarios() {
            if let (Some(ours), Some(theirs)) = (
                self.get(&scenario, "ours/wasmi"),
                self.get(&scenario, "wasmi_wasi"),
            ) {
                compared += 1;
                if ours.ns >= theirs.ns {
                    slower.push(format!(
                        "`{scenario}` ({:.2}x wasmi_wasi's time)",
                        ours.ns / theirs.ns
                    ));
                }
            }
        }
        let verdict = if compared == 0 {
            "not measured".to_string()
        } else if slower.is_empty() {
            format!("**holds** ({compared} of {compared} scenarios)")
        } else {
            format!("**misses** on {}", slower.join(", "))
        };
        let _ = writeln!(
            md,
            "- ours/wasmi faster than wasmi_wasi on every scenario: {verdict}"
        );
        for host in WADI_HOSTS {
            let verdict = self
                .device_ratio(host)
                .map(|r| (r >= WADI_TARGET, format!("{r:.2}x")));
            let _ = writeln!(
                md,
                "- {host} WADI `/dev/zero` 64 KiB reads: throughput ≥ {WADI_TARGET}x \
                 a 64 KiB host file's: {}",
                verdict_text(verdict)
            );
        }
        md
    }

    /// The "I/O backends" table: the scenarios measured with a forced
    /// backend, each backend beside `auto` and native. Nothing when none was.
    fn io_backends(&self, md: &mut String) {
        let forced = IO_COLUMNS[0].0;
        let scenarios: Vec<String> = self
            .scenarios()
            .into_iter()
            .filter(|scenario| self.get(scenario, forced).is_some())
            .collect();
        if scenarios.is_empty() {
            return;
        }
        let _ = writeln!(md, "\n## I/O backends (ours on wasmtime)\n");
        let names: Vec<&str> = IO_COLUMNS.iter().map(|(_, name)| *name).collect();
        let _ = writeln!(md, "| scenario | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|{}", "---:|".repeat(IO_COLUMNS.len()));
        for scenario in scenarios {
            let mut row = format!("| {scenario} |");
            for (host, _) in IO_COLUMNS {
                let cell = self
                    .get(&scenario, host)
                    .map_or_else(|| "not run".into(), |e| self.cell(&scenario, host, e));
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(md, "{row}");
        }
    }

    /// `812 ns (1.23x)` or `9.87 GB/s (0.95x)`.
    fn cell(&self, scenario: &str, host: &str, estimate: Estimate) -> String {
        let native = self.get(scenario, NATIVE);
        match estimate.gb_per_s() {
            Some(gbps) => {
                let ratio = native
                    .and_then(|n| n.gb_per_s())
                    .filter(|_| host != NATIVE)
                    .map(|n| format!(" ({:.2}x)", gbps / n))
                    .unwrap_or_default();
                format!("{gbps:.2} GB/s{ratio}")
            }
            None => {
                let ratio = native
                    .filter(|_| host != NATIVE)
                    .map(|n| format!(" ({:.2}x)", estimate.ns / n.ns))
                    .unwrap_or_default();
                format!("{}{ratio}", format_ns(estimate.ns))
            }
        }
    }

    /// A horizontal grouped bar chart: per scenario, each host's time over
    /// native's, on a log scale with native at 1.
    fn chart(&self, path: &Path) -> Result<()> {
        let scenarios = self.scenarios();
        let hosts: Vec<&str> = HOSTS.into_iter().filter(|h| *h != NATIVE).collect();
        let bars: Vec<(usize, usize, f64)> = scenarios
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                hosts
                    .iter()
                    .enumerate()
                    .filter_map(move |(j, h)| Some((i, j, self.time_ratio(s, h)?)))
            })
            .collect();
        let lowest = bars.iter().map(|b| b.2).fold(1.0f64, f64::min);
        let highest = bars.iter().map(|b| b.2).fold(1.0f64, f64::max);
        let x_range = (lowest / 1.5).min(0.5)..(highest * 1.5).max(2.0);
        let n = scenarios.len().max(1);

        let height = 120 + 60 * n as u32;
        let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        // The legend beside the plot, where no bar can hide it.
        let (plot, legend) = root.split_horizontally(840);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                "Time per call relative to native (log scale, lower is better)",
                ("sans-serif", 20),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(190)
            .build_cartesian_2d(x_range.clone().log_scale(), -0.5f64..n as f64 - 0.5)
            .map_err(plot_error)?;
        // Scenario i is centred on y = n - 1 - i, so the first is on top.
        let label = |y: &f64| {
            let row = y.round();
            if (y - row).abs() > 1e-6 || row < 0.0 || row as usize >= n {
                return String::new();
            }
            scenarios[n - 1 - row as usize].clone()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 1)
            .y_label_formatter(&label)
            .x_desc("host time / native time")
            .x_label_formatter(&|x| format!("{x}x"))
            .draw()
            .map_err(plot_error)?;
        let band = 0.8 / hosts.len() as f64;
        let font = ("sans-serif", 14).into_font();
        for (j, host) in hosts.iter().enumerate() {
            let color = Palette99::pick(j).to_rgba();
            let x0 = x_range.start;
            chart
                .draw_series(bars.iter().filter(|b| b.1 == j).map(|&(i, _, ratio)| {
                    let top = (n - 1 - i) as f64 + 0.4 - band * j as f64;
                    Rectangle::new([(x0, top), (ratio, top - band * 0.9)], color.filled())
                }))
                .map_err(plot_error)?;
            let y = 60 + 24 * j as i32;
            legend
                .draw(&Rectangle::new([(5, y - 6), (19, y + 6)], color.filled()))
                .map_err(plot_error)?;
            legend
                .draw(&Text::new(*host, (26, y - 7), font.clone()))
                .map_err(plot_error)?;
        }
        chart
            .draw_series(LineSeries::new(
                [(1.0, -0.5), (1.0, n as f64 - 0.5)],
                BLACK.stroke_width(2),
            ))
            .map_err(plot_error)?;
        let y = 60 + 24 * hosts.len() as i32;
        legend
            .draw(&PathElement::new([(5, y), (19, y)], BLACK.stroke_width(2)))
            .map_err(plot_error)?;
        legend
            .draw(&Text::new("native (1x)", (26, y - 7), font))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
        Ok(())
    }
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e}")
}

/// The note of `(scenario, host)` in `notes`.
fn find_note(
    notes: &[(&str, &str, &'static str)],
    scenario: &str,
    host: &str,
) -> Option<&'static str> {
    notes
        .iter()
        .find(|(s, h, _)| *s == scenario && *h == host)
        .map(|(_, _, reason)| *reason)
}

fn verdict_text(verdict: Option<(bool, String)>) -> String {
    match verdict {
        Some((true, ratio)) => format!("**holds** ({ratio})"),
        Some((false, ratio)) => format!("**misses** ({ratio})"),
        None => "not measured".into(),
    }
}

/// `812 ns`, `3.41 µs`, `1.27 ms`.
fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// The `(scenario, host)` and median of one `new/` directory, if its
/// function is one of [`HOSTS`].
fn read_estimate(new: &Path) -> Result<Option<((String, String), Estimate)>> {
    let read = |name: &str| -> Result<Value> {
        let path = new.join(name);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    };
    let benchmark = read("benchmark.json")?;
    let (Some(group), Some(function)) = (
        benchmark["group_id"].as_str(),
        benchmark["function_id"].as_str(),
    ) else {
        return Ok(None);
    };
    if !HOSTS.contains(&function) && !IO_COLUMNS.iter().any(|(host, _)| *host == function) {
        return Ok(None);
    }
    let estimates = read("estimates.json")?;
    let Some(ns) = estimates["median"]["point_estimate"].as_f64() else {
        bail!("{}: no median estimate", new.display());
    };
    let bytes = benchmark["throughput"]["Bytes"].as_u64();
    Ok(Some((
        (group.to_string(), function.to_string()),
        Estimate { ns, bytes },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes criterion's files for one estimate, as criterion lays them out.
    fn write_fixture(criterion: &Path, scenario: &str, host: &str, ns: f64, bytes: Option<u64>) {
        let new = criterion
            .join(scenario)
            .join(host.replace('/', "_"))
            .join("new");
        fs::create_dir_all(&new).unwrap();
        let throughput = match bytes {
            Some(b) => serde_json::json!({ "Bytes": b }),
            None => Value::Null,
        };
        let benchmark = serde_json::json!({
            "group_id": scenario,
            "function_id": host,
            "value_str": null,
            "throughput": throughput,
            "full_id": format!("{scenario}/{host}"),
            "directory_name": format!("{scenario}/{}", host.replace('/', "_")),
            "title": format!("{scenario}/{host}"),
        });
        let estimate = |v: f64| {
            serde_json::json!({
                "confidence_interval": {
                    "confidence_level": 0.95, "lower_bound": v * 0.9, "upper_bound": v * 1.1
                },
                "point_estimate": v,
                "standard_error": v * 0.01,
            })
        };
        let estimates = serde_json::json!({
            "mean": estimate(ns * 1.05),
            "median": estimate(ns),
            "median_abs_dev": estimate(1.0),
            "slope": estimate(ns * 1.01),
            "std_dev": estimate(2.0),
        });
        fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
        fs::write(new.join("estimates.json"), estimates.to_string()).unwrap();
    }

    fn fixture() -> (tempfile::TempDir, Results) {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("criterion");
        for (host, ns) in [
            ("native", 100.0),
            ("ours/wasmtime", 120.0),
            ("ours/wasmi", 300.0),
            ("wasmtime-wasi", 400.0),
            ("wasmi_wasi", 900.0),
        ] {
            write_fixture(&c, "fd_write_1B", host, ns, None);
        }
        write_fixture(&c, "clock_time_get", "native", 20.0, None);
        write_fixture(&c, "clock_time_get", "ours/wasmtime", 50.0, None);
        write_fixture(&c, "clock_time_get", "ours/wasmi", 200.0, None);
        write_fixture(&c, "clock_time_get", "wasmi_wasi", 150.0, None);
        let chunk = Some(65536);
        write_fixture(&c, "fd_read_64KiB_of_1GiB", "native", 6553.6, chunk);
        write_fixture(&c, "fd_read_64KiB_of_1GiB", "ours/wasmtime", 7000.0, chunk);
        write_fixture(&c, "poll_oneoff_1001_sockets", "native", 1e5, None);
        write_fixture(&c, "poll_oneoff_1001_sockets", "wasmi_wasi", 5e6, None);
        write_fixture(&c, "tcp_echo_64B", "native", 10_000.0, None);
        write_fixture(&c, "tcp_echo_64B", "ours/wasmtime", 12_345.0, None);
        // Not one of ours: ignored.
        write_fixture(&c, "unrelated", "something_else", 1.0, None);
        // Criterion's previous run and report directories are not read.
        fs::create_dir_all(c.join("fd_write_1B/native/base")).unwrap();
        fs::create_dir_all(c.join("report")).unwrap();
        let results = Results::load(&c).unwrap();
        (dir, results)
    }

    #[test]
    fn io_backends_table() {
        let (dir, _) = fixture();
        let md = Results::load(&dir.path().join("criterion"))
            .unwrap()
            .markdown(&machine());
        assert!(
            !md.contains("I/O backends"),
            "no forced backend measured: {md}"
        );

        let c = dir.path().join("criterion");
        write_fixture(
            &c,
            "poll_oneoff_1001_sockets",
            "ours/wasmtime+sync",
            2e5,
            None,
        );
        write_fixture(
            &c,
            "poll_oneoff_1001_sockets",
            "ours/wasmtime+uring",
            1e4,
            None,
        );
        write_fixture(&c, "poll_oneoff_1001_sockets", "ours/wasmtime", 1.1e4, None);
        let md = Results::load(&c).unwrap().markdown(&machine());
        assert!(md.contains("## I/O backends (ours on wasmtime)"), "{md}");
        assert!(
            md.contains("| scenario | sync | uring | auto | native |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| poll_oneoff_1001_sockets | 200.00 µs (2.00x) | 10.00 µs (0.10x) | 11.00 µs (0.11x) | 100.00 µs |"
            ),
            "{md}"
        );
        // The forced backends stay out of the main table.
        assert!(
            md.contains(
                "| scenario | ours/wasmtime | ours/wasmi | wasmtime-wasi | wasmi_wasi | native |"
            ),
            "{md}"
        );
    }

    fn machine() -> Machine {
        Machine {
            cpus: 2,
            cpu: "Test CPU".into(),
            kernel: "6.0.0".into(),
        }
    }

    #[test]
    fn loads_only_our_hosts_in_bench_order() {
        let (_dir, results) = fixture();
        assert_eq!(results.cells.len(), 5 + 4 + 2 + 2 + 2);
        assert_eq!(
            results.scenarios(),
            [
                "fd_write_1B",
                "clock_time_get",
                "fd_read_64KiB_of_1GiB",
                "poll_oneoff_1001_sockets",
                "tcp_echo_64B"
            ]
        );
        assert_eq!(
            results.get("fd_read_64KiB_of_1GiB", "native"),
            Some(Estimate {
                ns: 6553.6,
                bytes: Some(65536)
            })
        );
        assert_eq!(
            results.time_ratio("fd_write_1B", "ours/wasmtime"),
            Some(1.2)
        );
    }

    #[test]
    fn markdown_table_and_targets() {
        let (_dir, results) = fixture();
        let md = results.markdown(&machine());
        assert!(
            md.contains("Machine: 2 CPUs (Test CPU), Linux 6.0.0."),
            "{md}"
        );
        assert!(
            md.contains(
                "| scenario | ours/wasmtime | ours/wasmi | wasmtime-wasi | wasmi_wasi | native |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| fd_write_1B | 120 ns (1.20x) | 300 ns (3.00x) | 400 ns (4.00x) | 900 ns (9.00x) | 100 ns |"
            ),
            "{md}"
        );
        // Throughput: GB/s (bytes per ns) and the fraction of native's.
        assert!(
            md.contains("| fd_read_64KiB_of_1GiB | 9.36 GB/s (0.94x) | not run | not run | not run | 10.00 GB/s |"),
            "{md}"
        );
        // A cell a host cannot run says why, once.
        assert!(
            md.contains(
                "| tcp_echo_64B | 12.35 µs (1.23x) | not run | n/a [1] | not run | 10.00 µs |"
            ),
            "{md}"
        );
        // A measured cell with a caveat says it too; notes are numbered in
        // order of appearance and written once.
        assert!(
            md.contains("| poll_oneoff_1001_sockets | not run | not run | n/a [1] | 5.00 ms (50.00x) [2] | 100.00 µs |"),
            "{md}"
        );
        assert!(md.contains("\n[1] wasmtime-wasi's preview 1 host cannot be given a socket"));
        assert!(md.contains("\n[2] wasi-common reports every subscription as ready"));
        assert_eq!(md.matches("[1] wasmtime-wasi").count(), 1);
        assert!(
            md.contains("- ours/wasmtime `fd_write_1B`: time ≤ 1.25x native: **holds** (1.20x)")
        );
        assert!(
            md.contains("- ours/wasmtime `clock_time_get`: time ≤ 2x native: **misses** (2.50x)")
        );
        assert!(
            md.contains("- ours/wasmtime `path_open_fd_close`: time ≤ 1.25x native: not measured")
        );
        assert!(md.contains(
            "- ours/wasmtime `fd_read_64KiB_of_1GiB`: throughput ≥ 0.9x native: **holds** (0.94x)"
        ));
        assert!(md.contains(
            "- ours/wasmi faster than wasmi_wasi on every scenario: **misses** on `clock_time_get` (1.33x wasmi_wasi's time)"
        ), "{md}");
    }

    #[test]
    fn wadi_device_over_host_file_per_engine() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("criterion");
        let chunk = Some(65536);
        // wasmtime: 6.5536 GB/s against 8.192 GB/s; wasmi: 2.62144 against
        // 6.5536 GB/s.
        write_fixture(&c, WADI_DEVICE, "ours/wasmtime", 10_000.0, chunk);
        write_fixture(&c, WADI_HOST_FILE, "ours/wasmtime", 8_000.0, chunk);
        write_fixture(&c, WADI_DEVICE, "ours/wasmi", 25_000.0, chunk);
        write_fixture(&c, WADI_HOST_FILE, "ours/wasmi", 10_000.0, chunk);
        let results = Results::load(&c).unwrap();
        assert_eq!(results.device_ratio("ours/wasmtime"), Some(0.8));
        assert_eq!(results.device_ratio("ours/wasmi"), Some(0.4));
        assert_eq!(results.device_ratio("wasmi_wasi"), None);
        assert_eq!(results.scenarios(), [WADI_DEVICE, WADI_HOST_FILE]);
        let md = results.markdown(&machine());
        assert!(
            md.contains(
                "| fd_read_64KiB_wadi_dev_zero | 6.55 GB/s | 2.62 GB/s | n/a [1] | n/a [1] | n/a [1] |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| fd_read_64KiB_host_file | 8.19 GB/s | 6.55 GB/s | n/a [1] | n/a [1] | n/a [1] |"
            ),
            "{md}"
        );
        assert!(md.contains("\n[1] WADI devices are served by our host only"));
        assert!(md.contains(
            "- ours/wasmtime WADI `/dev/zero` 64 KiB reads: throughput ≥ 0.5x a 64 KiB host file's: **holds** (0.80x)"
        ), "{md}");
        assert!(md.contains(
            "- ours/wasmi WADI `/dev/zero` 64 KiB reads: throughput ≥ 0.5x a 64 KiB host file's: **misses** (0.40x)"
        ), "{md}");

        // One row missing: not measured, for that engine only.
        fs::remove_dir_all(c.join(WADI_HOST_FILE).join("ours_wasmi")).unwrap();
        let results = Results::load(&c).unwrap();
        assert_eq!(results.device_ratio("ours/wasmi"), None);
        let md = results.markdown(&machine());
        assert!(md.contains(
            "- ours/wasmi WADI `/dev/zero` 64 KiB reads: throughput ≥ 0.5x a 64 KiB host file's: not measured"
        ), "{md}");
        assert!(md.contains("**holds** (0.80x)"), "{md}");
    }

    #[test]
    fn chart_is_an_svg_with_a_bar_per_measured_cell() {
        let (dir, results) = fixture();
        let path = dir.path().join("report.svg");
        results.chart(&path).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for label in [
            "fd_write_1B",
            "tcp_echo_64B",
            "ours/wasmtime",
            "native (1x)",
        ] {
            assert!(svg.contains(label), "no {label} in the chart");
        }
        // 4 + 3 + 1 + 1 + 1 bars, plus the legend's 4 swatches and the
        // background.
        assert_eq!(svg.matches("<rect").count(), 10 + 4 + 1, "{svg}");
    }

    #[test]
    fn empty_directory_has_no_results() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results::load(&dir.path().join("criterion")).unwrap();
        assert!(results.cells.is_empty());
    }
}
